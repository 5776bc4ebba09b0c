"""Smoke tests for the real services that scripts/services/*.sh start.

They only check that the services answer as the rest of the suite expects:

* FENGHUO_TEST_PG_DSN    -- a PostgreSQL DSN (scripts/services/postgres.sh start prints it)
* FENGHUO_TEST_KAFKA     -- a Kafka bootstrap address (scripts/services/kafka.sh start prints it)

Each test is skipped, with the reason, when its variable is not set.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest

PG_DSN = os.environ.get("FENGHUO_TEST_PG_DSN")
KAFKA_BOOTSTRAP = os.environ.get("FENGHUO_TEST_KAFKA")

needs_pg = pytest.mark.skipif(
    not PG_DSN,
    reason="FENGHUO_TEST_PG_DSN is not set; start PostgreSQL with "
    "scripts/services/postgres.sh start DIR PORT and export the DSN it prints",
)
needs_kafka = pytest.mark.skipif(
    not KAFKA_BOOTSTRAP,
    reason="FENGHUO_TEST_KAFKA is not set; start Kafka with "
    "scripts/services/kafka.sh start CACHE_DIR DATA_DIR PORT and export the bootstrap address it prints",
)


@needs_pg
def test_postgres_query_roundtrip():
    psycopg2 = pytest.importorskip("psycopg2")
    conn = psycopg2.connect(PG_DSN, connect_timeout=10)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT current_database(), 1 + 1")
            db, two = cur.fetchone()
            assert two == 2
            assert db  # scripts/services/postgres.sh gives "fenghuo"
            table = f"smoke_{uuid.uuid4().hex[:12]}"
            cur.execute(f"CREATE TEMP TABLE {table} (id int PRIMARY KEY, note text)")
            cur.execute(f"INSERT INTO {table} VALUES (%s, %s)", (1, "烽火"))
            cur.execute(f"SELECT note FROM {table} WHERE id = 1")
            assert cur.fetchone() == ("烽火",)
    finally:
        conn.close()


@needs_kafka
def test_kafka_produce_and_group_consume():
    kafka = pytest.importorskip("kafka")
    topic = f"fenghuo-smoke-{uuid.uuid4().hex[:12]}"
    group = f"fenghuo-smoke-group-{uuid.uuid4().hex[:8]}"
    payloads = [f"msg-{i}-{uuid.uuid4().hex}".encode() for i in range(5)]

    producer = kafka.KafkaProducer(bootstrap_servers=KAFKA_BOOTSTRAP, acks="all", retries=5)
    try:
        for i, p in enumerate(payloads):
            producer.send(topic, key=str(i).encode(), value=p).get(timeout=30)
        producer.flush(timeout=30)
    finally:
        producer.close()

    consumer = kafka.KafkaConsumer(
        topic,
        bootstrap_servers=KAFKA_BOOTSTRAP,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=30_000,
    )
    received: list[bytes] = []
    try:
        deadline = time.monotonic() + 60
        for msg in consumer:
            received.append(msg.value)
            if set(payloads) <= set(received) or time.monotonic() > deadline:
                break
        assert set(payloads) <= set(received), (
            f"group consumer {group!r} got {len(received)} of {len(payloads)} messages"
        )
        # The group really is a group: its member was assigned partitions and
        # can commit offsets to the group coordinator.
        assert consumer.assignment(), "group consumer has no partition assignment"
        consumer.commit()
        committed = sum(
            (consumer.committed(tp) or 0) for tp in consumer.assignment()
        )
        assert committed == len(payloads)
    finally:
        consumer.close()
