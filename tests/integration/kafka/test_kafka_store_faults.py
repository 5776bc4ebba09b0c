"""Faults behind the Kafka path, with real worker processes:

* PostgreSQL restarted while events stream in: the store writer retries the same batch until the
  database takes it, so every event Kafka accepted is stored (none lost, none twice).
* A notification receiver down for a while (here 20 s) with a webhook channel of many attempts:
  once it is back every notification is delivered, each with its idempotency key.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
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
    wait_until,
)
from tests.support import ROOT, Receiver, free_port

pytestmark = [needs_kafka, *kafka_warnings, pytest.mark.timeout(300)]
POSTGRES_SH = str(ROOT / "scripts" / "services" / "postgres.sh")


@pytest.fixture
def own_server(flavour: str) -> Iterator[tuple[str, str, str, dict[str, str]]]:
    """A PostgreSQL server of this test's own (TimescaleDB preloaded for that flavour): the test stops and starts it,
    which would break the other tests' databases on the shared servers (make test runs two pytest processes).
    (DSN, data folder, port, the environment that starts it again.)"""
    env = {**os.environ, "PG_PRELOAD": "timescaledb" if flavour == "timescaledb" else ""}
    folder = tempfile.mkdtemp(prefix="fenghuo-test-pg.")  # the postgres user must reach it (pytest's are 0700)
    os.chmod(folder, 0o755)
    data, port = f"{folder}/pg", str(free_port())
    started = subprocess.run([POSTGRES_SH, "start", data, port], capture_output=True, text=True, timeout=120, env=env)
    if started.returncode != 0:
        pytest.fail(f"postgres.sh could not start a server of the test's own: {started.stderr[-1000:]}")
    try:
        yield started.stdout.strip().splitlines()[-1], data, port, env
    finally:
        subprocess.run([POSTGRES_SH, "stop", data], capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(not PG_DSN, reason="FENGHUO_TEST_PG_DSN is not set: PostgreSQL 15 is not started (make test)")
@pytest.mark.parametrize("flavour", STORE_FLAVOURS)  # plain PostgreSQL and TimescaleDB (restarted preloaded)
def test_postgres_restart_during_ingest_loses_no_accepted_event(
        tmp_path: Path, readings: list[dict[str, Any]], flavour: str,
        own_server: tuple[str, str, str, dict[str, str]]) -> None:
    assert KAFKA
    if flavour == "timescaledb" and not TSDB_DSN:
        pytest.fail("the timescaledb flavour needs TimescaleDB installed (make test builds it)")
    url, data, port, env = own_server
    cluster = Cluster(tmp_path / "kafka", config("http://127.0.0.1:9"), url, partitions=2)
    topics = Topics(cluster.prefix)
    create_topics(KAFKA, 2, topics)
    ingest = KafkaIngest(KAFKA, make_resolver(GridTree([])), topics)
    rows = [{**r, "grid": "G-AGLY"} for r in readings[:4000]]
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
        subprocess.run([POSTGRES_SH, "stop", data], check=True, capture_output=True, timeout=60)
        time.sleep(3)  # the writer fails and retries meanwhile
        subprocess.run([POSTGRES_SH, "start", data, port], check=True, capture_output=True, timeout=60, env=env)
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
