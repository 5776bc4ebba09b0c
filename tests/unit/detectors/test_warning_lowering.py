"""A rule's ``while_warning``: its levels come earlier while a named kind of external warning is open for its
grid, only then, and the signal's evidence says which warning and which thresholds."""

from __future__ import annotations

from typing import Any

import pytest

from fenghuo.core.config import ConfigError, Rule, parse_config
from fenghuo.core.grids import GridTree
from fenghuo.core.levels import Level
from fenghuo.core.models import Event, Status
from fenghuo.core.rulebook import RuleError, validate_rule
from fenghuo.detectors.engine import DetectorEngine
from fenghuo.detectors.open_warnings import OpenWarnings
from tests.unit.detectors.warning_support import warning_alert

RIVER: dict[str, Any] = {"id": "river", "metric": "water_level", "levels": {"blue": 2.0, "yellow": 2.5, "orange": 3.0,
                                                                           "red": 3.5},
                         "while_warning": [{"event": "rainstorm", "lower": 0.2}]}


def reading(ts: float, value: float, grid: str = "G1", drill: str | None = None) -> Event:
    return Event(feed="sensor", source="gauge-1", ts=ts, grid=grid, id=f"r{ts}", metric="water_level", value=value,
                 drill=drill)


def engine(rule: dict[str, Any] = RIVER, *alerts: Any) -> tuple[DetectorEngine, OpenWarnings]:
    eng = DetectorEngine([Rule.model_validate(rule)], lambda g: [g, "S1"])
    view = OpenWarnings.of_alerts(alerts, lambda g: [g, "S1"])
    eng.use_warnings(view)
    return eng, view


def levels(eng: DetectorEngine, events: list[Event]) -> list[str | None]:
    return [s.level.name_en if s.level else None for s in eng.process(events)]


def test_a_rainstorm_warning_brings_yellow_earlier_and_the_evidence_names_it() -> None:
    eng, _ = engine(RIVER, warning_alert())
    [sig] = eng.process([reading(0, 2.45)])  # under the normal yellow (2.5), over the lowered one (2.4)
    assert sig.level == Level.YELLOW
    ev = sig.evidence
    assert (ev["warning"]["sender"], ev["warning"]["identifier"], ev["warning"]["event"]) == (
        "cma@weather.example", "W-1", "Rainstorm")
    assert ev["lower"] == 0.2
    assert ev["thresholds"] == {"blue": 1.9, "yellow": 2.4, "orange": 2.9, "red": 3.4}
    assert ev["normal_thresholds"] == {"blue": 2.0, "yellow": 2.5, "orange": 3.0, "red": 3.5}
    assert "Rainstorm warning W-1" in sig.reason


def test_without_the_warning_the_same_reading_is_blue_and_its_close_brings_the_normal_levels_back() -> None:
    eng, _ = engine()
    assert levels(eng, [reading(0, 2.45)]) == ["blue"]
    warned, view = engine(RIVER, warning_alert())
    assert levels(warned, [reading(0, 2.45)]) == ["yellow"]
    view.take([warning_alert(status=Status.RESOLVED)])  # a Cancel resolved it
    [sig] = warned.process([reading(600, 2.45)])
    assert sig.level == Level.BLUE and "warning" not in sig.evidence
    view.take([warning_alert()])  # an Update of the same warning, open again
    assert levels(warned, [reading(1200, 2.45)]) == ["yellow"]
    view.take([warning_alert(cleared=True)])  # cleared (its expires passed): gone too
    assert levels(warned, [reading(1800, 2.45)]) == ["blue"]


def test_an_expired_warning_another_kind_another_grid_or_a_drill_warning_lower_nothing() -> None:
    for alert in (warning_alert(expires=100.0), warning_alert(event="Epidemic"), warning_alert(grids=("G9",)),
                  warning_alert(drill="flood-r1")):
        eng, _ = engine(RIVER, alert)
        assert levels(eng, [reading(200, 2.45)]) == ["blue"], alert


def test_a_drill_warning_lowers_only_that_drills_readings() -> None:
    eng, _ = engine(RIVER, warning_alert(drill="flood-r1"))
    assert levels(eng, [reading(0, 2.45, drill="flood-r1"), reading(0, 2.45, drill="other-r1")]) == ["yellow", "blue"]


def test_a_warning_on_a_node_above_the_grid_an_event_code_and_min_level() -> None:
    eng, _ = engine(RIVER, warning_alert(event="暴雨", grids=("S1",), codes=[["profile:CAP-CN", "RAINSTORM"]]))
    assert levels(eng, [reading(0, 2.45)]) == ["yellow"]  # the street S1 covers G1; the eventCode matches
    strict = {**RIVER, "while_warning": [{"event": "rainstorm", "lower": 0.2, "min_level": "red"}]}
    eng, _ = engine(strict, warning_alert(level=Level.ORANGE))
    assert levels(eng, [reading(0, 2.45)]) == ["blue"]


def test_the_largest_matching_lowering_wins_and_below_rules_rise() -> None:
    rule = {**RIVER, "while_warning": [{"event": "rain", "lower": 0.2}, {"event": "storm", "lower": 0.6}]}
    eng, _ = engine(rule, warning_alert())
    assert levels(eng, [reading(0, 2.25)]) == ["yellow"]  # yellow at 2.5 - 0.6 * 0.5 = 2.2
    low = {"id": "dry", "metric": "water_level", "direction": "below", "levels": {"blue": 1.0, "red": 0.5},
           "while_warning": [{"event": "drought", "lower": 0.5}]}
    eng, _ = engine(low, warning_alert(event="Drought"))
    assert levels(eng, [reading(0, 1.2)]) == ["blue"]  # blue at 1.0 + 0.5 * 0.5 = 1.25 (below: earlier is higher)


@pytest.mark.parametrize(("entry", "error"), [
    ({"event": "rainstorm", "lower": 1.0}, "lower"),
    ({"event": "rainstorm", "lower": 0}, "lower"),
    ({"event": " ", "lower": 0.2}, "event"),
    ({"event": "x" * 101, "lower": 0.2}, "event"),
    ({"event": "rainstorm", "lower": 0.2, "min_level": "purple"}, "min_level"),
    ({"event": "rainstorm", "lower": 0.2, "by": 1}, "by"),
])
def test_check_config_and_the_rule_api_name_each_bad_entry(entry: dict[str, Any], error: str) -> None:
    rule = {**RIVER, "while_warning": [entry]}
    with pytest.raises(ConfigError) as exc:
        parse_config({"rules": [rule]})
    assert [e.split(":")[0] for e in exc.value.errors] == [f"rules[0].while_warning[0].{error}"]
    with pytest.raises(RuleError) as bad:
        validate_rule(rule, GridTree([]))
    assert [e.split(":")[0] for e in bad.value.errors] == [f"while_warning.0.{error}"]


def test_lowering_needs_two_levels_and_at_most_eight_entries() -> None:
    with pytest.raises(RuleError) as one:
        validate_rule({**RIVER, "levels": {"yellow": 2.5}}, GridTree([]))
    assert one.value.errors == ["levels: while_warning moves each level a fraction of the way toward the next "
                                "one, so it needs two levels or more"]
    with pytest.raises(RuleError) as many:
        validate_rule({**RIVER, "while_warning": [{"event": f"e{i}", "lower": 0.1} for i in range(9)]}, GridTree([]))
    assert many.value.errors[0].startswith("while_warning")
    assert validate_rule(RIVER, GridTree([])).while_warning[0].lower == 0.2
