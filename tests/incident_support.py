"""The incident scenario, run through a running service (embedded or Kafka) with a real webhook receiver: a storm of
alerts under one street yields one summary, not one message per alert; ack and resolve apply to every member; notes
are in the timelines; every act is audited."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.silence_support import alert_of, poll, post, reading
from tests.support import Receiver

HOOK_SECRET = "incident-test-secret-1234"
STORM = [f"G{i:02d}" for i in range(1, 21)]  # twenty grids under street S


def config(hook_url: str, group_wait: float = 1.0) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [
        {"id": "D", "name": "区", "kind": "district"}, {"id": "S", "name": "街道", "kind": "street", "parent": "D"},
        {"id": "C", "name": "社区", "kind": "community", "parent": "S"},
        {"id": "S2", "name": "另一街道", "kind": "street", "parent": "D"},
        {"id": "C2", "name": "另一社区", "kind": "community", "parent": "S2"}]
    nodes += [{"id": g, "name": g, "kind": "grid", "parent": "C", "centroid": [30.0 + i / 100, 114.0 + (i % 5) / 100]}
              for i, g in enumerate(STORM)]
    nodes += [{"id": "H1", "name": "H1", "kind": "grid", "parent": "C2", "centroid": [30.5, 114.5]}]
    return {
        "nodes": nodes,
        "channels": [{"name": "hook", "type": "webhook", "url": hook_url, "secret": HOOK_SECRET, "max_attempts": 3}],
        "responders": [{"id": "duty-C", "name": "社区值班", "node": "C", "channels": ["hook"]},
                       {"id": "duty-C2", "name": "另一社区值班", "node": "C2", "channels": ["hook"]},
                       {"id": "duty-S", "name": "街道值班", "node": "S", "channels": ["hook"]}],
        "rules": [{"id": "river", "metric": "water_level_m", "levels": {"yellow": 4.0, "red": 6.0}}],
        "incidents": {"enabled": True, "group_by_kind": "street", "group_wait": group_wait, "group_interval": 300,
                      "repeat_interval": 14400, "min_alerts": 2},
    }


def sent(receiver: Receiver) -> list[dict[str, Any]]:
    with receiver.lock:
        return [r["json"] for r in receiver.requests]


def statuses(viewer: httpx.Client) -> list[str]:
    """The statuses of the storm's alerts (every status, most recent first)."""
    alerts = viewer.get("/v1/alerts", params={"limit": 500}).json()["alerts"]
    return [a["status"] for a in alerts if a["grid"] in STORM]


def storm_is_one_incident(clients: Callable[[str], httpx.Client], receiver: Receiver, kafka: bool = False) -> str:
    """Twenty red alerts under street S and one under S2: the returned incident's id. ``kafka``: the alert service
    takes the storm one grid's batch at a time, on the event clock (the lone alert, later, moves the clock on)."""
    viewer, responder, admin = clients("viewer"), clients("responder"), clients("admin")
    now = time.time()
    post(admin, [reading(g, "water_level_m", 7.0, now) for g in STORM])
    incidents = poll(lambda: viewer.get("/v1/incidents").json()["incidents"], "an incident")
    assert len(incidents) == 1 and incidents[0]["node"] == "S", incidents
    inc_id = incidents[0]["id"]
    if kafka:
        poll(lambda: viewer.get(f"/v1/incidents/{inc_id}").json()["summary"]["alerts"] == 20, "20 members")
        post(admin, [reading("H1", "water_level_m", 7.0, now + 2)])
    got = receiver.wait_for(lambda got: any(x["json"]["event"] == "incident_opened" for x in got))
    inc = poll(lambda: (d := viewer.get(f"/v1/incidents/{inc_id}").json())["summary"]["alerts"] == 20 and d, "20")
    assert inc["summary"]["by_level"]["red"] == 20 and inc["summary"]["grid_count"] == 20
    summary = [x["json"] for x in got if x["json"]["event"] == "incident_opened"]
    assert len(summary) == 1 and summary[0]["responder"] == "duty-S"
    assert summary[0]["incident"]["summary"]["alerts"] == 20 and summary[0]["alert"]["id"] == inc_id
    member = alert_of(viewer, "G15", "river")
    assert [e["kind"] for e in member["timeline"]] == ["raised", "incident_joined"]
    assert member["timeline"][1]["actor"] == inc_id and member["escalate_at"] is None
    assert any(e["kind"] == "incident_joined" and e["alert"] for e in inc["combined_timeline"])

    # a lone alert under another street is notified on its own, as without incidents
    if not kafka:
        post(admin, [reading("H1", "water_level_m", 7.0, now + 1)])
    lone = alert_of(viewer, "H1", "river")
    receiver.wait_for(lambda got: any(x["json"]["alert"]["id"] == lone["id"] for x in got))
    assert len(viewer.get("/v1/incidents").json()["incidents"]) == 1
    messages = sorted((m["event"], m["responder"]) for m in sent(receiver))
    if kafka:  # the first grid's batch may come alone: its alert is then notified before the incident forms
        assert messages in ([("incident_opened", "duty-S"), ("raised", "duty-C2")],
                            [("incident_opened", "duty-S"), ("raised", "duty-C"), ("raised", "duty-C2")]), messages
    else:  # twenty alerts in one batch, one message for them (they were open together), and the lone alert's own
        assert messages == [("incident_opened", "duty-S"), ("raised", "duty-C2")], messages

    # notes: on an alert and on the incident, author the key's name, bounded, audited
    r = responder.post(f"/v1/alerts/{member['id']}/notes", json={"text": "堤防加固中", "public": True})
    assert r.status_code == 201, r.text
    assert r.json()["timeline"][-1] | {"ts": None} == {"ts": None, "kind": "note_public", "level": "red",
                                                        "actor": r.json()["timeline"][-1]["actor"], "channel": None,
                                                        "detail": "堤防加固中"}
    assert r.json()["timeline"][-1]["actor"].startswith("responder")
    assert responder.post(f"/v1/alerts/{member['id']}/notes", json={"text": "x" * 2001}).status_code == 422
    assert responder.post(f"/v1/alerts/{member['id']}/notes", json={"text": ""}).status_code == 422
    assert viewer.post(f"/v1/alerts/{member['id']}/notes", json={"text": "hi"}).status_code == 403
    assert responder.post("/v1/alerts/nope/notes", json={"text": "hi"}).status_code == 404
    r = responder.post(f"/v1/incidents/{inc_id}/notes", json={"text": "pumps sent to G01-G20"})
    assert r.status_code == 201 and r.json()["timeline"][-1]["kind"] == "note", r.text

    # ack applies to every member; a second ack conflicts; bad ids and roles are refused without a 5xx
    assert viewer.post(f"/v1/incidents/{inc_id}/ack").status_code == 403
    assert responder.post("/v1/incidents/inc-nope/ack").status_code == 404
    assert responder.post("/v1/incidents/%2e%2e/ack").status_code in (404, 422)
    assert viewer.get("/v1/incidents", params={"status": "bogus"}).status_code == 422
    assert viewer.get("/v1/incidents", params={"limit": 10**9}).status_code == 422
    r = responder.post(f"/v1/incidents/{inc_id}/ack", json={"comment": "在处置"})
    assert r.status_code == 200 and r.json()["status"] == "acknowledged", r.text
    assert responder.post(f"/v1/incidents/{inc_id}/ack").status_code == 409
    assert statuses(viewer) == ["acknowledged"] * 20
    audit = [(a["action"], a["target"]) for a in admin.get("/v1/audit").json()["items"]]
    assert ("incident.ack", inc_id) in audit and ("incident.note", inc_id) in audit
    assert ("alert.note", member["id"]) in audit
    return str(inc_id)


def resolve_after_restart(clients: Callable[[str], httpx.Client], inc_id: str) -> None:
    viewer, responder = clients("viewer"), clients("responder")
    (inc,) = viewer.get("/v1/incidents").json()["incidents"]
    assert inc["id"] == inc_id and inc["status"] == "acknowledged"
    r = responder.post(f"/v1/incidents/{inc_id}/resolve")
    assert r.status_code == 200 and r.json()["status"] == "resolved", r.text
    assert statuses(viewer) == ["resolved"] * 20
