"""Faults in the embedded runtime, with SIGKILL: no accepted event lost, no alert duplicated, and a
notification decided before the crash is delivered after it (the outbox)."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any

from tests.support import Receiver, Service, free_port

SECRET = "crash-test-secret-123"


def config(hook_url: str) -> dict[str, Any]:
    return {
        "nodes": [{"id": "D", "name": "区", "kind": "district"},
                  {"id": "G1", "name": "网格", "kind": "grid", "parent": "D", "centroid": [42.0, 2.0]}],
        "channels": [{"name": "hook", "type": "webhook", "url": hook_url, "secret": SECRET, "max_attempts": 100}],
        "responders": [{"id": "duty", "name": "值班员", "node": "G1", "channels": ["hook"]}],
        "rules": [{"id": "gas", "metric": "gas_ppm", "levels": {"yellow": 20, "red": 50}}],
    }


def reading(i: int, value: float) -> dict[str, Any]:
    return {"feed": "sensor", "source": f"gas-{i % 7}", "ts": 1_700_000_000 + i, "grid": "G1",
            "metric": "gas_ppm", "value": value}


def test_a_notification_decided_before_a_crash_is_delivered_after_it(tmp_path: Path) -> None:
    port = free_port()  # the receiver is down when the alert is raised
    svc = Service(tmp_path, config(f"http://127.0.0.1:{port}/hook")).start()
    r = svc.client("responder").post("/v1/events", json=[reading(0, 80.0)])
    assert r.json()["accepted"] == 1
    alert = svc.client("viewer").get("/v1/alerts").json()["alerts"][0]
    assert svc.stop(signal.SIGKILL) == -9
    receiver = Receiver(port)
    try:
        svc.start()
        got = receiver.wait_for(lambda g: len(g) >= 1)
        assert got[0]["json"]["alert"]["id"] == alert["id"] and got[0]["json"]["event"] == "raised"
        detail = svc.client("viewer").get(f"/v1/alerts/{alert['id']}").json()
        assert [n["status"] for n in detail["notifications"]] == ["delivered"]
        assert got[0]["headers"]["Idempotency-Key"] == detail["notifications"][0]["id"]
    finally:
        svc.stop()
        receiver.close()


def test_sigkill_during_ingest_loses_no_accepted_event_and_duplicates_no_alert(tmp_path: Path,
                                                                               receiver: Receiver) -> None:
    svc = Service(tmp_path, config(receiver.url + "/hook")).start()
    acked = 0
    stop = threading.Event()

    def feed() -> None:
        nonlocal acked
        client = svc.client("responder")
        i = 0
        while not stop.is_set():
            batch = [reading(i + k, 80.0 if (i + k) % 50 == 0 else 5.0) for k in range(500)]
            try:
                r = client.post("/v1/events", content="\n".join(json.dumps(b) for b in batch))
            except Exception:  # the server died mid-request: that batch was not acknowledged
                return
            if r.status_code == 200:
                acked += r.json()["accepted"]
            i += 500

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    while acked < 20_000:
        t.join(0.05)
    svc.stop(signal.SIGKILL)
    stop.set()
    t.join(10)
    svc.start()
    try:
        viewer = svc.client("viewer")
        assert viewer.get("/healthz").json()["events_stored"] >= acked
        alerts = viewer.get("/v1/alerts", params={"limit": 5000}).json()["alerts"]
        fingerprints = [a["fingerprint"] for a in alerts if a["status"] != "resolved"]
        assert len(fingerprints) == len(set(fingerprints)) == 7  # one per gas sensor
        assert {a["level"] for a in alerts} == {"red"}
    finally:
        svc.stop()
