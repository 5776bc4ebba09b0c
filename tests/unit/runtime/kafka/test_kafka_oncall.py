"""On-call duty in the Kafka runtime (no broker needed: the alert service's batch step, and the front's read):
the distributed alert service escalates to whoever is on duty at the escalation's moment and passes over a tier
with nobody on duty, as the embedded one does; KafkaFront answers GET /v1/oncall as Pipeline does."""

from __future__ import annotations

from pathlib import Path

from fenghuo.core.config import parse_config
from fenghuo.core.levels import Level
from fenghuo.core.models import Risk, Signal
from fenghuo.core.settings import Settings
from fenghuo.core.store import open_store
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.runtime.embedded import Pipeline
from fenghuo.runtime.kafka.alert_service.worker import AlertWorker
from fenghuo.runtime.kafka.bus import Topics, batch_to_wire
from fenghuo.runtime.kafka.front import KafkaFront
from fenghuo.runtime.kafka.ingest_worker import make_kafka_ingest
from tests.unit.alerts.test_oncall import RAISE, config

CONFIG = parse_config(config())


def red(ts: float, offset: int) -> bytes:
    sig = Signal("threshold", "river", Risk.SAFETY, "sensor", "G", "G/water_level_m/gauge", "gauge", ts, Level.RED,
                 6.5, "river above")
    return batch_to_wire("G", [sig], {"": ts}, [None], [[("fenghuo.events.sensor", 0, offset)]])


def test_the_alert_service_escalates_to_who_is_on_duty_then(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    w = AlertWorker(Settings(data_dir=tmp_path / "w", clock="event", store_url=url), CONFIG, open_store(url, tmp_path),
                    Topics("x"), notifiers={})
    w.apply_record(red(RAISE, 1))  # 08:50 on Monday 2026-11-30, Shanghai
    w.apply_record(red(RAISE + 960, 2))  # 09:06: the escalation fell due at 09:05
    [alert] = w.store.open_alerts()
    sent = sorted((n.kind, n.responder, n.tier) for n in w.store.notifications_for(alert.id))
    assert sent == [("escalated", "d-b", 3), ("escalated", "d-chief", 3), ("raised", "c-li", 1)]
    assert [(e.kind, e.ts - RAISE) for e in alert.timeline] == [("raised", 0), ("no_one_on_duty", 900),
                                                                ("escalated", 900)]
    w.store.close()


def test_the_front_answers_oncall_as_the_embedded_service_does(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, bus="kafka", kafka_bootstrap="127.0.0.1:9")
    front = KafkaFront(settings, CONFIG, SqliteStore(tmp_path / "k.sqlite"), make_kafka_ingest(settings, CONFIG))
    pipe = Pipeline(Settings(data_dir=tmp_path), CONFIG, SqliteStore(tmp_path / "p.sqlite"), notifiers={})
    try:
        at = RAISE + 900
        got = front.oncall(at)
        assert got == pipe.oncall(at)
        assert {n["node"]: [r["on_duty"] and r["on_duty"]["id"] for r in n["rotations"]]  # type: ignore[index]
                for n in got["nodes"]} == {"C": ["c-wang"], "S": [None], "D": ["d-b"]}
    finally:
        front.store.close()
        pipe.store.close()
