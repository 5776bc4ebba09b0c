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

from fenghuo.core.models import Alert
from fenghuo.runtime.kafka.bus import Topics
from tests.flood_support import RULE, TIERS, config
from tests.integration.kafka.kafka_support import (
    KAFKA,
    STORE_FLAVOURS,
    deliveries_caught_up,
    deploy,
    embedded_flood,
    kafka_warnings,
    needs_kafka,
    story,
    wait_until,
)
from tests.support import Receiver

pytestmark = [needs_kafka, *kafka_warnings, pytest.mark.timeout(600)]


@pytest.mark.parametrize("flavour", STORE_FLAVOURS)  # the store writer on plain PostgreSQL and on TimescaleDB
def test_flood_over_kafka_matches_embedded(tmp_path: Path, readings: list[dict[str, Any]], flavour: str) -> None:
    assert KAFKA
    emb_rx, kafka_rx = Receiver(), Receiver()
    try:
        embedded = embedded_flood(tmp_path / "embedded", config(emb_rx.url), readings, emb_rx)
        assert len(embedded) == 1
        levels = [e.level for e in embedded[0].timeline if e.kind in ("raised", "upgraded")]
        assert levels == ["blue", "yellow", "orange", "red"]

        cfg = config(kafka_rx.url)
        cluster, created, store, ingest = deploy(tmp_path, cfg, 4, RULE, flavour)
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
