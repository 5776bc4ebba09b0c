"""On-call duty through the running embedded service (``fenghuo run`` as a subprocess, on the event clock), with a
real local webhook receiver per responder: an alert nobody acknowledges escalates to the next tier and reaches
only the responder on duty there at that moment per the rotation; a tier whose rotation puts nobody on duty is
passed over at once and the alert's timeline says so; GET /v1/oncall shows who is on duty when.

The times are Monday 2026-11-30 in Asia/Shanghai: the community's weekly rotation (wang, li) and the district's
daily one (d-a, d-b) both hand over at 09:00; the street's only member is on leave that whole day with nobody
in her place. The alert is raised at 08:50 (li's week, d-a's day) and escalates at 09:05 (d-b's day).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import Receiver, Service

PEOPLE = ("c-wang", "c-li", "s-zhao", "d-a", "d-b")
NODE = {"c-wang": "C", "c-li": "C", "s-zhao": "S", "d-a": "D", "d-b": "D"}


def config(urls: dict[str, str]) -> dict[str, Any]:
    return {
        "timezone": "Asia/Shanghai",
        "nodes": [{"id": "D", "name": "滨江区", "name_en": "Binjiang", "kind": "district"},
                  {"id": "S", "name": "江岸街道", "name_en": "Jiang'an", "kind": "street", "parent": "D"},
                  {"id": "C", "name": "临江社区", "name_en": "Linjiang", "kind": "community", "parent": "S"},
                  {"id": "G", "name": "临江一网格", "name_en": "Linjiang 1", "kind": "grid", "parent": "C",
                   "centroid": [30.0, 114.0]}],
        "channels": [{"name": p, "type": "webhook", "url": f"{urls[p]}/{p}", "secret": "oncall-secret-1234",
                      "max_attempts": 3} for p in PEOPLE],
        "responders": [{"id": p, "name": p, "node": NODE[p], "channels": [p]} for p in PEOPLE],
        "oncall": [
            {"node": "C", "responders": ["c-wang", "c-li"], "start": "2026-11-02", "handover": "09:00",
             "handover_day": "monday"},
            {"node": "S", "name": "street duty", "responders": ["s-zhao"], "start": "2026-11-02",
             "overrides": [{"from": "2026-11-30", "to": "2026-11-30", "note": "annual leave"}]},
            {"node": "D", "responders": ["d-a", "d-b"], "rotation": "daily", "start": "2026-11-01",
             "handover": "09:00"},
        ],
        "escalation": {"deadlines": {"red": 900}},
        "rules": [{"id": "river", "metric": "water_level_m",
                   "levels": {"blue": 3, "yellow": 4, "orange": 5, "red": 6}}],
    }


def local(text: str) -> str:
    """A Shanghai wall time as an ISO time in UTC."""
    return datetime.fromisoformat(text + "+08:00").astimezone().isoformat()


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    out = {p: Receiver() for p in PEOPLE}
    yield out
    for r in out.values():
        r.close()


@pytest.fixture
def service(tmp_path: Path, receivers: dict[str, Receiver]) -> Iterator[Service]:
    svc = Service(tmp_path / "data", config({p: r.url for p, r in receivers.items()}),
                  env={"FENGHUO_CLOCK": "event"}).start()
    try:
        yield svc
    finally:
        svc.stop()


def post(client: httpx.Client, at: str, value: float) -> None:
    rec = {"feed": "sensor", "source": "gauge-linjiang", "grid": "G", "metric": "water_level_m", "value": value,
           "ts": local(at)}
    r = client.post("/v1/events", content=json.dumps(rec))
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text


def test_escalation_reaches_the_on_duty_responder_and_passes_over_an_unstaffed_tier(
        service: Service, receivers: dict[str, Receiver]) -> None:
    client = service.client("responder")
    post(client, "2026-11-30T08:50:00", 6.5)  # red; the grid has no responders: the community's li is on duty
    got = receivers["c-li"].wait_for(lambda rs: len(rs) >= 1)
    assert [(r["json"]["event"], r["json"]["responder"], r["json"]["tier"]) for r in got] == [("raised", "c-li", 1)]
    alert_id = got[0]["json"]["alert"]["id"]

    post(client, "2026-11-30T09:06:00", 6.6)  # nobody acknowledged: the escalation falls due at 09:05
    got = receivers["d-b"].wait_for(lambda rs: len(rs) >= 1)
    assert [(r["json"]["event"], r["json"]["node"], r["json"]["tier"]) for r in got] == [("escalated", "D", 3)]

    alert = client.get(f"/v1/alerts/{alert_id}").json()
    timeline = [(e["kind"], e["ts"], e["detail"]) for e in alert["timeline"]]
    assert ("no_one_on_duty", "2026-11-30T01:05:00Z", "no one on duty at S: passed over") in timeline
    escalated = [e for e in timeline if e[0] == "escalated"]
    assert escalated == [("escalated", "2026-11-30T01:05:00Z", "not acknowledged within 900 s: tier 3 (D)")]
    # the notifications decided, and delivered: to the on-duty responders only (no other receiver heard a thing)
    notified = {(n["responder"], n["kind"]) for n in client.get(f"/v1/alerts/{alert_id}").json()["notifications"]}
    assert notified == {("c-li", "raised"), ("d-b", "escalated")}
    for p in ("c-wang", "s-zhao", "d-a"):
        assert receivers[p].requests == [], p

    # the roster as the API shows it, then and a day later (the street's leave is over, d-a's day again)
    viewer = service.client("viewer")
    then = viewer.get("/v1/oncall", params={"at": "2026-11-30T01:05:00Z"}).json()
    duty = {n["node"]: [(r["on_duty"] or {}).get("id") for r in n["rotations"]] for n in then["nodes"]}
    assert duty == {"C": ["c-wang"], "S": [None], "D": ["d-b"]}
    street = next(n for n in then["nodes"] if n["node"] == "S")
    assert street["nobody_on_duty"] is True
    assert street["rotations"][0]["note"] == "annual leave"
    assert street["rotations"][0]["next"]["responder"]["id"] == "s-zhao"
    assert street["rotations"][0]["until"] == "2026-11-30T16:00:00Z"  # the end of the day in Shanghai
    district = next(n for n in then["nodes"] if n["node"] == "D")["rotations"][0]
    assert (district["since"], district["until"], district["until_local"]) == (
        "2026-11-30T01:00:00Z", "2026-12-01T01:00:00Z", "2026-12-01 09:00")
    assert district["next"]["responder"]["id"] == "d-a"
    later = viewer.get("/v1/oncall", params={"at": "2026-12-01T02:00:00Z"}).json()
    assert {n["node"]: [(r["on_duty"] or {}).get("id") for r in n["rotations"]] for n in later["nodes"]} == \
        {"C": ["c-wang"], "S": ["s-zhao"], "D": ["d-a"]}
    assert viewer.get("/v1/oncall", params={"at": "2200-01-01T00:00:00Z"}).status_code == 422
    assert viewer.get("/v1/oncall").status_code == 200  # now, by the wall clock
    assert httpx.get(service.url + "/v1/oncall").status_code == 401
