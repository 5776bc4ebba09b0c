"""Complaint bursts rolled up to the district over Kafka, against the embedded run.

Eight grids of one district (four streets, each one community of two grids). Two weeks of quiet
complaints, then 24 in 46 minutes spread over all eight grids: three per grid, six per community and
street, 24 in the district. With ``min_count: 8`` only the district's roll-up key can cross. The
same stream goes through the embedded Pipeline and through Kafka (two detector workers sharing the
grids' partitions, the district stage, the alert service, the store writer): both must raise the same
district alert (blue -> yellow -> orange -> red with the burst parameters of this writing), cleared the
next day, with the same timeline, and no alert on any grid, community or street. Before the district
stage, each Kafka worker saw only its own grids' complaints and raised nothing. The second test SIGKILLs both
detector workers during the burst and starts two others: the same alert, no notification lost or repeated.

The burst model is sensitive to the order of complaints, and over Kafka two workers forward their grids'
complaints independently, so the test sends the next complaint only once the previous one is on the
by-district topic: the order the district stage sees is then the order sent, as embedded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fenghuo.core.config import Config
from fenghuo.core.models import Alert
from fenghuo.core.settings import Settings
from fenghuo.core.store import open_store
from fenghuo.runtime.embedded import Pipeline
from fenghuo.runtime.kafka.bus import Topics
from tests.flood_support import RULE
from tests.integration.kafka.kafka_support import (
    KAFKA,
    Forwarded,
    deliveries_caught_up,
    deploy,
    kafka_warnings,
    needs_kafka,
    start_stages,
    story,
    wait_until,
)
from tests.support import Receiver, district_of_eight_grids

pytestmark = [needs_kafka, *kafka_warnings, pytest.mark.timeout(600)]

DISTRICT = "D-1"
GRIDS = [f"G-{i}" for i in range(1, 9)]
T0 = 1_699_920_000.0  # a midnight (UTC)
DAY = 86400.0
# only counts of 8 or more are tested; thresholds half-way between the surprises of successive counts
BURSTS = {"warmup_hours": 24, "min_count": 8, "thresholds": [4.0, 7.0, 9.15, 11.5]}


def district_config(receiver_url: str) -> dict[str, Any]:
    return district_of_eight_grids(receiver_url, "/district", {"bursts": BURSTS})


def complaint(i: str, ts: float, grid: str, place: str) -> dict[str, Any]:
    return {"feed": "complaint", "source": "hotline", "ts": ts, "grid": grid, "id": i, "category": "noise",
            "text": "noise at night", "attrs": {"location": place}}


def complaints() -> list[dict[str, Any]]:
    """Two quiet weeks (one complaint every 2 h, grid after grid), the burst, one complaint the next day
    (which clears the burst)."""
    quiet = [complaint(f"q{k}", T0 + k * 7200.0, GRIDS[k % 8], f"addr-{k}") for k in range(14 * 12)]
    burst = [complaint(f"b{k}", T0 + 14 * DAY + 3 * 3600 + k * 120.0, GRIDS[k % 8], f"burst-{k}")
             for k in range(24)]
    return [*quiet, *burst, complaint("late", T0 + 15 * DAY + 3 * 3600, GRIDS[0], "later")]


def by_node(alerts: list[Alert]) -> list[tuple[str, list[Any]]]:
    return sorted((a.grid, story(a)) for a in alerts)


def embedded_run(tmp: Path, cfg: dict[str, Any]) -> list[Alert]:
    settings = Settings(data_dir=tmp, clock="event", tick_seconds=0.05)
    store = open_store("", tmp)
    pipeline = Pipeline(settings, Config.model_validate(cfg), store)
    pipeline.start()
    try:
        for c in complaints():
            pipeline.ingest([c])
        wait_until(lambda: store.pending_notification_count() == 0, 60, "embedded deliveries")
        return store.all_alerts()
    finally:
        pipeline.stop()


def kafka_matches_embedded(tmp_path: Path, kill_after: str | None = None) -> None:
    """Run the stream embedded and over Kafka; with ``kill_after``, SIGKILL both detector workers once that
    complaint is forwarded (so the grid stage and the district stage both die, whichever worker had the
    district) and start two replacements. Both runs must give the same alerts and notifications."""
    assert KAFKA
    emb_rx, kafka_rx = Receiver(), Receiver()
    try:
        embedded = embedded_run(tmp_path / "embedded", district_config(emb_rx.url))
        assert [a.grid for a in embedded] == [DISTRICT]  # only the roll-up key crosses
        levels = [e.level for e in embedded[0].timeline if e.kind in ("raised", "upgraded")]
        assert len(levels) >= 2 and embedded[0].cleared  # blue -> yellow -> orange -> red when written

        cluster, _, store, ingest = deploy(tmp_path, district_config(kafka_rx.url), 4, RULE)
        try:
            start_stages(cluster)
            forwarded = Forwarded(Topics(cluster.prefix).complaints_by_district)
            try:
                for c in complaints():
                    assert ingest.ingest([c]).accepted == 1
                    forwarded.wait_for(c["id"], 90)  # the next one only then: the order embedded sees
                    if c["id"] == kill_after:
                        cluster.kill("detectors-1")  # SIGKILL, while the district stage may still be at work
                        cluster.kill("detectors-2")
                        cluster.detector("replacement-1")
                        cluster.detector("replacement-2")
            finally:
                forwarded.close()
            assert set(forwarded.ids) == {c["id"] for c in complaints()}  # a repeat is skipped by the stage
            wait_until(lambda: store.event_count() == len(complaints()), 120, "the store writer", cluster)

            def same() -> list[Alert] | None:
                alerts = store.all_alerts()
                return alerts if by_node(alerts) == by_node(embedded) else None

            try:
                wait_until(same, 150, "the embedded district alert", cluster)
            except AssertionError:
                print(*(f"kafka {g}: {x}" for g, st in by_node(store.all_alerts()) for x in st), sep="\n")
                print(*(f"embedded {g}: {x}" for g, st in by_node(embedded) for x in st), sep="\n")
                raise
            deliveries_caught_up(store, kafka_rx, emb_rx, cluster)
            fingerprints = [a.fingerprint for a in store.all_alerts()]
            assert len(fingerprints) == len(set(fingerprints)) == 1
        finally:
            cluster.stop()
            ingest.close()
            store.close()
    finally:
        emb_rx.close()
        kafka_rx.close()

    def notified(rx: Receiver) -> list[tuple[str, str]]:
        return [(g["path"], g["json"]["event"]) for g in rx.requests]

    # none lost, none sent twice; the order is not compared: alerts/delivery.py starts a notification decided
    # while an earlier one of the same alert is still in flight in parallel with it, so they can swap
    assert sorted(notified(kafka_rx)) == sorted(notified(emb_rx))


def test_district_burst_over_kafka_matches_embedded(tmp_path: Path) -> None:
    kafka_matches_embedded(tmp_path)


def test_detectors_killed_during_the_burst_are_replaced_without_loss_or_duplicates(tmp_path: Path) -> None:
    kafka_matches_embedded(tmp_path, kill_after="b9")  # between yellow (b9) and orange (b11)
