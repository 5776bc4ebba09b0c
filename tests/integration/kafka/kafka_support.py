"""Real parts for the Kafka tests: the workers as subprocesses on a unique topic prefix, a store URL
(PostgreSQL when FENGHUO_TEST_PG_DSN is set and the PostgreSQL store exists, else SQLite), a reader of the
by-district topic; and what the runs over Kafka are compared with (alert stories, the embedded flood run)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from fenghuo.core.models import Alert
from tests.flood_support import RULE
from tests.support import ROOT, Receiver

KAFKA = os.environ.get("FENGHUO_TEST_KAFKA")
PG_DSN = os.environ.get("FENGHUO_TEST_PG_DSN")
TSDB_DSN = os.environ.get("FENGHUO_TEST_TSDB_DSN")  # a PostgreSQL with TimescaleDB preloaded (scripts/test.sh)
# the store flavours of the runs that exercise the store: "postgres" (plain PostgreSQL, SQLite without
# FENGHUO_TEST_PG_DSN) and "timescaledb" (skipped without its server, failed when make test could not have it)
STORE_FLAVOURS = ["postgres", pytest.param("timescaledb", marks=pytest.mark.skipif(
    not TSDB_DSN and not os.environ.get("FENGHUO_TEST_TSDB_ERROR"), reason="FENGHUO_TEST_TSDB_DSN is not set"))]

needs_kafka = pytest.mark.skipif(
    not KAFKA,
    reason="FENGHUO_TEST_KAFKA is not set; start Kafka with scripts/services/kafka.sh start CACHE_DIR DATA_DIR "
    "PORT and export the bootstrap address it prints",
)
# kafka-python 3 reads its protocol schemas with importlib.resources' legacy API (warned from importlib)
kafka_warnings = [pytest.mark.filterwarnings(r"ignore:(open|read)_text is deprecated:DeprecationWarning")]


def store_url(tmp: Path, flavour: str = "postgres") -> str:
    """A fresh PostgreSQL database when the PostgreSQL store is available, else SQLite in ``tmp``; with
    ``flavour="timescaledb"`` a fresh database on the TimescaleDB server."""
    from tests.contracts.store_support import server_dsn

    dsn = server_dsn("timescaledb") if flavour == "timescaledb" else PG_DSN
    if dsn:
        try:
            import fenghuo.core.store.postgres  # type: ignore[import-not-found]  # noqa: F401
        except ImportError:
            pass
        else:
            import psycopg2

            name = f"fenghuo_t{uuid.uuid4().hex[:10]}"
            conn = psycopg2.connect(dsn)
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE {name}")
            conn.close()
            return dsn.rsplit("/", 1)[0] + "/" + name
    return f"sqlite:///{tmp / 'fenghuo.db'}"


class Cluster:
    """The workers of one test run: detectors (any number), alerts, store writer, as subprocesses."""

    def __init__(self, tmp: Path, config: dict[str, Any], url: str, partitions: int = 4,
                 env: dict[str, str] | None = None) -> None:
        assert KAFKA
        self.tmp, self.url, self.partitions = tmp, url, partitions
        self.prefix = f"t{uuid.uuid4().hex[:10]}"
        self.config_path = tmp / "config.yaml"
        tmp.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        self.env = {**os.environ, "FENGHUO_TOPIC_PREFIX": self.prefix, "FENGHUO_KAFKA_BOOTSTRAP": KAFKA,
                    "FENGHUO_STORE_URL": url, "FENGHUO_DATA_DIR": str(tmp / "data"),
                    "FENGHUO_CONFIG": str(self.config_path), "FENGHUO_TICK_SECONDS": "0.1",
                    "FENGHUO_CLOCK": "event", "PYTHONUNBUFFERED": "1", **(env or {})}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([sys.executable, "-m", "fenghuo.cli.distributed", "worker", *args],
                                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs[name] = proc
        return proc

    def detector(self, name: str) -> subprocess.Popen[bytes]:
        return self.start(name, "detectors", "--partitions", str(self.partitions), "--worker-id", name,
                          "--within", "0.05")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")[-4000:]

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited {proc.returncode}:\n{self.log(name)}")

    def stop(self) -> None:
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM)


def deploy(tmp: Path, config: dict[str, Any], partitions: int, rule: dict[str, Any], flavour: str = "postgres"
           ) -> tuple[Cluster, list[str], Any, Any]:
    """A test run's topics, store (with ``rule`` as river-level; ``flavour`` as in :func:`store_url`) and ingest
    producer: the cluster (no worker started yet), the topics create_topics made, the store, and a KafkaIngest
    resolving grids."""
    from fenghuo.core.config import Config
    from fenghuo.core.grids import GridTree
    from fenghuo.core.rulebook import RuleBook
    from fenghuo.core.store import open_store
    from fenghuo.ingest.events import make_resolver
    from fenghuo.runtime.kafka.bus import Topics, create_topics
    from fenghuo.runtime.kafka.ingest_worker import KafkaIngest

    assert KAFKA
    url = store_url(tmp, flavour)
    cluster = Cluster(tmp / "kafka", config, url, partitions=partitions)
    topics = Topics(cluster.prefix)
    created = list(create_topics(KAFKA, partitions, topics))
    store = open_store(url, tmp / "kafka" / "data")
    tree = GridTree(Config.model_validate(config).nodes)
    RuleBook(store, tree).put("river-level", rule, "analyst", 1.6e9)
    return cluster, created, store, KafkaIngest(KAFKA, make_resolver(tree), topics)


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, cluster: Cluster | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        if cluster is not None:
            cluster.check_alive()
        time.sleep(0.2)
    logs = "" if cluster is None else "\n".join(f"--- {n}\n{cluster.log(n)}" for n in cluster.procs)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def deliveries_caught_up(store: Any, kafka_rx: Any, embedded_rx: Any, cluster: Cluster) -> None:
    """Wait until the Kafka runtime's outbox is empty and its receiver got at least what the embedded one did."""
    wait_until(lambda: store.pending_notification_count() == 0
               and len(kafka_rx.requests) >= len(embedded_rx.requests), 60, "the deliveries", cluster)


def detectors_ready(cluster: Cluster, members: int) -> bool:
    """The detector workers' group is stable with every worker in it (so no worker takes a backlog alone)."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=KAFKA, client_id="fenghuo-test")
    try:
        group = cluster.prefix + "-detectors"
        info = admin.describe_groups([group])[group]
    finally:
        admin.close()
    state = info.get("group_state") or info.get("state")
    return state == "Stable" and len(info.get("members") or []) == members


def start_stages(cluster: Cluster) -> None:
    """Two detector workers (grid and district stages), the alert service and the store writer; back once both
    detector workers are in a stable group."""
    cluster.detector("detectors-1")
    cluster.detector("detectors-2")
    cluster.start("alerts", "alerts")
    cluster.start("store-writer", "store-writer")
    wait_until(lambda: detectors_ready(cluster, 2), 120, "both detector workers in the group", cluster)


class Forwarded:
    """Reads the by-district topic (no group) to tell when the grid stage has forwarded a complaint."""

    def __init__(self, topic: str) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self.consumer = KafkaConsumer(bootstrap_servers=KAFKA, group_id=None, auto_offset_reset="earliest",
                                      enable_auto_commit=False)
        parts = wait_until(lambda: self.consumer.partitions_for_topic(topic), 30, f"the partitions of {topic}")
        self.consumer.assign([TopicPartition(topic, p) for p in sorted(parts)])
        self.ids: list[str] = []

    def wait_for(self, event_id: str, timeout: float = 30.0) -> None:
        from fenghuo.runtime.kafka.district_runner import forwarded_from_wire

        deadline = time.monotonic() + timeout
        while event_id not in self.ids:
            assert time.monotonic() < deadline, f"{event_id} was not forwarded to the district stage"
            for records in self.consumer.poll(timeout_ms=100).values():
                self.ids += [e.id for r in records for e, _, _ in forwarded_from_wire(r.value)]

    def close(self) -> None:
        self.consumer.close()


# ---- the runs compared -------------------------------------------------------------------------------
DELIVERY = ("notified", "notify_failed", "notify_retrying")


def story(a: Alert) -> list[tuple[str, str | None, float, str | None]]:
    """The alert's timeline without delivery outcomes (those depend on the receiver's timing)."""
    return [(e.kind, e.level, e.ts, e.detail) for e in a.timeline if e.kind not in DELIVERY]


def embedded_flood(tmp: Path, cfg: dict[str, Any], readings: list[dict[str, Any]], receiver: Receiver
                   ) -> list[Alert]:
    """River readings through the embedded Pipeline in-process, with tests/flood_support.py's ``RULE`` as
    river-level; the alerts once three escalations arrived and every notification is delivered."""
    from fenghuo.core.config import Config
    from fenghuo.core.settings import Settings
    from fenghuo.core.store import open_store
    from fenghuo.runtime.embedded import Pipeline

    config = Config.model_validate(cfg)
    settings = Settings(data_dir=tmp, clock="event", tick_seconds=0.05)
    store = open_store("", tmp)
    pipeline = Pipeline(settings, config, store)
    pipeline.start()
    try:
        pipeline.put_rule("river-level", RULE, "analyst")
        for i in range(0, len(readings), 500):
            pipeline.ingest(readings[i: i + 500])
        receiver.wait_for(lambda g: sum(1 for x in g if x["json"]["event"] == "escalated") >= 3)
        wait_until(lambda: store.pending_notification_count() == 0, 60, "embedded deliveries")
        return store.all_alerts()
    finally:
        pipeline.stop()
