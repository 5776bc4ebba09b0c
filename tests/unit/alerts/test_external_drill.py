"""CAP files replayed in a drill (a scenario source with ``format: cap``): the warnings reach the intake at their
<sent> times as the run's own (drill) warnings, so the run's alert is raised, downgraded and cancelled as the real
ones would be, and nothing of it is real."""

from __future__ import annotations

from pathlib import Path

import pytest

from fenghuo.core.store import AlertQuery
from tests.unit.alerts.test_external import FIXTURES, Host, example_config, ts


def test_a_scenario_replays_cap_files_as_the_runs_warnings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h = Host(tmp_path, example_config(monkeypatch), ts("2026-07-01T08:00:00+00:00"))
    try:
        spec = {"scenario": "gloria-warnings", "speed": "max",
                "sources": [{"file": name, "format": "cap"} for name in
                            ("gloria-red-rain.xml", "gloria-update-orange.xml", "gloria-cancel.xml")],
                "expect": [{"risk": "safety", "node": "OCC-Y", "level": "red", "by": "2020-01-22T06:00:00+01:00"}]}
        run = h.p.drills.start(spec=spec, base_dir=FIXTURES, actor="analyst", background=False)
        assert run["status"] == "ended" and run["progress"]["accepted"] == 3, run
        assert run["scorecard"]["verdict"] == "pass", run["scorecard"]
        [a] = h.p.store.list_alerts(AlertQuery(drill=run["run"], limit=10))
        assert (a.grid, a.max_level.name_en, str(a.status)) == ("OCC-Y", "red", "resolved")
        assert [e.kind for e in a.timeline if e.kind in ("raised", "downgraded", "resolved")] == [
            "raised", "downgraded", "resolved"]
        assert h.p.list_warnings(None, drill="false") == []
        assert {w["state"] for w in h.p.list_warnings(None, drill=run["run"])} == {"superseded", "cancelled"}
    finally:
        h.p.stop()


def test_a_cap_source_that_is_not_valid_cap_is_refused_with_the_reason(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from fenghuo.drills.scenario import ScenarioError

    h = Host(tmp_path, example_config(monkeypatch), ts("2026-07-01T08:00:00+00:00"))
    try:
        spec = {"scenario": "bad-cap", "speed": "max", "sources": [{"file": "invalid-msgtype.xml", "format": "cap"}]}
        with pytest.raises(ScenarioError, match="invalid-msgtype.xml: not valid CAP 1.2"):
            h.p.drills.start(spec=spec, base_dir=FIXTURES, actor="analyst", background=False)
    finally:
        h.p.stop()
