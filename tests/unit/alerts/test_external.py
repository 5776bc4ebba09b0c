"""The lifecycle of external (CAP) warnings in the embedded runtime, over the example configuration's grids: one
alert per warning on the node that covers its grids, Update and Cancel following references, expiry on the
service's clock, Exercise as a drill, Test recorded only, the same message twice a duplicate."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from fenghuo.core.clock import FixedClock
from fenghuo.core.config import Config, load_config
from fenghuo.core.models import Alert, Status
from fenghuo.core.settings import Settings
from fenghuo.core.store import AlertQuery
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.ingest.cap_in import parse_cap_each
from fenghuo.runtime.embedded import Pipeline

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "cap"
GLORIA = ["FR-l-agly", "FR-l-aude", "FR-l-orbieu", "FR-le-tech"]  # the Aude's and the Pyrenees-Orientales' grids
RED_ID = "2.49.0.0.250.0.FR.20200122050000.RED.PLUIE-INOND"
METEO = "vigilance@meteo.example.fr"


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def example_config(monkeypatch: pytest.MonkeyPatch, **warnings: Any) -> Config:
    monkeypatch.setenv("FENGHUO_WEBHOOK_SECRET", "test-only")
    config = load_config(ROOT / "fenghuo" / "demo" / "fenghuo.example.yaml")
    if warnings:
        config = config.model_copy(update={"warnings": config.warnings.model_copy(update=warnings)})
    return config


class Host:
    """The embedded pipeline on a fixed clock, taking CAP files as the intake does."""

    def __init__(self, tmp: Path, config: Config, now: float) -> None:
        self.clock = FixedClock(now)
        self.p = Pipeline(Settings(data_dir=tmp), config, SqliteStore(tmp / "db.sqlite"), clock=self.clock,
                          notifiers={})
        self.p.recover()

    def take(self, name_or_xml: str | bytes, drill: str | None = None) -> list[dict[str, Any]]:
        xml = (FIXTURES / name_or_xml).read_bytes() if isinstance(name_or_xml, str) else name_or_xml
        return [r.to_json() for r in self.p.take_warnings(parse_cap_each(xml), "http", drill)]

    def alerts(self) -> list[Alert]:
        return [a for a in self.p.store.list_alerts(AlertQuery(feed="warning", limit=100))]


def story(a: Alert) -> list[tuple[str, str | None]]:
    """The changes the warning made to its alert (kind, actor), without escalations and delivery outcomes."""
    return [(e.kind, e.actor) for e in a.timeline if e.kind in ("raised", "upgraded", "downgraded", "cleared",
                                                                 "resolved")]


@pytest.fixture
def gloria(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Host]:
    h = Host(tmp_path, example_config(monkeypatch), ts("2020-01-22T06:10:00+01:00"))
    yield h
    h.p.stop()


def test_a_red_warning_over_four_grids_is_one_red_alert_on_the_node_above_them(gloria: Host) -> None:
    [r] = gloria.take("gloria-red-rain.xml")
    assert (r["outcome"], r["grids"]) == ("raised", GLORIA)
    [a] = gloria.alerts()
    assert (a.id, a.grid, a.level.name_en, a.risk, a.source, a.rule, a.status) == (
        r["alert_id"], "OCC-Y", "red", "safety", METEO, "cap:暴雨洪涝", Status.OPEN)
    cap = a.evidence[-1]["cap"]
    assert (cap["sender"], cap["identifier"], cap["origin"], cap["grids"]) == (METEO, RED_ID, "http", GLORIA)
    assert (cap["urgency"], cap["certainty"]) == ("Immediate", "Likely")
    assert cap["headline"] == "暴雨洪涝红色预警：奥德省、东比利牛斯省"
    assert str(a.certainty) == "Likely"
    [dup] = gloria.take("gloria-red-rain.xml")
    assert dup["outcome"] == "duplicate" and len(gloria.alerts()) == 1 and story(gloria.alerts()[0]) == [
        ("raised", "cap")]


def test_an_update_changes_the_alert_in_place_and_a_cancel_resolves_it_by_the_sender(gloria: Host) -> None:
    [raised] = gloria.take("gloria-red-rain.xml")
    gloria.clock.set(ts("2020-01-22T16:01:00+01:00"))
    [updated] = gloria.take("gloria-update-orange.xml")
    assert (updated["outcome"], updated["alert_id"]) == ("updated", raised["alert_id"])
    [a] = gloria.alerts()
    assert (a.level.name_en, a.max_level.name_en, story(a)) == ("orange", "red", [("raised", "cap"),
                                                                                  ("downgraded", "cap")])
    assert a.evidence[-1]["cap"]["headline"] == "暴雨洪涝预警降为橙色：奥德省、东比利牛斯省"
    assert [w["identifier"] for w in gloria.p.list_warnings()] == [
        "2.49.0.0.250.0.FR.20200122160000.ORANGE.PLUIE-INOND"]
    gloria.clock.set(ts("2020-01-23T00:01:00+01:00"))
    [cancelled] = gloria.take("gloria-cancel.xml")
    assert (cancelled["outcome"], cancelled["alert_id"], cancelled["grids"]) == ("cancelled", a.id, GLORIA)
    [a] = gloria.alerts()
    assert a.status == Status.RESOLVED and story(a)[-2:] == [("cleared", "cap"), ("resolved", f"cap:{METEO}")]
    assert "Cancel" in ([e.detail for e in a.timeline if e.kind == "resolved"][0] or "")
    assert gloria.p.list_warnings() == []
    states = {w["identifier"].split(".")[-2]: w["state"] for w in gloria.p.list_warnings(None)}
    assert states == {"RED": "superseded", "ORANGE": "cancelled", "CANCEL": "cancelled"}


def test_expires_clears_and_resolves_on_the_service_clock_and_an_expired_message_raises_nothing(
        gloria: Host) -> None:
    gloria.take("gloria-red-rain.xml")
    gloria.clock.set(ts("2020-01-23T05:59:00+01:00"))
    gloria.p.tick()
    assert gloria.alerts()[0].status == Status.OPEN
    gloria.clock.set(ts("2020-01-23T06:00:30+01:00"))
    gloria.p.tick()
    [a] = gloria.alerts()
    assert a.status == Status.RESOLVED and [(e.actor, e.detail) for e in a.timeline if e.kind == "resolved"] == [
        ("system", f"CAP {RED_ID} expired")]
    assert gloria.p.list_warnings(None)[0]["state"] == "expired"
    [late] = gloria.take("gloria-update-orange.xml")  # refers to the expired one, and expired itself by now
    assert late["outcome"] == "expired" and len(gloria.alerts()) == 1


def test_an_update_whose_area_moves_resolves_the_old_alert_and_raises_on_the_new_node(gloria: Host) -> None:
    gloria.take("gloria-red-rain.xml")
    moved = (FIXTURES / "gloria-update-orange.xml").read_bytes().replace(  # the Orb's grid only (Herault)
        b"42.35,2.10 42.35,3.10 43.28,3.10 43.28,2.10 42.35,2.10", b"43.40,3.00 43.40,3.20 43.60,3.20 43.60,3.00 "
                                                                   b"43.40,3.00")
    [r] = gloria.take(moved)
    assert (r["outcome"], r["grids"]) == ("updated", ["FR-l-orb"])
    by_grid = {a.grid: a for a in gloria.alerts()}
    assert by_grid["OCC-Y"].status == Status.RESOLVED and by_grid["FR-l-orb"].status == Status.OPEN
    assert by_grid["FR-l-orb"].level.name_en == "orange"


def test_a_geocode_covers_every_grid_under_its_node_and_a_circle_the_grids_within_reach(tmp_path: Path,
                                                                                      monkeypatch: pytest.MonkeyPatch
                                                                                      ) -> None:
    h = Host(tmp_path, example_config(monkeypatch), ts("2015-02-12T09:05:00-05:00"))
    try:
        [flu] = h.take("boston-flu-geocode.xml")
        assert flu["outcome"] == "raised" and len(flu["grids"]) == 23
        unknown = (FIXTURES / "boston-flu-geocode.xml").read_bytes().replace(b"025025", b"036061").replace(
            b"BPHC-2015-0212-FLU", b"BPHC-2015-0212-NYC")
        [outside] = h.take(unknown)
        assert outside["outcome"] == "outside" and "036061" in outside["reason"]
        h.clock.set(ts("2015-03-04T14:25:00-05:00"))
        [gas] = h.take("back-bay-gas-circle.xml")
        assert gas["grids"] == ["BOS-back-bay", "BOS-boston", "BOS-south-end"]
        by_rule = {a.rule: a for a in h.alerts()}
        assert (by_rule["cap:Influenza outbreak"].grid, by_rule["cap:Influenza outbreak"].level.name_en) == (
            "BOS", "yellow")
        assert (by_rule["cap:Gas leak"].grid, by_rule["cap:Gas leak"].level.name_en) == ("BOS-N", "orange")
    finally:
        h.p.stop()


def test_exercise_goes_in_as_a_drill_test_is_recorded_only_and_an_echo_is_refused(tmp_path: Path,
                                                                                  monkeypatch: pytest.MonkeyPatch
                                                                                  ) -> None:
    config = example_config(monkeypatch, sender="dispatch@bfd.example.org")
    h = Host(tmp_path, config.model_copy(update={"warnings": config.warnings.model_copy(
        update={"sender": "fenghuo@example"})}), ts("2015-03-04T14:25:00-05:00"))
    try:
        [ex] = h.take("back-bay-gas-exercise.xml")
        [test] = h.take("back-bay-gas-test.xml")
        assert (ex["outcome"], test["outcome"]) == ("drill", "test")
        [a] = h.alerts()
        assert (a.drill, a.grid) == ("cap-exercise", "BOS-N")
        [w] = h.p.list_warnings(drill="true")
        assert w["identifier"] == "BFD-2015-03-04-EX-1" and h.p.list_warnings(drill="false") == []
        own = (FIXTURES / "back-bay-gas-circle.xml").read_bytes().replace(b"dispatch@bfd.example.org",
                                                                          b"fenghuo@example")
        [echo] = h.take(own)
        assert echo["outcome"] == "ignored_loop" and len(h.alerts()) == 1
        [run] = h.take((FIXTURES / "back-bay-gas-circle.xml").read_bytes(), drill="gas-r1")  # in a drill run
        assert run["outcome"] == "raised" and {a.drill for a in h.alerts()} == {"cap-exercise", "gas-r1"}
        real_cancel = (FIXTURES / "gloria-cancel.xml").read_bytes().replace(  # an Exercise Cancel of the real one
            b"vigilance@meteo.example.fr,2.49.0.0.250.0.FR.20200122050000.RED.PLUIE-INOND,2020-01-22T06:00:00+01:00 ",
            b"dispatch@bfd.example.org,BFD-2015-03-04-0017,2015-03-04T14:20:00-05:00 ").replace(
            b"<status>Actual</status>", b"<status>Exercise</status>")
        h.take((FIXTURES / "back-bay-gas-circle.xml").read_bytes().replace(b"BFD-2015-03-04-0017",
                                                                         b"BFD-2015-03-04-REAL"))
        [cancel] = h.take(real_cancel.replace(b"BFD-2015-03-04-0017", b"BFD-2015-03-04-REAL"))
        assert cancel["outcome"] == "cancelled" and cancel["alert_id"] is None  # nothing real was touched
        assert [str(a.status) for a in h.alerts() if a.drill is None] == ["open"]
        h.clock.set(ts("2015-03-04T20:01:00-05:00"))  # the exercise follows the real clock: it expires with it
        h.p.tick()
        assert {a.drill: str(a.status) for a in h.alerts()} == {"cap-exercise": "resolved", "gas-r1": "open",
                                                                None: "resolved"}
    finally:
        h.p.stop()


def test_invalid_messages_are_dead_lettered_with_the_reason_beside_the_good_ones(gloria: Host) -> None:
    good = (FIXTURES / "gloria-red-rain.xml").read_bytes()
    bad = (FIXTURES / "invalid-msgtype.xml").read_bytes()
    batch = b"<batch>" + good[good.index(b"<alert"):] + bad[bad.index(b"<alert"):] + b"</batch>"
    results = gloria.take(batch)
    assert [r["outcome"] for r in results] == ["raised", "rejected"]
    [dead] = gloria.p.store.dead_letters(10)
    assert "msgType" in dead["error"] and dead["record"]["feed"] == "warning"
    assert dead["record"]["identifier"] == "BFD-2015-03-04-BAD-1" and "<msgType>Warning" in dead["record"]["xml"]


def test_risk_follows_the_category_unless_the_config_maps_it(gloria: Host, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    protest = (FIXTURES / "back-bay-gas-circle.xml").read_bytes().replace(
        b"<category>CBRNE</category>\n    <category>Safety</category>", b"<category>Security</category>").replace(
        b"<event>Gas leak</event>", b"<event>Gathering</event>")
    h = Host(tmp_path / "a", example_config(monkeypatch), ts("2015-03-04T14:25:00-05:00"))
    mapped = Host(tmp_path / "b", example_config(monkeypatch, risk_by_category={"Security": "safety"}),
                  ts("2015-03-04T14:25:00-05:00"))
    try:
        h.take(protest)
        mapped.take(protest)
        assert (str(h.alerts()[0].risk), str(mapped.alerts()[0].risk)) == ("contradiction", "safety")
    finally:
        h.p.stop()
        mapped.p.stop()


@pytest.mark.parametrize(("warnings", "error"), [
    ({"geocodes": {"440105": ["NOPE"]}}, "warnings.geocodes.440105: unknown node 'NOPE'"),
    ({"sources": [{"name": "a", "url": "http://x/feed"}, {"name": "a", "url": "http://y/feed"}]},
     "warnings.sources: duplicate source name 'a'"),
    ({"sources": [{"name": "bad name", "url": "http://x/feed"}]}, "warnings.sources[0].name"),
    ({"sources": [{"name": "a", "url": "http://x/feed", "every": "0.5s"}]}, "warnings.sources[0].every"),
    ({"risk_by_category": {"Weather": "safety"}}, "warnings.risk_by_category.Weather"),
    ({"max_body_bytes": 10}, "warnings.max_body_bytes"),
])
def test_the_warnings_section_is_checked_with_a_clear_error(warnings: dict[str, Any], error: str) -> None:
    from fenghuo.core.config import ConfigError, parse_config

    nodes = [{"id": "D", "name": "区", "kind": "district"},
             {"id": "G1", "name": "网格", "kind": "grid", "parent": "D", "centroid": [23.1, 113.3]}]
    with pytest.raises(ConfigError) as err:
        parse_config({"nodes": nodes, "warnings": warnings})
    assert any(e.startswith(error) for e in err.value.errors), err.value.errors


def test_a_polled_source_every_reads_seconds_minutes_or_hours() -> None:
    from fenghuo.core.config import parse_config

    config = parse_config({"warnings": {"sources": [{"name": "up", "url": "http://x/feed", "every": "2m"},
                                                    {"name": "slow", "url": "http://y/feed", "every": 3600}]}})
    assert [s.every for s in config.warnings.sources] == [120.0, 3600.0]
