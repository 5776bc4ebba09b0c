"""End to end, as a user would: the service as a subprocess, real Hub'Eau flood readings through
the HTTP API, escalation to a real webhook receiver, ack, the response-time report, a restart.

The service runs on the event clock (FENGHUO_CLOCK=event): its "now" is the latest reading's time,
so a month of 2020 readings plays out its escalation deadlines without waiting.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fenghuo.alerts.notifiers.webhook import verify
from tests.flood_support import RULE, SECRET, TIERS, config, station_rows
from tests.support import Receiver, Service


@pytest.fixture
def readings(shared_data: Path) -> list[dict[str, Any]]:
    rows = station_rows()
    assert len(rows) > 4000
    return rows


def post(client: Any, batch: list[Any]) -> dict[str, Any]:
    r = client.post("/v1/events", content="\n".join(json.dumps(x) for x in batch))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_flood_raises_escalates_acks_and_survives_restart(tmp_path: Path, receiver: Receiver,
                                                          readings: list[dict[str, Any]]) -> None:
    svc = Service(tmp_path / "data", config(receiver.url), env={"FENGHUO_CLOCK": "event"}).start()
    try:
        admin, analyst, responder = svc.client("admin"), svc.client("analyst"), svc.client("responder")
        assert analyst.put("/v1/rules/thresholds/river-level", json=RULE).status_code == 200

        peak = max(range(len(readings)), key=lambda i: readings[i]["value"])
        # everything up to 30 minutes after the peak: the flood rises, nobody acknowledges
        before = [r for r in readings[: peak + 4]]
        for i in range(0, len(before), 500):
            post(admin, before[i: i + 500])
        alerts = admin.get("/v1/alerts", params={"grid": "G-AGLY"}).json()["alerts"]
        assert len(alerts) == 1, alerts
        alert = admin.get(f"/v1/alerts/{alerts[0]['id']}").json()
        levels = [e["level"] for e in alert["timeline"] if e["kind"] in ("raised", "upgraded")]
        assert levels == ["blue", "yellow", "orange", "red"]
        assert alert["level"] == "red" and alert["status"] == "open"

        # escalation walked up the tree, tier by tier, to the district
        def escalations(got: list[dict[str, Any]]) -> list[str]:
            return [g["path"].strip("/") for g in got if g["json"]["event"] == "escalated"]

        got = receiver.wait_for(lambda g: escalations(g)[:3] == ["community", "street", "district"])
        first = got[0]
        assert first["path"] == "/grid" and first["json"]["event"] == "raised"
        assert verify(SECRET, first["headers"]["X-Fenghuo-Timestamp"], first["raw"],
                      first["headers"]["X-Fenghuo-Signature"])
        assert first["headers"]["Idempotency-Key"] == first["json"]["notification_id"]
        assert all(g["path"] != "/drill" for g in got)
        alert = admin.get(f"/v1/alerts/{alert['id']}").json()
        esc = [e for e in alert["timeline"] if e["kind"] == "escalated"]
        assert [e["detail"].rsplit("(", 1)[1].rstrip(")") for e in esc][:3] == TIERS[1:]
        assert any(e["kind"] == "notified" for e in alert["timeline"])

        # a responder acknowledges; the rest of the month brings no more escalations
        r = responder.post(f"/v1/alerts/{alert['id']}/ack", json={"by": "张伟"})
        assert r.status_code == 200 and r.json()["status"] == "acknowledged"
        count = len(receiver.requests)
        after = readings[peak + 4:]
        for i in range(0, len(after), 1000):
            post(admin, after[i: i + 1000])
        alert = admin.get(f"/v1/alerts/{alert['id']}").json()
        assert [e for e in alert["timeline"] if e["kind"] == "escalated"] == esc
        assert alert["cleared"] is True  # the river went back down
        assert not [g for g in receiver.requests[count:] if g["json"]["event"] == "escalated"]
        assert responder.post(f"/v1/alerts/{alert['id']}/resolve", json={"by": "张伟"}).status_code == 200

        report = admin.get("/v1/reports/response-times", params={"group_by": "level"}).json()
        red = next(g for g in report["groups"] if g["key"] == "red")
        assert red["count"] == 1 and red["acknowledged"] == 1 and red["resolved"] == 1
        assert red["mtta_median_s"] > 0 and red["mttr_median_s"] >= red["mtta_median_s"]
        assert red["on_time_rate"] == 0.0  # acknowledged only after escalating
        by_responder = admin.get("/v1/reports/response-times", params={"group_by": "responder"}).json()
        assert by_responder["groups"][0]["key"].startswith("responder-")  # the key's identity, not the "by"

        # 100 events, 3 malformed: 97 accepted, 3 rejected with reasons, 3 in the dead-letter store
        batch: list[Any] = [
            {"feed": "sensor", "source": "test:probe", "ts": f"2020-03-01T00:{i // 60:02d}:{i % 60:02d}Z",
             "grid": "G-AGLY", "metric": "water_level_m", "value": 1.0} for i in range(100)]
        batch[10] = {**batch[10], "value": "high"}
        batch[50] = {**batch[50], "ts": "yesterday"}
        del batch[90]["metric"]
        res = post(admin, batch)
        assert res["accepted"] == 97 and res["duplicates"] == 0
        assert [r["index"] for r in res["rejected"]] == [10, 50, 90]
        assert "value must be a number" in res["rejected"][0]["error"]
        assert "ts" in res["rejected"][1]["error"] and "metric" in res["rejected"][2]["error"]
        assert post(admin, batch)["duplicates"] == 97  # the same events again are stored once
        dead = admin.get("/v1/deadletters").json()
        assert dead["total"] == 6 and dead["items"][0]["record"]["source"] == "test:probe"

        stored = admin.get("/healthz").json()["events_stored"]
        assert stored == len(readings) + 97
        timeline = alert["timeline"]
    finally:
        assert svc.stop() in (0, -15)  # uvicorn re-raises SIGTERM after a graceful shutdown
        assert "Application shutdown complete" in svc.log.read_text()

    svc.start()
    try:
        admin = svc.client("admin")
        assert admin.get("/healthz").json()["events_stored"] == stored
        again = admin.get(f"/v1/alerts/{alert['id']}").json()
        assert again["status"] == "resolved"
        assert [e["kind"] for e in again["timeline"]][: len(timeline)] == [e["kind"] for e in timeline]
        assert admin.get("/v1/rules/thresholds/river-level").json()["version"] == 1
        assert admin.get("/v1/deadletters").json()["total"] == 6
    finally:
        svc.stop()
