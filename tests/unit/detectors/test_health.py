"""Sensor health: a series gone silent (after a multiple of its own interval, on 1 s and on 10 min data; higher
when it went silent while high; cleared by its next reading), a value stuck far longer than usual (and a
naturally flat series that is not), anomaly raises held back while a sensor is silent or stuck, the state
through fenghuo.core.state, and the engine's tick."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from typing import Any

import pytest

from fenghuo.core import state as saved
from fenghuo.core.config import ConfigError, Rule
from fenghuo.core.levels import Level
from fenghuo.core.models import Certainty, Event, Risk, Signal
from fenghuo.detectors.engine import DetectorEngine
from fenghuo.detectors.health import HealthDetector, HealthParams
from fenghuo.detectors.protocol import DetectorBase
from fenghuo.detectors.registry import REGISTRY, BuildContext

T0 = 1_579_651_200.0  # 2020-01-22T00:00:00Z
RULE = Rule(id="river-level", metric="water_level_m", levels={"blue": 3.0, "yellow": 3.5, "orange": 4.0, "red": 4.5})


def reading(ts: float, value: float | None, source: str = "g1", metric: str = "water_level_m",
            drill: str | None = None, grid: str = "G1") -> Event:
    return Event("sensor", source, ts, grid, f"{source}-{ts}", metric=metric, value=value, drill=drill)


def feed(det: HealthDetector, n: int, step: float, value: Any = None, start: float = T0, **kw: Any) -> list[Signal]:
    """``n`` readings ``step`` s apart from ``start``; ``value(i)`` (default: a noisy wave about 2.0)."""
    rng = random.Random(0)
    out: list[Signal] = []
    for i in range(n):
        v = value(i) if value is not None else 2.0 + 0.2 * math.sin(i / 10) + rng.gauss(0, 0.01)
        out += det.process(reading(start + i * step, v, **kw))
    return out


def silent_at(det: HealthDetector, last: float, step: float, until: float, domain: str = "") -> float | None:
    """Tick every ``step`` / 10 s from the last reading; the seconds after it at which sensor-silent was raised."""
    t = last
    while t <= until:
        t += step / 10
        raised = [s for s in det.tick({domain: t}) if s.rule == "sensor-silent" and s.level is not None]
        if raised:
            return t - last
    return None


@pytest.mark.parametrize("step", [1.0, 600.0], ids=["1s", "10min"])
def test_silent_after_the_configured_multiple_of_its_own_interval(step: float) -> None:
    p = HealthParams(silent_after=5, silent_min_s=0)
    det = HealthDetector(p)
    assert feed(det, 200, step) == []
    last = T0 + 199 * step
    after = silent_at(det, last, step, last + 20 * step)
    assert after is not None and 5 * step < after <= 5.1 * step + 1e-9


def test_the_floor_holds_for_fast_series() -> None:
    det = HealthDetector(HealthParams(silent_after=5, silent_min_s=60))
    feed(det, 100, 1.0)
    after = silent_at(det, T0 + 99.0, 1.0, T0 + 200.0)
    assert after is not None and 60.0 < after <= 60.2


def test_silent_signal_is_a_safety_alert_in_plain_words_and_clears_on_the_next_reading() -> None:
    det = HealthDetector(HealthParams())
    feed(det, 50, 600.0)
    last = T0 + 49 * 600.0
    raised = det.tick({"": last + 3601.0})
    assert len(raised) == 1
    s = raised[0]
    assert (s.detector, s.rule, s.risk, s.kind, s.level) == ("health", "sensor-silent", Risk.SAFETY, "level",
                                                             Level.YELLOW)
    assert (s.grid, s.series, s.source, s.certainty) == ("G1", "g1/water_level_m", "g1", Certainty.OBSERVED)
    assert "no reading for 1 h" in s.reason and "usual interval of 10 min" in s.reason
    assert det.tick({"": last + 7200.0}) == []  # raised once
    back = det.process(reading(last + 7300.0, 2.0))
    assert [(x.rule, x.kind, x.level) for x in back] == [("sensor-silent", "clear", None)]
    assert det.tick({"": last + 7400.0}) == []


def test_a_gauge_silent_while_high_raises_the_higher_level() -> None:
    chain = {"G1": ["G1", "C1"]}
    det = REGISTRY.get("health").build({}, BuildContext(chain=lambda g: chain.get(g, [g]), rules=lambda: [RULE]))
    assert isinstance(det, HealthDetector)
    feed(det, 50, 600.0, value=lambda i: 2.0 + 0.03 * i)  # rising to 3.47 m: above blue (3.0)
    feed(det, 50, 600.0, value=lambda i: 2.0 + 0.01 * (i % 5), source="g2")  # low
    now = T0 + 49 * 600.0 + 3601.0
    levels = {s.series: s.level for s in det.tick({"": now})}
    assert levels == {"g1/water_level_m": Level.ORANGE, "g2/water_level_m": Level.YELLOW}


def test_silence_is_noticed_when_event_time_moves_on_for_other_series() -> None:
    """A replay has no tick on its clock: the other gauges' readings move event time on."""
    det = HealthDetector(HealthParams(silent_after=5, silent_min_s=0))
    out: list[Signal] = []
    for i in range(100):
        out += det.process(reading(T0 + 600.0 * i, 2.0 + 0.01 * (i % 7), source="a", drill="gloria"))
        if i < 40:
            out += det.process(reading(T0 + 600.0 * i, 1.0 + 0.01 * (i % 5), source="b", drill="gloria"))
    raised = [s for s in out if s.level is not None]
    assert [(s.series, s.drill) for s in raised] == [("b/water_level_m", "gloria")]
    assert 5 * 600.0 < raised[0].ts - (T0 + 39 * 600.0) <= 6 * 600.0
    assert det.tick({"": T0 + 1e6}) == []  # the real domain knows nothing of the drill's series


def test_a_series_too_old_before_now_is_not_watched() -> None:
    """A history replayed on the wall clock: no page for every gauge of it afterwards."""
    det = HealthDetector(HealthParams())
    feed(det, 100, 600.0)
    assert det.next_due()
    assert det.tick({"": T0 + 30 * 86400.0}) == []
    assert det.next_due() == {}  # nothing left to tick for
    back = det.process(reading(T0 + 30 * 86400.0, 2.0))
    assert back == []  # it was never called silent: nothing to clear


def test_per_source_the_sensors_of_one_dead_device_are_one_alert_cleared_when_all_are_back() -> None:
    """A pump's eight channels behind one modem: one alert, not eight; a channel still dead keeps it open."""
    per_series = HealthDetector(HealthParams(silent_after=5, silent_min_s=60))
    det = HealthDetector(HealthParams(silent_after=5, silent_min_s=60, silent_alert_per="source"))
    channels = [f"ch{k}" for k in range(8)]
    for i in range(100):
        for c in channels:
            for d in (det, per_series):
                d.process(reading(T0 + i, 1.0 + 0.1 * ((i + len(c)) % 3), source="pump-1", metric=c))
    assert len(per_series.tick({"": T0 + 99 + 61})) == 8  # the default: an alert per series
    raised = det.tick({"": T0 + 99 + 61})
    assert [(s.series, s.level) for s in raised] == [("pump-1", Level.YELLOW)]
    assert sorted(raised[0].evidence["metrics"]) == channels
    assert raised[0].reason.startswith("pump-1: 8 series silent: ")
    assert det.stats()["silent"] == 8
    out: list[Signal] = []
    for c in channels[:7]:
        out += det.process(reading(T0 + 200, 1.0, source="pump-1", metric=c))
    assert out == []  # ch7 is still silent
    back = det.process(reading(T0 + 201, 1.0, source="pump-1", metric="ch7"))
    assert [(s.series, s.kind) for s in back] == [("pump-1", "clear")]


def test_gaps_of_history_replayed_on_the_wall_clock_are_not_news() -> None:
    det = HealthDetector(HealthParams(silent_after=5, silent_min_s=0))
    det.tick({"": T0 + 365 * 86400.0})  # the wall clock, a year after the history below
    out: list[Signal] = []
    for i in range(100):
        out += det.process(reading(T0 + 600.0 * i, 2.0 + 0.01 * (i % 7), source="a"))
        if not 40 <= i < 60:  # b's logger lost 20 readings
            out += det.process(reading(T0 + 600.0 * i, 1.0 + 0.01 * (i % 5), source="b"))
    assert out == []
    assert det.tick({"": T0 + 365 * 86400.0 + 60}) == []


def test_a_few_readings_are_not_watched() -> None:
    det = HealthDetector(HealthParams(min_readings=4))
    feed(det, 3, 600.0)
    assert det.tick({"": T0 + 86400.0}) == [] and det.next_due() == {}


def test_after_a_restart_silence_counts_from_when_the_service_is_back() -> None:
    det = HealthDetector(HealthParams(silent_after=5, silent_min_s=0))
    feed(det, 50, 600.0)
    back = HealthDetector(HealthParams(silent_after=5, silent_min_s=0))
    back.restore(state_copy_of(det))
    back.resume()  # the runtime is back after a stop (the embedded service calls this at recovery)
    down_until = T0 + 49 * 600.0 + 2 * 3600.0  # the service was down two hours
    assert back.tick({"": down_until}) == []
    assert back.tick({"": down_until + 2999.0}) == []
    assert [s.rule for s in back.tick({"": down_until + 3001.0})] == ["sensor-silent"]


def test_stuck_raised_and_cleared() -> None:
    det = HealthDetector(HealthParams(stuck_warmup=300, stuck_after=3, stuck_min_readings=30))
    assert feed(det, 400, 60.0) == []  # noisy readings: runs of one
    out = feed(det, 60, 60.0, value=lambda i: 2.345, start=T0 + 400 * 60.0)
    stuck = [s for s in out if s.rule == "sensor-stuck"]
    assert [(s.level, s.kind) for s in stuck] == [(Level.BLUE, "level")]
    assert stuck[0].ts == T0 + (400 + 29) * 60.0  # the 30th equal reading (the floor), far above 3 x 1
    assert "the same value 2.345 for 30 readings" in stuck[0].reason
    again = det.process(reading(T0 + 460 * 60.0, 2.5))
    assert [(s.rule, s.kind) for s in again] == [("sensor-stuck", "clear")]


def test_a_naturally_flat_series_is_not_stuck() -> None:
    """A gauge at low flow repeats its centimetre for hours: the runs it shows in warm-up are its normal."""
    rng = random.Random(1)
    values: list[float] = []
    while len(values) < 3000:
        values += [round(1.0 + rng.random() * 0.05, 2)] * rng.randint(1, 40)
    det = HealthDetector(HealthParams(stuck_warmup=500))
    out = feed(det, 3000, 600.0, value=lambda i: values[i])
    assert [s for s in out if s.rule == "sensor-stuck"] == []
    const = HealthDetector(HealthParams(stuck_warmup=50))  # a constant (a valve state): never called stuck
    assert feed(const, 2000, 60.0, value=lambda i: 0.0) == []


def anomaly(ts: float, level: Level | None, detector: str = "anomaly", series: str = "g1/water_level_m",
            drill: str | None = None) -> Signal:
    return Signal(detector, f"{detector}:x", Risk.SAFETY, "sensor", "G1", series, "g1", ts, level, 0.9, "",
                  drill=drill, kind="level" if level else "clear", certainty=Certainty.POSSIBLE)


def test_a_silent_or_stuck_sensor_holds_back_its_anomaly_raises_but_not_their_clears() -> None:
    det = HealthDetector(HealthParams())
    feed(det, 50, 600.0)
    det.tick({"": T0 + 49 * 600.0 + 4000.0})  # silent now
    batch = [anomaly(T0, Level.ORANGE), anomaly(T0, Level.RED, "forecast-anomaly"), anomaly(T0, None),
             anomaly(T0, Level.RED, series="g2/water_level_m"), anomaly(T0, Level.RED, "threshold"),
             anomaly(T0, Level.RED, drill="d")]
    kept = det.process_signals(batch)
    assert kept == batch[2:]  # the rules' own levels, other series, the drill's and clears pass
    assert det.stats()["held_back"] == {"anomaly": 1, "forecast-anomaly": 1}
    pump = [replace(anomaly(T0, Level.ORANGE, "asset", series="pump-1"), evidence={"channels": [
        {"series": first, "z": 9.0}, {"series": "g3/water_level_m", "z": 2.0}]}) for first in
        ("g1/water_level_m", "g3/water_level_m")]
    assert det.process_signals(pump) == pump[1:]  # driven by the silent channel: held back; by another: kept
    det.process(reading(T0 + 49 * 600.0 + 5000.0, 2.0))  # back
    assert det.process_signals(batch[:1]) == batch[:1]


def state_copy_of(det: HealthDetector) -> dict[str, Any]:
    raw = saved.dumps("test", 1, det.state())
    assert saved.is_state(raw)
    return saved.loads(raw, "test", {1: lambda d: d})  # type: ignore[no-any-return]


def test_state_round_trips_and_continues_alike() -> None:
    a = HealthDetector(HealthParams(silent_min_s=0))
    feed(a, 300, 60.0)
    feed(a, 40, 60.0, value=lambda i: 7.0, start=T0 + 300 * 60.0)  # stuck
    feed(a, 20, 60.0, source="g2")
    b = HealthDetector(HealthParams(silent_min_s=0))
    b.restore(state_copy_of(a))
    assert not b.w.resuming  # a decode of the saved state is no restart (the grace comes with resume() only)
    assert state_copy_of(b) == state_copy_of(a)
    later = {"": T0 + 400 * 60.0}
    assert a.tick(later) == b.tick(later)
    assert a.process(reading(T0 + 401 * 60.0, 1.0)) == b.process(reading(T0 + 401 * 60.0, 1.0))
    assert a.next_due() == b.next_due()


def test_series_are_bounded() -> None:
    det = HealthDetector(HealthParams(max_series=50))
    for i in range(200):
        for k in range(5):
            det.process(reading(T0 + 600.0 * k + i, 1.0 + k, source=f"s{i}"))
    assert len(det.w.series) <= 50
    assert sum(len(h) for h in det.w.timers.values()) <= 50


def test_bad_parameters_are_refused_naming_the_section() -> None:
    with pytest.raises(ConfigError) as info:
        REGISTRY.get("health").build({"silent_level": "purple"})
    assert info.value.errors[0].startswith("detectors.health: silent_level: unknown level 'purple'")


class Stage(DetectorBase):
    """A signal stage that keeps what it is shown (as corroboration would see it)."""

    name = "stage"

    def __init__(self) -> None:
        self.seen: list[Signal] = []

    def process_signals(self, signals: list[Signal]) -> list[Signal]:
        self.seen += signals
        return signals


def test_engine_tick_runs_detectors_then_the_signal_stages() -> None:
    engine = DetectorEngine([RULE])
    stage = Stage()
    engine.add(HealthDetector(HealthParams()))
    engine.add(stage)
    engine.process([reading(T0 + 600.0 * i, 2.0 + 0.01 * (i % 3)) for i in range(20)])
    due = engine.next_due()
    assert due == {"": T0 + 19 * 600.0 + 3000.0}
    assert engine.tick({"": due[""]}) == []
    silent = engine.tick({"": due[""] + 1.0})
    assert [s.rule for s in silent] == ["sensor-silent"] and stage.seen == silent
    assert engine.next_due() == {}  # silent: nothing more until it reports
