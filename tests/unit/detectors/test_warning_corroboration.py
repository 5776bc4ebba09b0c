"""An open external warning of a grid corroborates the local signals there, as a second feed does; the warning
is named in the evidence, never corroborated by itself, and stops corroborating once cancelled or expired."""

from __future__ import annotations

from fenghuo.core.levels import Level
from fenghuo.core.models import Certainty, Risk, Signal, Status
from fenghuo.detectors.engine import DetectorEngine
from fenghuo.detectors.fusion import Corroboration, CorroborationStage
from fenghuo.detectors.open_warnings import OpenWarnings
from tests.unit.detectors.warning_support import warning_alert


def sig(feed: str, detector: str, ts: float, level: Level | None = Level.YELLOW, grid: str = "G1",
        risk: Risk = Risk.SAFETY, drill: str | None = None) -> Signal:
    return Signal(detector, f"{feed}-rule", risk, feed, grid, f"{grid}/{feed}", "src", ts, level, 1.0, "r",
                  kind="level" if level else "clear", drill=drill)


def fusion_under(*alerts: object) -> tuple[Corroboration, OpenWarnings]:
    view = OpenWarnings.of_alerts(alerts)  # type: ignore[arg-type]
    f = Corroboration()
    f.use_warnings(view)
    return f, view


def test_a_sensor_crossing_under_a_warning_is_observed_one_level_up_and_names_the_warning() -> None:
    f, _ = fusion_under(warning_alert())
    [c] = f.observe(sig("sensor", "threshold", 100.0))
    assert (c.kind, c.certainty, c.level, c.evidence["target"]) == (
        "corroboration", Certainty.OBSERVED, Level.ORANGE, sig("sensor", "threshold", 0).fingerprint)
    [w] = c.evidence["warnings"]
    assert (w["sender"], w["identifier"], w["event"], w["level"]) == ("cma@weather.example", "W-1", "Rainstorm",
                                                                      "orange")
    assert c.evidence["feeds"] == ["sensor", "warning"]
    assert "warning cap:Rainstorm (orange from cma@weather.example)" in c.reason


def test_a_complaint_signal_under_a_warning_is_likely() -> None:
    f, _ = fusion_under(warning_alert())
    [c] = f.observe(sig("complaint", "burst", 100.0))
    assert (c.certainty, c.level) == (Certainty.LIKELY, Level.ORANGE)
    assert f.observe(sig("complaint", "burst", 200.0)) == []  # nothing new: not again


def test_a_warning_is_not_corroborated_by_itself_nor_by_another_warning() -> None:
    f, _ = fusion_under(warning_alert(), warning_alert(identifier="W-2"))
    assert f.observe(sig("warning", "cap", 100.0, Level.ORANGE)) == []
    assert f.observe(sig("warning", "cap", 200.0, Level.RED)) == []
    assert f.groups == {}  # no member either: a local signal later counts the warning once, as the view has it


def test_cancelled_expired_other_grid_other_risk_or_another_drill_corroborate_nothing() -> None:
    f, view = fusion_under(warning_alert(expires=1000.0))
    assert f.observe(sig("sensor", "threshold", 1000.0)) == []  # expired at the signal's time
    assert f.observe(sig("sensor", "threshold", 10.0, grid="G2")) == []
    assert f.observe(sig("sensor", "threshold", 10.0, risk=Risk.CONTRADICTION)) == []
    assert f.observe(sig("sensor", "threshold", 10.0, drill="flood-r1")) == []
    f, view = fusion_under(warning_alert())
    view.take([warning_alert(status=Status.RESOLVED)])  # a Cancel
    assert f.observe(sig("sensor", "threshold", 10.0)) == []


def test_a_drill_warning_corroborates_that_drills_signals_only() -> None:
    f, _ = fusion_under(warning_alert(drill="flood-r1"))
    [c] = f.observe(sig("complaint", "burst", 10.0, drill="flood-r1"))
    assert c.drill == "flood-r1" and c.evidence["warnings"][0]["identifier"] == "W-1"


def test_the_engine_gives_its_view_to_corroboration() -> None:
    stage = CorroborationStage(Corroboration())
    eng = DetectorEngine()
    eng.add(stage)
    eng.use_warnings(OpenWarnings.of_alerts([warning_alert()]))
    out = eng.process([])
    assert out == [] and stage.fusion.warnings is eng.warnings
    signals = stage.process_signals([sig("sensor", "threshold", 5.0)])
    assert [s.kind for s in signals] == ["level", "corroboration"]


def test_a_warning_that_opens_later_corroborates_the_signals_already_held_once() -> None:
    f, view = fusion_under()
    assert f.warnings_opened() == []  # nothing open, nothing held
    f.observe(sig("sensor", "threshold", 100.0))
    f.observe(sig("complaint", "burst", 50.0, grid="G2"))
    view.take([warning_alert(grids=("G1",))])
    [c] = f.warnings_opened()
    assert (c.grid, c.certainty, c.level, c.ts) == ("G1", Certainty.OBSERVED, Level.ORANGE, 100.0)
    assert c.evidence["warnings"][0]["identifier"] == "W-1"
    assert f.warnings_opened() == []  # judged once
    view.take([warning_alert(grids=("G1",), level=Level.RED)])  # an Update: the same proposal, nothing new
    assert f.warnings_opened() == []
    view.take([warning_alert(identifier="W-9", grids=("G9",))])  # another grid's warning: nothing here
    assert f.warnings_opened() == []


def test_the_engine_tick_gives_what_a_warning_opened() -> None:
    eng = DetectorEngine()
    eng.add(CorroborationStage(Corroboration()))
    view = OpenWarnings()
    eng.use_warnings(view)
    eng.process([])
    stage = eng.detectors[0]
    assert isinstance(stage, CorroborationStage)
    stage.fusion.observe(sig("complaint", "burst", 10.0))
    view.take([warning_alert()])
    assert [(s.kind, s.certainty) for s in eng.tick({"": 20.0})] == [("corroboration", Certainty.LIKELY)]
    assert eng.tick({"": 30.0}) == []
