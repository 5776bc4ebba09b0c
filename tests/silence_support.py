"""The silence and inhibition scenario, run through a running service (embedded or Kafka) with a real webhook
receiver: a silence made over the API mutes a matching alert (recorded in its timeline, nothing sent) and not a
non-matching one; an open district red holds back the grid alerts under it and not those of another district."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.support import Receiver

HOOK_SECRET = "silence-test-secret-1234"
RIVER = {"id": "river", "metric": "water_level_m", "levels": {"yellow": 4.0, "red": 6.0}}
FLOOD = {"id": "flood", "metric": "flood_index", "levels": {"yellow": 50.0, "red": 100.0}}
DISTRICT_RED = {"name": "district-red-holds-grid-river", "under_source": True,
                "source": {"node_kind": "district", "rule": "flood", "level_at_least": "red"},
                "target": {"node_kind": "grid", "rule": "river"}}


def config(hook_url: str) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [
        {"id": "D", "name": "区", "kind": "district"}, {"id": "S", "name": "街道", "kind": "street", "parent": "D"},
        {"id": "C", "name": "社区", "kind": "community", "parent": "S"},
        {"id": "D2", "name": "另一区", "kind": "district"}]
    nodes += [{"id": g, "name": g, "kind": "grid", "parent": p, "centroid": [30.0 + i / 10, 114.0]}
              for i, (g, p) in enumerate((("G1", "C"), ("G2", "C"), ("G8", "D2"), ("G9", "D2")))]
    return {
        "nodes": nodes,
        "channels": [{"name": "hook", "type": "webhook", "url": hook_url, "secret": HOOK_SECRET, "max_attempts": 3}],
        "responders": [{"id": "duty-D", "name": "区值班", "node": "D", "channels": ["hook"]},
                       {"id": "duty-D2", "name": "另一区值班", "node": "D2", "channels": ["hook"]}],
        "rules": [RIVER, FLOOD],
        "inhibit_rules": [DISTRICT_RED],
    }


def reading(grid: str, metric: str, value: float, ts: float) -> dict[str, Any]:
    return {"feed": "sensor", "source": f"gauge-{grid}", "ts": ts, "grid": grid, "metric": metric, "value": value}


def post(client: httpx.Client, records: list[dict[str, Any]]) -> None:
    r = client.post("/v1/events", content="\n".join(json.dumps(x) for x in records))
    assert r.status_code == 200 and r.json()["accepted"] == len(records), r.text


def poll(fn: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def alert_of(client: httpx.Client, grid: str, rule: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        alerts = client.get("/v1/alerts", params={"grid": grid}).json()["alerts"]
        found = [a for a in alerts if a["rule"] == rule]
        return client.get(f"/v1/alerts/{found[0]['id']}").json() if found else None

    return poll(find, f"the {rule} alert of {grid}")  # type: ignore[no-any-return]


def sent_for(receiver: Receiver, alert_id: str) -> list[dict[str, Any]]:
    with receiver.lock:
        return [r["json"] for r in receiver.requests if r["json"]["alert"]["id"] == alert_id]


def silence_and_inhibit(clients: Callable[[str], httpx.Client], receiver: Receiver) -> None:
    viewer, responder, admin = clients("viewer"), clients("responder"), clients("admin")
    now = time.time()
    r = responder.post("/v1/silences", json={"match": {"grid": "G1", "rule": "river"}, "starts_at": now - 60,
                                             "duration_s": 3600, "comment": "gauge G1 under repair"})
    assert r.status_code == 201, r.text
    silence = r.json()
    assert silence["state"] == "active" and silence["created_by"].startswith("responder")
    active = viewer.get("/v1/silences", params={"state": "active"}).json()["silences"]
    assert [s["id"] for s in active] == [silence["id"]]
    # bad input is a 422 that says why, a viewer cannot silence, nothing of it is stored
    assert responder.post("/v1/silences", json={"starts_at": now, "ends_at": now - 10}).status_code == 422
    assert responder.post("/v1/silences", json={"duration_s": 60, "match": {"grid": "nowhere"}}).status_code == 422
    assert responder.post("/v1/silences", json={"duration_s": 1e300}).status_code == 422
    assert viewer.post("/v1/silences", json={"duration_s": 60}).status_code == 403
    assert len(viewer.get("/v1/silences").json()["silences"]) == 1

    # the silence has answered: a matching alert is muted, recorded, not sent; another is sent
    post(admin, [reading("G1", "water_level_m", 7.0, now), reading("G9", "water_level_m", 7.0, now)])
    g9 = alert_of(viewer, "G9", "river")
    receiver.wait_for(lambda got: any(x["json"]["alert"]["id"] == g9["id"] for x in got))
    g1 = alert_of(viewer, "G1", "river")
    muted = [e for e in g1["timeline"] if e["kind"] == "muted"]
    assert len(muted) == 1 and muted[0]["actor"] == f"silence:{silence['id']}", g1["timeline"]
    assert "gauge G1 under repair" in muted[0]["detail"]
    assert g1["notifications"] == [] and sent_for(receiver, g1["id"]) == []
    g9_kinds = [e["kind"] for e in g9["timeline"]]  # raised, and notified once its delivery is recorded
    assert g9_kinds[0] == "raised" and "muted" not in g9_kinds, g9_kinds

    # an open red at district D holds back the river alerts of D's grids, not those of district D2
    post(admin, [reading("D", "flood_index", 150.0, now + 1)])
    red = alert_of(viewer, "D", "flood")
    receiver.wait_for(lambda got: any(x["json"]["alert"]["id"] == red["id"] for x in got))
    post(admin, [reading("G2", "water_level_m", 7.0, now + 2), reading("G8", "water_level_m", 7.0, now + 2)])
    g8 = alert_of(viewer, "G8", "river")
    receiver.wait_for(lambda got: any(x["json"]["alert"]["id"] == g8["id"] for x in got))
    g2 = alert_of(viewer, "G2", "river")
    held = [e for e in g2["timeline"] if e["kind"] == "inhibited"]
    assert len(held) == 1 and held[0]["actor"] == red["id"], g2["timeline"]
    assert g2["notifications"] == [] and sent_for(receiver, g2["id"]) == []

    # expire early: listed as expired, both changes audited as the key's name
    r = responder.delete(f"/v1/silences/{silence['id']}")
    assert r.status_code == 200 and r.json()["state"] == "expired", r.text
    assert responder.post(f"/v1/silences/{silence['id']}/expire").status_code == 409
    assert responder.post("/v1/silences/nope/expire").status_code == 404
    assert viewer.get("/v1/silences", params={"state": "active"}).json()["silences"] == []
    assert [s["id"] for s in viewer.get("/v1/silences", params={"state": "expired"}).json()["silences"]] == [
        silence["id"]]
    audit = [(a["action"], a["target"]) for a in admin.get("/v1/audit").json()["items"]]
    assert ("silence.create", silence["id"]) in audit and ("silence.expire", silence["id"]) in audit
