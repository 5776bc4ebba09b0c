"""Incidents and notes in the Kafka runtime: ``fenghuo run`` with FENGHUO_BUS=kafka and the workers as subprocesses on
a real broker; the same storm scenario as the embedded test (tests/incident_support.py), with a real webhook receiver:
the alert service groups the storm, the API's ack, resolve and notes go to it as commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from fenghuo.runtime.kafka.bus import Topics, create_topics
from tests.incident_support import config, resolve_after_restart, storm_is_one_incident
from tests.integration.kafka.kafka_support import KAFKA, Cluster, kafka_warnings, needs_kafka, store_url, wait_until
from tests.support import Receiver, Service

pytestmark = [needs_kafka, *kafka_warnings, pytest.mark.timeout(300)]


def test_a_storm_is_one_incident_and_its_commands_apply_in_the_alert_service(tmp_path: Path) -> None:
    assert KAFKA
    rx = Receiver()
    url = store_url(tmp_path)
    cfg = config(rx.url + "/hook")
    cluster = Cluster(tmp_path / "kafka", cfg, url, partitions=2)
    create_topics(KAFKA, 2, Topics(cluster.prefix))
    env = {k: cluster.env[k] for k in ("FENGHUO_TOPIC_PREFIX", "FENGHUO_KAFKA_BOOTSTRAP", "FENGHUO_STORE_URL",
                                       "FENGHUO_CLOCK")}
    svc = Service(tmp_path / "api", cfg, env={**env, "FENGHUO_BUS": "kafka"})
    try:
        svc.start()
        cluster.detector("detectors-1")
        cluster.start("alerts", "alerts")
        cluster.start("store-writer", "store-writer")
        wait_until(lambda: (tmp_path / "kafka" / "alerts.log").exists(), 30, "the alert service", cluster)
        inc_id = storm_is_one_incident(svc.client, rx, kafka=True)
        resolve_after_restart(svc.client, inc_id)
        cluster.check_alive()
    finally:
        svc.stop()
        cluster.stop()
        rx.close()
