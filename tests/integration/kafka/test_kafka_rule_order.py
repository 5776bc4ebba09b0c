"""A rule change is ordered with the events in the distributed runtime, as the README promises of the embedded one:
a threshold rule PUT through the API (``fenghuo run`` with FENGHUO_BUS=kafka) applies to the readings posted right
after the answer, with no wait, though the detector worker read the (empty) rule table long before. The river
flood of tests/flood_support.py, posted at once after the PUT, gives the alert the embedded runtime gives (same
levels, escalations and clearing at the same event times), and each signal's evidence names the rule's version.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from fenghuo.core.models import Alert
from fenghuo.core.store import open_store
from fenghuo.runtime.kafka.bus import Topics, create_topics
from tests.flood_support import RULE, config
from tests.integration.kafka.kafka_support import (
    KAFKA,
    Cluster,
    detectors_ready,
    embedded_flood,
    kafka_warnings,
    needs_kafka,
    store_url,
    story,
    wait_until,
)
from tests.support import Receiver, Service

pytestmark = [needs_kafka, *kafka_warnings, pytest.mark.timeout(300)]


def post(client: httpx.Client, batch: list[dict[str, Any]]) -> httpx.Response:
    return client.post("/v1/events", content="\n".join(json.dumps(r) for r in batch))


def rule_versions(alert: Alert) -> set[Any]:
    """The rule versions named in the evidence of the alert's rule signals."""
    return {ev.get("rule_version") for ev in alert.evidence if ev.get("detector") == "threshold"}


def test_a_rule_put_through_the_api_applies_to_the_readings_posted_right_after(
        tmp_path: Path, readings: list[dict[str, Any]]) -> None:
    assert KAFKA
    emb_rx, kafka_rx = Receiver(), Receiver()
    try:
        embedded = embedded_flood(tmp_path / "embedded", config(emb_rx.url), readings, emb_rx)
        assert len(embedded) == 1 and rule_versions(embedded[0]) == {1}

        url = store_url(tmp_path)
        cluster = Cluster(tmp_path / "kafka", config(kafka_rx.url), url, partitions=2)
        create_topics(KAFKA, 2, Topics(cluster.prefix))
        env = {k: cluster.env[k] for k in ("FENGHUO_TOPIC_PREFIX", "FENGHUO_KAFKA_BOOTSTRAP", "FENGHUO_STORE_URL",
                                           "FENGHUO_CLOCK")}
        svc = Service(tmp_path / "api", config(kafka_rx.url), env={**env, "FENGHUO_BUS": "kafka"})
        store = open_store(url, tmp_path / "kafka" / "data")
        try:
            cluster.detector("detectors-1")
            cluster.start("alerts", "alerts")
            cluster.start("store-writer", "store-writer")
            svc.start()
            wait_until(lambda: detectors_ready(cluster, 1), 60, "the detector worker in its group", cluster)
            worker_log = tmp_path / "kafka" / "detectors-1.log"
            wait_until(lambda: "detector rules loaded: none" in worker_log.read_text(errors="replace"), 30,
                       "the worker reading the empty rule table", cluster)

            analyst, admin = svc.client("analyst"), svc.client("admin")
            r = analyst.put("/v1/rules/thresholds/river-level", json=RULE)
            assert r.status_code == 200, r.text
            assert r.json()["version"] == 1
            for i in range(0, len(readings), 500):  # at once: no wait for the workers
                r = post(admin, readings[i: i + 500])
                assert r.status_code == 200 and r.json()["accepted"] == len(readings[i: i + 500]), r.text

            def settled() -> list[Alert] | None:
                alerts = store.all_alerts()
                return alerts if [story(a) for a in alerts] == [story(a) for a in embedded] else None

            try:
                over_kafka = wait_until(settled, 60, "the same alert story as embedded", cluster)
            except AssertionError:
                assert [story(a) for a in store.all_alerts()] == [story(a) for a in embedded]  # the difference
                raise
            assert rule_versions(over_kafka[0]) == {1}
            levels = [e.level for e in over_kafka[0].timeline if e.kind in ("raised", "upgraded")]
            assert levels == ["blue", "yellow", "orange", "red"]
        finally:
            cluster.stop()
            svc.stop()
            store.close()
    finally:
        emb_rx.close()
        kafka_rx.close()
