"""Complaint bursts per (grid, category) against a seasonal baseline, tested with a Poisson tail.

The baseline is learned online, hour by hour, with exponential decay (``half_life_days``):

* per category, rates by hour of day and by day of week (local time, ``tz``), each shrunk
  towards the city-wide rhythm of all complaints (``prior_hours`` of pseudo-exposure), combined
  multiplicatively: ``rate_c(d, h) = rate_c(h) * rate_c(d) / rate_c``;
* per (grid, category), the grid's share of the category, shrunk towards the grid's share of
  all complaints (``share_prior`` pseudo-events), so a sparse pair borrows strength.

An hour's events join the baseline when the hour is over (score before learn); events of a key
that is in alert, or whose surprise is already ``learn_guard`` or more, learn at weight
``learn_in_alert`` so a burst does not become the norm at once. Events whose ``attrs["channel"]``
is in ``ignore_channels`` (work orders a city crew logs itself, say) are not complaints: skipped.
For each complaint the events of its key in the last ``window_hours`` are counted against the
expected count and the surprise ``-log10 P(X >= count)`` (Poisson) is mapped to levels with
hysteresis (:class:`detectors.level_state.LevelState`). Cleared and lowered levels are found by a
sweep of the keys in alert at each hour boundary. When ``repeat_min`` or more complaints in the
window come from one place (``attrs["location"]`` or lat/lon rounded to ``place_decimals``;
placeholder locations excluded), a raised level goes up one.

>>> from fenghuo.models import Event
>>> det = ComplaintBurst(BurstParams(warmup_hours=24))
>>> ev = lambda i, t: Event("complaint", "hotline", t, "G1", f"e{i}", category="noise", text="x")
>>> [s for i in range(6 * 14) for s in det.process(ev(i, i * 14400.0))]  # one every 4 h: quiet
[]
>>> burst = [s for i in range(20) for s in det.process(ev(100 + i, 14 * 86400.0 + i * 120))]
>>> [(s.level.name_en, s.evidence["count"]) for s in burst]  # 20 in 40 minutes
[('blue', 8), ('yellow', 10), ('orange', 13), ('red', 16)]
>>> [(s.kind, s.series) for s in det.process(ev(200, 15 * 86400.0))]  # a day later
[('clear', 'G1/noise')]
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from scipy.special import gammainc

from detectors.level_state import LevelParams, LevelState
from fenghuo.levels import Level
from fenghuo.models import Certainty, Event, Risk, Signal

SAFETY_WORDS = ("fire", "gas", "smoke", "flood", "structural", "collapse", "explosion", "carbon monoxide",
                "火", "燃气", "煤气", "洪", "涝", "坍塌", "倒塌", "爆炸")
_RESCALE = 30.0  # rescale decayed sums when their weights exceed e^30


def risk_for(category: str) -> Risk:
    """Safety for categories that clearly are (fire, gas, flood, structural...), else contradiction.

    >>> risk_for("Gas Leak"), risk_for("Noise Disturbance")
    (<Risk.SAFETY: 'safety'>, <Risk.CONTRADICTION: 'contradiction'>)
    """
    low = category.lower()
    return Risk.SAFETY if any(w in low for w in SAFETY_WORDS) else Risk.CONTRADICTION


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


@dataclass(frozen=True, slots=True)
class BurstParams:
    """Parameters; ``thresholds`` are surprises (-log10 p) for blue, yellow, orange and red."""

    window_hours: float = 6.0
    thresholds: tuple[float, float, float, float] = (4.0, 6.0, 8.0, 11.0)
    hysteresis: float = 1.5
    half_life_days: float = 28.0
    prior_hours: float = 24.0
    share_prior: float = 20.0
    min_count: int = 3
    min_rate_per_day: float = 0.05
    warmup_hours: float = 168.0
    repeat_min: int = 3
    place_decimals: int = 3
    learn_in_alert: float = 0.2
    learn_guard: float = 2.0
    ignore_channels: tuple[str, ...] = ()
    tz: str = "UTC"
    feeds: tuple[str, ...] = ("complaint",)
    max_surprise: float = 50.0

    def level_params(self) -> LevelParams:
        return LevelParams(tuple(zip((1, 2, 3, 4), self.thresholds, strict=True)), True, 0.0, self.hysteresis)


@dataclass(slots=True)
class _Key:
    window: deque[tuple[float, str | None]] = field(default_factory=deque)
    state: LevelState = field(default_factory=LevelState)
    level: int = 0  # emitted level (state level, +1 for repeats)
    source: str = ""
    feed: str = "complaint"


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


class ComplaintBurst:
    """Streaming burst detector; ``process(event)`` returns the level changes it causes."""

    def __init__(self, params: BurstParams | None = None) -> None:
        self.p = params or BurstParams()
        self.lp = self.p.level_params()
        self.tau = self.p.half_life_days * 86400.0 / math.log(2)
        self.t0: float | None = None  # weights are exp((t - t0) / tau)
        self.hour: int | None = None  # the current (open) hour, epoch hours
        self.hours_seen = 0
        self.exposure = _Sums()  # decayed hours observed
        self.all = _Sums()
        self.cats: dict[str, _Sums] = {}
        self.grid_n: dict[str, float] = {}
        self.pair_n: dict[tuple[str, str], float] = {}
        self.pending: list[tuple[str, str, float]] = []  # (grid, category, weight) of the open hour
        self.keys: dict[tuple[str, str], _Key] = {}
        self.active: set[tuple[str, str]] = set()  # keys in alert, swept at each hour boundary
        self._bins: dict[int, tuple[int, int]] = {}
        self._rates: dict[tuple[str, str, int], float] = {}

    # -- baseline -------------------------------------------------------------------------------
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

    def _close_hours(self, new_hour: int) -> None:
        """Commit the open hour's events and exposure; add exposure for empty hours skipped."""
        assert self.hour is not None
        for hour in range(self.hour, min(new_hour, self.hour + 24 * 7 * 8)):
            w = self._weight(hour * 3600.0)
            if w > math.exp(_RESCALE):
                self._rescale(hour * 3600.0)
                w = 1.0
            h, d = self._bin(hour)
            self.exposure.add(h, d, w)
            self.hours_seen += 1
            if hour == self.hour:
                for grid, cat, f in self.pending:
                    self.all.add(h, d, w * f)
                    self.cats.setdefault(cat, _Sums()).add(h, d, w * f)
                    self.grid_n[grid] = self.grid_n.get(grid, 0.0) + w * f
                    self.pair_n[(grid, cat)] = self.pair_n.get((grid, cat), 0.0) + w * f
                self.pending = []
        self.hour = new_hour
        self._rates.clear()

    def _rescale(self, t: float) -> None:
        f = math.exp(-(t - (self.t0 or t)) / self.tau)
        for s in (self.exposure, self.all, *self.cats.values()):
            s.scale(f)
        self.grid_n = {k: v * f for k, v in self.grid_n.items()}
        self.pair_n = {k: v * f for k, v in self.pair_n.items()}
        self.t0 = t

    def rate(self, grid: str, cat: str, hour: int) -> float:
        """Expected complaints per hour for (grid, category) in an epoch hour."""
        key = (grid, cat, hour)
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
        rc = c.total / e.total
        ra = a.total / e.total
        prior_h = rc * (a.hod[h] / e.hod[h]) / ra if e.hod[h] > 0 else rc
        prior_d = rc * (a.dow[d] / e.dow[d]) / ra if e.dow[d] > 0 else rc
        rate_h = (c.hod[h] + b * prior_h) / (e.hod[h] + b)
        rate_d = (c.dow[d] + b * prior_d) / (e.dow[d] + b)
        beta = p.share_prior * scale
        grid_share = self.grid_n.get(grid, 0.0) / a.total
        share = (self.pair_n.get((grid, cat), 0.0) + beta * grid_share) / (c.total + beta)
        r = self._rates[key] = max(floor, rate_h * rate_d / rc * share)
        return r

    def expected(self, grid: str, cat: str, t: float) -> float:
        """Expected count for (grid, category) in the window ending at ``t``."""
        start = t - self.p.window_hours * 3600.0
        total, hour = 0.0, math.floor(start / 3600.0)
        while hour * 3600.0 < t:
            lo, hi = max(start, hour * 3600.0), min(t, (hour + 1) * 3600.0)
            total += self.rate(grid, cat, hour) * (hi - lo) / 3600.0
            hour += 1
        return total

    # -- detection ------------------------------------------------------------------------------
    def _place(self, e: Event) -> str | None:
        loc = e.attrs.get("location")
        if loc:
            return str(loc)
        if e.lat is None or e.lon is None or e.attrs.get("placeholder_location"):
            return None
        return f"{round(e.lat, self.p.place_decimals)},{round(e.lon, self.p.place_decimals)}"

    def _evaluate(self, grid: str, cat: str, k: _Key, t: float, cause: str) -> Signal | None:
        p = self.p
        horizon = t - p.window_hours * 3600.0
        while k.window and k.window[0][0] <= horizon:
            k.window.popleft()
        count = len(k.window)
        expected = self.expected(grid, cat, t)
        prob, surprise = poisson_surprise(count, expected, p.max_surprise)
        if count < p.min_count or self.hours_seen < p.warmup_hours:
            surprise = 0.0
        k.state.step(self.lp, t, surprise)
        places: dict[str, int] = {}
        for _, place in k.window:
            if place is not None:
                places[place] = places.get(place, 0) + 1
        top = max(places.values(), default=0)
        repeats = count - len(places) - sum(1 for _, pl in k.window if pl is None)
        level = min(4, k.state.level + 1) if k.state.level and top >= p.repeat_min else k.state.level
        if level == k.level:
            return None
        k.level = level
        (self.active.add if level else self.active.discard)((grid, cat))
        lv = Level(level) if level else None
        what = f"{count} {cat} complaints in {p.window_hours:g} h (expected {expected:.2f}, p={prob:.2g})"
        reason = f"complaint-burst: {what}" + (f", {top} from one place" if top >= p.repeat_min else "")
        if lv is None:
            reason = f"complaint-burst: {cat} back to normal ({what})"
        return Signal(
            detector="burst", rule="complaint-burst", risk=risk_for(cat), feed=k.feed, grid=grid,
            series=f"{grid}/{cat}", source=k.source, ts=t, level=lv, score=surprise, reason=reason,
            kind="level" if lv else "clear", certainty=Certainty.POSSIBLE,
            evidence={"count": count, "expected": expected, "p_value": prob, "window_hours": p.window_hours,
                      "repeats": repeats, "max_per_place": top, "surprise": surprise, "category": cat,
                      "event": cause})

    def process(self, e: Event) -> list[Signal]:
        """Score one event (then learn it); return the signals of every key whose level changed."""
        if e.feed not in self.p.feeds or (self.p.ignore_channels and e.attrs.get("channel") in self.p.ignore_channels):
            return []
        out: list[Signal] = []
        hour = math.floor(e.ts / 3600.0)
        if self.hour is None:
            self.t0, self.hour = hour * 3600.0, hour
        elif hour > self.hour:
            self._close_hours(hour)
            for grid, cat in sorted(self.active - {(e.grid, e.category or "*")}):  # lower or clear them
                    s = self._evaluate(grid, cat, self.keys[(grid, cat)], e.ts, e.id)
                    if s is not None:
                        out.append(s)
        cat = e.category or "*"
        k = self.keys.get((e.grid, cat))
        if k is None:
            k = self.keys[(e.grid, cat)] = _Key()
        k.source, k.feed = e.source, e.feed
        k.window.append((e.ts, self._place(e)))
        s = self._evaluate(e.grid, cat, k, e.ts, e.id)
        if s is not None:
            out.append(s)
        guarded = k.level or k.state.last_value is not None and k.state.last_value >= self.p.learn_guard
        self.pending.append((e.grid, cat, self.p.learn_in_alert if guarded else 1.0))
        return out



class BurstExtra:
    """A :class:`DetectorEngine` extra: one detector for live events, one per drill (fresh baseline)."""

    def __init__(self, params: BurstParams | None = None) -> None:
        self.params = params or BurstParams()
        self.detectors: dict[str | None, ComplaintBurst] = {}

    def __call__(self, e: Event) -> list[Signal]:
        det = self.detectors.get(e.drill)
        if det is None:
            det = self.detectors[e.drill] = ComplaintBurst(self.params)
        out = det.process(e)
        for s in out:
            s.drill = e.drill
        return out

    def snapshot(self) -> dict[str, Any]:
        return {"detectors": dict(self.detectors)}

    def restore(self, snap: dict[str, Any]) -> None:
        self.detectors = dict(snap.get("detectors", {}))


def make_burst_extra(params: BurstParams | None = None) -> BurstExtra:
    """A picklable callable ``Event -> list[Signal]`` for ``DetectorEngine.extras``."""
    return BurstExtra(params)
