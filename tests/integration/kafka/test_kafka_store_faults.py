"""Faults behind the Kafka path, with real worker processes:

* PostgreSQL restarted while events stream in: the store writer retries the same batch until the
  database takes it, so every event Kafka accepted is stored (none lost, none twice).
* A notification receiver down for a while (here 20 s) with a webhook channel of many attempts:
  once it is back every notification is delivered, each with its idempotency key.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from fenghuo.core.grids import GridTree
from fenghuo.core.store import open_store
from fenghuo.ingest.events import make_resolver
from fenghuo.runtime.kafka.bus import Topics, create_topics
from fenghuo.runtime.kafka.ingest_worker import KafkaIngest
from tests.flood_support import RULE, config
from tests.integration.kafka.kafka_support import (
    KAFKA,
    PG_DSN,
    STORE_FLAVOURS,
    TSDB_DSN,
    Cluster,
    deploy,
    kafka_warnings,
    needs_kafka,
    store_url,
    wait_until,
)
from tests.support import ROOT, Receiver

pytestmark = [needs_kafka, *kafka_warnings, pytest.mark.timeout(300)]
PG_DATA = os.environ.get("FENGHUO_TEST_PG_DATA")  # the postgres.sh DIR of FENGHUO_TEST_PG_DSN
TSDB_DATA = os.environ.get("FENGHUO_TEST_TSDB_DATA")  # the postgres.sh DIR of FENGHUO_TEST_TSDB_DSN


@pytest.mark.skipif(not (PG_DSN and PG_DATA), reason="FENGHUO_TEST_PG_DSN and FENGHUO_TEST_PG_DATA (the "
                    "postgres.sh DIR of that server) are needed to restart PostgreSQL")
@pytest.mark.parametrize("flavour", STORE_FLAVOURS)  # plain PostgreSQL and TimescaleDB (restarted preloaded)
def test_postgres_restart_during_ingest_loses_no_accepted_event(
        tmp_path: Path, readings: list[dict[str, Any]], flavour: str) -> None:
    assert KAFKA and PG_DSN and PG_DATA
    url = store_url(tmp_path, flavour)
    data, server = (TSDB_DATA, TSDB_DSN) if flavour == "timescaledb" else (PG_DATA, PG_DSN)
    assert data and server, "FENGHUO_TEST_TSDB_DATA (the postgres.sh DIR of FENGHUO_TEST_TSDB_DSN) is needed"
    env = {**os.environ, "PG_PRELOAD": "timescaledb" if flavour == "timescaledb" else ""}
    cluster = Cluster(tmp_path / "kafka", config("http://127.0.0.1:9"), url, partitions=2)
    topics = Topics(cluster.prefix)
    create_topics(KAFKA, 2, topics)
    ingest = KafkaIngest(KAFKA, make_resolver(GridTree([])), topics)
    rows = [{**r, "grid": "G-AGLY"} for r in readings[:4000]]
    script = str(ROOT / "scripts" / "services" / "postgres.sh")
    port = server.rsplit(":", 1)[1].split("/", 1)[0]
    try:
        cluster.start("store-writer", "store-writer")
        # the writer is up (store open, consuming) before the database goes: the outage hits it mid-stream
        log = cluster.tmp / "store-writer.log"
        wait_until(lambda: "store writer consuming" in log.read_text(errors="replace"), 60, "the store writer up",
                   cluster)

        def send() -> None:
            for i in range(0, len(rows), 100):
                ingest.ingest(rows[i: i + 100])
                time.sleep(0.02)

        sending = threading.Thread(target=send)
        sending.start()
        time.sleep(0.5)
        subprocess.run([script, "stop", data], check=True, capture_output=True, timeout=60)
        time.sleep(3)  # the writer fails and retries meanwhile
        subprocess.run([script, "start", data, port], check=True, capture_output=True, timeout=60, env=env)
        sending.join(60)
        store = open_store(url, tmp_path / "data")
        try:
            wait_until(lambda: store.event_count() == len(rows), 60, "every accepted event stored", cluster)
            time.sleep(1)
            assert store.event_count() == len(rows)  # and none twice
        finally:
            store.close()
        assert "retrying" in cluster.log("store-writer")  # the outage was seen, not dodged
    finally:
        cluster.stop()
        ingest.close()


def test_notifications_reach_a_receiver_that_was_down(tmp_path: Path, readings: list[dict[str, Any]]) -> None:
    assert KAFKA
    rx = Receiver()
    cfg = config(rx.url)
    for ch in cfg["channels"]:
        ch["max_attempts"] = 30  # backoff between attempts: the receiver is back well within them
    kinds = ("grid", "community", "street", "district")
    rx.fail_paths = {f"/{k}" for k in kinds}  # down: 503 for every notification
    cluster, _, store, ingest = deploy(tmp_path, cfg, 2, RULE)
    try:
        cluster.detector("detectors-1")
        cluster.start("alerts", "alerts")
        cluster.start("store-writer", "store-writer")
        peak = max(range(len(readings)), key=lambda i: readings[i]["value"])
        for i in range(0, peak + 4, 500):
            ingest.ingest(readings[i: min(i + 500, peak + 4)])
        wait_until(lambda: store.pending_notification_count() >= 3, 60, "notifications in the outbox", cluster)
        time.sleep(20)  # the receiver stays down; deliveries fail and are retried
        assert rx.requests == []
        pending = store.pending_notification_count()
        assert pending >= 3
        rx.fail_paths = set()  # back
        wait_until(lambda: store.pending_notification_count() == 0, 120, "every notification delivered", cluster)
        got = rx.requests
        assert len(got) >= pending
        keys = [g["headers"].get("Idempotency-Key") or g["headers"].get("idempotency-key") for g in got]
        assert all(keys), got[0]["headers"]
        assert len(set(keys)) >= pending  # each notification once at least, told apart by its key
        for a in store.all_alerts():
            assert not [n for n in store.notifications_for(a.id) if n.status != "delivered"]
    finally:
        cluster.stop()
        ingest.close()
        store.close()
        rx.close()
