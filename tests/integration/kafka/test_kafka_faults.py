"""Faults on the Kafka path, with a real broker and real worker processes.

* A detector worker SIGKILLed in the middle of a replay, a new one started: the alert story is
  the embedded run's exactly (every event processed, none twice, no alert duplicated).
* The broker stopped and started again: ingest raises BusUnavailable while it is down (the API
  answers 503), works again after, and every event it accepted is in Kafka.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from fenghuo.core.grids import GridTree
from fenghuo.core.models import Alert
from fenghuo.ingest.events import make_resolver
from fenghuo.runtime.kafka.bus import Topics, create_topics, event_from_wire
from fenghuo.runtime.kafka.ingest_worker import KafkaIngest
from fenghuo.runtime.service import BusUnavailable
from tests.flood_support import RULE, config
from tests.integration.kafka.kafka_support import (
    KAFKA,
    deploy,
    embedded_flood,
    kafka_warnings,
    needs_kafka,
    story,
    wait_until,
)
from tests.support import ROOT, Receiver, free_port

pytestmark = [needs_kafka, *kafka_warnings, pytest.mark.timeout(600)]


STATION_B = "hubeau:Y067406001"  # a second river gauge of the same storm, in a second grid
GRID_B = "G-2"  # murmur2 puts G-AGLY on partition 1 of 2 and G-2 on partition 0: two workers share the work


def two_grid_config(receiver_url: str) -> dict[str, Any]:
    cfg = config(receiver_url)
    cfg["nodes"].append({"id": GRID_B, "name": "grid-2", "kind": "grid", "parent": "C-AGLY",
                         "centroid": [42.773, 2.902]})
    return cfg


def two_grid_rows(readings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Both gauges in event-time order: L'Agly in G-AGLY, the second (its levels doubled, so the same
    thresholds see a flood) in G-2 (also the compose test's replay, tests/compose)."""
    from fenghuo.ingest.adapters import read_records
    from tests.flood_support import HUBEAU

    other = [{**r, "grid": GRID_B, "value": 2 * r["value"]} for r in read_records(HUBEAU, fmt="hubeau")
             if r["source"] == STATION_B]
    rows = [{**r, "grid": "G-AGLY"} for r in readings] + other
    rows.sort(key=lambda r: (r["ts"], r["source"]))
    return rows


@pytest.fixture
def two_grids(readings: list[dict[str, Any]], shared_data: Path) -> list[dict[str, Any]]:
    return two_grid_rows(readings)


def by_grid(alerts: list[Alert]) -> list[tuple[str, list[Any]]]:
    return sorted((a.grid, story(a)) for a in alerts)


def test_detector_killed_mid_replay_is_replaced_without_loss_or_duplicates(
        tmp_path: Path, two_grids: list[dict[str, Any]]) -> None:
    assert KAFKA
    rows = two_grids
    emb_rx, kafka_rx = Receiver(), Receiver()
    try:
        embedded = embedded_flood(tmp_path / "embedded", two_grid_config(emb_rx.url), rows, emb_rx)
        assert sorted(a.grid for a in embedded) == [GRID_B, "G-AGLY"]
        cfg = two_grid_config(kafka_rx.url)
        cluster, _, store, ingest = deploy(tmp_path, cfg, 2, RULE)
        try:
            cluster.detector("victim")
            cluster.detector("survivor")
            cluster.start("alerts", "alerts")
            cluster.start("store-writer", "store-writer")
            third = next(i for i, r in enumerate(rows) if r["value"] >= 7.5) + 50  # the flood has begun
            for i in range(0, third, 250):
                ingest.ingest(rows[i: min(i + 250, third)])
            wait_until(lambda: store.all_alerts(), 60, "the first alert", cluster)

            def send_rest() -> None:
                for i in range(third, len(rows), 50):
                    ingest.ingest(rows[i: i + 50])
                    time.sleep(0.01)

            sending = threading.Thread(target=send_rest)
            sending.start()
            time.sleep(1.0)
            cluster.kill("victim")  # SIGKILL while events are flowing to both workers
            cluster.detector("replacement")
            sending.join(60)
            wait_until(lambda: store.event_count() == len(rows), 150, "every event stored", cluster)

            def same() -> list[Alert] | None:
                alerts = store.all_alerts()
                return alerts if by_grid(alerts) == by_grid(embedded) else None

            try:
                wait_until(same, 150, "the embedded alert story", cluster)
            except AssertionError:
                got = by_grid(store.all_alerts())
                print(*(f"kafka {g}: {x}" for g, st in got for x in st), sep="\n")
                print(*(f"embedded {g}: {x}" for g, st in by_grid(embedded) for x in st), sep="\n")
                assert got == by_grid(embedded)
                raise
            fingerprints = [a.fingerprint for a in store.all_alerts()]
            assert len(fingerprints) == len(set(fingerprints)) == 2
        finally:
            cluster.stop()
            ingest.close()
            store.close()
    finally:
        emb_rx.close()
        kafka_rx.close()


KAFKA_CACHE = os.environ.get("FENGHUO_TEST_KAFKA_CACHE")


def two_free_ports() -> int:
    """A port whose next one is free too (kafka.sh puts the broker's controller on port + 1)."""
    for _ in range(50):
        port = free_port()
        if port < 65535:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return port
    raise RuntimeError("no two free ports in a row")


@pytest.mark.skipif(not KAFKA_CACHE, reason="FENGHUO_TEST_KAFKA_CACHE (the kafka.sh CACHE_DIR) is needed to run a "
                                            "broker of the test's own, stopped and started")
def test_broker_outage_is_reported_and_nothing_accepted_is_lost(readings: list[dict[str, Any]],
                                                                tmp_path: Path) -> None:
    assert KAFKA_CACHE
    # a broker of its own: the shared one, restarted, reloads every other test's topics first (a minute and more)
    script = str(ROOT / "scripts" / "services" / "kafka.sh")
    port, data = str(two_free_ports()), str(tmp_path / "kafka")
    started = subprocess.run([script, "start", KAFKA_CACHE, data, port], capture_output=True, text=True,
                             timeout=180)
    assert started.returncode == 0, started.stderr
    try:
        outage(readings, script, data, port)
    finally:
        subprocess.run([script, "stop", data], capture_output=True, timeout=60)


def outage(readings: list[dict[str, Any]], script: str, data: str, port: str) -> None:
    from kafka import KafkaConsumer

    assert KAFKA_CACHE
    bootstrap = f"127.0.0.1:{port}"
    topics = Topics(f"t{uuid.uuid4().hex[:10]}")
    create_topics(bootstrap, 2, topics)
    ingest = KafkaIngest(bootstrap, make_resolver(GridTree([])), topics, timeout_s=3.0)
    rows = [{**r, "grid": "G-AGLY"} for r in readings[:3000]]
    accepted: list[str] = []

    def send(batch: list[dict[str, Any]]) -> bool:
        try:
            ingest.ingest(batch)
        except BusUnavailable:
            return False
        accepted.extend(ingest.parse(batch)[0][i].id for i in range(len(batch)))
        return True

    try:
        assert send(rows[:1000])
        subprocess.run([script, "stop", data], check=True, capture_output=True, timeout=60)
        down = [send(rows[1000 + i * 100: 1100 + i * 100]) for i in range(3)]
        assert down == [False, False, False]  # the outage is reported, never a silent success
        subprocess.run([script, "start", KAFKA_CACHE, data, port], check=True, capture_output=True, timeout=180)
        deadline = time.monotonic() + 60
        while not send(rows[1000:2000]):
            assert time.monotonic() < deadline, "ingest did not recover after the broker came back"
            time.sleep(1)
        assert send(rows[2000:3000])
    finally:
        ingest.close()
    consumer = KafkaConsumer(topics.event("sensor"), bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=5000, group_id=None)
    try:
        got = {event_from_wire(m.value)[0].id for m in consumer}
    finally:
        consumer.close()
    assert set(accepted) <= got and len(set(accepted)) == 3000
