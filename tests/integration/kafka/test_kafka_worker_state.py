"""The batched detector worker's state and failures on the real broker.

A grid state larger than one default Kafka record (1 MiB) is written to the changelog and restored by a
replacement worker; one beyond ``FENGHUO_KAFKA_STATE_MAX_BYTES`` is refused with an error naming the grid, and the
worker goes on (a changelog record over the producer's limit used to cancel the agent: the worker exited 1).

The state is made large the way a real one grows, through what the worker keeps per grid: the rule's state of each
gauge of the grid (here, 1,024 gauges with names of 1,500 characters, one reading each, produced straight onto the
event topic) weighs about 1.5 MiB. (The 1,024 most recent event ids are kept as 8-byte digests: long ids do not
grow it.)

A batch the worker cannot process (a rule mark of a later release) stops the worker with exit code 1 for its
supervisor, as a crashed agent did, rather than leaving it running without a fetcher.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fenghuo.core.models import Event
from fenghuo.runtime.kafka.bus import Topics, event_to_wire
from fenghuo.runtime.kafka.grid_runner import MAX_IDS, GridState, id_key
from tests.flood_support import RULE, config
from tests.integration.kafka.kafka_support import KAFKA, deploy, kafka_warnings, needs_kafka, wait_until
from tests.support import Receiver

pytestmark = [needs_kafka, *kafka_warnings, pytest.mark.timeout(300)]
GRID = "G-AGLY"
ID_CHARS = 1500


def gauge(i: int) -> str:
    return f"{i:08d}".ljust(ID_CHARS, "x")


def seen(i: int) -> bytes:
    """How the state keeps the id of reading ``i`` (a digest of its source and id)."""
    return id_key(gauge(i), f"r{i}")


def readings(first: int, n: int) -> list[bytes]:
    """One reading of each of ``n`` gauges of the grid (long names) from ``first`` on, below the rule's levels."""
    return [event_to_wire(Event(feed="sensor", source=gauge(i), ts=1.6e9 + 600 * i, grid=GRID, id=f"r{i}",
                                metric="water_level_m", value=0.5), rx=1.6e9)
            for i in range(first, first + n)]


def committed(group: str, topic: str) -> int:
    """The sum of the group's committed offsets on ``topic`` (the events it has processed and persisted)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=KAFKA, group_id=group, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        return sum(consumer.committed(tp) or 0 for tp in parts)
    finally:
        consumer.close()


def produce(topic: str, values: list[bytes]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=KAFKA, acks="all", max_request_size=8 * 1024 * 1024)
    try:
        for v in values:
            producer.send(topic, key=GRID.encode(), value=v)
        producer.flush(60)
    finally:
        producer.close()


def latest_state(changelog: str) -> GridState | None:
    """The grid's last state record in the changelog topic (read from the beginning), decoded; None if none yet."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=KAFKA, group_id=None, enable_auto_commit=False)
    try:
        parts = [TopicPartition(changelog, p) for p in sorted(consumer.partitions_for_topic(changelog) or [])]
        if not parts:
            return None
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        last: bytes | None = None
        deadline = time.monotonic() + 30
        while any(consumer.position(tp) < end[tp] for tp in parts) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                for r in batch:
                    if r.key == GRID.encode():
                        last = r.value
        return GridState.loads(last) if last else None
    finally:
        consumer.close()


def test_a_state_over_one_mebibyte_is_persisted_and_restored_and_one_over_the_bound_is_refused(
        tmp_path: Path) -> None:
    rx = Receiver()
    try:
        cluster, _, store, ingest = deploy(tmp_path, config(rx.url), 2, RULE)
        ingest.close()
        topics = Topics(cluster.prefix)
        changelog = f"{topics.group('detectors')}-grid-state-changelog"
        try:
            produce(topics.event("sensor"), readings(0, MAX_IDS))
            cluster.detector("first")
            state = wait_until(lambda: (s := latest_state(changelog)) is not None and len(s.ids) == MAX_IDS and s,
                               120, "the grid's state of 1,024 gauges in the changelog", cluster)
            assert len(state.dumps()) > 1024 * 1024  # over a default Kafka record: this used to stop the worker
            cluster.kill("first")  # SIGKILL: the replacement has only the changelog

            produce(topics.event("sensor"), readings(MAX_IDS, 1))
            cluster.detector("replacement")

            def restored() -> GridState | None:
                s = latest_state(changelog)
                return s if s is not None and seen(MAX_IDS) in s.ids else None

            after = wait_until(restored, 120, "the replacement's state with the new reading", cluster)
            # restored, not started afresh: the ids before the kill are still there, the oldest one let go
            assert len(after.ids) == MAX_IDS
            assert seen(1) in after.ids and seen(0) not in after.ids
            assert sum(after.offsets.values()) == MAX_IDS  # the last reading's offset: each applied once
            cluster.kill("replacement")

            # a bound below the state: the record is refused with an error naming the grid, the worker goes on
            bounded = cluster.env.copy()
            cluster.env["FENGHUO_KAFKA_STATE_MAX_BYTES"] = str(1024 * 1024)
            try:
                produce(topics.event("sensor"), readings(MAX_IDS + 1, 1))
                cluster.detector("bounded")
                wait_until(lambda: "exceeds FENGHUO_KAFKA_STATE_MAX_BYTES" in cluster.log("bounded"), 120,
                           "the refusal in the bounded worker's log", cluster)
                line = next(r for r in cluster.log("bounded").splitlines() if "exceeds FENGHUO_KAFKA" in r)
                assert f"grid {GRID}:" in line
                # it goes on: the batch's offset is committed (after the refusal), the worker still runs
                wait_until(lambda: committed(topics.group("detectors"), topics.event("sensor")) == MAX_IDS + 2, 60,
                           "the bounded worker's commit", cluster)
                cluster.check_alive()
                latest = latest_state(changelog)
                assert latest is not None and seen(MAX_IDS + 1) not in latest.ids  # the changelog kept the last fit
            finally:
                cluster.env = bounded
        finally:
            cluster.stop()
            store.close()
    finally:
        rx.close()


def test_a_batch_the_worker_cannot_process_stops_it(tmp_path: Path) -> None:
    rx = Receiver()
    try:
        cluster, _, store, ingest = deploy(tmp_path, config(rx.url), 2, RULE)
        ingest.close()
        try:
            produce(Topics(cluster.prefix).event("sensor"), [b'{"control":"rules","ts":1.0}'])  # no versions
            worker = cluster.detector("worker")
            wait_until(lambda: worker.poll() is not None, 120, "the worker to stop")
            assert worker.returncode == 1
            assert "a rule mark without versions" in (cluster.tmp / "worker.log").read_text(errors="replace")
        finally:
            cluster.procs.pop("worker", None)
            cluster.stop()
            store.close()
    finally:
        rx.close()
