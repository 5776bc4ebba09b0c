"""Silences and inhibition in the Kafka runtime: ``fenghuo run`` with FENGHUO_BUS=kafka (the API makes the silence
in the store) and the workers as subprocesses on a real broker. The alert service reads the silences changed in the
store before each batch, so a silence the API has answered for mutes the alerts of every batch it takes after that;
the same scenario as the embedded test (tests/silence_support.py), with a real webhook receiver."""

from __future__ import annotations

from pathlib import Path

import pytest

from fenghuo.runtime.kafka.bus import Topics, create_topics
from tests.integration.kafka.kafka_support import KAFKA, Cluster, kafka_warnings, needs_kafka, store_url, wait_until
from tests.silence_support import config, silence_and_inhibit
from tests.support import Receiver, Service

pytestmark = [needs_kafka, *kafka_warnings, pytest.mark.timeout(300)]


def test_a_silence_made_through_the_api_mutes_in_the_alert_service_and_a_district_red_inhibits(
        tmp_path: Path) -> None:
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
        silence_and_inhibit(svc.client, rx)
        cluster.check_alive()
    finally:
        svc.stop()
        cluster.stop()
        rx.close()
