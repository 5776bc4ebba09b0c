"""The risk forecast in Kafka mode: ``fenghuo run`` with FENGHUO_BUS=kafka runs the forecast's schedule in the API
process, reading the store the store writer fills from the broker; no worker of its own (docs/risk-forecast.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fenghuo.runtime.kafka.bus import Topics, create_topics
from tests.acceptance.test_risk_forecast import T0, complaints, tree_config
from tests.integration.kafka.kafka_support import KAFKA, Cluster, kafka_warnings, needs_kafka, store_url, wait_until
from tests.support import Receiver, Service

pytestmark = [needs_kafka, *kafka_warnings, pytest.mark.timeout(120)]


def test_the_api_process_makes_the_forecast_in_kafka_mode(tmp_path: Path) -> None:
    assert KAFKA
    rx = Receiver()
    config = tree_config(rx.url)
    cluster = Cluster(tmp_path / "kafka", config, store_url(tmp_path), partitions=1)
    create_topics(KAFKA, 1, Topics(cluster.prefix))
    env = {k: cluster.env[k] for k in ("FENGHUO_TOPIC_PREFIX", "FENGHUO_KAFKA_BOOTSTRAP", "FENGHUO_STORE_URL",
                                       "FENGHUO_CLOCK")}
    svc = Service(tmp_path / "api", config, env={**env, "FENGHUO_BUS": "kafka", "FENGHUO_RISK_POLL_SECONDS": "0.3"})
    try:
        svc.start()
        cluster.start("store-writer", "store-writer")
        records = complaints(60, T0, range(8), "k", 3)
        r = svc.client("analyst").post("/v1/events", content="\n".join(json.dumps(x) for x in records))
        assert r.status_code == 200 and r.json()["accepted"] == len(records), r.text
        viewer = svc.client("viewer")
        body = wait_until(lambda: (b := viewer.get("/v1/risk/forecast").json())["rows"] and b, 60,
                          "the scheduled forecast in Kafka mode", cluster)
        assert body["model_version"].startswith("risk-") and body["made_at"].startswith("2015-03-01")
        grids = {row["node"] for row in body["rows"] if row["kind"] == "grid"}
        assert grids == {f"G{i}" for i in range(8)}
    finally:
        svc.stop()
        cluster.stop()
        rx.close()
