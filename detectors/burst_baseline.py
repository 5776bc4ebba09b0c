"""The seasonal baseline and the surprise tests behind :mod:`fenghuo.detectors.bursts`.

The baseline is learned online, hour by hour, with exponential decay (``half_life_days``):

* per category, rates by hour of day and by day of week (local time, ``tz``), each shrunk
  towards the city-wide rhythm of all complaints (``prior_hours`` of pseudo-exposure), combined
  multiplicatively: ``rate_c(d, h) = rate_c(h) * rate_c(d) / rate_c``;
* per (node, category), the node's share of the category, shrunk towards the node's share of
  all complaints (``share_prior`` pseudo-events), so a sparse pair borrows strength. A node is a
  grid or any of its ancestors (community, street, district): their counts are the sums of
  their grids';
* per (node, category), an over-dispersion ``alpha`` (negative binomial, ``Var = mu + alpha mu^2``)
  by the method of moments on the node's hourly counts, ``1 + alpha = sum x(x - 1) / sum mu^2``
  (``mu`` from the hour-of-day rhythm), shrunk towards ``dispersion_prior`` with
  ``dispersion_pseudo`` expected pairs. Events the detector has in alert do not count here.

Events join the baseline when their hour is over (score before learn), each with the weight
the detector gives it (guarded events of a burst learn at a reduced weight).
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from scipy.special import betainc, gammainc

from fenghuo.core import state as saved

if TYPE_CHECKING:
    from fenghuo.detectors.bursts import BurstParams

_RESCALE = 30.0  # rescale decayed sums when their weights exceed e^30


def poisson_surprise(count: int, expected: float, cap: float = 50.0) -> tuple[float, float]:
    """``(p, -log10 p)`` with ``p = P(X >= count)``, X ~ Poisson(expected); surprise capped.

    >>> p, s = poisson_surprise(5, 0.5)
    >>> round(p, 6), round(s, 2)
    (0.000172, 3.76)
    >>> poisson_surprise(0, 1.0)
    (1.0, 0.0)
    """
    if count <= 0:
        return 1.0, 0.0
    p = float(gammainc(count, max(expected, 1e-12)))  # P(X >= k) = regularized lower gamma(k, lam)
    if p > 0.0:
        return p, min(cap, -math.log10(p))
    log_pmf = count * math.log(expected) - expected - math.lgamma(count + 1)  # the tail's first term
    return 0.0, min(cap, -log_pmf / math.log(10))


def nb_surprise(count: int, expected: float, alpha: float, cap: float = 50.0) -> tuple[float, float]:
    """``(p, -log10 p)``, ``p = P(X >= count)``, X negative binomial with mean ``expected`` and
    ``Var = mean + alpha mean^2`` (Poisson when ``alpha`` is ~0).

    >>> round(nb_surprise(5, 0.5, 0.0)[1], 2), round(nb_surprise(5, 0.5, 1.0)[1], 2)
    (3.76, 2.39)
    """
    if alpha < 1e-6:
        return poisson_surprise(count, expected, cap)
    if count <= 0:
        return 1.0, 0.0
    mu, r = max(expected, 1e-12), 1.0 / alpha
    x = mu / (mu + r)
    p = float(betainc(count, r, x))  # P(X >= k) = I_x(k, r)
    if p > 0.0:
        return p, min(cap, -math.log10(p))
    log_pmf = (math.lgamma(count + r) - math.lgamma(r) - math.lgamma(count + 1)
               + r * math.log1p(-x) + count * math.log(x))
    return 0.0, min(cap, -log_pmf / math.log(10))


class _Sums:
    """Decayed counts of one category (or of all complaints): by hour of day, by weekday, total."""

    __slots__ = ("hod", "dow", "total")

    def __init__(self) -> None:
        self.hod, self.dow, self.total = [0.0] * 24, [0.0] * 7, 0.0

    def add(self, h: int, d: int, w: float) -> None:
        self.hod[h] += w
        self.dow[d] += w
        self.total += w

    def scale(self, f: float) -> None:
        self.hod = [x * f for x in self.hod]
        self.dow = [x * f for x in self.dow]
        self.total *= f


class Baseline:
    """Expected complaints per (node, category) and hour; over-dispersion per (node, category)."""

    def __init__(self, p: BurstParams) -> None:
        self.p = p
        self.tau = p.half_life_days * 86400.0 / math.log(2)
        self.t0: float | None = None  # weights are exp((t - t0) / tau)
        self.hour: int | None = None  # the current (open) hour, epoch hours
        self.hours_seen = 0
        self.exposure = _Sums()  # decayed hours observed
        self.all = _Sums()
        self.cats: dict[str, _Sums] = {}
        self.cat_e0: dict[str, float] = {}  # category -> exposure total when it was first learned
        self.node_n: dict[str, float] = {}
        self.pair_n: dict[tuple[str, str], float] = {}
        self.pairs: dict[tuple[str, str], float] = {}  # decayed sum of x(x - 1) over node-hours
        # (chain, category, weight for rates, weight for dispersion) of the open hour
        self.pending: list[tuple[tuple[str, ...], str, float, float]] = []
        self._bins: dict[int, tuple[int, int]] = {}
        self._rates: dict[tuple[str, str, int], float] = {}
        self._alpha: dict[tuple[str, str], float] = {}

    def __setstate__(self, state: dict[str, Any]) -> None:  # pickles of 0.1.0 have no cat_e0
        self.__dict__.update({"cat_e0": {}, **state})

    def _bin(self, hour: int) -> tuple[int, int]:
        b = self._bins.get(hour)
        if b is None:
            if len(self._bins) > 50_000:
                self._bins.clear()
            dt = datetime.fromtimestamp(hour * 3600.0 + 1800.0, UTC).astimezone(ZoneInfo(self.p.tz))
            b = self._bins[hour] = (dt.hour, dt.weekday())
        return b

    def _weight(self, t: float) -> float:
        assert self.t0 is not None
        return math.exp((t - self.t0) / self.tau)

    def advance(self, ts: float) -> bool:
        """Move the clock to ``ts``; True when an hour boundary was passed (and hours committed)."""
        hour = math.floor(ts / 3600.0)
        if self.hour is None:
            self.t0, self.hour = hour * 3600.0, hour
            return False
        if hour <= self.hour:
            return False
        for h_ in range(self.hour, min(hour, self.hour + 24 * 7 * 8)):
            w = self._weight(h_ * 3600.0)
            if w > math.exp(_RESCALE):
                self._rescale(h_ * 3600.0)
                w = 1.0
            h, d = self._bin(h_)
            self.exposure.add(h, d, w)
            self.hours_seen += 1
            if h_ == self.hour:
                self._commit(h, d, w)
        self.hour = hour
        self._rates.clear()
        if hour % 24 == 0:
            self._alpha.clear()
        return True

    def cusum_step(self, sums: dict[tuple[str, str], float], counts: dict[tuple[str, str], int],
                   ts: float, drift: float) -> bool:
        """Before ``advance(ts)``: when ``ts`` closes the open hour, add that hour (and the empty
        hours after it, up to a day) to the one-sided CUSUMs ``sums`` of ``log((x + .5) / (mu + .5))
        - drift`` per (node, category), ``x`` from ``counts``; keep the positive ones. True if closed."""
        if self.hour is None or ts < (self.hour + 1) * 3600.0:
            return False
        hours = min(24, math.floor(ts / 3600.0) - self.hour)
        for key in sorted(counts.keys() | sums.keys()):
            s = sums.get(key, 0.0)
            for i in range(hours):
                x = counts.get(key, 0) if i == 0 else 0
                s = max(0.0, s + math.log((x + 0.5) / (self.rate(key[0], key[1], self.hour + i) + 0.5)) - drift)
            if s > 0:
                sums[key] = s
            else:
                sums.pop(key, None)
        return True

    def _commit(self, h: int, d: int, w: float) -> None:
        per_grid: dict[tuple[tuple[str, ...], str], float] = defaultdict(float)
        bins: dict[tuple[str, str], float] = {}  # counts of the node-hour, for dispersion
        for chain, cat, f, g in self.pending:
            self.all.add(h, d, w * f)
            c = self.cats.get(cat)
            if c is None:
                c = self.cats[cat] = _Sums()
                if self.hours_seen >= self.p.warmup_hours:  # new (after the warm-up's catalogue): its
                    self.cat_e0[cat] = max(0.0, self.exposure.total - w)  # rate is over the hours since
            c.add(h, d, w * f)
            per_grid[(chain, cat)] += f
            if g:
                for node in chain:
                    bins[(node, cat)] = bins.get((node, cat), 0.0) + 1.0
        self.pending = []
        for (chain, cat), x in per_grid.items():
            for node in chain:
                self.node_n[node] = self.node_n.get(node, 0.0) + w * x
                self.pair_n[(node, cat)] = self.pair_n.get((node, cat), 0.0) + w * x
        for key, x in bins.items():
            if x > 1.0:
                self.pairs[key] = self.pairs.get(key, 0.0) + w * x * (x - 1.0)

    def _rescale(self, t: float) -> None:
        f = math.exp(-(t - (self.t0 or t)) / self.tau)
        for s in (self.exposure, self.all, *self.cats.values()):
            s.scale(f)
        self.node_n = {k: v * f for k, v in self.node_n.items()}
        self.pair_n = {k: v * f for k, v in self.pair_n.items()}
        self.pairs = {k: v * f for k, v in self.pairs.items()}
        self.cat_e0 = {k: v * f for k, v in self.cat_e0.items()}
        self.t0 = t

    def seen(self, cat: str) -> float:
        """The share of the decayed exposure during which ``cat`` was known (1 for a category present from
        the start): a new category's rate is its count over the hours since it appeared, not since the start."""
        e0 = self.cat_e0.get(cat, 0.0)
        total = self.exposure.total
        return 1.0 if e0 <= 0.0 or total <= 0.0 else max(1e-3, 1.0 - e0 / total)

    def rate(self, node: str, cat: str, hour: int) -> float:
        """Expected complaints per hour for (node, category) in an epoch hour."""
        key = (node, cat, hour)
        r = self._rates.get(key)
        if r is not None:
            return r
        p, e, a = self.p, self.exposure, self.all
        floor = p.min_rate_per_day / 24.0
        c = self.cats.get(cat)
        if c is None or e.total <= 0 or a.total <= 0:
            self._rates[key] = floor
            return floor
        h, d = self._bin(hour)
        scale = self._weight(self.hour * 3600.0) if self.hour is not None else 1.0
        b = p.prior_hours * scale
        f = self.seen(cat)
        rc = c.total / (f * e.total)
        ra = a.total / e.total
        prior_h = rc * (a.hod[h] / e.hod[h]) / ra if e.hod[h] > 0 else rc
        prior_d = rc * (a.dow[d] / e.dow[d]) / ra if e.dow[d] > 0 else rc
        rate_h = (c.hod[h] + b * prior_h) / (f * e.hod[h] + b)
        rate_d = (c.dow[d] + b * prior_d) / (f * e.dow[d] + b)
        beta = p.share_prior * scale
        node_share = self.node_n.get(node, 0.0) / a.total
        share = (self.pair_n.get((node, cat), 0.0) + beta * node_share) / (c.total + beta)
        r = self._rates[key] = max(floor, rate_h * rate_d / rc * share)
        return r

    def expected(self, node: str, cat: str, t: float, window_s: float) -> float:
        """Expected count for (node, category) in the window ``(t - window_s, t]``."""
        start = t - window_s
        total, hour = 0.0, math.floor(start / 3600.0)
        while hour * 3600.0 < t:
            lo, hi = max(start, hour * 3600.0), min(t, (hour + 1) * 3600.0)
            total += self.rate(node, cat, hour) * (hi - lo) / 3600.0
            hour += 1
        return total

    def alpha(self, node: str, cat: str) -> float:
        """Over-dispersion of (node, category) counts (recomputed once a day): moments of the
        node's hourly counts, shrunk towards ``dispersion_prior``, capped at ``dispersion_max``."""
        a = self._alpha.get((node, cat))
        if a is not None:
            return a
        p, c, e = self.p, self.cats.get(cat), self.exposure
        a = p.dispersion_prior
        n = self.pair_n.get((node, cat), 0.0)
        if c is not None and c.total > 0 and n > 0:
            f = self.seen(cat)
            m = sum(ch * ch / (f * eh) for ch, eh in zip(c.hod, e.hod, strict=True) if eh > 0)
            mu2 = m * (n / c.total) ** 2  # sum of mu^2 over the node's hours
            k = p.dispersion_pseudo * (self._weight(self.hour * 3600.0) if self.hour is not None else 1.0)
            a = (self.pairs.get((node, cat), 0.0) + k * (1.0 + p.dispersion_prior)) / (mu2 + k) - 1.0
        a = self._alpha[(node, cat)] = min(p.dispersion_max, max(0.0, a))
        return a


# -- saved state: plain data (fenghuo.core.state); the caches (_bins, _rates, _alpha) are rebuilt on demand ----
def _baseline_data(b: Baseline) -> dict[str, Any]:
    return {k: v for k, v in b.__dict__.items() if k not in ("_bins", "_rates", "_alpha")}


def _baseline_from(d: dict[str, Any]) -> Baseline:
    b = Baseline.__new__(Baseline)
    b.__dict__.update({"_bins": {}, "_rates": {}, "_alpha": {}, "cat_e0": {}, **d})
    return b


saved.register("bursts.sums", _Sums, lambda s: {"h": s.hod, "d": s.dow, "t": s.total},
               lambda d: _sums_from(d["h"], d["d"], d["t"]))
saved.register("bursts.baseline", Baseline, _baseline_data, _baseline_from)


def _sums_from(hod: list[float], dow: list[float], total: float) -> _Sums:
    s = _Sums()
    s.hod, s.dow, s.total = hod, dow, total
    return s
