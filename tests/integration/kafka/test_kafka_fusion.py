"""Corroboration over Kafka against the embedded run: a gas-level crossing (grid stage) and a burst of gas
complaints (district stage) in one grid corroborate each other in the alert service, as they do embedded.

The stream is tests/fusion_support.py's (tests/unit/runtime/kafka/test_kafka_fusion_unit.py replays it too):
two quiet weeks of gas complaints over eight grids, twelve gas complaints in G-1 in 30 minutes (bursts of G-1
and of its street), the gas level of G-1 crossing yellow 30 minutes later, a complaint the next day. Embedded,
the burst alert and the sensor alert of G-1 end ``Observed`` and one level up. Before corroboration moved to
the alert service, the grid stage never saw the burst signals and both stayed as raised (``Possible`` burst, no
corroboration evidence).

Corroboration depends on the order its signals come in; the two stages reach the alert service on their own
paths, so the test sends each complaint once the previous one is on the by-district topic (as
test_kafka_bursts.py) and the sensor crossing and the next day's complaint once the alerts are where the
embedded run had them at that event time. The second test SIGKILLs the alert service in the middle of the burst
and starts another: its corroboration state comes from the store (saved with the alert changes), so nothing is
lost or repeated (the evidence lists and timelines equal the embedded run's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fenghuo.core.models import Alert
from fenghuo.runtime.kafka.bus import Topics
from tests.fusion_support import DELIVERY, GAS, RULE_ID, embedded_run, fusion_config, outcome, records
from tests.integration.kafka.kafka_support import (
    KAFKA,
    Forwarded,
    deliveries_caught_up,
    deploy,
    kafka_warnings,
    needs_kafka,
    start_stages,
    wait_until,
)
from tests.support import Receiver

pytestmark = [needs_kafka, *kafka_warnings, pytest.mark.timeout(600)]


def as_of(alerts: list[Alert], ts: float) -> list[tuple[Any, ...]]:
    """The alerts as they were at event time ``ts``: their timelines before it (kinds and levels in order),
    without delivery outcomes.

    Timeline times are not compared: on the event clock, an alert the district stage raises takes its grid's
    clock, which the grid stage may already have moved on by a later complaint of the same grid (the stages
    reach the alert service on their own paths), so it can read one complaint later than embedded."""
    return sorted((a.grid, a.rule, [(e.kind, e.level) for e in a.timeline
                                    if e.kind not in DELIVERY and e.ts < ts])
                  for a in alerts if a.created_at < ts)


def settled(alerts: list[Alert]) -> list[tuple[Any, ...]]:
    """:func:`outcome` without timeline times (see :func:`as_of`)."""
    return [(*o[:5], [entry[:2] + entry[3:] for entry in o[5]]) for o in outcome(alerts)]


def kafka_matches_embedded(tmp_path: Path, kill_after: str | None = None) -> None:
    assert KAFKA
    emb_rx, kafka_rx = Receiver(), Receiver()
    try:
        embedded = embedded_run(tmp_path / "embedded", emb_rx.url)
        by = {(a.grid, a.rule): a for a in embedded}
        burst, sensor = by[("G-1", "complaint-burst")], by[("G-1", RULE_ID)]
        assert burst.certainty == sensor.certainty == "Observed"  # corroborated (a burst alone is Possible)
        assert any(e.get("kind") == "corroboration" for e in sensor.evidence)

        cluster, _, store, ingest = deploy(tmp_path, fusion_config(kafka_rx.url), 4, GAS)
        try:
            start_stages(cluster)
            forwarded = Forwarded(Topics(cluster.prefix).complaints_by_district)
            try:
                for r in records():
                    if r["id"] in ("s1", "late"):  # the alerts must be where embedded had them at this time
                        want = as_of(embedded, r["ts"])
                        try:
                            wait_until(lambda ts=r["ts"], want=want: as_of(store.all_alerts(), ts) == want, 90,
                                       f"the embedded alerts before {r['id']}", cluster)
                        except AssertionError:
                            print(*(f"kafka: {x}" for x in as_of(store.all_alerts(), r["ts"])), sep="\n")
                            print(*(f"embedded: {x}" for x in want), sep="\n")
                            raise
                    assert ingest.ingest([r]).accepted == 1
                    if r["feed"] == "complaint":
                        forwarded.wait_for(r["id"], 90)
                    if r["id"] == kill_after:
                        cluster.kill("alerts")  # SIGKILL, wherever it is in its batches
                        cluster.start("alerts-2", "alerts")
            finally:
                forwarded.close()
            wait_until(lambda: store.event_count() == len(records()), 120, "the store writer", cluster)
            try:
                wait_until(lambda: settled(store.all_alerts()) == settled(embedded), 120,
                           "the embedded alerts", cluster)
            except AssertionError:
                print(*(f"kafka: {x}" for x in settled(store.all_alerts())), sep="\n")
                print(*(f"embedded: {x}" for x in settled(embedded)), sep="\n")
                raise
            deliveries_caught_up(store, kafka_rx, emb_rx, cluster)
            fingerprints = [a.fingerprint for a in store.all_alerts()]
            assert len(fingerprints) == len(set(fingerprints))
        finally:
            cluster.stop()
            ingest.close()
            store.close()
    finally:
        emb_rx.close()
        kafka_rx.close()

    def notified(rx: Receiver) -> list[tuple[str, str]]:
        return [(g["path"], g["json"]["event"]) for g in rx.requests]

    assert sorted(notified(kafka_rx)) == sorted(notified(emb_rx))  # none lost, none twice (order: see bursts)


def test_sensor_crossing_and_complaint_burst_corroborate_over_kafka_as_embedded(tmp_path: Path) -> None:
    kafka_matches_embedded(tmp_path)


def test_alert_service_killed_during_the_burst_loses_and_repeats_no_corroboration(tmp_path: Path) -> None:
    kafka_matches_embedded(tmp_path, kill_after="b6")
