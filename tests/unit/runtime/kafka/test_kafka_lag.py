"""The consumer lag an operator reads in /metrics and the ``consumer-lag`` system alert, on scripted offset readings
(the broker's side is in tests/acceptance/test_api.py, Kafka mode)."""

from __future__ import annotations

import pytest

from fenghuo.api.routes.health import render_metrics
from fenghuo.core.models import Risk
from fenghuo.runtime.kafka.bus import Topics
from fenghuo.runtime.kafka.lag import (
    MAX_SERIES,
    LagHistory,
    LagMonitor,
    LagReport,
    LagWatch,
    PartitionLag,
    prometheus_lines,
)
from fenghuo.runtime.service import BusUnavailable, MetricFigures

SIG = ("t.signals", 0)


def test_the_wait_is_counted_from_the_first_reading_that_saw_the_record() -> None:
    h = LagHistory()
    h.add(0.0, {SIG: 100}, {"t-alerts": {SIG: 100}})  # caught up
    h.add(5.0, {SIG: 130}, {"t-alerts": {SIG: 100}})  # 30 records came; none finished
    r = h.add(65.0, {SIG: 150}, {"t-alerts": {SIG: 120}})  # 20 finished: the oldest left came by t=5
    (p,) = r.partitions
    assert (p.committed, p.end, p.records, p.seconds) == (120, 150, 30, 60.0)
    r = h.add(70.0, {SIG: 150}, {"t-alerts": {SIG: 150}})
    assert r.partitions[0].seconds == 0.0 and r.partitions[0].records == 0


def test_events_per_second_are_the_committed_growth_over_about_a_minute() -> None:
    h = LagHistory()
    for t in range(0, 125, 5):  # 40 records/s finished by the store writer, none by the alert service
        r = h.add(float(t), {("e", 0): 10_000, SIG: 9}, {"t-store": {("e", 0): 40 * t}, "t-alerts": {SIG: 0}})
    assert r.rates == {"t-store": 40.0, "t-alerts": 0.0}


def test_the_history_is_bounded() -> None:
    h = LagHistory(keep_s=60.0, max_samples=5)
    for t in range(100):
        r = h.add(float(t), {SIG: 1000}, {"t-alerts": {SIG: 0}})
    assert len(h.samples) == 5
    assert r.partitions[0].seconds == 4.0  # a wait older than what is kept shows as what is kept (a lower bound)


def lagging(at: float, waited: float) -> LagReport:
    return LagReport(at, True, [PartitionLag("t-detectors", "t.events.sensor", 3, 10, 510, waited),
                                PartitionLag("t-detectors", "t.events.sensor", 1, 7, 7, 0.0)])


def test_the_alert_rises_past_the_limit_names_the_partitions_and_clears_under_half_of_it() -> None:
    w = LagWatch(120.0, "D")
    assert w.check(lagging(1000.0, 119.0)) == []
    (s,) = w.check(lagging(1005.0, 124.0))
    assert (s.risk, s.detector, s.rule, s.grid, s.kind, s.level.name_en) == (  # type: ignore[union-attr]
        Risk.SYSTEM, "health", "consumer-lag", "D", "level", "orange")
    assert "t-detectors" in s.reason and "124 s" in s.reason and "500 record(s)" in s.reason
    assert s.evidence["partitions"] == [{"topic": "t.events.sensor", "partition": 3, "records": 500,
                                         "waited_s": 124.0}]
    assert w.check(lagging(1010.0, 90.0)) == []  # still over half the limit: stays open, not raised again
    assert w.check(LagReport(1015.0, False, [])) == []  # the broker did not answer: nothing is known
    (c,) = w.check(lagging(1020.0, 59.0))
    assert (c.kind, c.level, c.series) == ("clear", None, "lag:t-detectors")


def test_metrics_show_lag_per_group_and_partition_and_stay_bounded() -> None:
    parts = [PartitionLag("t-store", "t.events.sensor", p, 0, p, float(p)) for p in range(MAX_SERIES + 50)]
    text = render_metrics(MetricFigures(0, 0, 0, 0, 0, [], 3, {}, outbox_by_level={"red": 2, "blue": 1},
                                        extra=prometheus_lines(LagReport(100.0, True, parts, {"t-store": 2.5}),
                                                               103.0)))
    assert 'fenghuo_kafka_consumer_lag{group="t-store",topic="t.events.sensor",partition="7"} 7' not in text
    assert f'fenghuo_kafka_consumer_lag{{group="t-store",topic="t.events.sensor",partition="{MAX_SERIES + 49}"}}' \
        in text  # the most lagging are kept
    assert text.count("fenghuo_kafka_consumer_lag_seconds{") == MAX_SERIES
    assert 'fenghuo_stage_events_per_second{group="t-store"} 2.5' in text
    assert "fenghuo_kafka_lag_read_age_seconds 3.000" in text and "fenghuo_kafka_up 1" in text
    assert 'fenghuo_outbox_pending_by_level{level="red"} 2' in text
    assert 'fenghuo_outbox_pending_by_level{level="yellow"} 0' in text


class Broker:
    """Offsets as the broker would give them (KafkaOffsets' two calls); ``down`` makes the reads fail."""

    def __init__(self) -> None:
        self.ends_: dict[tuple[str, int], int] = {}
        self.groups: dict[str, dict[tuple[str, int], int]] = {}
        self.down = False
        self.closed = 0

    def ends(self, topics: list[str]) -> dict[tuple[str, int], int]:
        if self.down:
            raise OSError("no broker")
        return {tp: e for tp, e in self.ends_.items() if tp[0] in topics}

    def committed(self, group: str) -> dict[tuple[str, int], int]:
        return dict(self.groups.get(group, {}))

    def close(self) -> None:
        self.closed += 1


def test_the_monitor_reads_every_stage_sends_its_alert_and_keeps_one_kafka_refused() -> None:
    broker, now, sent = Broker(), [0.0], []
    fail = [True]

    def send(signals: list) -> None:  # type: ignore[type-arg]
        if fail[0]:
            raise BusUnavailable("down")
        sent.extend(signals)

    m = LagMonitor(Topics("t"), lambda: broker, LagWatch(30.0, "D"), send, wall=lambda: now[0])
    broker.ends_ = {("t.signals", 0): 5, ("t.events.sensor", 0): 8}  # the alert service never committed
    m.step()
    groups = {(p.group, p.topic) for p in m.report.partitions}
    assert ("t-alerts", "t.signals") in groups and ("t-store", "t.events.sensor") in groups
    assert ("t-detectors", "t.events.sensor") in groups and ("t-alerts", "t.events.sensor") not in groups
    now[0] = 40.0
    assert m.step() == 0 and len(m.unsent) == 3  # every stage is behind; Kafka did not take the alerts
    fail[0] = False
    now[0] = 45.0
    assert m.step() == 3 and [s.series for s in sent] == ["lag:t-alerts", "lag:t-detectors", "lag:t-store"]
    broker.down = True
    assert m.sample().up is False and m.report.partitions and broker.closed == 1  # last figures kept


@pytest.mark.parametrize("seconds", [5.0, 100_000.0])
def test_the_lag_limit_is_bounded(seconds: float) -> None:
    from pydantic import ValidationError

    from fenghuo.core.settings import Settings

    with pytest.raises(ValidationError, match="lag_alert_seconds"):
        Settings(lag_alert_seconds=seconds)
