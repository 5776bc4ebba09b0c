"""The per-grid risk forecast through the HTTP API of a running embedded service (``fenghuo run``), as a board or an
analyst sees it (docs/risk-forecast.md): roles and bounds, a ranked forecast with factors made by the schedule from
Boston-like complaints, blue watch notices to the community office sent once and never as alerts, and a drill's
forecast made from that drill's complaints only.

The service runs on the event clock (its complaints are from 2015), its forecast schedule looked at every 0.2 s.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fenghuo.core.models import iso
from tests.support import Receiver, Service

DAY = 86400.0
T0 = 1420070400.0  # 2015-01-01T00:00Z
DRILL_T0 = 1577836800.0  # 2020-01-01T00:00Z
CATEGORIES = ["Noise Disturbance", "Pothole Repair", "Heat - Excessive  Insufficient", "Street Light Outages"]
SECRET = "risk-test-webhook-secret"


def tree_config(url: str) -> dict[str, Any]:
    """Two communities of four grids each, an office (webhook) at each community, a drill webhook."""
    nodes: list[dict[str, Any]] = [{"id": "D", "name": "区", "kind": "district"},
                                   {"id": "S", "name": "街道", "kind": "street", "parent": "D"},
                                   {"id": "C1", "name": "一社区", "kind": "community", "parent": "S"},
                                   {"id": "C2", "name": "二社区", "kind": "community", "parent": "S"}]
    for i in range(8):
        lon = -71.10 + 0.01 * i
        nodes.append({"id": f"G{i}", "name": f"{i}号网格", "kind": "grid", "parent": "C1" if i < 4 else "C2",
                      "polygon": [[lon, 42.3], [lon + 0.01, 42.3], [lon + 0.01, 42.31], [lon, 42.31]]})
    return {"nodes": nodes,
            "channels": [{"name": "office", "type": "webhook", "url": url + "/office", "secret": SECRET},
                         {"name": "drill-hook", "type": "webhook", "url": url + "/drill", "secret": SECRET}],
            "drills": {"channels": ["drill-hook"]},
            "responders": [{"id": "c1-office", "name": "一社区办", "node": "C1", "channels": ["office"]},
                           {"id": "c2-office", "name": "二社区办", "node": "C2", "channels": ["office"]},
                           {"id": "c1-drill", "name": "演练", "node": "C1", "channels": ["drill-hook"], "drill": True}],
            "risk_forecast": {"watch_level": 0.1}}


def complaints(days: int, start: float, grids: range, prefix: str, seed: int) -> list[dict[str, Any]]:
    """Boston-311-like complaints: a steady rate growing with the grid's number, grids 2 and 6 bursting every
    third week; opened, closed three days later, due in two."""
    rnd = random.Random(seed)
    out = []
    for d in range(days):
        for g in grids:
            rate = 1 + g * 0.6 + (6 if g in (2, 6) and (d // 7) % 3 == 2 else 0)
            for _ in range(sum(rnd.random() < 1 / 3 for _ in range(int(rate * 3)))):
                ts = start + d * DAY + rnd.random() * DAY
                out.append({"feed": "complaint", "source": "boston311", "id": f"{prefix}{len(out)}", "ts": iso(ts),
                            "grid": f"G{g}", "category": rnd.choice(CATEGORIES), "text": "noise again at night",
                            "attrs": {"closed": iso(ts + 3 * DAY), "target": iso(ts + 2 * DAY)}})
    return out


def ingest(client: httpx.Client, records: list[dict[str, Any]], drill: str | None = None) -> None:
    body = "\n".join(json.dumps(r) for r in records)
    r = client.post("/v1/events", content=body, params={"drill": drill} if drill else None,
                    headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200 and r.json()["accepted"] == len(records), r.text


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Service]:
    s = Service(tmp_path_factory.mktemp("risk"), tree_config(receiver.url),
                env={"FENGHUO_CLOCK": "event", "FENGHUO_RISK_POLL_SECONDS": "0.2"}).start()
    ingest(s.client("analyst"), complaints(120, T0, range(8), "c", 1))
    ingest(s.client("analyst"), complaints(60, DRILL_T0, range(3), "d", 2), drill="exercise")
    yield s
    s.stop()


def scheduled(svc: Service) -> dict[str, Any]:
    """The forecast the schedule makes by itself once the complaints are in."""
    viewer = svc.client("viewer")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = viewer.get("/v1/risk/forecast").json()
        if body["rows"]:
            return body
        time.sleep(0.2)
    raise AssertionError(f"no scheduled forecast: {body}\n{svc.log.read_text()[-2000:]}")


def make_forecast(svc: Service, query: str = "") -> httpx.Response:
    """POST /v1/risk/forecast as an analyst would: while the schedule's own forecast is being made (429, "being
    made", on a loaded machine it can take a while), wait the Retry-After and ask again."""
    deadline = time.monotonic() + 120
    while True:
        r = svc.client("analyst").post("/v1/risk/forecast" + query)
        if r.status_code != 429 or "being made" not in r.text or time.monotonic() > deadline:
            return r
        time.sleep(float(r.headers.get("Retry-After", "1")))


def test_viewers_read_forecasts_and_only_analysts_make_them(svc: Service) -> None:
    assert httpx.get(svc.url + "/v1/risk/forecast").status_code == 401
    assert svc.client("viewer").get("/v1/risk/forecast").status_code == 200
    assert svc.client("viewer").get("/v1/risk/track-record").status_code == 200
    r = svc.client("viewer").post("/v1/risk/forecast")
    assert r.status_code == 403 and "analyst" in r.json()["detail"]
    assert svc.client("responder").post("/v1/risk/forecast").status_code == 403


@pytest.mark.parametrize("query", ["horizon=0d", "horizon=99d", "horizon=29d", "horizon=seven", "horizon=7",
                                   "horizon=-1d", "node=" + "x" * 500, "group=", "drill=../etc", "weeks=0"])
def test_out_of_bounds_queries_are_422(svc: Service, query: str) -> None:
    path = "/v1/risk/track-record" if query.startswith("weeks") else "/v1/risk/forecast"
    r = svc.client("viewer").get(f"{path}?{query}")
    assert r.status_code == 422, r.text
    if query.startswith(("horizon", "drill")):  # the POST's own parameters, checked before anything is made
        assert svc.client("analyst").post(f"/v1/risk/forecast?{query}").status_code == 422


def test_unknown_node_group_or_drill_is_404(svc: Service) -> None:
    viewer = svc.client("viewer")
    for query, what in (("node=G99", "G99"), ("group=weather", "weather"), ("drill=no-such-r1", "no-such-r1")):
        r = viewer.get(f"/v1/risk/forecast?{query}")
        assert r.status_code == 404 and what in r.json()["detail"], r.text
    assert viewer.get("/v1/risk/track-record?drill=no-such-r1").status_code == 404
    no_forecast = viewer.get("/v1/risk/forecast?horizon=21d").json()  # nothing made for 21 days: says why
    assert no_forecast["rows"] == [] and "21-day" in no_forecast["reason"]


def test_the_schedule_makes_a_ranked_forecast_with_factors(svc: Service) -> None:
    body = scheduled(svc)
    assert body["model_version"].startswith("risk-") and body["reason"] is None
    assert body["made_at"].startswith("2015-04-30") and body["horizon_days"] == 7
    assert body["window"]["to"].startswith("2015-04-30")
    probs = [r["probability"] for r in body["rows"]]
    assert probs == sorted(probs, reverse=True) and all(0 <= p <= 1 for p in probs)
    grids = [r for r in body["rows"] if r["kind"] == "grid" and r["group"] == "all"]
    assert sorted(r["node"] for r in grids) == [f"G{i}" for i in range(8)]
    busiest = max(grids, key=lambda r: r["recent"])
    assert busiest["node"] in ("G6", "G7") and busiest["factors"]
    f = busiest["factors"][0]
    assert f["label_zh"] and f["label_en"] and f["unit"] in ("log-odds", "probability")
    c1 = svc.client("viewer").get("/v1/risk/forecast?node=C1&group=all").json()["rows"]
    assert {r["node"] for r in c1} == {"C1", "G0", "G1", "G2", "G3"} and {r["group"] for r in c1} == {"all"}


def test_watch_notices_reach_the_community_office_once_and_are_no_alerts(svc: Service, receiver: Receiver) -> None:
    body = scheduled(svc)
    watched = {(r["node"], r["group"]) for r in body["rows"] if r["watch"]}
    assert watched, "the synthetic busy grids reach the watch level 0.1"

    def watches(got: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [g["json"] for g in got if g["path"] == "/office" and g["json"].get("event") == "watch"]

    got = watches(receiver.wait_for(lambda got: len(watches(got)) >= len(watched)))
    assert {(w["alert"]["grid"], w["watch"]["group"]) for w in got} == watched
    for w in got:
        assert w["alert"]["level"] == "blue" and w["alert"]["kind"] == "watch" and w["alert"]["id"].startswith("watch:")
        office = "C1" if int(w["alert"]["grid"][1:]) < 4 else "C2"
        assert w["node"] == office and w["responder"] == f"{office.lower()}-office"
    again = make_forecast(svc)  # the same horizon window: nobody is told twice
    assert again.status_code == 202 and again.json()["rows"]
    time.sleep(1.0)
    assert len(watches(receiver.requests)) == len(got)
    assert svc.client("viewer").get("/v1/alerts").json()["alerts"] == []  # a forecast raises no alert
    r = svc.client("analyst").post("/v1/risk/forecast")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1


def test_a_drill_forecast_reads_only_that_drills_complaints(svc: Service, receiver: Receiver) -> None:
    r = make_forecast(svc, "?drill=exercise")
    assert r.status_code == 202, r.text
    drill = r.json()
    assert drill["drill"] == "exercise" and drill["made_at"].startswith("2020-02-29")
    recent = {row["node"]: row["recent"] for row in drill["rows"] if row["kind"] == "grid" and row["group"] == "all"}
    assert recent and all(n in ("G0", "G1", "G2") for n, c in recent.items() if c > 0), recent  # not the real data's
    assert svc.client("viewer").get("/v1/risk/forecast?drill=exercise").json()["made_at"] == drill["made_at"]
    assert svc.client("viewer").get("/v1/risk/forecast").json()["made_at"].startswith("2015")
    assert drill["model_version"] and any(row["watch"] for row in drill["rows"])
    got = receiver.wait_for(lambda got: any(g["json"].get("drill") == "exercise" for g in got))
    assert {g["path"] for g in got if g["json"].get("drill") == "exercise"} == {"/drill"}  # drill participants only
    assert all(g["json"].get("drill") is None for g in got if g["path"] == "/office")
