"""``fenghuo run`` in Kafka mode (FENGHUO_BUS=kafka) as a user runs it: the API process ingests into
Kafka and reads the store, the workers (detectors, alerts, store writer) do the rest, all as
subprocesses on a real broker and (when FENGHUO_TEST_PG_DSN is set) a real PostgreSQL.

Events posted over HTTP raise the alert; an ack through the API is carried out by the alert
service (a command over Kafka) and is in the alert's timeline when the call returns. With the
broker stopped, POST /v1/events answers 503 with Retry-After; after the restart it works again and
every event the API accepted is stored.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from fenghuo.core.store import open_store
from fenghuo.runtime.kafka.bus import Topics, create_topics
from tests.flood_support import RULE, config
from tests.integration.kafka.kafka_support import KAFKA, Cluster, kafka_warnings, needs_kafka, store_url, wait_until
from tests.support import ROOT, Receiver, Service

pytestmark = [needs_kafka, *kafka_warnings, pytest.mark.timeout(300)]
KAFKA_CACHE = os.environ.get("FENGHUO_TEST_KAFKA_CACHE")
KAFKA_DATA = os.environ.get("FENGHUO_TEST_KAFKA_DATA")


def post(client: httpx.Client, batch: list[dict[str, Any]]) -> httpx.Response:
    return client.post("/v1/events", content="\n".join(json.dumps(r) for r in batch))


@pytest.mark.skipif(not (KAFKA_CACHE and KAFKA_DATA), reason="FENGHUO_TEST_KAFKA_CACHE and FENGHUO_TEST_KAFKA_DATA "
                    "(the kafka.sh CACHE_DIR and DATA_DIR) are needed to stop and start the broker")
def test_run_in_kafka_mode_ingests_acks_and_reports_an_outage(
        tmp_path: Path, readings: list[dict[str, Any]]) -> None:
    assert KAFKA and KAFKA_CACHE and KAFKA_DATA
    rx = Receiver()
    url = store_url(tmp_path)
    cluster = Cluster(tmp_path / "kafka", config(rx.url), url, partitions=2)
    create_topics(KAFKA, 2, Topics(cluster.prefix))
    env = {k: cluster.env[k] for k in ("FENGHUO_TOPIC_PREFIX", "FENGHUO_KAFKA_BOOTSTRAP", "FENGHUO_STORE_URL",
                                       "FENGHUO_CLOCK")}
    svc = Service(tmp_path / "api", config(rx.url), env={**env, "FENGHUO_BUS": "kafka"})
    store = open_store(url, tmp_path / "kafka" / "data")
    script = str(ROOT / "scripts" / "services" / "kafka.sh")
    try:
        svc.start()
        admin, analyst, responder = svc.client("admin"), svc.client("analyst"), svc.client("responder")
        assert analyst.put("/v1/rules/thresholds/river-level", json=RULE).status_code == 200
        cluster.detector("detectors-1")
        cluster.start("alerts", "alerts")
        cluster.start("store-writer", "store-writer")

        peak = max(range(len(readings)), key=lambda i: readings[i]["value"])
        accepted = 0
        for i in range(0, peak, 500):
            r = post(admin, readings[i: min(i + 500, peak)])
            assert r.status_code == 200, r.text
            accepted += r.json()["accepted"]
        assert accepted == peak

        def the_alert() -> list[dict[str, Any]]:
            return admin.get("/v1/alerts", params={"grid": "G-AGLY"}).json()["alerts"]  # type: ignore[no-any-return]

        alerts = wait_until(the_alert, 60, "the alert over GET /v1/alerts", cluster)
        assert len(alerts) == 1 and alerts[0]["status"] == "open"
        aid = alerts[0]["id"]
        r = responder.post(f"/v1/alerts/{aid}/ack", json={"comment": "on our way"})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "acknowledged"
        timeline = admin.get(f"/v1/alerts/{aid}").json()["timeline"]
        assert [e for e in timeline if e["kind"] == "acknowledged"][0]["actor"].startswith("responder")
        assert responder.post(f"/v1/alerts/{aid}/ack").status_code == 409  # the alert service said so
        assert responder.post("/v1/alerts/nope/ack").status_code == 404

        # the broker goes away: the API says so (503 + Retry-After), never 200 with loss
        subprocess.run([script, "stop", KAFKA_DATA], check=True, capture_output=True, timeout=60)
        rest = readings[peak:]
        r = post(admin, rest[:500])
        assert r.status_code == 503, r.text
        assert int(r.headers["retry-after"]) > 0
        subprocess.run([script, "start", KAFKA_CACHE, KAFKA_DATA, KAFKA.rsplit(":", 1)[1]], check=True,
                       capture_output=True, timeout=180)
        deadline = time.monotonic() + 60
        for i in range(0, len(rest), 500):
            while (r := post(admin, rest[i: i + 500])).status_code == 503:  # send again, as Retry-After says
                assert time.monotonic() < deadline, "the API did not recover after the broker came back"
                time.sleep(1)
            assert r.status_code == 200, r.text
            accepted += r.json()["accepted"]
        assert accepted == len(readings)
        wait_until(lambda: store.event_count() == accepted, 90, "every accepted event stored")
    finally:
        cluster.stop()
        svc.stop()
        store.close()
        rx.close()
