"""Rule detectors: threshold, rate of change and complaint count, each a small pure class.

A rule's effective parameters for a grid come from its ``"*"`` levels and the most specific
override on the grid's chain (grid, community, street, district).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fenghuo.core import state as saved
from fenghuo.core.config import Rule
from fenghuo.core.levels import Level
from fenghuo.core.state import StateVersionError
from fenghuo.detectors.hysteresis import LevelParams, LevelState, level_state_data, level_state_from
from fenghuo.detectors.open_warnings import OpenWarning, matches


def params_for(rule: Rule, chain: list[str], source: str | None = None) -> LevelParams | None:
    """Effective parameters for a source on a grid whose chain (bottom up) is given; None when disabled.

    A per-source override wins; then the most specific node override on the chain; then ``"*"``.
    """
    levels, for_s, hyst, enabled = rule.levels, rule.for_seconds, rule.hysteresis, rule.enabled
    found = rule.sources.get(source) if source is not None else None
    candidates = [found] if found is not None else [rule.overrides.get(node) for node in chain]
    for ov in candidates:
        if ov is not None:
            levels = ov.levels or levels
            for_s = ov.for_seconds if ov.for_seconds is not None else for_s
            hyst = ov.hysteresis if ov.hysteresis is not None else hyst
            enabled = ov.enabled if ov.enabled is not None else enabled
            break
    if not enabled:
        return None
    thresholds = tuple(sorted((int(Level.parse(k)), float(v)) for k, v in levels.items()))
    return LevelParams(thresholds, rule.direction == "above", for_s, hyst)


def lowered(p: LevelParams, fraction: float) -> LevelParams:
    """The levels ``p`` brought earlier by ``fraction`` (0..1) of the distance between levels, as a rule's
    ``while_warning`` asks while a warning is open: each threshold moves that much of the way toward the level
    below it; the lowest by that much of its distance to the level above (a single level stays as it is). The
    order of the levels is kept; earlier means lower for ``above`` rules, higher for ``below`` ones.

    >>> p = LevelParams(((1, 2.0), (2, 2.5), (3, 3.0), (4, 3.5)))
    >>> [round(t, 6) for _, t in lowered(p, 0.2).thresholds]
    [1.9, 2.4, 2.9, 3.4]
    >>> [round(t, 6) for _, t in lowered(LevelParams(((1, 5.0), (4, 1.0)), above=False), 0.5).thresholds]
    [7.0, 3.0]
    """
    ts = p.thresholds
    if len(ts) < 2 or fraction <= 0:
        return p
    out = []
    for i, (level, t) in enumerate(ts):
        gap = t - ts[i - 1][1] if i > 0 else ts[1][1] - t
        out.append((level, t - fraction * gap))
    return LevelParams(tuple(out), p.above, p.for_seconds, p.hysteresis)


def lowering_for(rule: Rule, warnings: list[OpenWarning]) -> tuple[float, OpenWarning] | None:
    """The largest ``lower`` of the rule's ``while_warning`` entries that one of these (open) warnings matches,
    with the warning; None when none does. A warning below an entry's ``min_level`` does not count."""
    best: tuple[float, OpenWarning] | None = None
    for ww in rule.while_warning:
        floor = Level.parse(ww.min_level)
        for w in warnings:
            if w.level >= floor and matches(ww.event, w) and (best is None or ww.lower > best[0]):
                best = (ww.lower, w)
    return best


def _own_grid(grid: str) -> list[str]:
    return [grid]


class SensorRulesInForce:
    """The sensor threshold rules in force, followed by a model detector (forecasts warn before their levels,
    the health detector calls a gauge high at their blue): ``provider()`` is read again when event time passes
    ``refresh_s`` beyond the last read (or on :meth:`refresh`), and the rules that apply to an event's series
    with their effective levels (:func:`params_for` over ``chain(grid)``) are kept per (metric, grid, source)
    until a rule changes.

    >>> rule = Rule.model_validate({"id": "r", "feed": "sensor", "metric": "m", "levels": {"blue": 1, "red": 4}})
    >>> rules = SensorRulesInForce(lambda: [rule])
    >>> from fenghuo.core.models import Event
    >>> [(r.id, lp.thresholds) for r, lp in rules.applying(Event("sensor", "s", 0.0, "G", "e", metric="m", value=1.0))]
    [('r', ((1, 1.0), (4, 4.0)))]
    """

    def __init__(self, provider: Callable[[], list[Rule]], chain: Callable[[str], list[str]] | None = None,
                 refresh_s: float = 60.0) -> None:
        self.provider = provider
        self.chain = chain or _own_grid
        self.refresh_s = refresh_s
        self.rules: list[Rule] = []
        self.loaded_at = -math.inf
        self._applies: dict[tuple[str | None, str, str], list[tuple[Rule, LevelParams]]] = {}

    def refresh(self, now: float = -math.inf) -> None:
        """Read the rules again (a changed rule is a new object: only then are the effective levels recomputed)."""
        rules = [r for r in self.provider() if r.kind == "threshold" and r.feed == "sensor"]
        if len(rules) != len(self.rules) or any(a is not b for a, b in zip(rules, self.rules, strict=True)):
            self._applies.clear()
        self.rules = rules
        self.loaded_at = now

    def applying(self, e: Any) -> list[tuple[Rule, LevelParams]]:
        """The enabled rules watching the event's series, with their effective levels for it (read again first
        when the last read is ``refresh_s`` of event time old: an older (drill) event never forces a reload)."""
        if e.ts - self.loaded_at >= self.refresh_s:
            self.refresh(e.ts)
        key = (e.metric, e.grid, e.source)
        found = self._applies.get(key)
        if found is None:
            chain = self.chain(e.grid)
            found = []
            for r in self.rules:
                if r.metric == e.metric and (r.grid == "*" or r.grid in chain):
                    lp = params_for(r, chain, e.source)
                    if lp is not None:
                        found.append((r, lp))
            self._applies[key] = found
        return found


@dataclass(slots=True)
class ThresholdDetector:
    """A value against four levels."""

    state: LevelState = field(default_factory=LevelState)

    def step(self, p: LevelParams, ts: float, value: float) -> tuple[int | None, float]:
        return self.state.step(p, ts, value), value


@dataclass(slots=True)
class RateDetector:
    """Change per hour over ``window_seconds`` against four levels (needs half a window of history).

    >>> d = RateDetector(window_seconds=3600)
    >>> p = LevelParams(((1, 0.5), (4, 2.0)))
    >>> [d.step(p, t, v)[0] for t, v in [(0, 1.0), (1800, 1.5), (3600, 3.5)]]
    [None, 1, 4]
    """

    window_seconds: float = 3600.0
    points: deque[tuple[float, float]] = field(default_factory=deque)
    state: LevelState = field(default_factory=LevelState)

    def step(self, p: LevelParams, ts: float, value: float) -> tuple[int | None, float]:
        pts = self.points
        pts.append((ts, value))
        window = self.window_seconds
        start = ts - window
        while pts and pts[0][0] < start:
            pts.popleft()
        t0, v0 = pts[0]
        if ts - t0 < window / 2:
            return None, 0.0
        rate = (value - v0) / (ts - t0) * 3600.0
        return self.state.step(p, ts, rate), rate


@dataclass(slots=True)
class CountDetector:
    """Events in a sliding window against four levels (complaints of a category in a grid)."""

    window_seconds: float = 3600.0
    times: deque[float] = field(default_factory=deque)
    state: LevelState = field(default_factory=LevelState)

    def step(self, p: LevelParams, ts: float, _value: float = 1.0) -> tuple[int | None, float]:
        times = self.times
        times.append(ts)
        start = ts - self.window_seconds
        while times and times[0] <= start:
            times.popleft()
        n = float(len(times))
        return self.state.step(p, ts, n), n


def make_rule_detector(rule: Rule) -> ThresholdDetector | RateDetector | CountDetector:
    if rule.kind == "rate":
        return RateDetector(window_seconds=rule.window_seconds)
    if rule.kind == "count":
        return CountDetector(window_seconds=rule.window_seconds)
    return ThresholdDetector()


# -- saved state: plain data per (rule, series) ---------------------------------------------------------------
RuleDetector = ThresholdDetector | RateDetector | CountDetector


def rule_state_data(det: RuleDetector) -> dict[str, Any]:
    """One rule detector's state as plain data (its kind, window and level state).

    >>> d = RateDetector(window_seconds=60.0)
    >>> _ = d.step(LevelParams(((1, 0.5),)), 0.0, 1.0)
    >>> rule_state_data(d)
    {'k': 'rate', 's': {'l': 0, 's': [], 'v': None, 't': None}, 'w': 60.0, 'p': [[0.0, 1.0]]}
    >>> rule_state_from(rule_state_data(d)) == d
    True
    """
    out: dict[str, Any] = {"k": "threshold", "s": level_state_data(det.state)}
    if isinstance(det, RateDetector):
        out.update(k="rate", w=det.window_seconds, p=[[t, v] for t, v in det.points])
    elif isinstance(det, CountDetector):
        out.update(k="count", w=det.window_seconds, t=list(det.times))
    return out


def rule_state_from(d: dict[str, Any]) -> RuleDetector:
    state = level_state_from(d["s"])
    kind = d.get("k")
    if kind == "rate":
        return RateDetector(d["w"], deque((t, v) for t, v in d["p"]), state)
    if kind == "count":
        return CountDetector(d["w"], deque(d["t"]), state)
    if kind == "threshold":
        return ThresholdDetector(state)
    raise StateVersionError(f"saved rule state of unknown kind {kind!r}")


for _cls in (ThresholdDetector, RateDetector, CountDetector):
    saved.register(f"rule.{_cls.__name__.removesuffix('Detector').lower()}", _cls, rule_state_data, rule_state_from)
