"""Silences in the Kafka runtime without a broker: the API's KafkaFront makes the silence in the shared store and the
distributed alert service (AlertWorker) applies it to the next batch it takes, muting the matching alert (recorded,
no notification), and notifies again once the front has expired it; the config's inhibition applies there too."""

from __future__ import annotations

import time
from pathlib import Path

from fenghuo.core.config import parse_config
from fenghuo.core.levels import Level
from fenghuo.core.models import Risk, Signal
from fenghuo.core.settings import Settings
from fenghuo.core.store import open_store
from fenghuo.runtime.kafka.alert_service.worker import AlertWorker
from fenghuo.runtime.kafka.bus import Topics, batch_to_wire
from fenghuo.runtime.kafka.front import KafkaFront
from fenghuo.runtime.kafka.ingest_worker import make_kafka_ingest
from tests.silence_support import config

CONFIG = parse_config(config("http://127.0.0.1:9/hook"))


def batch(grid: str, rule: str, level: Level, ts: float, offset: int) -> bytes:
    sig = Signal("threshold", rule, Risk.SAFETY, "sensor", grid, f"gauge-{grid}/m", f"gauge-{grid}", ts, level,
                 float(level), f"{rule} at {level.name_en}")
    return batch_to_wire(grid, [sig], {"": ts}, [None], [[("fenghuo.events.sensor", 0, offset)]])


def test_a_silence_made_by_the_front_mutes_the_alert_services_next_batch(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    settings = Settings(data_dir=tmp_path / "api", bus="kafka", kafka_bootstrap="127.0.0.1:9", store_url=url)
    front = KafkaFront(settings, CONFIG, open_store(url, tmp_path), make_kafka_ingest(settings, CONFIG))
    w = AlertWorker(Settings(data_dir=tmp_path / "w", clock="event", store_url=url), CONFIG, open_store(url, tmp_path),
                    Topics("x"), notifiers={})
    try:
        now = time.time()
        w.apply_record(batch("G9", "river", Level.YELLOW, now, 1))  # before any silence: the worker read none
        silence = front.create_silence({"match": {"grid": "S", "rule": "river"}, "starts_at": now - 60,
                                        "duration_s": 3600, "comment": "dyke works"}, "responder-1")
        w.apply_record(batch("G1", "river", Level.YELLOW, now + 1, 2))
        [g1] = [a for a in w.store.open_alerts() if a.grid == "G1"]
        assert [(e.kind, e.actor) for e in g1.timeline] == [("raised", "threshold"),
                                                            ("muted", f"silence:{silence['id']}")]
        assert w.store.notifications_for(g1.id) == []
        front.expire_silence(silence["id"], "responder-1")
        w.apply_record(batch("G1", "river", Level.RED, now + 2, 3))  # the upgrade after the expiry is sent
        assert [n.kind for n in w.store.notifications_for(g1.id)] == ["upgraded"]
        # an open red at district D holds back G2's river alert (inhibit_rules in the config)
        w.apply_record(batch("D", "flood", Level.RED, now + 3, 4))
        w.apply_record(batch("G2", "river", Level.RED, now + 4, 5))
        [red] = [a for a in w.store.open_alerts() if a.grid == "D"]
        [g2] = [a for a in w.store.open_alerts() if a.grid == "G2"]
        assert [(e.kind, e.actor) for e in g2.timeline][-1] == ("inhibited", red.id)
        assert w.store.notifications_for(g2.id) == [] and len(w.store.notifications_for(red.id)) == 1
    finally:
        front.store.close()
        w.store.close()
