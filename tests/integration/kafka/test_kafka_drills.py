"""Drill runs in Kafka mode (issue 15, item 6), on a real broker, real worker processes and ``fenghuo run`` with
FENGHUO_BUS=kafka (PostgreSQL when FENGHUO_TEST_PG_DSN is set):

* a run whose last record raises red, with nobody at the grid tier answering: the run's clock reaches the
  alert service after that record (no event carries it there), so the alert escalates in the settle period and
  the next tier's simulated ack is stamped on the run's clock, ``ack_after`` after the escalation;
* L'Agly through Storm Gloria (the demo slice) started with POST /v1/drills, its scenario killing the detector
  worker (``drills.chaos``: ``kill -KILL <pid>``) before the river rises and the alert service after it went
  red; the harness starts each again, as a supervisor would. The run is scored once the workers caught up:
  every accepted event stored once, the run's alerts (rule, grid, highest level) are those of the same
  scenario run embedded, one per fingerprint, and every notification of the run delivered exactly once;
* the same with the broker's process paused (SIGSTOP) for 8 seconds mid-run: the run waits for it and goes on.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from fenghuo.core.levels import Level
from fenghuo.core.models import Alert, parse_ts
from fenghuo.core.store import Store
from tests.flood_support import RULE, TIERS, config
from tests.integration.kafka.kafka_support import (
    KAFKA,
    Cluster,
    deploy,
    detectors_ready,
    kafka_warnings,
    needs_kafka,
    wait_until,
)
from tests.support import Receiver, Service

pytestmark = [needs_kafka, *kafka_warnings, pytest.mark.timeout(420)]
KAFKA_DATA = os.environ.get("FENGHUO_TEST_KAFKA_DATA")  # kafka.sh's DATA_DIR of FENGHUO_TEST_KAFKA

STATION = "hubeau:Y063402001"  # L'Agly at the grid G-AGLY's centroid: 5.3 m on the 20th, 15.5 m on the 22nd
START = "2020-01-21T12:00:00Z"


def drill_config(receiver_url: str) -> dict[str, Any]:
    """The flood config (G-AGLY under three tiers), a drill participant at every tier (a drill alert escalates
    only to those) and the rule's levels."""
    cfg = config(receiver_url)
    cfg["responders"] += [{"id": f"drill-{node}", "name": f"drill-{node}", "node": node, "channels": ["drill-hook"],
                           "drill": True} for node in TIERS]
    return cfg


def agly_scenario(injections: list[dict[str, Any]], to: str = "2020-01-24T00:00:00Z") -> dict[str, Any]:
    """L'Agly from the demo slice, from START (blue at +15.7 h, red at +23.5 h: 22 January, 11:30) to ``to``."""
    return {"scenario": "agly-kafka", "title_en": "L'Agly over Kafka", "start": START, "settle": "2h",
            "sources": [{"file": "gloria_river_levels.csv.gz", "sources": [STATION], "from": START, "to": to}],
            "responders": {"ack_after": "10m", "resolve_after": None},
            "injections": injections,
            "expect": [{"risk": "safety", "grid": "G-AGLY", "level": "red", "by": "2020-01-22T18:00:00Z"}]}


def highest(a: Alert) -> str:
    return max((Level.parse(e.level) for e in a.timeline if e.level), default=a.level).name_en


def outcome(alerts: list[Alert]) -> list[tuple[str, str, str]]:
    return sorted((a.rule, a.grid, highest(a)) for a in alerts)


def embedded_run(tmp: Path, cfg: dict[str, Any], spec: dict[str, Any]) -> tuple[dict[str, Any], list[Alert]]:
    """The scenario through the embedded Pipeline in-process (as fast as it goes): the run's document, its alerts."""
    from fenghuo.core.config import Config
    from fenghuo.core.settings import Settings
    from fenghuo.core.store import open_store
    from fenghuo.runtime.embedded import Pipeline

    store = open_store("", tmp)
    pipeline = Pipeline(Settings(data_dir=tmp, clock="event", tick_seconds=0.05), Config.model_validate(cfg), store)
    pipeline.start()
    try:
        pipeline.put_rule("river-level", RULE, "analyst")
        doc = pipeline.drills.start(spec=spec, actor="test", speed="max", background=False)
        return doc, [a for a in store.all_alerts() if a.drill == doc["run"]]
    finally:
        pipeline.stop()


@dataclass
class Runtime:
    cluster: Cluster
    store: Store
    api: Service
    client: httpx.Client
    victim: Any  # the detector worker the chaos command kills
    alert_service: Any  # the alert service the chaos command kills
    rx: Receiver  # the channels' webhooks


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """The workers (one detector worker, the alert service, the store writer) and the API in Kafka mode, whose
    drills.chaos kills that detector worker or that alert service (and pauses the broker)."""
    assert KAFKA
    tmp = tmp_path_factory.mktemp("kafka-drills")
    rx = Receiver()
    cfg = drill_config(rx.url)
    cluster, _, store, ingest = deploy(tmp, cfg, 2, RULE)
    ingest.close()
    api = None
    try:
        victim = cluster.detector("victim")
        alert_service = cluster.start("alerts", "alerts")
        cluster.start("store-writer", "store-writer")
        wait_until(lambda: detectors_ready(cluster, 1), 120, "the detector worker in its group", cluster)
        env = {k: cluster.env[k] for k in ("FENGHUO_TOPIC_PREFIX", "FENGHUO_KAFKA_BOOTSTRAP", "FENGHUO_STORE_URL",
                                           "FENGHUO_CLOCK")}
        chaos = {"detector-worker": f"kill -KILL {victim.pid}", "alert-service": f"kill -KILL {alert_service.pid}"}
        if KAFKA_DATA:  # the test broker's process, stopped and continued (kafka.sh keeps its pid there)
            pid = Path(KAFKA_DATA) / "kafka.pid"
            chaos.update({"pause-broker": f"sh -c 'kill -STOP $(cat {pid})'",
                          "resume-broker": f"sh -c 'kill -CONT $(cat {pid})'"})
        api_cfg = {**cfg, "drills": {**cfg["drills"], "chaos": chaos}}
        api = Service(tmp / "api", api_cfg, env={**env, "FENGHUO_BUS": "kafka"}).start()
        yield Runtime(cluster, store, api, api.client("admin"), victim, alert_service, rx)
    finally:
        if api is not None:
            api.stop()
        cluster.stop()
        store.close()
        rx.close()


def run_drill(rt: Runtime, spec: dict[str, Any], speed: float, timeout: float, chaos: bool = False) -> dict[str, Any]:
    """Start a run through the API and wait for its end (``chaos``: workers die meanwhile, by design)."""
    r = rt.client.post("/v1/drills", json={"spec": spec, "speed": speed})
    assert r.status_code == 202, r.text
    run = r.json()["run"]

    def ended() -> dict[str, Any] | None:
        doc: dict[str, Any] = rt.client.get(f"/v1/drills/{run}").json()
        return doc if doc["status"] != "running" else None

    return wait_until(ended, timeout, f"drill run {run} to end",  # type: ignore[no-any-return]
                      None if chaos else rt.cluster)


def test_the_run_clock_reaches_the_alert_service_after_the_last_record(runtime: Runtime, tmp_path: Path) -> None:
    t0 = "2020-01-22T00:00:00Z"
    spec = {"scenario": "clock-kafka", "start": t0, "settle": "2h",
            "sources": [{"synthetic": {"source": "gauge-x", "grid": "G-AGLY", "metric": "water_level_m",
                                       "every": "5m", "from": t0, "to": "2020-01-22T00:10:00Z", "base": 14.0}}],
            "responders": {"ack_after": "30m", "resolve_after": None},
            "injections": [{"kind": "no_ack", "tier": "grid"}],
            "expect": [{"risk": "safety", "grid": "G-AGLY", "level": "red", "by": "+1h"}]}
    assert runtime.client.post("/v1/drills", json={"spec": spec, "speed": "max"}).status_code == 422
    doc = run_drill(runtime, spec, 300.0, 120)
    assert doc["status"] == "ended", doc
    (alert,) = [a for a in runtime.store.all_alerts() if a.drill == doc["run"]]
    last = parse_ts("2020-01-22T00:10:00Z")  # the run's last record
    kinds = [(e.kind, e.ts) for e in alert.timeline]
    escalated = [ts for kind, ts in kinds if kind == "escalated"]
    acked = [ts for kind, ts in kinds if kind == "acknowledged"]
    print(doc["run"], [(k, time.strftime("%H:%M:%S", time.gmtime(ts))) for k, ts in kinds])
    # red escalates every 5 minutes of the run's clock, all after the last record (no event carried that time),
    # up to the district; its duty officer acknowledges 30 minutes after the alert reached it, on the run's clock
    assert len(escalated) == 3 and escalated[0] > last
    assert escalated == [escalated[0] + 300 * i for i in range(3)]
    assert acked == [escalated[-1] + 1800] and alert.acked_by == "drill-responder@D-OCC"


def supervise(runtime: Runtime, proc: Any, name: str, args: tuple[str, ...], done: threading.Event) -> None:
    """A supervisor: when ``proc`` dies, the same worker is started again (as ``name``)."""

    def watch() -> None:
        proc.wait()
        runtime.cluster.procs = {k: p for k, p in runtime.cluster.procs.items() if p is not proc}
        if args[0] == "detectors":
            runtime.cluster.detector(name)
        else:
            runtime.cluster.start(name, *args)
        done.set()

    threading.Thread(target=watch, daemon=True).start()


def test_workers_killed_mid_run_lose_and_repeat_nothing(runtime: Runtime, tmp_path: Path) -> None:
    """The detector worker killed before the river rises, the alert service after it went red."""
    spec = agly_scenario([{"kind": "kill", "target": "detector-worker", "at": "+14h"},
                          {"kind": "kill", "target": "alert-service", "at": "+30h"}])
    emb_rx = Receiver()
    try:
        emb_doc, emb_alerts = embedded_run(tmp_path / "embedded", drill_config(emb_rx.url), spec)
    finally:
        emb_rx.close()
    assert emb_doc["status"] == "ended" and emb_doc["verdict"] == "pass", emb_doc
    assert outcome(emb_alerts) == [("river-level", "G-AGLY", "red")]
    events_before = runtime.store.event_count()
    restarted = [threading.Event(), threading.Event()]
    supervise(runtime, runtime.victim, "replacement", ("detectors",), restarted[0])
    supervise(runtime, runtime.alert_service, "alerts-2", ("alerts",), restarted[1])
    started = time.monotonic()
    doc = run_drill(runtime, spec, 3600.0, 300, chaos=True)
    print(f"{doc['run']}: {time.monotonic() - started:.0f} s; chaos {doc['chaos']}")
    assert all(e.is_set() for e in restarted), doc.get("chaos")
    assert doc["status"] == "ended", doc
    assert [note.split(": ", 1)[1] for note in doc["chaos"]] == [
        f"kill detector-worker: ran `kill -KILL {runtime.victim.pid}` (exit 0)",
        f"kill alert-service: ran `kill -KILL {runtime.alert_service.pid}` (exit 0)"]
    assert_nothing_lost_or_repeated(runtime, doc, emb_doc, emb_alerts, events_before)


@pytest.mark.skipif(not KAFKA_DATA, reason="FENGHUO_TEST_KAFKA_DATA (the kafka.sh DATA_DIR) is needed to pause the "
                    "broker's process")
def test_a_broker_paused_mid_run_holds_the_run_and_loses_nothing(runtime: Runtime, tmp_path: Path) -> None:
    spec = agly_scenario([{"kind": "pause_broker", "at": "+14h", "for": "8s"}], to="2020-01-22T18:00:00Z")
    emb_rx = Receiver()
    try:
        emb_doc, emb_alerts = embedded_run(tmp_path / "embedded", drill_config(emb_rx.url), spec)
    finally:
        emb_rx.close()
    assert outcome(emb_alerts) == [("river-level", "G-AGLY", "red")]
    events_before = runtime.store.event_count()
    started = time.monotonic()
    doc = run_drill(runtime, spec, 3600.0, 300)
    print(f"{doc['run']}: {time.monotonic() - started:.0f} s; chaos {doc['chaos']}")
    assert doc["status"] == "ended", doc  # the run's records and acks waited for the broker: the run went on
    assert any("pause_broker for 8 s: ran `sh -c" in note and "(exit 0)" in note for note in doc["chaos"])
    assert_nothing_lost_or_repeated(runtime, doc, emb_doc, emb_alerts, events_before)


def assert_nothing_lost_or_repeated(runtime: Runtime, doc: dict[str, Any], emb_doc: dict[str, Any],
                                    emb_alerts: list[Alert], events_before: int) -> None:
    """Every accepted event stored once, the embedded run's alerts (one per fingerprint), every notification of
    the run delivered exactly once."""
    run = doc["run"]
    print(f"kafka {doc['scorecard']['events']}\nembedded {emb_doc['scorecard']['events']}")
    assert doc["progress"]["accepted"] == emb_doc["progress"]["accepted"] > 100
    assert runtime.store.event_count() - events_before == emb_doc["progress"]["accepted"]
    alerts = [a for a in runtime.store.all_alerts() if a.drill == run]
    assert outcome(alerts) == outcome(emb_alerts)
    assert len({a.fingerprint for a in alerts}) == len(alerts)
    assert doc["scorecard"]["alerts"] == emb_doc["scorecard"]["alerts"]
    notes = [n for a in alerts for n in runtime.store.notifications_for(a.id)]
    wait_until(lambda: all(n.status != "pending" for a in alerts for n in runtime.store.notifications_for(a.id)),
               60, "the run's notifications delivered", runtime.cluster)
    keys = [r["headers"].get("Idempotency-Key") for r in runtime.rx.requests]
    assert notes and all(keys.count(n.id) == 1 for n in notes), "a notification was delivered twice or never"
    print("kafka", doc["scorecard"]["expectations"], doc["scorecard"]["notifications"], "\nembedded",
          emb_doc["scorecard"]["expectations"], emb_doc["scorecard"]["notifications"])
    for a in [*alerts, *emb_alerts]:
        print(a.drill, [(e.kind, e.level, time.strftime("%d %H:%M", time.gmtime(e.ts))) for e in a.timeline
                        if not e.kind.startswith("notif")])
