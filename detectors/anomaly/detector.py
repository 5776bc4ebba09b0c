"""Streaming anomaly models on sensor series, as an engine extra that raises level signals.

Each series (a sensor's metric; drills apart) gets its own detector from the registry
(:func:`fenghuo.detectors.anomaly.make_detector`), scored before it learns. The score becomes a level in the
series' own time base (:mod:`fenghuo.detectors.timebase`): every timing (warm-up, confirmation, hold,
clearing, cooldown) is a count of the series' readings, turned into time with the interval the series is
learned to report at, so the same settings hold on a 1 Hz pump sensor and a 10-minute river gauge. A level
above blue needs ``confirm`` readings in a row, and a reading that falls back to where the series was before
a one-sample spike confirms nothing (one glitch raises blue at most); a raised alert stays up while the
anomaly lasts (the model learns only readings that score below blue, unless ``max_freeze`` in a row did
not: then a lasting change is accepted as the new normal) and clears after ``clear`` normal readings.

>>> extra = AnomalyExtra(AnomalyParams(detector="ewma", levels=(0.5, 0.7, 0.9, 0.97), warmup=50))
>>> from fenghuo.core.models import Event
>>> out = []
>>> for i in range(400):
...     v = 5.0 + (i % 7) * 0.01 + (40.0 if i == 399 else 0.0)
...     out += extra(Event("sensor", "g1", i * 600.0, "G1", f"e{i}", metric="level_m", value=v))
>>> [(s.rule, s.level.name_en) for s in out]  # one reading: blue at most (red needs two in a row)
[('anomaly:ewma', 'blue')]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fenghuo.core import state as saved
from fenghuo.core.levels import Level
from fenghuo.core.models import Certainty, Event, Risk, Signal
from fenghuo.detectors.anomaly import make_detector
from fenghuo.detectors.base import SeriesDetector
from fenghuo.detectors.protocol import VersionedDetector
from fenghuo.detectors.registry import BuildContext, register
from fenghuo.detectors.timebase import Cadence, ScoreLevels, Timing


@dataclass(frozen=True, slots=True)
class AnomalyParams:
    """Settings of the ``anomaly`` detector; the timings count the series' own readings (see the module doc)."""

    # model, levels, hold and confirm: chosen by one rule over NAB, SKAB and Storm Gloria together
    # (docs/benchmarks-defaults.md, make bench-defaults); records_local is the best on NAB's own scoring
    detector: str = "cusum"
    metrics: tuple[str, ...] = ()  # empty: every sensor metric
    levels: tuple[float, float, float, float] = (0.6, 0.75, 0.9, 0.98)  # score for blue, yellow, orange, red
    hysteresis: float = 0.05
    warmup: int = 288  # readings a series learns before it may raise (NAB's probation; 2 days at 10 min, 5 min at 1 Hz)
    confirm: int = 2  # readings in a row a level above blue needs
    hold: float = 48.0  # intervals a raised level stays after the score last reached it
    clear: int = 3  # normal readings in a row before the alert clears
    cooldown: float = 0.0  # intervals after a clear in which even blue needs ``confirm`` readings
    max_freeze: int = 288  # readings a raised series may go without learning (then a lasting change is the new normal)
    seed: int = 0

    @property
    def timing(self) -> Timing:
        return Timing(self.warmup, self.confirm, self.hold, self.clear, self.cooldown, self.max_freeze)


@dataclass(slots=True)
class _Series:
    detector: SeriesDetector
    levels: ScoreLevels = field(default_factory=ScoreLevels)
    cadence: Cadence = field(default_factory=Cadence)
    before: float | None = None  # the reading before the last one
    last: float | None = None
    last_high: bool = False  # the last reading scored at blue or above
    skipped: int = 0  # anomalous readings in a row not learned (at most max_freeze)
    glitches: int = 0

    def __setstate__(self, state: Any) -> None:
        """Read a pickle of release 0.1.0 (its level state and peak are dropped: the series warms up again)."""
        slots = state[1] if isinstance(state, tuple) else state
        fresh = _Series(slots["detector"])
        for name in _Series.__dataclass_fields__:
            object.__setattr__(self, name, slots.get(name, getattr(fresh, name)))


GLITCH_RETURN = 0.25  # back within this fraction of the jump: the reading before was a one-sample spike


def contradicts(before: float | None, spike: float | None, value: float) -> bool:
    """Whether ``value`` contradicts the reading before it: back to within a quarter of the jump that the
    reading made from the one before it (a one-sample spike, a glitch).

    >>> contradicts(1.0, 6.0, 1.02), contradicts(1.0, 6.0, 5.5), contradicts(None, 6.0, 1.0)
    (True, False, False)
    """
    if before is None or spike is None or spike == before:
        return False
    return abs(value - before) <= GLITCH_RETURN * abs(spike - before)


class AnomalyExtra(VersionedDetector):
    """The ``anomaly`` :class:`fenghuo.detectors.protocol.Detector` (also ``Event -> list[Signal]``)."""

    name = "anomaly"
    feeds = frozenset({"sensor"})

    def __init__(self, params: AnomalyParams | None = None) -> None:
        self.p = params or AnomalyParams()
        make_detector(self.p.detector)  # fail at start on an unknown name
        self.p.timing.check()
        self.series: dict[str, _Series] = {}

    def _new_series(self) -> _Series:
        p = self.p
        return _Series(make_detector(p.detector, p.seed), ScoreLevels(tuple(p.levels), p.hysteresis, p.timing))

    def __call__(self, e: Event) -> list[Signal]:
        p = self.p
        if e.feed != "sensor" or e.value is None or (p.metrics and e.metric not in p.metrics):
            return []
        key = f"{e.drill}|{e.series}" if e.drill else e.series
        s = self.series.get(key)
        if s is None:
            s = self.series[key] = self._new_series()
        ts, value, det, levels, blue = e.ts, e.value, s.detector, s.levels, p.levels[0]
        cadence = s.cadence
        cadence.observe(ts)
        score = det.score_one(ts, value)
        if score < blue or s.skipped >= p.max_freeze or levels.seen < p.warmup:
            det.learn_one(ts, value)  # the same reading right after its score: RecordFusion, CUSUM reuse that work
            s.skipped = 0
        else:  # an anomalous reading is not learned (a long anomaly is not the new normal, a glitch not the last value)
            s.skipped += 1
        judged = score
        last = s.last
        if s.last_high and contradicts(s.before, last, value):
            judged, s.glitches = 0.0, s.glitches + 1  # the spike was a glitch: its return confirms nothing
        s.before, s.last, s.last_high = last, value, score >= blue
        interval = cadence.interval
        changed = levels.step(ts, judged, interval)
        if changed is None:
            return []
        level = Level(changed) if changed else None
        name = self.p.detector
        reason = (f"{name}: anomaly score {score:.2f} ({level.name_en}; readings every {_span(interval)})" if level
                  else f"{name}: back to normal (anomaly score {score:.2f}, peak {levels.peak:.2f})")
        return [Signal(detector="anomaly", rule=f"anomaly:{name}", risk=Risk.SAFETY, feed="sensor", grid=e.grid,
                       series=e.series, source=e.source, ts=e.ts, level=level, score=score, reason=reason,
                       drill=e.drill, kind="level" if level else "clear", certainty=Certainty.POSSIBLE,
                       evidence={"event": e.id, "value": e.value, "score": score, "metric": e.metric,
                                 "interval_s": interval})]

    process = __call__

    def live_state(self) -> dict[str, Any]:
        """The state as the live objects (not copied), for :meth:`use_live_state`."""
        return {"series": self.series}

    def use_live_state(self, live: dict[str, Any]) -> None:
        """Continue from saved series; the levels and timings are the configuration's (they may have changed
        since, and a 0.1.0 series has none: it warms up again)."""
        self.series = dict(live.get("series", {}))
        p, timing = self.p, self.p.timing
        for s in self.series.values():
            lv = s.levels
            if lv.levels != tuple(p.levels) or lv.hysteresis != p.hysteresis or lv.timing != timing:
                lv.levels, lv.hysteresis, lv.timing = tuple(p.levels), p.hysteresis, timing

    STATE_VERSION = 1  # of the series' models and levels; bump it (and read the old) on a change
    # (1 also reads the 0.1.0 series, whose level state and peak are dropped: a fresh ScoreLevels per series)


def _span(seconds: float) -> str:
    """A short human interval: 1 s, 10 min, 2 h, 1 d.

    >>> _span(1.0), _span(600.0), _span(7200.0), _span(86400.0)
    ('1 s', '10 min', '2 h', '1 d')
    """
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


saved.register("anomaly.series", _Series)


def _check(params: AnomalyParams) -> None:
    make_detector(params.detector)  # an unknown model name fails at check-config, as at start
    params.timing.check()


@register("anomaly", AnomalyParams, feeds=("sensor",), scope="grid", check=_check)
def _build(params: AnomalyParams, ctx: BuildContext) -> AnomalyExtra:
    return AnomalyExtra(params)
