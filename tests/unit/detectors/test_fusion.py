"""Corroboration across feeds."""

from __future__ import annotations

from typing import Any

from fenghuo.core import state as saved
from fenghuo.core.levels import Level
from fenghuo.core.models import Certainty, Risk, Signal
from fenghuo.detectors.fusion import Corroboration, FusionParams, higher_certainty


def state_copy(obj: Any) -> Any:
    """``obj`` written as saved-state bytes (versioned msgpack, no pickle) and read back."""
    raw = saved.dumps("test", 1, saved.to_plain(obj))
    assert saved.is_state(raw)
    return saved.from_plain(saved.loads(raw, "test", {1: lambda d: d}))


def sig(feed: str, detector: str, ts: float, level: Level | None = Level.YELLOW, grid: str = "G1",
        risk: Risk = Risk.SAFETY) -> Signal:
    return Signal(detector, f"{feed}-rule", risk, feed, grid, f"{grid}/{feed}", "src", ts, level, 1.0, "r",
                  kind="level" if level else "clear")


def test_one_feed_gives_nothing() -> None:
    f = Corroboration()
    assert f.observe(sig("complaint", "burst", 0)) == []
    assert f.observe(sig("complaint", "text", 60)) == []


def test_two_feeds_without_a_sensor_crossing_are_likely() -> None:
    f = Corroboration()
    f.observe(sig("complaint", "burst", 0))
    out = f.observe(sig("opinion", "surge", 600))
    assert {s.certainty for s in out} == {Certainty.LIKELY}
    assert all(s.kind == "corroboration" and s.level == Level.ORANGE for s in out)
    targets = {s.evidence["target"] for s in out}
    assert targets == {sig("complaint", "burst", 0).fingerprint, sig("opinion", "surge", 0).fingerprint}
    assert all(s.fingerprint == s.evidence["target"] for s in out)
    assert [e["feed"] for e in out[0].evidence["signals"]] == ["complaint", "opinion"]
    assert f.observe(sig("opinion", "surge", 700)) == []  # nothing new: no repeat


def test_sensor_threshold_and_complaint_are_observed() -> None:
    f = Corroboration()
    f.observe(sig("sensor", "threshold", 0, Level.ORANGE))
    out = f.observe(sig("complaint", "burst", 3000))
    assert {s.certainty for s in out} == {Certainty.OBSERVED}
    ev = out[0].evidence["signals"]
    assert [(e["feed"], e["rule"], e["level"], e["ts"]) for e in ev] == [
        ("sensor", "sensor-rule", "orange", 0), ("complaint", "complaint-rule", "yellow", 3000)]
    assert max(s.level for s in out) == Level.RED


def test_outside_window_other_grid_other_risk_or_cleared_nothing() -> None:
    f = Corroboration(FusionParams(window_hours=2))
    f.observe(sig("sensor", "threshold", 0))
    assert f.observe(sig("complaint", "burst", 2 * 3600 + 1)) == []
    assert f.observe(sig("opinion", "surge", 2 * 3600 + 2, grid="G2")) == []
    assert f.observe(sig("opinion", "surge", 2 * 3600 + 3, risk=Risk.CONTRADICTION)) == []
    g = Corroboration()
    g.observe(sig("sensor", "threshold", 0))
    g.observe(sig("sensor", "threshold", 10, level=None))
    assert g.observe(sig("complaint", "burst", 20)) == []


def test_no_level_raise_when_configured_and_saved() -> None:
    f = Corroboration(FusionParams(raise_levels=0))
    f.observe(sig("sensor", "threshold", 0))
    again = Corroboration(FusionParams(raise_levels=0))
    again.restore(state_copy(f.snapshot()))
    f = again
    out = f.process([sig("complaint", "burst", 10)])
    assert out[0].kind == "level" and {s.level for s in out[1:]} == {Level.YELLOW}
    assert higher_certainty(Certainty.OBSERVED, Certainty.LIKELY) == Certainty.OBSERVED


def test_a_late_signal_is_grouped_only_with_signals_within_the_window_of_its_own_time() -> None:
    """Over Kafka two stages' signals can arrive out of event-time order."""
    f = Corroboration(FusionParams(window_hours=6))
    assert f.observe(sig("sensor", "threshold", 10 * 3600.0, Level.ORANGE)) == []
    assert f.observe(sig("complaint", "burst", 1 * 3600.0)) == []  # 9 h earlier, arriving late
    out = f.observe(sig("complaint", "burst", 8 * 3600.0))  # 2 h before the sensor: corroborates
    assert {s.certainty for s in out} == {Certainty.OBSERVED}
