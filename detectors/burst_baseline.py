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
  ``dispersion_pseudo`` expected pairs. Events the detector has in alert do not count here, and an hour's
  count is capped at ``max(min_count, min_ratio x expected)`` (a burst's first hours are not dispersion);
* per category, a yearly profile by month (``yearly``): counts and hours of each local calendar month once it
  is over, without its three busiest days (a storm is not a season; every case counts, a burst's too), folded
  into its month of the year (earlier years at half weight each year back), shrunk towards the
  city-wide monthly shape with ``yearly_prior_hours`` of pseudo-exposure. It is used only once every month of
  the year has been seen for at least half a month (a past year, then): until then the decayed rates alone
  follow a season, late (damped). The expected count is multiplied by the month's index over the mean index of
  the months the decayed rates remember (weighted as they weigh them), so a category busy every March is
  expected busy in March, and a quiet month after it quiet, from the first day.

Events join the baseline when their hour is over (score before learn), each with the weight
the detector gives it (guarded events of a burst learn at a reduced weight).
"""

from __future__ import annotations

import fnmatch
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from scipy.special import betainc, gammainc

from fenghuo.core import state as saved

if TYPE_CHECKING:
    from fenghuo.detectors.bursts import BurstParams

_LEARN_PSEUDO = 10.0  # a learned campaign lift: expected cases of pseudo-evidence at the default lift
_RESCALE = 30.0  # rescale decayed sums when their weights exceed e^30
_YEAR_KEEP = 0.5  # a month of the yearly profile: earlier years' counts and hours kept at this weight a year
_YEAR_MIN_HOURS = 14 * 24.0  # each month of the year seen this long before the profile is used
_YEAR_TRIM = 3  # the busiest days of a month left out of the profile (a storm is not a season)
_YEAR_CAP = 10.0  # the yearly factor is kept within [1/cap, cap]


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


_CAMPAIGN_KEYS = frozenset({"category", "from", "to", "grids", "nodes", "lift"})


@dataclass(frozen=True, slots=True)
class Campaign:
    """A scheduled campaign of a category: inside ``start``..``end`` (both included, local dates; ``MM-DD``
    recurs every year and may wrap the new year, ``YYYY-MM-DD`` is one window) the category's expected count
    is ``lift`` times the baseline's, at ``nodes`` (empty: every node). ``category`` may be a glob. With
    ``learn`` the multiplier is learned: the category's city-wide count inside this campaign's windows so far
    over its (unlifted) expected count there, shrunk towards ``lift`` with ``_LEARN_PSEUDO`` expected cases.

    >>> c = Campaign("Tax*", "02-01", "04-15", (), 3.0)
    >>> c.covers("Tax help", "G1", date(2026, 3, 1)), c.covers("Tax help", "G1", date(2026, 5, 1))
    (True, False)
    >>> Campaign("x", "12-20", "01-05").covers("x", "G1", date(2027, 1, 2))
    True
    """

    category: str
    start: str
    end: str
    nodes: tuple[str, ...] = ()
    lift: float = 3.0
    learn: bool = False

    @property
    def key(self) -> str:
        return f"{self.category}|{self.start}|{self.end}"

    def matches(self, cat: str) -> bool:
        return cat == self.category or fnmatch.fnmatchcase(cat, self.category)

    def covers(self, cat: str, node: str, day: date) -> bool:
        return (not self.nodes or node in self.nodes) and self.matches(cat) and self.open_on(day)

    def open_on(self, day: date) -> bool:
        """Whether ``day`` (a local date) is inside the window."""
        if len(self.start) == 10:
            return date.fromisoformat(self.start) <= day <= date.fromisoformat(self.end)
        md, lo, hi = (day.month, day.day), _md(self.start), _md(self.end)
        return lo <= md <= hi if lo <= hi else md >= lo or md <= hi


def _md(text: str) -> tuple[int, int]:
    return int(text[:2]), int(text[3:5])


def _check_day(text: Any, where: str) -> str:
    """``text`` as a valid ``MM-DD`` or ``YYYY-MM-DD`` (raises ValueError naming ``where``); a date (YAML reads
    an unquoted 2015-01-01 as one) is taken as its ``YYYY-MM-DD``."""
    if isinstance(text, date) and not isinstance(text, datetime):
        return text.isoformat()
    if not isinstance(text, str):
        raise ValueError(f"{where}: a date MM-DD or YYYY-MM-DD is needed, not {text!r}")
    try:
        if len(text) == 10:
            date.fromisoformat(text)
        elif len(text) == 5 and text[2] == "-":
            date(2000, *_md(text))  # a leap year: 02-29 is allowed
        else:
            raise ValueError
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a date MM-DD or YYYY-MM-DD") from None
    return text


def parse_campaigns(items: Any) -> tuple[Campaign, ...]:
    """``detectors.bursts.campaigns`` (a list of mappings, or Campaigns) as Campaigns; a bad entry raises
    ValueError naming ``detectors.bursts.campaigns[i]``.

    >>> parse_campaigns([{"category": "Tax*", "from": "02-01", "to": "04-15", "lift": 2}])[0].lift
    2.0
    >>> parse_campaigns([{"category": "x", "from": "02-30", "to": "03-01"}])
    Traceback (most recent call last):
    ValueError: detectors.bursts.campaigns[0].from: '02-30' is not a date MM-DD or YYYY-MM-DD
    """
    out = []
    for i, c in enumerate(items or ()):
        where = f"detectors.bursts.campaigns[{i}]"
        if isinstance(c, Campaign):
            out.append(c)
            continue
        if not isinstance(c, dict):
            raise ValueError(f"{where}: a mapping with category, from, to (and grids, lift) is needed, not {c!r}")
        unknown = sorted(set(c) - _CAMPAIGN_KEYS)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; "
                             f"known: {', '.join(sorted(_CAMPAIGN_KEYS))}")
        missing = [k for k in ("category", "from", "to") if k not in c]
        if missing:
            raise ValueError(f"{where}: missing {', '.join(missing)}")
        if not isinstance(c["category"], str) or not c["category"]:
            raise ValueError(f"{where}.category: a category name or glob is needed, not {c['category']!r}")
        start, end = _check_day(c["from"], f"{where}.from"), _check_day(c["to"], f"{where}.to")
        if len(start) != len(end):
            raise ValueError(f"{where}: from and to must both be MM-DD (every year) or both YYYY-MM-DD")
        if len(start) == 10 and end < start:
            raise ValueError(f"{where}: to ({end}) is before from ({start})")
        nodes = c.get("grids", c.get("nodes", ()))
        nodes = (nodes,) if isinstance(nodes, str) else nodes
        if not isinstance(nodes, list | tuple) or not all(isinstance(n, str) for n in nodes):
            raise ValueError(f"{where}.grids: a list of grid or node ids is needed, not {nodes!r}")
        lift = c.get("lift", 3.0)
        learn = lift == "learn"
        lift = 3.0 if learn else lift
        if isinstance(lift, bool) or not isinstance(lift, int | float) or not 1.0 <= lift < math.inf:
            raise ValueError(f"{where}.lift: a multiplier of the expected count >= 1 is needed, not {lift!r}")
        out.append(Campaign(c["category"], start, end, tuple(nodes), float(lift), learn))
    return tuple(out)


def parse_holidays(items: Any) -> tuple[str, ...]:
    """``detectors.bursts.holidays``: dates ``YYYY-MM-DD`` (a bad one raises ValueError naming its index)."""
    out = []
    for i, d in enumerate(items or ()):
        text = _check_day(d, f"detectors.bursts.holidays[{i}]")
        if len(text) != 10:
            raise ValueError(f"detectors.bursts.holidays[{i}]: a full date YYYY-MM-DD is needed, not {text!r}")
        out.append(text)
    return tuple(out)


@lru_cache(maxsize=64)
def _holiday_set(holidays: tuple[str, ...]) -> frozenset[date]:
    return frozenset(date.fromisoformat(d) for d in holidays)


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
        # (node, category, first hour, last hour) -> the rates of those hours and each times a whole hour (see
        # expected); dropped with _rates (drop_rates), whenever a rate may change
        self._spans: dict[tuple[str, str, int, int], tuple[tuple[float, ...], tuple[float, ...]]] = {}
        self._deferred: set[tuple[str, str]] = set()  # (node, category): the open hour's rate read, not worked out
        self._seasonal: dict[tuple[str, int], tuple[float, float]] = {}  # (category, hour) -> rate / share, yearly
        self._shares: dict[tuple[str, str], float] = {}  # (node, category) -> its share of the category
        self._scale: float | None = None  # the decay weight of the open hour
        self._alpha: dict[tuple[str, str], float] = {}
        self.camp: dict[tuple[str, str], list[float]] = {}  # (campaign key, category) -> [count, expected] inside
        # yearly profile: the open local month (year * 12 + month - 1) and its counts and hours; finished months
        # folded into 12 slots (counts of all complaints and per category, hours)
        self.month: int | None = None
        self.month_hours, self.month_all, self.month_cat = 0.0, [0.0] * 31, {}  # counts by day of the month
        self.year_hours, self.year_all, self.year_cat = [0.0] * 12, [0.0] * 12, {}
        self._months: dict[int, int] = {}
        # caches of the yearly profile, dropped when a month is folded in: category -> monthly index, epoch day ->
        # month weights of the decayed rates, whether every month has been seen
        self._year_idx: dict[str, list[float]] = {}
        self._year_weights: dict[int, list[float]] = {}
        self._year_ok: bool | None = None

    def __setstate__(self, state: dict[str, Any]) -> None:  # pickles of 0.1.0 have no cat_e0
        self.__dict__.update({**_NEW_FIELDS(), **state, **_fresh_caches()})

    def _bin(self, hour: int) -> tuple[int, int]:
        b = self._bins.get(hour)
        if b is None:
            if len(self._bins) > 50_000:
                self._bins.clear()
            dt = datetime.fromtimestamp(hour * 3600.0 + 1800.0, UTC).astimezone(ZoneInfo(self.p.tz))
            hol = self.p.holidays and dt.date() in _holiday_set(self.p.holidays)
            b = self._bins[hour] = (dt.hour, 6 if hol else dt.weekday())  # a holiday is a Sunday
        return b

    def lift(self, node: str, cat: str, hour: int) -> float:
        """The campaigns' multiplier of the expected count of (node, category) in an epoch hour (1: none)."""
        if not self.p.campaigns:
            return 1.0
        day = datetime.fromtimestamp(hour * 3600.0 + 1800.0, UTC).astimezone(ZoneInfo(self.p.tz)).date()
        return max((self._learned(c, cat) if c.learn else c.lift for c in self.p.campaigns
                    if c.covers(cat, node, day)), default=1.0)

    def _learned(self, c: Campaign, cat: str) -> float:
        n, mu = self.camp.get((c.key, cat), (0.0, 0.0))
        return max(1.0, (n + _LEARN_PSEUDO * c.lift) / (mu + _LEARN_PSEUDO))

    def _learn_campaigns(self, h: int, d: int, hour: int) -> None:
        """Inside a learning campaign's window, add the hour's city-wide count and unlifted expected count
        of each of its categories (before the hour's events join the rates)."""
        day = datetime.fromtimestamp(hour * 3600.0 + 1800.0, UTC).astimezone(ZoneInfo(self.p.tz)).date()
        e = self.exposure
        for c in self.p.campaigns:
            if not c.learn or not c.open_on(day):
                continue
            counts: dict[str, float] = defaultdict(float)
            for chain, cat, f, _ in self.pending:
                if c.matches(cat) and (not c.nodes or any(n in c.nodes for n in chain)):
                    counts[cat] += f
            for cat, s in self.cats.items():
                if not c.matches(cat) or s.total <= 0 or e.total <= 0 or e.hod[h] <= 0 or e.dow[d] <= 0:
                    continue
                f = self.seen(cat)
                rc = s.total / (f * e.total)
                mu = (s.hod[h] / (f * e.hod[h])) * (s.dow[d] / (f * e.dow[d])) / rc if rc > 0 else 0.0
                if c.nodes:  # the listed nodes' share of the category
                    mu *= min(1.0, sum(self.pair_n.get((n, cat), 0.0) for n in c.nodes) / s.total)
                acc = self.camp.setdefault((c.key, cat), [0.0, 0.0])
                acc[0] += counts.get(cat, 0.0)
                acc[1] += mu

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
        if self._deferred:
            self._keep_deferred()
        for h_ in range(self.hour, min(hour, self.hour + 24 * 7 * 8)):
            w = self._weight(h_ * 3600.0)
            if w > math.exp(_RESCALE):
                self._rescale(h_ * 3600.0)
                w = 1.0
            h, d = self._bin(h_)
            self.exposure.add(h, d, w)
            self.hours_seen += 1
            if self.p.yearly:
                self._month_hour(h_)
            if h_ == self.hour:
                self._commit(h, d, w, h_)
        new_day = hour // 24 != self.hour // 24  # (a day with no event in its first hour is a new day too)
        self.hour = hour
        self.drop_rates()
        if new_day:
            self._alpha.clear()
        return True

    def _keep_deferred(self) -> None:
        """Before the open hour is committed: keep the rates of it that :meth:`defer_expected` passed over and
        the commit reads (a node-hour of more than min_count cases), as :meth:`expected` would have kept them."""
        most = self.p.min_count
        by_cat: dict[str, int] = {}
        for _, cat, _, g in self.pending:
            if g:
                by_cat[cat] = by_cat.get(cat, 0) + 1
        counts: dict[tuple[str, str], int] = {}
        for chain, cat, _, g in self.pending:
            if g and by_cat[cat] > most:
                for node in chain:
                    counts[(node, cat)] = counts.get((node, cat), 0) + 1
        hour, kept, deferred = self.hour, self._rates, self._deferred
        for (node, cat), x in counts.items():
            if x > most and (node, cat) in deferred and (node, cat, hour) not in kept:
                self.rate(node, cat, hour)

    def cusum_step(self, sums: dict[tuple[str, str], float], counts: dict[tuple[str, str], int],
                   ts: float, drift: float) -> bool:
        """Before ``advance(ts)``: when ``ts`` closes the open hour, add that hour (and the empty
        hours after it, up to a day) to the one-sided CUSUMs ``sums`` of ``log((x + .5) / (mu + .5))
        - drift`` per (node, category), ``x`` from ``counts``; keep the positive ones. True if closed."""
        if self.hour is None or ts < (self.hour + 1) * 3600.0:
            return False
        hours = min(24, math.floor(ts / 3600.0) - self.hour)
        settles = drift > 0 and self.p.min_rate_per_day >= 0  # (a rate of at least 0)
        for key in sorted(counts.keys() | sums.keys()):
            s = sums.get(key, 0.0)
            for i in range(hours):
                if i and not s and settles:  # an empty hour at 0 stays at 0 (its log is at most 0, less the drift)
                    break
                x = counts.get(key, 0) if i == 0 else 0
                s = max(0.0, s + math.log((x + 0.5) / (self.rate(key[0], key[1], self.hour + i) + 0.5)) - drift)
            if s > 0:
                sums[key] = s
            else:
                sums.pop(key, None)
        return True

    def _commit(self, h: int, d: int, w: float, hour: int) -> None:
        per_grid: dict[tuple[tuple[str, ...], str], float] = defaultdict(float)
        bins: dict[tuple[str, str], float] = {}  # counts of the node-hour, for dispersion
        lifts: dict[tuple[tuple[str, ...], str], float] = {}
        if self.p.campaigns:
            self._learn_campaigns(h, d, hour)
        yearly, campaigns, cats, month_cat, every = self.p.yearly, self.p.campaigns, self.cats, self.month_cat, self.all
        day = self._month_of(hour)[1] if yearly else 0
        for chain, cat, f, g in self.pending:
            raw = 1.0  # the yearly profile counts every case (a burst is trimmed off there), campaigns deflated
            if campaigns:  # a campaign's cases learn at 1 / lift and not for dispersion: no new norm
                lift = lifts.get((chain, cat))
                if lift is None:
                    lift = lifts[(chain, cat)] = max(self.lift(n, cat, hour) for n in chain)
                if lift > 1.0:
                    f, g, raw = f / lift, 0.0, 1.0 / lift
            if yearly:
                self.month_all[day] += raw
                days = month_cat.get(cat)
                if days is None:
                    days = month_cat[cat] = [0.0] * 31
                days[day] += raw
            wf = w * f
            every.hod[h] += wf  # (_Sums.add, inline)
            every.dow[d] += wf
            every.total += wf
            c = cats.get(cat)
            if c is None:
                c = cats[cat] = _Sums()
                if self.hours_seen >= self.p.warmup_hours:  # new (after the warm-up's catalogue): its
                    self.cat_e0[cat] = max(0.0, self.exposure.total - w)  # rate is over the hours since
            c.hod[h] += wf
            c.dow[d] += wf
            c.total += wf
            per_grid[(chain, cat)] += f
            if g:
                for node in chain:
                    bins[(node, cat)] = bins.get((node, cat), 0.0) + 1.0
        self.pending = []
        for (chain, cat), x in per_grid.items():
            for node in chain:
                self.node_n[node] = self.node_n.get(node, 0.0) + w * x
                self.pair_n[(node, cat)] = self.pair_n.get((node, cat), 0.0) + w * x
        self._seasonal.clear()  # (the rates below are read with the hour's cases in, as before these caches; the
        self._shares.clear()  # rates already kept in _rates were read before, as they always were)
        self._scale = None
        for key, x in bins.items():
            if x > 1.0:  # winsorised: an hour beyond min_ratio x its expected count (a burst's first hours, not
                # yet in alert) counts as that many, so a burst does not read as dispersion and hide itself
                if x > self.p.min_count:  # (up to min_count, x itself whatever the rate)
                    x = min(x, max(float(self.p.min_count), self.p.min_ratio * self.rate(key[0], key[1], hour)))
                self.pairs[key] = self.pairs.get(key, 0.0) + w * x * (x - 1.0)

    def _month_of(self, hour: int) -> tuple[int, int]:
        """(local month as year * 12 + month - 1, day of the month - 1) of an epoch hour."""
        m = self._months.get(hour)
        if m is None:
            if len(self._months) > 50_000:
                self._months.clear()
            dt = datetime.fromtimestamp(hour * 3600.0 + 1800.0, UTC).astimezone(ZoneInfo(self.p.tz))
            m = self._months[hour] = (dt.year * 12 + dt.month - 1, dt.day - 1)
        return m

    def _month_hour(self, hour: int) -> None:
        """Count an observed hour in its local month; a new month folds the finished one into the profile."""
        m = self._month_of(hour)[0]
        if self.month is not None and m != self.month:
            slot, hours = self.month % 12, self.month_hours
            self.year_hours[slot] = _YEAR_KEEP * self.year_hours[slot] + hours
            self.year_all[slot] = _YEAR_KEEP * self.year_all[slot] + _trimmed(self.month_all, hours)
            for counts in self.year_cat.values():
                counts[slot] *= _YEAR_KEEP
            for cat, days in self.month_cat.items():
                self.year_cat.setdefault(cat, [0.0] * 12)[slot] += _trimmed(days, hours)
            self.month_hours, self.month_all, self.month_cat = 0.0, [0.0] * 31, {}
            self._year_idx, self._year_weights, self._year_ok = {}, {}, None
        self.month = m
        self.month_hours += 1.0

    def yearly(self, cat: str, hour: int) -> float:
        """The yearly profile's multiplier of the expected count of ``cat`` in an epoch hour: the month's index
        over the mean index of the months the decayed rates remember (1 until every month of the year has
        been seen for half a month, or without ``yearly``).

        >>> from fenghuo.detectors.bursts import BurstParams
        >>> b = Baseline(BurstParams())
        >>> b.yearly("noise", 500_000)
        1.0
        """
        profile = self._profile(cat, math.floor((hour * 3600.0 + 1800.0) / 86400.0))
        if profile is None:
            return 1.0
        idx, weights = profile
        mean = sum(w * i for w, i in zip(weights, idx, strict=True))
        here = idx[self._month_of(hour)[0] % 12]
        return min(_YEAR_CAP, max(1.0 / _YEAR_CAP, here / mean)) if mean > 0 else 1.0

    def _season_spread(self, cat: str) -> float:
        """How much the yearly profile adds to the sum of squared expected counts the decayed rates remember:
        ``E[idx^2] / E[idx]^2`` over their months (1 without a profile), so a season is not read as dispersion."""
        profile = None if self.hour is None else self._profile(cat, math.floor(self.hour / 24))
        if profile is None:
            return 1.0
        idx, weights = profile
        mean = sum(w * i for w, i in zip(weights, idx, strict=True))
        return sum(w * i * i for w, i in zip(weights, idx, strict=True)) / (mean * mean) if mean > 0 else 1.0

    def _profile(self, cat: str, day: int) -> tuple[list[float], list[float]] | None:
        """``(monthly index of cat, month weights on the epoch day)``, or None while there is no profile (off, or
        a month of the year not yet seen for ``_YEAR_MIN_HOURS``); cached until a month is folded in."""
        if not self.p.yearly:
            return None
        if self._year_ok is None:
            self._year_ok = min(self.year_hours) >= _YEAR_MIN_HOURS
        if not self._year_ok:
            return None
        idx = self._year_idx.get(cat)
        if idx is None:
            idx = self._year_idx[cat] = self._index(cat)
        weights = self._year_weights.get(day)
        if weights is None:
            weights = self._year_weights[day] = self._month_weights(day)
        return idx, weights

    def _index(self, cat: str) -> list[float]:
        """Per month of the year, the category's rate over its yearly mean rate, shrunk towards all complaints'."""
        hours, total_h = self.year_hours, sum(self.year_hours)
        total_all = sum(self.year_all)
        if total_all <= 0:
            return [1.0] * 12
        r_all = total_all / total_h
        shape = [(a / h) / r_all if h > 0 else 1.0 for a, h in zip(self.year_all, hours, strict=True)]
        counts = self.year_cat.get(cat)
        if not counts or sum(counts) <= 0:
            return shape
        r_c, k = sum(counts) / total_h, self.p.yearly_prior_hours
        return [((n + k * r_c * g) / (h + k)) / r_c for n, h, g in zip(counts, hours, shape, strict=True)]

    def _month_weights(self, day: int) -> list[float]:
        """Weights of the 12 months of the year in the decayed rates on an epoch day: the 365 days before it,
        each at the baseline's decay."""
        w, ts = [0.0] * 12, day * 86400.0 + 43200.0
        step = math.exp(-86400.0 / self.tau)
        f = 1.0
        for back in range(1, 366):
            f *= step
            w[self._month_of(math.floor((ts - back * 86400.0) / 3600.0))[0] % 12] += f
        total = sum(w)
        return [x / total for x in w]

    def forget(self, cat: str) -> None:
        """Forget what was learned of ``cat`` (the detector's category cap): its rates, shares, dispersion and
        yearly profile go; all complaints' rhythm keeps its cases."""
        self.cats.pop(cat, None)
        self.cat_e0.pop(cat, None)
        self.month_cat.pop(cat, None)
        self.year_cat.pop(cat, None)
        self._year_idx.pop(cat, None)
        for d in (self.pair_n, self.pairs):
            for key in [key for key in d if key[1] == cat]:
                del d[key]
        self.camp = {k: v for k, v in self.camp.items() if k[1] != cat}
        self.pending = [x for x in self.pending if x[1] != cat]
        self.drop_rates()
        self._alpha.clear()

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

    def drop_rates(self) -> None:
        """Forget the cached rates (the baseline learned, or its parameters changed)."""
        self._rates.clear()
        self._spans.clear()
        self._deferred.clear()
        self._seasonal.clear()
        self._shares.clear()
        self._scale = None

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
            r = self._rates[key] = floor * (self.lift(node, cat, hour) if p.campaigns else 1.0)
            return r
        # the category's seasonal rate of the hour (and its yearly factor) is the same at every node, the node's
        # share of the category the same at every hour: each is computed once per baseline hour (drop_rates)
        seasonal = self._seasonal.get((cat, hour)) or self._seasonal_of(cat, hour, c)
        share = self._shares.get((node, cat))
        if share is None:
            share = self._share_of(node, cat, c)
        r = max(floor, seasonal[0] * share)
        if p.campaigns:
            r *= self.lift(node, cat, hour)
        if p.yearly:
            r *= seasonal[1]
        self._rates[key] = r
        return r

    def _hour_scale(self) -> float:
        scale = self._scale
        if scale is None:
            scale = self._scale = self._weight(self.hour * 3600.0) if self.hour is not None else 1.0
        return scale

    def _seasonal_of(self, cat: str, hour: int, c: _Sums) -> tuple[float, float]:
        """(the category's rate in the hour over its share, the yearly factor): the part of :meth:`rate` that is
        the same at every node."""
        p, e, a = self.p, self.exposure, self.all
        h, d = self._bins.get(hour) or self._bin(hour)
        b = p.prior_hours * (self._scale or self._hour_scale())
        e0 = self.cat_e0.get(cat, 0.0)  # (seen(cat), inline)
        f = 1.0 if e0 <= 0.0 or e.total <= 0.0 else max(1e-3, 1.0 - e0 / e.total)
        rc = c.total / (f * e.total)
        ra = a.total / e.total
        prior_h = rc * (a.hod[h] / e.hod[h]) / ra if e.hod[h] > 0 else rc
        prior_d = rc * (a.dow[d] / e.dow[d]) / ra if e.dow[d] > 0 else rc
        rate_h = (c.hod[h] + b * prior_h) / (f * e.hod[h] + b)
        rate_d = (c.dow[d] + b * prior_d) / (f * e.dow[d] + b)
        yearly = self.yearly(cat, hour) if p.yearly and self._year_ok is not False else 1.0  # (False: no profile)
        out = self._seasonal[(cat, hour)] = (rate_h * rate_d / rc, yearly)
        return out

    def _share_of(self, node: str, cat: str, c: _Sums) -> float:
        """The node's share of the category, shrunk towards its share of all complaints (the same every hour)."""
        beta = self.p.share_prior * self._hour_scale()
        node_share = self.node_n.get(node, 0.0) / self.all.total
        share = self._shares[(node, cat)] = (self.pair_n.get((node, cat), 0.0) + beta * node_share) / (c.total + beta)
        return share

    def _span_rates(self, node: str, cat: str, first: int, last: int) -> tuple[float, ...]:
        """The rates of (node, category) in the hours ``first``..``last``: :meth:`rate` of each, computed here
        without a call per hour in the usual case (a known category, no campaigns)."""
        p, c, kept = self.p, self.cats.get(cat), self._rates
        if c is None or p.campaigns or self.exposure.total <= 0 or self.all.total <= 0:
            return tuple(kept.get((node, cat, h)) or self.rate(node, cat, h) for h in range(first, last + 1))
        floor, yearly = p.min_rate_per_day / 24.0, p.yearly
        share = self._shares.get((node, cat))
        if share is None:
            share = self._share_of(node, cat, c)
        seasonals = self._seasonal
        out = []
        for hour in range(first, last + 1):
            key = (node, cat, hour)
            r = kept.get(key)
            if r is None:
                seasonal = seasonals.get((cat, hour)) or self._seasonal_of(cat, hour, c)
                r = max(floor, seasonal[0] * share)
                if yearly:
                    r *= seasonal[1]
                kept[key] = r
            out.append(r)
        return tuple(out)

    def defer_expected(self, node: str, cat: str, t: float, window_s: float) -> None:
        """What :meth:`expected` does to the baseline, without the expected count (a caller that needs none):
        the rates it would have kept for the open hour are worked out only if the hour's commit reads them
        (:meth:`_keep_deferred`; the commit reads a kept rate as it was before the hour's cases, another after)."""
        hour = self.hour
        if hour is None:
            self.expected(node, cat, t, window_s)
        elif hour * 3600.0 < t and math.floor((t - window_s) / 3600.0) <= hour:  # the open hour is in the window
            self._deferred.add((node, cat))  # (_hours: first <= hour <= last)

    def expected(self, node: str, cat: str, t: float, window_s: float) -> float:
        """Expected count for (node, category) in the window ``(t - window_s, t]``: the sum over its hours of
        the hour's rate times the part of the hour inside the window, added up from the first hour on (the
        rates of the hours in between, and each times a whole hour, are kept per (node, category, first
        hour, last hour) until a rate may change: every complaint of a key re-reads the same hours)."""
        start = t - window_s
        first, last = _hours(t, window_s)
        if last < first:
            return 0.0
        key = (node, cat, first, last)
        span = self._spans.get(key)
        if span is None:
            rates = self._span_rates(node, cat, first, last)
            span = self._spans[key] = (rates, tuple(r * 3600.0 / 3600.0 for r in rates))
        rates, whole = span
        if first == last:
            return 0.0 + rates[0] * (min(t, (first + 1) * 3600.0) - max(start, first * 3600.0)) / 3600.0
        total = 0.0 + rates[0] * ((first + 1) * 3600.0 - max(start, first * 3600.0)) / 3600.0
        for i in range(1, last - first):
            total += whole[i]
        return total + rates[-1] * (min(t, (last + 1) * 3600.0) - last * 3600.0) / 3600.0

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
            mu2 = m * (n / c.total) ** 2 * self._season_spread(cat)  # sum of mu^2 over the node's hours
            k = p.dispersion_pseudo * (self._weight(self.hour * 3600.0) if self.hour is not None else 1.0)
            a = (self.pairs.get((node, cat), 0.0) + k * (1.0 + p.dispersion_prior)) / (mu2 + k) - 1.0
        a = self._alpha[(node, cat)] = min(p.dispersion_max, max(0.0, a))
        return a


def _hours(t: float, window_s: float) -> tuple[int, int]:
    """The epoch hours ``(first, last)`` of the window ``(t - window_s, t]`` (``last < first``: none)."""
    first = math.floor((t - window_s) / 3600.0)
    last = math.ceil(t / 3600.0) - 1  # the last hour starting before t
    while (last + 1) * 3600.0 < t:
        last += 1
    while last >= first and last * 3600.0 >= t:
        last -= 1
    return first, last


# -- saved state: plain data (fenghuo.core.state); the caches (_fresh_caches) are rebuilt on demand -----------
def _baseline_data(b: Baseline) -> dict[str, Any]:
    """The baseline's fields (not its caches); the per-(node, category) sums by category then node (``pair_nc``,
    ``pairs_c``: a category's name written once, not once per node), the largest part of a district's state."""
    out = {k: v for k, v in b.__dict__.items() if k not in _CACHES and k not in _PAIR_FIELDS}
    nodes = list(dict.fromkeys(node for name in _PAIR_FIELDS for node, _ in getattr(b, name)))
    at = {n: i for i, n in enumerate(nodes)}
    out["pair_nodes"] = nodes
    for name, short in _PAIR_FIELDS.items():  # per category, a value per node (None: none)
        by_cat: dict[str, list[float | None]] = {}
        for (node, cat), v in getattr(b, name).items():
            row = by_cat.get(cat)
            if row is None:
                row = by_cat[cat] = [None] * len(nodes)
            row[at[node]] = v
        out[short] = by_cat
    out["month_cat"] = {c: [int(x) if x.is_integer() else x for x in days] for c, days in b.month_cat.items()}
    return out


# written by category (bursts' state version 2): a category's name once, a node's once, not once per pair
_PAIR_FIELDS = {"pair_n": "pair_nc", "pairs": "pairs_c"}


def _fresh_caches() -> dict[str, Any]:
    """The baseline's caches, empty (never saved: rebuilt on demand)."""
    return {"_bins": {}, "_rates": {}, "_spans": {}, "_deferred": set(), "_seasonal": {}, "_shares": {}, "_alpha": {},
            "_months": {}, "_year_idx": {}, "_year_weights": {}, "_year_ok": None, "_scale": None}


_CACHES = tuple(_fresh_caches())


def _trimmed(days: list[float], hours: float) -> float:
    """A month's count without its ``_YEAR_TRIM`` busiest days (their place taken by the mean of the others):
    a season fills most of a month, a storm a few days; under a week observed, the plain count."""
    n = round(hours / 24.0)
    if n < 7:
        return sum(days)
    top = sum(sorted(days, reverse=True)[:_YEAR_TRIM])
    return (sum(days) - top) * n / (n - _YEAR_TRIM)


def _NEW_FIELDS() -> dict[str, Any]:  # noqa: N802 - fields a state saved before them lacks, fresh each call
    return {"cat_e0": {}, "camp": {}, "month": None, "month_hours": 0.0, "month_all": [0.0] * 31, "month_cat": {},
            "year_hours": [0.0] * 12, "year_all": [0.0] * 12, "year_cat": {}}


def _baseline_from(d: dict[str, Any]) -> Baseline:
    d = dict(d)
    nodes = d.pop("pair_nodes", [])
    for name, short in _PAIR_FIELDS.items():  # (a state of version 1 has them keyed by (node, category))
        if short in d:
            d[name] = {(node, cat): v for cat, row in d.pop(short).items()
                       for node, v in zip(nodes, row, strict=True) if v is not None}
    if "month_cat" in d:  # day counts written as integers when whole (the same floats back)
        d["month_cat"] = {c: [float(x) for x in days] for c, days in d["month_cat"].items()}
    b = Baseline.__new__(Baseline)
    b.__dict__.update({**_NEW_FIELDS(), **d, **_fresh_caches()})
    return b


saved.register("bursts.sums", _Sums, lambda s: {"h": s.hod, "d": s.dow, "t": s.total},
               lambda d: _sums_from(d["h"], d["d"], d["t"]))
saved.register("bursts.campaign", Campaign)
saved.register("bursts.baseline", Baseline, _baseline_data, _baseline_from)


def _sums_from(hod: list[float], dow: list[float], total: float) -> _Sums:
    s = _Sums()
    s.hod, s.dow, s.total = hod, dow, total
    return s
