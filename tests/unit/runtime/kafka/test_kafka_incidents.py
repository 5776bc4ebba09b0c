"""Incidents in the Kafka runtime without a broker: the distributed alert service (AlertWorker) groups a storm of
alerts under one street into one incident with one summary, as the embedded pipeline does; the API's KafkaFront
reads it from the shared store; an ack command applies to every member; a note command lands in the timeline."""

from __future__ import annotations

import json
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
from tests.incident_support import STORM, config

CONFIG = parse_config(config("http://127.0.0.1:9/hook", group_wait=30))


def batch(grid: str, level: Level, ts: float, offset: int) -> bytes:
    sig = Signal("threshold", "river", Risk.SAFETY, "sensor", grid, f"gauge-{grid}/m", f"gauge-{grid}", ts, level,
                 float(level), f"river at {level.name_en}")
    return batch_to_wire(grid, [sig], {"": ts}, [None], [[("fenghuo.events.sensor", 0, offset)]])


def command(op: str, target: str, grid: str, comment: str = "") -> bytes:
    return json.dumps({"id": f"c-{op}", "op": op, "alert": target, "grid": grid, "actor": "responder-1",
                       "comment": comment}).encode()


def test_the_alert_service_groups_a_storm_and_applies_incident_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    settings = Settings(data_dir=tmp_path / "api", bus="kafka", kafka_bootstrap="127.0.0.1:9", store_url=url)
    front = KafkaFront(settings, CONFIG, open_store(url, tmp_path), make_kafka_ingest(settings, CONFIG))
    w = AlertWorker(Settings(data_dir=tmp_path / "w", clock="event", store_url=url), CONFIG, open_store(url, tmp_path),
                    Topics("x"), notifiers={})
    try:
        now = time.time()
        for i, g in enumerate(STORM[:10]):
            w.apply_record(batch(g, Level.RED, now + i, i + 1))
        (inc,) = front.list_incidents(None, 10)
        assert inc["node"] == "S" and inc["summary"]["alerts"] == 10 and inc["notifications"] == 0
        w.apply_record(batch(STORM[10], Level.RED, now + 40, 11))  # group_wait is over on this grid's clock
        doc = front.get_incident(inc["id"])
        assert doc is not None and doc["summary"]["alerts"] == 11 and doc["notifications"] == 1
        assert [n.kind for n in w.store.notifications_for(inc["id"])] == ["incident_opened"]
        members = [m["id"] for m in doc["members"]]
        # the first alert came alone (its own batch) and was notified at once; the ten after it were held
        assert [n.kind for n in w.store.notifications_for(members[0])] == ["raised"]
        assert all(w.store.notifications_for(a) == [] for a in members[1:])

        w.apply_command(command("incident_note", inc["id"], STORM[0], "pumps on the way"))
        w.apply_command(command("incident_ack", inc["id"], STORM[0], "on it"))
        w.apply_command(command("note", members[3], STORM[3], "levee holding"))
        doc = front.get_incident(inc["id"])
        assert doc is not None and doc["status"] == "acknowledged"
        assert [e["kind"] for e in doc["timeline"]][-2:] == ["note", "acknowledged"]
        statuses = {str(w.store.get_alert(a).status) for a in members}  # type: ignore[union-attr]
        assert statuses == {"acknowledged"}
        noted = w.store.get_alert(members[3])
        assert noted is not None and (noted.timeline[-1].kind, noted.timeline[-1].detail) == ("note", "levee holding")
    finally:
        front.store.close()
        w.store.close()
