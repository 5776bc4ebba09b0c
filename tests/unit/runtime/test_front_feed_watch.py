"""A whole source or feed going silent in Kafka mode: the API's KafkaFront, which receives every HTTP record,
watches what Kafka accepted and sends ``source-silent`` / ``feed-silent`` to the signals topic, where the alert
service opens a system alert on the system node; a signal Kafka does not take is sent at the next tick. Kafka
is replaced by a recorder of what would be produced (the alert service's batch step runs in process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fenghuo.core.clock import Clocks, FixedClock
from fenghuo.core.config import Config
from fenghuo.core.grids import GridTree
from fenghuo.core.models import Event
from fenghuo.core.settings import Settings
from fenghuo.core.store import open_store
from fenghuo.ingest.events import make_resolver
from fenghuo.runtime.kafka.alert_service.worker import AlertWorker
from fenghuo.runtime.kafka.bus import Topics, batch_from_wire
from fenghuo.runtime.kafka.front import KafkaFront
from fenghuo.runtime.kafka.ingest_worker import KafkaIngest
from fenghuo.runtime.service import BusUnavailable

CONFIG = {
    "nodes": [{"id": "D", "name": "区", "kind": "district"},
              {"id": "G1", "name": "网格", "kind": "grid", "parent": "D", "centroid": [0, 0]}],
    "detectors": {"health": {"feed_silent_after": 5, "feed_silent_min_s": 60, "feed_min_receipts": 3}},
}
T0 = 1.7e9


class Recorder(KafkaIngest):
    """KafkaIngest without a broker: what it would produce is kept; ``refuse`` makes the next produce fail."""

    def __init__(self, config: Config, clock: FixedClock) -> None:
        super().__init__("127.0.0.1:9", make_resolver(GridTree(config.nodes)), Topics("x"), clock=clock)
        self.events: list[Event] = []
        self.produced: list[tuple[str, bytes, bytes]] = []
        self.refuse = 0

    def send(self, events: list[Event], bad: list[tuple[int, str, Any]] | None = None) -> None:
        self.events += events

    def produce(self, topic: str, key: bytes, value: bytes) -> None:
        if self.refuse:
            self.refuse -= 1
            raise BusUnavailable("Kafka is away")
        self.produced.append((topic, key, value))


@pytest.fixture
def front(tmp_path: Path) -> Any:
    config = Config.model_validate(CONFIG)
    clock = FixedClock(T0)
    settings = Settings(data_dir=tmp_path)
    f = KafkaFront(settings, config, open_store(f"sqlite:///{tmp_path / 'api.db'}", tmp_path), Recorder(config, clock))
    f.clocks = Clocks("wall", clock)
    alerts = AlertWorker(settings, config, open_store(f"sqlite:///{tmp_path / 'alerts.db'}", tmp_path), Topics("x"),
                         notifiers={}, clock=clock)
    yield f, clock, alerts
    f.store.close()
    alerts.store.close()


def record(i: int, ts: float, drill: str | None = None) -> dict[str, Any]:
    r = {"feed": "complaint", "source": "hotline", "ts": ts, "grid": "G1", "id": f"c{i}", "category": "noise",
         "text": "noise"}
    if drill:
        r["drill"] = drill
    return r


def test_a_silent_source_and_feed_raise_system_alerts_and_clear_when_it_sends_again(front: Any) -> None:
    f, clock, alerts = front
    for i in range(5):  # a complaint a minute
        clock.set(T0 + 60 * i)
        assert f.ingest([record(i, T0 + 60 * i)]).accepted == 1
    clock.set(T0 + 60 * 4 + 299)
    assert f.tick_feed_watch() == 0  # 5 usual gaps not yet passed
    clock.set(T0 + 60 * 4 + 301)
    assert f.tick_feed_watch() == 2
    [(topic, key, wire)] = f.kafka.produced
    batch = batch_from_wire(wire)
    assert (topic, key, batch.grid) == ("x.signals", b"D", "D")  # the system node, keyed by it
    assert sorted(s.rule for s in batch.signals) == ["feed-silent", "source-silent"]
    assert batch.positions == [[], []]  # no event behind them: the alert service applies them as fresh
    alerts.apply_record(wire)
    opened = alerts.store.open_alerts()
    assert sorted((a.rule, a.risk, a.grid) for a in opened) == [("feed-silent", "system", "D"),
                                                                ("source-silent", "system", "D")]

    clock.set(T0 + 1000)
    f.ingest([record(9, T0 + 1000)])
    f.kafka.refuse = 1
    with pytest.raises(BusUnavailable):
        f.tick_feed_watch()  # the clears are kept ...
    clock.set(T0 + 1001)
    assert f.tick_feed_watch() == 2  # ... and sent at the next tick
    wire = f.kafka.produced[-1][2]
    assert sorted((s.rule, s.kind) for s in batch_from_wire(wire).signals) == [("feed-silent", "clear"),
                                                                               ("source-silent", "clear")]
    alerts.apply_record(wire)
    assert all(a.cleared for a in alerts.store.all_alerts()) and len(alerts.store.all_alerts()) == 2
    assert f.tick_feed_watch() == 0  # nothing sent twice


def test_drills_are_not_watched(front: Any) -> None:
    f, clock, _ = front
    for i in range(5):
        clock.set(T0 + 60 * i)
        assert f.ingest([record(i, T0 + 60 * i, drill="flood")], may_drill=True).accepted == 1
    clock.set(T0 + 5000)
    assert f.tick_feed_watch() == 0 and f.kafka.produced == []
