"""Scenario files: every problem named by its field, times and durations as a drill planner writes them, and the
checks against a configuration (grids, nodes, channels, tiers); the bundled scenarios fit the example one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from fenghuo.core.config import load_config, parse_config
from fenghuo.drills.scenario import ScenarioError, load_scenario, parse_scenario, scenario_errors, span
from fenghuo.drills.sources import BUNDLED_SCENARIOS

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "fenghuo" / "demo" / "fenghuo.example.yaml"
BASE: dict[str, Any] = {"scenario": "flood", "sources": [{"file": "x.csv"}]}
CONFIG = parse_config({
    "nodes": [{"id": "D", "name": "区", "kind": "district"},
              {"id": "C", "name": "社区", "kind": "community", "parent": "D"},
              {"id": "G", "name": "网格", "kind": "grid", "parent": "C", "centroid": [30.0, 114.0]}],
    "channels": [{"name": "drill-log", "type": "log"}],
    "rules": [{"id": "river", "metric": "water_level_m", "levels": {"red": 6}}],
})


def errors(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(ScenarioError) as exc:
        parse_scenario({**BASE, **doc})
    return exc.value.errors


def test_times_are_offsets_or_iso_and_durations_take_units() -> None:
    s = parse_scenario({**BASE, "start": "2020-01-20T00:00:00Z", "duration": "1.5d", "settle": "90m",
                        "injections": [{"kind": "drop", "source": "s", "at": "+36h", "for": "2h"},
                                       {"kind": "channel_fails", "channel": "c", "at": "2020-01-21T06:00:00Z"}],
                        "expect": [{"grid": "G", "level": "red", "by": 3600}]})
    assert s.start == 1_579_478_400.0 and s.duration == 129_600.0 and s.settle == 5400.0
    drop, fails = s.injections
    assert drop.bounds(s.start) == (s.start + 36 * 3600, s.start + 38 * 3600)
    assert fails.bounds(s.start) == (s.start + 30 * 3600, float("inf"))  # no `for`: to the end of the run
    assert s.expect[0].resolved(s.start)["by"] == s.start + 3600
    assert s.expect[0].resolved(s.start)["label"] == "an alert at G, red"
    assert span("2h") == 7200.0
    with pytest.raises(ValueError, match="duration"):
        span("2h30m")


@pytest.mark.parametrize(("doc", "expected"), [
    ({"scenario": "Flood!"}, "scenario: takes 1-48 lowercase letters, digits and dashes"),
    ({"speed": 0}, "speed"),
    ({"colour": "red"}, "colour: Extra inputs are not permitted"),
    ({"sources": [{"file": "a.csv", "store": {"feed": "sensor", "from": "2020-01-01T00:00:00Z",
                                               "to": "2020-01-02T00:00:00Z"}}]},
     "sources[0]: a source is one of file:, store: or synthetic:"),
    ({"sources": [{"synthetic": {"source": "s", "grid": "G", "metric": "m", "every": "1s",
                                 "from": "2020-01-01T00:00:00Z", "to": "2020-03-01T00:00:00Z"}}]},
     "sources[0].synthetic: every must be above 0 and give at most 2000000 readings"),
    ({"injections": [{"kind": "spike", "source": "s", "at": "+1h"}]},
     "injections[0].spike: a spike has either value: or factor:"),
    ({"injections": [{"kind": "complaints", "grid": "G", "category": "x", "count": 100_001, "at": "+1h"}]},
     "injections[0].complaints.count: Input should be less than or equal to 100000"),
    ({"injections": [{"kind": "drop", "at": "yesterday"}]}, "injections[0].drop.at: takes +36h (from the start)"),
    ({"injections": [{"kind": "explode"}]}, "injections[0]"),
    ({"expect": [{"grid": "G", "level": "purple", "by": "+1h"}]}, "expect[0].level"),
    ({"expect": [{"grid": "G", "level": "red"}]}, "expect[0].by: Field required"),
    ({"sources": [], "injections": []}, "a scenario needs sources: (or complaints injections) to replay"),
])
def test_a_bad_scenario_names_the_field(doc: dict[str, Any], expected: str) -> None:
    assert any(e.startswith(expected) or expected in e for e in errors(doc)), errors(doc)


def test_every_problem_is_listed_at_once() -> None:
    found = errors({"speed": -1, "settle": "forever", "expect": [{"level": "red", "by": "soon"}]})
    assert found == ["speed: Input should be greater than or equal to 1", "speed: Input should be 'max'",
                     "settle: takes a duration such as 90s, 30m, 2h or 1d, not 'forever'",
                     "expect[0].by: takes +36h (from the start), an ISO 8601 time or seconds, not 'soon'"]
    assert errors({"injections": [{"kind": "no_ack", "tier": -1}]})[-1] == \
        "injections[0].no_ack.tier: Input should be greater than or equal to 0"  # no names of pydantic's own


def test_a_scenario_is_checked_against_the_configuration() -> None:
    s = parse_scenario({
        "scenario": "s",
        "sources": [{"file": "x.csv", "grids": ["G", "H"]},
                    {"store": {"feed": "sensor", "grid": "Q", "from": "2020-01-02T00:00:00Z",
                               "to": "2020-01-01T00:00:00Z"}},
                    {"synthetic": {"source": "gas", "grid": "Z", "metric": "ch4_ppm", "from": "2020-01-01T00:00:00Z",
                                   "to": "2020-01-01T01:00:00Z"}}],
        "injections": [{"kind": "complaints", "grid": "nowhere", "category": "gas", "count": 3, "at": "+1h"},
                       {"kind": "drop", "grid": "G"},
                       {"kind": "channel_fails", "channel": "sms"},
                       {"kind": "no_ack", "tier": "village"},
                       {"kind": "no_ack", "tier": "community"}, {"kind": "no_ack", "tier": "C"},
                       {"kind": "no_ack", "tier": 2}],
        "expect": [{"grid": "G", "level": "red", "by": "+1h"}, {"node": "X", "level": "red", "by": "+1h"},
                   {"node": "C", "level": "red", "by": "+1h"}],
    })
    assert scenario_errors(s, CONFIG) == [
        "sources[0].grids: unknown grid 'H'",
        "sources[1].store.grid: unknown grid 'Q'",
        "sources[1].store: from and to are required, from before to",
        "sources[2].synthetic.grid: unknown grid 'Z'",
        "injections[0] (complaints).grid: unknown grid 'nowhere'",
        "injections[2] (channel_fails).channel: unknown channel 'sms'",
        "injections[3] (no_ack).tier: 'village' is neither a node kind (grid, community, street, district) nor a node",
        "expect[1].node: unknown node 'X'",
    ]


def test_a_scenario_file_that_is_not_yaml_or_too_big_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenario: [unclosed", encoding="utf-8")
    with pytest.raises(ScenarioError, match="not YAML"):
        load_scenario(bad)
    big = tmp_path / "big.yaml"
    big.write_text("scenario: big\n" + "#" * 1_000_001, encoding="utf-8")
    with pytest.raises(ScenarioError, match="at most 1 MB"):
        load_scenario(big)


@pytest.mark.parametrize("path", sorted(BUNDLED_SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_the_bundled_scenarios_fit_the_example_configuration(path: Path) -> None:
    os.environ.setdefault("FENGHUO_WEBHOOK_SECRET", "test-secret-123456")
    s, doc = load_scenario(path)
    assert s.scenario == path.stem and s.title_zh and s.title_en and s.expect
    assert "licen" in s.description.lower()  # the real data it replays, and under which licence
    assert any(p.name in s.description for p in (ROOT / "fenghuo" / "demo").glob("*.csv.gz")) \
        or "generated" in s.description
    assert scenario_errors(s, load_config(EXAMPLE)) == []
    assert doc["scenario"] == s.scenario  # the document as read is what a run records
