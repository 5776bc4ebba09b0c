"""Streaming anomaly models on sensor series, as an engine extra that raises level signals.

Each series (a sensor's metric; drills apart) gets its own detector from the registry
(:func:`fenghuo.detectors.anomaly.make_detector`), scored before it learns. The score becomes a level
through the same state machine as the rules (:mod:`fenghuo.detectors.hysteresis`), with hysteresis on the
score; the highest recent score holds for ``hold_seconds`` (detectors tuned on NAB fire once per
episode), so an anomaly alert rises, holds and clears like a threshold alert.

>>> extra = AnomalyExtra(AnomalyParams(detector="ewma", levels=(0.5, 0.7, 0.9, 0.97), warmup=50))
>>> from fenghuo.core.models import Event
>>> out = []
>>> for i in range(400):
...     v = 5.0 + (i % 7) * 0.01 + (40.0 if i == 399 else 0.0)
...     out += extra(Event("sensor", "g1", i * 600.0, "G1", f"e{i}", metric="level_m", value=v))
>>> [(s.rule, s.level.name_en) for s in out][-1:]
[('anomaly:ewma', 'red')]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fenghuo.core import state as saved
from fenghuo.core.levels import Level
from fenghuo.core.models import Certainty, Event, Risk, Signal
from fenghuo.detectors.anomaly import make_detector
from fenghuo.detectors.base import SeriesDetector
from fenghuo.detectors.hysteresis import LevelParams, LevelState
from fenghuo.detectors.protocol import VersionedDetector
from fenghuo.detectors.registry import BuildContext, register


@dataclass(frozen=True, slots=True)
class AnomalyParams:
    detector: str = "records_local"  # the best on NAB (docs/benchmarks-nab.md)
    metrics: tuple[str, ...] = ()  # empty: every sensor metric
    levels: tuple[float, float, float, float] = (0.6, 0.75, 0.9, 0.98)  # score for blue, yellow, orange, red
    hysteresis: float = 0.05
    warmup: int = 288  # points a series learns before it may raise (NAB's probation; 2 days at 10 min)
    hold_seconds: float = 6 * 3600.0  # a high score holds its level this long (detectors fire once per episode)
    seed: int = 0


@dataclass(slots=True)
class _Series:
    detector: SeriesDetector
    state: LevelState = field(default_factory=LevelState)
    seen: int = 0
    peak: float = 0.0
    peak_ts: float = float("-inf")


class AnomalyExtra(VersionedDetector):
    """The ``anomaly`` :class:`fenghuo.detectors.protocol.Detector` (also ``Event -> list[Signal]``)."""

    name = "anomaly"
    feeds = frozenset({"sensor"})

    def __init__(self, params: AnomalyParams | None = None) -> None:
        self.p = params or AnomalyParams()
        make_detector(self.p.detector)  # fail at start on an unknown name
        self.level_params = LevelParams(tuple(zip((1, 2, 3, 4), self.p.levels, strict=True)), True, 0.0,
                                        self.p.hysteresis)
        self.series: dict[str, _Series] = {}

    def __call__(self, e: Event) -> list[Signal]:
        p = self.p
        if e.feed != "sensor" or e.value is None or (p.metrics and e.metric not in p.metrics):
            return []
        key = f"{e.drill}|{e.series}" if e.drill else e.series
        s = self.series.get(key)
        if s is None:
            s = self.series[key] = _Series(make_detector(p.detector, p.seed))
        ts, value, det = e.ts, e.value, s.detector
        score = det.score_one(ts, value)
        det.learn_one(ts, value)  # the same reading right after its score: RecordFusion reuses that work
        s.seen += 1
        if s.seen <= p.warmup:
            return []
        if score >= s.peak or ts - s.peak_ts > p.hold_seconds:
            s.peak, s.peak_ts = score, ts
        held = max(score, s.peak)
        changed = s.state.step(self.level_params, ts, held)
        if changed is None:
            return []
        level = Level(changed) if changed else None
        name = self.p.detector
        reason = (f"{name}: anomaly score {held:.2f} ({level.name_en})" if level
                  else f"{name}: anomaly score {held:.2f}, back to normal")
        return [Signal(detector="anomaly", rule=f"anomaly:{name}", risk=Risk.SAFETY, feed="sensor", grid=e.grid,
                       series=e.series, source=e.source, ts=e.ts, level=level, score=score, reason=reason,
                       drill=e.drill, kind="level" if level else "clear", certainty=Certainty.POSSIBLE,
                       evidence={"event": e.id, "value": e.value, "score": score, "metric": e.metric})]

    process = __call__

    def live_state(self) -> dict[str, Any]:
        """The state as the live objects (not copied), for :meth:`use_live_state`."""
        return {"series": self.series}

    def use_live_state(self, live: dict[str, Any]) -> None:
        self.series = dict(live.get("series", {}))

    STATE_VERSION = 1  # of the series' models and levels; bump it (and read the old) on a change


saved.register("anomaly.series", _Series)


def _check(params: AnomalyParams) -> None:
    make_detector(params.detector)  # an unknown model name fails at check-config, as at start


@register("anomaly", AnomalyParams, feeds=("sensor",), scope="grid", check=_check)
def _build(params: AnomalyParams, ctx: BuildContext) -> AnomalyExtra:
    return AnomalyExtra(params)
