"""The river-flood scenario of tests/e2e/test_e2e_service.py over Kafka: the same Hub'Eau readings of
L'Agly (Storm Gloria, January 2020) through KafkaIngest, TWO faust detector workers, the store
writer and the alert service (all subprocesses, on a broker from scripts/services/kafka.sh), and
the same run through the embedded Pipeline in-process. Both runtimes must give the same alerts:
one alert, blue -> yellow -> orange -> red, the same escalations up the same tiers at the same
(event) times, the same clearing, and every event stored once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fenghuo.ingest.adapters import read_records

from fenghuo.core.config import Config
from fenghuo.core.models import Alert
from fenghuo.core.settings import Settings
from fenghuo.core.store import open_store
from fenghuo.runtime.embedded import Pipeline
from fenghuo.runtime.kafka.bus import Topics
from tests.integration.kafka.kafka_support import (
    KAFKA,
    deliveries_caught_up,
    deploy,
    kafka_warnings,
    needs_kafka,
    wait_until,
)
from tests.support import DATA, Receiver
from tests.test_e2e_service import RULE, STATION, TIERS, config

pytestmark = [needs_kafka, *kafka_warnings, pytest.mark.timeout(600)]
DELIVERY = ("notified", "notify_failed", "notify_retrying")


@pytest.fixture
def readings(shared_data: Path) -> list[dict[str, Any]]:
    path = DATA / "hubeau-river-levels-2020" / "hubeau_water_level_10min_2020-01-07_2020-02-07.csv.gz"
    rows = sorted((r for r in read_records(path, fmt="hubeau") if r["source"] == STATION), key=lambda r: r["ts"])
    assert len(rows) > 4000
    return rows


def story(a: Alert) -> list[tuple[str, str | None, float, str | None]]:
    """The alert's timeline without delivery outcomes (those depend on the receiver's timing)."""
    return [(e.kind, e.level, e.ts, e.detail) for e in a.timeline if e.kind not in DELIVERY]


def embedded_run(tmp: Path, cfg: dict[str, Any], readings: list[dict[str, Any]], receiver: Receiver) -> list[Alert]:
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


def test_flood_over_kafka_matches_embedded(tmp_path: Path, readings: list[dict[str, Any]]) -> None:
    assert KAFKA
    emb_rx, kafka_rx = Receiver(), Receiver()
    try:
        embedded = embedded_run(tmp_path / "embedded", config(emb_rx.url), readings, emb_rx)
        assert len(embedded) == 1
        levels = [e.level for e in embedded[0].timeline if e.kind in ("raised", "upgraded")]
        assert levels == ["blue", "yellow", "orange", "red"]

        cfg = config(kafka_rx.url)
        cluster, created, store, ingest = deploy(tmp_path, cfg, 4, RULE)
        assert set(created) == set(Topics(cluster.prefix).all())
        try:
            cluster.detector("detectors-1")
            cluster.detector("detectors-2")
            cluster.start("alerts", "alerts")
            cluster.start("store-writer", "store-writer")
            accepted = 0
            for i in range(0, len(readings), 500):
                accepted += ingest.ingest(readings[i: i + 500]).accepted
            assert accepted == len(readings)

            wait_until(lambda: store.event_count() == len(readings), 120, "the store writer", cluster)

            def settled() -> list[Alert] | None:
                alerts = store.all_alerts()
                if alerts and [story(a) for a in alerts] == [story(a) for a in embedded]:
                    return alerts
                return None

            try:
                over_kafka = wait_until(settled, 180, "the same alert story as embedded", cluster)
            except AssertionError:
                got = [story(a) for a in store.all_alerts()]
                assert got == [story(a) for a in embedded]  # show the difference
                raise
            # both worker processes took part (each owns partitions of the event topics)
            for name in ("detectors-1", "detectors-2"):
                assert cluster.procs[name].poll() is None, cluster.log(name)
            deliveries_caught_up(store, kafka_rx, emb_rx, cluster)
        finally:
            cluster.stop()
            ingest.close()
            store.close()
    finally:
        emb_rx.close()
        kafka_rx.close()

    alert = over_kafka[0]
    assert alert.max_level.name_en == "red" and alert.cleared
    esc = [e.detail for e in alert.timeline if e.kind == "escalated"]
    assert [d.rsplit("(", 1)[1].rstrip(")") for d in esc][:3] == TIERS[1:]

    def paths(rx: Receiver) -> list[tuple[str, str]]:
        return [(g["path"], g["json"]["event"]) for g in rx.requests]

    assert paths(kafka_rx) == paths(emb_rx)  # the same notifications to the same tiers, in order
