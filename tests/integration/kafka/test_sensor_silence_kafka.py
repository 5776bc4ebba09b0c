"""A gauge that stops reporting, over Kafka on the wall clock: the detector worker's tick notices it with no
further event and the alert service opens a ``sensor-silent`` alert; the gauge's next reading clears it. The
second test SIGKILLs the detector worker once the readings stop and it has committed them all: its replacement,
with no event to process again, reads the grid's state from the table's changelog, rebuilds its due times, learns
from the consumer alone that its partitions are caught up and raises the alert all the same.

The gauge reports every second; ``detectors.health`` calls it silent after 3 intervals (at least 2 s)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from fenghuo.core.levels import Level
from fenghuo.core.models import Alert
from tests.flood_support import RULE
from tests.integration.kafka.kafka_support import (
    KAFKA,
    deploy,
    detectors_ready,
    kafka_warnings,
    needs_kafka,
    wait_until,
)

pytestmark = [needs_kafka, *kafka_warnings, pytest.mark.timeout(300)]

CONFIG: dict[str, Any] = {
    "nodes": [{"id": "D-1", "name": "区", "kind": "district"},
              {"id": "G-1", "name": "网格", "kind": "grid", "parent": "D-1", "centroid": [2.9, 42.7]}],
    "detectors": {"health": {"silent_after": 3, "silent_min_s": 2, "min_readings": 4}},
}


def reading(i: int) -> dict[str, Any]:
    return {"feed": "sensor", "source": "gauge-1", "ts": time.time(), "grid": "G-1", "metric": "flow_m3s",
            "value": 10.0 + i % 3, "id": f"r{i}"}


def silent(store: Any) -> list[Alert]:
    return [a for a in store.all_alerts() if a.rule == "sensor-silent"]


def committed_to_the_end(cluster: Any) -> bool:
    """The detector workers' group has committed every event partition up to its end (an empty one too), so
    a worker that takes over has no event to process again."""
    from kafka import TopicPartition
    from kafka.admin import KafkaAdminClient, OffsetSpec

    from fenghuo.runtime.kafka.bus import Topics

    group = cluster.prefix + "-detectors"
    tps = [TopicPartition(t, p) for t in Topics(cluster.prefix).events for p in range(cluster.partitions)]
    admin = KafkaAdminClient(bootstrap_servers=KAFKA, client_id="fenghuo-test")
    try:
        committed = {tp: m.offset for tp, m in admin.list_group_offsets({group: tps})[group].items()}
        ends = {tp: o.offset for tp, o in admin.list_partition_offsets(dict.fromkeys(tps, OffsetSpec.LATEST)).items()}
    finally:
        admin.close()
    return all(end == 0 or committed.get(tp, -1) >= end for tp, end in ends.items())


def report(ingest: Any, first: int, n: int) -> float:
    """``n`` readings a second apart; the receipt time of the last."""
    for i in range(first, first + n):
        ingest.ingest([reading(i)])
        if i < first + n - 1:
            time.sleep(1.0)  # the gauge's own pace, not a wait for the system
    return time.time()


def test_a_silent_gauge_is_noticed_on_the_clock_and_cleared_when_it_reports(tmp_path: Path) -> None:
    assert KAFKA
    cluster, _, store, ingest = deploy(tmp_path, CONFIG, 2, RULE)
    cluster.env["FENGHUO_CLOCK"] = "wall"
    try:
        cluster.detector("detectors-1")
        cluster.start("alerts", "alerts")
        wait_until(lambda: detectors_ready(cluster, 1), 120, "the detector worker in its group", cluster)
        last = report(ingest, 0, 8)
        alerts = wait_until(lambda: silent(store), 60, "the sensor-silent alert", cluster)
        assert len(alerts) == 1
        a = alerts[0]
        assert (a.grid, a.level, a.status, a.cleared) == ("G-1", Level.YELLOW, "open", False)
        assert a.series == "gauge-1/flow_m3s" and a.created_at >= last + 2.0  # raised by time alone
        assert store.all_alerts() == alerts  # nothing else raised

        report(ingest, 8, 1)  # the gauge is back
        wait_until(lambda: all(x.cleared for x in silent(store)), 60, "the silent alert cleared", cluster)
        assert [x.id for x in silent(store)] == [a.id]  # cleared, not raised again
    finally:
        cluster.stop()
        ingest.close()
        store.close()


def test_a_replacement_worker_notices_a_gauge_that_went_silent_while_its_predecessor_died(tmp_path: Path) -> None:
    assert KAFKA
    cluster, _, store, ingest = deploy(tmp_path, CONFIG, 2, RULE)
    cluster.env["FENGHUO_CLOCK"] = "wall"
    try:
        cluster.detector("victim")
        cluster.start("alerts", "alerts")
        wait_until(lambda: detectors_ready(cluster, 1), 120, "the detector worker in its group", cluster)
        last = report(ingest, 0, 8)
        # the victim has committed every reading: its replacement processes no event again and must learn
        # from the consumer alone that its partitions are caught up
        wait_until(lambda: committed_to_the_end(cluster), 60, "the victim's offsets committed", cluster)
        cluster.kill("victim")  # SIGKILL: no more readings, no more worker
        cluster.detector("replacement")
        alerts = wait_until(lambda: silent(store), 120, "the sensor-silent alert", cluster)
        assert len(alerts) == 1 and alerts[0].created_at >= last + 2.0
        assert alerts[0].level == Level.YELLOW and not alerts[0].cleared
        report(ingest, 8, 1)
        wait_until(lambda: all(x.cleared for x in silent(store)), 60, "the silent alert cleared", cluster)
        assert len(silent(store)) == 1
    finally:
        cluster.stop()
        ingest.close()
        store.close()


def test_a_source_that_stops_sending_to_the_api_raises_a_system_alert(tmp_path: Path) -> None:
    """``fenghuo run`` in Kafka mode watches what its HTTP ingest accepts: a source (and its feed) that stops
    sending raises ``source-silent`` / ``feed-silent`` system alerts through the alert service, on the system
    node; they clear when it sends again."""
    import json

    from fenghuo.core.store import open_store
    from fenghuo.runtime.kafka.bus import Topics, create_topics
    from tests.integration.kafka.kafka_support import Cluster, store_url
    from tests.support import Service

    assert KAFKA
    cfg = {**CONFIG, "detectors": {"health": {"feed_silent_after": 3, "feed_silent_min_s": 2,
                                              "feed_min_receipts": 3}}}
    url = store_url(tmp_path)
    cluster = Cluster(tmp_path / "kafka", cfg, url, partitions=2, env={"FENGHUO_CLOCK": "wall"})
    create_topics(KAFKA, 2, Topics(cluster.prefix))
    env = {k: cluster.env[k] for k in ("FENGHUO_TOPIC_PREFIX", "FENGHUO_KAFKA_BOOTSTRAP", "FENGHUO_STORE_URL",
                                       "FENGHUO_CLOCK")}
    svc = Service(tmp_path / "api", cfg, env={**env, "FENGHUO_BUS": "kafka"})
    store = open_store(url, tmp_path / "kafka" / "data")
    try:
        svc.start()
        cluster.start("alerts", "alerts")  # no detector worker: only the API's feed watch can raise
        admin = svc.client("admin")

        def send(i: int) -> None:
            r = admin.post("/v1/events", content=json.dumps(reading(i)))
            assert r.status_code == 200 and r.json()["accepted"] == 1, r.text

        for i in range(6):
            send(i)
            time.sleep(1.0)  # the source's own pace
        last = time.time()

        def system() -> list[Alert]:
            return [a for a in store.all_alerts() if a.risk == "system"]

        raised = wait_until(lambda: len(system()) == 2 and system(), 60, "the source and feed alerts", cluster)
        assert sorted((a.rule, a.grid, a.series) for a in raised) == [("feed-silent", "D-1", "feed:sensor"),
                                                                      ("source-silent", "D-1", "source:gauge-1")]
        assert all(a.level == Level.ORANGE and a.created_at >= last for a in raised)
        send(6)
        wait_until(lambda: all(a.cleared for a in system()), 60, "the system alerts cleared", cluster)
        assert len(system()) == 2
    finally:
        cluster.stop()
        svc.stop()
        store.close()
