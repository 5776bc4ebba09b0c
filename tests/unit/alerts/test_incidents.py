"""Incidents: the pure timing, then grouping through the embedded pipeline on a fixed clock (docs/incidents.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fenghuo.alerts.incidents import Incident, Member, next_notification
from fenghuo.alerts.service import AlertConflict
from fenghuo.core.clock import FixedClock
from fenghuo.core.config import Incidents, parse_config
from fenghuo.core.settings import Settings
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.runtime.embedded import Pipeline

POLICY = Incidents(enabled=True, group_wait=30, group_interval=300, repeat_interval=3600)


def incident(cleared: bool = False, **kw: Any) -> Incident:
    """An incident with one member (firing, unless ``cleared``)."""
    member = Member("a", "G1", "river", "red", "open", 1000.0, cleared=cleared)
    return Incident(id="i", risk="safety", node="S", drill=None, created_at=1000.0, updated_at=1000.0,
                    members={"a": member}, **kw)


def test_the_first_summary_waits_group_wait_then_updates_and_reminders_follow_their_intervals() -> None:
    assert next_notification(incident(), POLICY) == ("opened", 1030.0)
    assert next_notification(incident(notified_at=1030.0, pending=True), POLICY) == ("updated", 1330.0)
    assert next_notification(incident(notified_at=1030.0), POLICY) == ("reminder", 4630.0)
    assert next_notification(incident(notified_at=1030.0, cleared=True), POLICY) is None  # nothing firing: quiet
    # acknowledged: no reminders, but a change still goes out at the next interval
    assert next_notification(incident(notified_at=1030.0, status="acknowledged"), POLICY) is None
    assert next_notification(incident(notified_at=1030.0, status="acknowledged", pending=True),
                             POLICY) == ("updated", 1330.0)
    assert next_notification(incident(notified_at=1030.0, status="resolved", pending=True), POLICY) is None


def test_an_incident_survives_its_document() -> None:
    inc = incident(notified_at=5.0, pending=True, escalate_at=99.0, level="red")
    inc.add(1.0, "opened", None, "x")
    assert Incident.from_doc(inc.to_doc()).to_doc() == inc.to_doc()


T0 = 1_780_000_000.0
GRIDS = [f"G{i}" for i in range(1, 11)]


def config(enabled: bool = True, **kw: Any) -> dict[str, Any]:
    nodes = [{"id": "D", "name": "区", "kind": "district"},
             {"id": "S", "name": "街道", "kind": "street", "parent": "D"},
             {"id": "S2", "name": "另一街道", "kind": "street", "parent": "D"},
             {"id": "C", "name": "社区", "kind": "community", "parent": "S"},
             {"id": "C2", "name": "社区2", "kind": "community", "parent": "S2"}]
    nodes += [{"id": g, "name": g, "kind": "grid", "parent": "C", "centroid": [30.0 + i / 100, 114.0]}
              for i, g in enumerate(GRIDS)]
    nodes += [{"id": "H1", "name": "H1", "kind": "grid", "parent": "C2", "centroid": [31.0, 114.0]}]
    return {
        "nodes": nodes,
        "channels": [{"name": n, "type": "log"} for n in ("c", "s", "d")],
        "responders": [{"id": "c-1", "name": "c", "node": "C", "channels": ["c"]},
                       {"id": "s-1", "name": "s", "node": "S", "channels": ["s"]},
                       {"id": "s-2", "name": "s2", "node": "S2", "channels": ["s"]},
                       {"id": "d-1", "name": "d", "node": "D", "channels": ["d"]}],
        "rules": [{"id": "river", "metric": "water_level_m",
                   "levels": {"blue": 3, "yellow": 4, "orange": 5, "red": 6}}],
        "escalation": {"deadlines": {"red": 900, "orange": 1800}},
        "incidents": {"enabled": enabled, "group_wait": 30, "group_interval": 300, "repeat_interval": 3600,
                      "min_alerts": 2, **kw},
    }


class Harness:
    def __init__(self, tmp: Path, cfg: dict[str, Any], prefix: str = "A") -> None:
        self.clock = FixedClock(T0)
        self.tmp, self.cfg = tmp, cfg
        ids = iter(f"{prefix}{i}" for i in range(1000))
        self.p = Pipeline(Settings(data_dir=tmp), parse_config(cfg), SqliteStore(tmp / "db.sqlite"),  # type: ignore[call-arg]
                          clock=self.clock, new_id=lambda: next(ids))
        self.p.recover()

    def level(self, grid: str, value: float, at: float) -> None:
        self.clock.set(at)
        self.p.ingest([{"feed": "sensor", "source": f"gauge-{grid}", "ts": at, "grid": grid,
                        "metric": "water_level_m", "value": value}])

    def at(self, t: float) -> None:
        self.clock.set(t)
        with self.p.lock:
            self.p.alerts.tick(self.p.clocks.domains())

    def sent(self, target: str) -> list[tuple[str, str]]:
        return [(n.kind, n.channel) for n in self.p.store.notifications_for(target)]

    def kinds(self, alert_id: str) -> list[str]:
        a = self.p.store.get_alert(alert_id)
        assert a is not None
        return [e.kind for e in a.timeline]

    def incidents(self) -> list[dict[str, Any]]:
        return self.p.list_incidents(None, 100)


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, config())
    yield harness
    harness.p.store.close()


def test_a_storm_under_one_street_is_one_incident_notified_after_group_wait(h: Harness) -> None:
    h.level("G1", 6.5, T0)  # a lone red: notified on its own at once, as without incidents
    assert h.sent("A0") == [("raised", "c")]
    assert h.incidents() == []
    for i, g in enumerate(GRIDS[1:7], start=1):
        h.level(g, 5.5, T0 + i)  # six orange alerts under the same street
    assert [h.sent(f"A{i}") for i in range(1, 7)] == [[]] * 6  # held for the incident
    (inc,) = h.incidents()
    assert inc["node"] == "S" and inc["level"] == "red" and inc["summary"]["alerts"] == 7
    assert inc["summary"]["by_level"] == {"red": 1, "orange": 6, "yellow": 0, "blue": 0}
    assert "incident_joined" in h.kinds("A0") and "incident_joined" in h.kinds("A5")
    assert h.sent(inc["id"]) == []  # group_wait not over yet
    h.at(T0 + 31)
    assert h.sent(inc["id"]) == [("incident_opened", "s")]  # the street's responder, once for seven alerts
    h.level("G3", 6.5, T0 + 60)  # a member rises to red: no message of its own, and the incident was red already
    h.at(T0 + 332)
    assert h.sent("A2") == [] and h.sent(inc["id"]) == [("incident_opened", "s")]
    h.level("G8", 5.5, T0 + 400)  # a new member, group_interval after the last summary: an update at once
    assert h.sent("A7") == [] and h.sent(inc["id"])[-1] == ("incident_updated", "s")
    h.level("G9", 5.5, T0 + 450)  # another: the next update waits for group_interval
    h.at(T0 + 600)
    assert [k for k, _ in h.sent(inc["id"])] == ["incident_opened", "incident_updated"]
    h.at(T0 + 701)
    assert [k for k, _ in h.sent(inc["id"])] == ["incident_opened", "incident_updated", "incident_updated"]
    # the incident escalates once (red: 900 s), not each member
    h.at(T0 + 1 + 900)
    assert h.sent(inc["id"])[-1] == ("incident_escalated", "d")
    assert all("escalated" not in h.kinds(f"A{i}") for i in range(9))
    assert all(k != "escalated" for k, _ in h.sent("A0"))


def test_ack_and_resolve_apply_to_every_member_and_notes_go_to_the_timelines(h: Harness) -> None:
    for i, g in enumerate(GRIDS[:3]):
        h.level(g, 5.5, T0 + i)
    (inc,) = h.incidents()
    doc = h.p.act_incident(inc["id"], "note", "lead", "pumps on the way")
    assert doc["timeline"][-1]["kind"] == "note" and doc["timeline"][-1]["actor"] == "lead"
    doc = h.p.act_incident(inc["id"], "ack", "lead", "on it")
    assert doc["status"] == "acknowledged"
    assert [h.p.store.get_alert(f"A{i}").status for i in range(3)] == ["acknowledged"] * 3  # type: ignore[union-attr]
    with pytest.raises(AlertConflict):
        h.p.act_incident(inc["id"], "ack", "lead", "")
    h.at(T0 + 3600 * 3)  # acknowledged: no reminder, no escalation
    assert [k for k, _ in h.sent(inc["id"])] == ["incident_opened"]
    a = h.p.add_note("A1", "lead", "road closed at the bridge")
    assert (a.timeline[-1].kind, a.timeline[-1].actor, a.timeline[-1].detail) == (
        "note", "lead", "road closed at the bridge")
    doc = h.p.act_incident(inc["id"], "resolve", "lead", "")
    assert doc["status"] == "resolved"
    assert {h.p.store.get_alert(f"A{i}").status for i in range(3)} == {"resolved"}  # type: ignore[union-attr]
    h.level("G4", 5.5, T0 + 3600 * 3 + 10)  # after the incident: a lone alert again
    assert h.sent("A3") == [("raised", "c")]


def test_other_streets_and_other_risks_are_other_incidents_and_a_reminder_repeats(h: Harness) -> None:
    h.level("G1", 5.5, T0)
    h.level("H1", 5.5, T0 + 1)  # another street: alone there, so notified on its own (its street's responder)
    assert h.sent("A1") == [("raised", "s")]
    h.level("G2", 5.5, T0 + 2)
    (inc,) = h.incidents()
    assert inc["node"] == "S" and inc["summary"]["grids"] == ["G1", "G2"]
    h.at(T0 + 40)
    h.at(T0 + 40 + 3601)  # not acknowledged: escalated at its orange deadline, then a reminder (at the new tier)
    assert h.sent(inc["id"]) == [("incident_opened", "s"), ("incident_escalated", "d"), ("incident_reminder", "d")]


def test_incidents_survive_a_restart(tmp_path: Path) -> None:
    h = Harness(tmp_path, config())
    for i, g in enumerate(GRIDS[:3]):
        h.level(g, 5.5, T0 + i)
    (inc,) = h.incidents()
    h.p.store.close()
    again = Harness(tmp_path, config(), prefix="B")
    again.level("G5", 5.5, T0 + 10)  # joins the stored incident
    (after,) = again.incidents()
    assert after["id"] == inc["id"] and after["summary"]["alerts"] == 4
    again.at(T0 + 31)
    assert again.sent(inc["id"]) == [("incident_opened", "s")]
    again.p.store.close()


def test_without_incidents_every_alert_is_notified_on_its_own(tmp_path: Path) -> None:
    h = Harness(tmp_path, config(enabled=False))
    for i, g in enumerate(GRIDS[:4]):
        h.level(g, 5.5, T0 + i)
    assert [h.sent(f"A{i}") for i in range(4)] == [[("raised", "c")]] * 4
    assert h.incidents() == []
    h.p.store.close()


def test_a_refused_write_leaves_the_incident_as_the_store_has_it(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    for i, g in enumerate(GRIDS[:2]):
        h.level(g, 5.5, T0 + i)
    (inc,) = h.incidents()

    def refuse(*a: Any, **kw: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(h.p.store, "save_alerts", refuse)
    with pytest.raises(OSError):
        h.p.act_incident(inc["id"], "ack", "lead", "")
    monkeypatch.undo()
    held = h.p.alerts.incidents.get(inc["id"])  # type: ignore[union-attr]
    assert held is not None and held.status == "open"
    assert h.p.store.get_alert("A0").status == "open"  # type: ignore[union-attr]


def test_a_public_note_is_a_cap_update_carrying_it_and_a_private_one_is_never_published(h: Harness) -> None:
    from fenghuo.alerts.cap import messages, to_xml

    for i, g in enumerate(GRIDS[:2]):
        h.level(g, 5.5, T0 + i)
    (inc,) = h.incidents()
    h.clock.set(T0 + 5)
    h.p.add_note("A0", "lead", "内部：联系人 13812345678")  # private
    a = h.p.add_note("A0", "lead", "Bridge road closed, use Route 9 (call 13812345678)", public=True)
    msgs = messages(a)
    assert [(m.msg_type, m.kind) for m in msgs] == [("Alert", "raised"), ("Update", "note_public")]
    xml = to_xml(a).decode()
    assert "responder note: Bridge road closed, use Route 9 (call 138****5678)" in xml  # masked: CAP is public
    assert "内部" not in xml
    assert f"<incidents>A0 {inc['id']}</incidents>" in xml  # the alert and the incident it joined
