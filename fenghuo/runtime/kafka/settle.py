"""Has the distributed runtime caught up? Each stage's committed offsets against its input topics' ends.

A drill run is scored from the store once it ends. Over Kafka its last records (and, after a worker was
killed, a backlog) may still be on their way through the detector workers and the alert service, so the API
waits, stage after stage, until each consumer group has committed what was in its input topics when that
stage's wait began: the store writer and the detectors (event topics), the detectors' district stage (the
roll-up topic, which the grid stage fills), then the alert service (signals and commands, which both detector
stages fill). A worker commits only what it has finished (the store has it, or its signals are in Kafka), so a
stage that has committed its inputs' ends has passed everything on. Other traffic arriving meanwhile does not
hold the wait: only the ends seen when a stage's wait began count.

>>> from fenghuo.runtime.kafka.bus import Topics
>>> [(group, len(topics)) for group, topics in stages(Topics("t"))]
[('t-store', 4), ('t-detectors', 3), ('t-detectors', 1), ('t-alerts', 2)]
>>> behind({("a", 0): 10, ("a", 1): 3}, {("a", 0): 10})
[('a', 1)]
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from fenghuo.runtime.kafka.bus import Topics

log = logging.getLogger("fenghuo.runtime.kafka.settle")

Offsets = dict[tuple[str, int], int]  # (topic, partition) -> offset
BOOTSTRAP_MS = 5000  # the broker away: the wait gives up after this, not kafka-python's 30 s
QUIET_S = 30.0  # a stage whose commits have not moved this long is not waited for any more


class OffsetSource(Protocol):
    """Where the offsets come from (:class:`KafkaOffsets`)."""

    def ends(self, topics: list[str]) -> Offsets: ...
    def committed(self, group: str) -> Offsets: ...


def stages(topics: Topics) -> list[tuple[str, list[str]]]:
    """(consumer group, its input topics), in the order work flows through them."""
    return [(topics.group("store"), [*topics.events, topics.deadletter]),
            (topics.group("detectors"), topics.events),
            (topics.group("detectors"), [topics.complaints_by_district]),
            (topics.group("alerts"), [topics.signals, topics.commands])]


def behind(ends: Offsets, committed: Offsets) -> list[tuple[str, int]]:
    """The partitions whose committed offset is short of the end seen (a partition never committed: at 0)."""
    return sorted(tp for tp, end in ends.items() if committed.get(tp, 0) < end)


class KafkaOffsets:
    """Reads end offsets and a group's committed offsets (kafka-python; one admin and one plain consumer)."""

    def __init__(self, bootstrap: str) -> None:
        from kafka import KafkaAdminClient, KafkaConsumer

        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="fenghuo-api-settle",
                                      bootstrap_timeout_ms=BOOTSTRAP_MS)
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, client_id="fenghuo-api-settle",
                                      enable_auto_commit=False, bootstrap_timeout_ms=BOOTSTRAP_MS)

    def ends(self, topics: list[str]) -> Offsets:
        from kafka import TopicPartition

        tps = [TopicPartition(t, p) for t in topics for p in sorted(self.consumer.partitions_for_topic(t) or ())]
        return {(tp.topic, tp.partition): int(off) for tp, off in self.consumer.end_offsets(tps).items()}

    def committed(self, group: str) -> Offsets:
        found = self.admin.list_group_offsets({group: None}).get(group) or {}
        return {(tp.topic, tp.partition): int(om.offset) for tp, om in found.items() if om.offset >= 0}

    def close(self) -> None:
        self.consumer.close()
        self.admin.close()


def wait_settled(offsets: OffsetSource, topics: Topics, timeout: float, *, quiet: float = QUIET_S,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 only: str | None = None) -> bool:
    """Wait (at most ``timeout`` seconds) until every stage (``only``: the stages of that consumer group, e.g.
    ``topics.group("alerts")``) has committed its inputs' ends; whether all did. A
    stage whose commits do not move for ``quiet`` seconds is given up on (said in the log) and the next stage is
    waited for: a replacement faust detector worker was seen (in one of five runs of the drill tests) to leave its
    last commit behind with its work done (the run's alerts complete) until more events came, and a worker that
    stays dead must not hold a run's scorecard either.

    >>> class Script:  # the detectors' commits never reach the ends; the other stages' do
    ...     def ends(self, inputs): return {(inputs[0], 0): 5}
    ...     def committed(self, group): return {} if group == "t-detectors" else {(t, 0): 5 for t in Topics("t").all()}
    >>> now = [0.0]
    >>> def sleep(s): now[0] += s
    >>> wait_settled(Script(), Topics("t"), 120.0, quiet=30.0, clock=lambda: now[0], sleep=sleep), now[0]
    (False, 60.0)
    """
    deadline = clock() + timeout
    settled = True
    for group, inputs in stages(topics):
        if only is not None and group != only:
            continue
        ends = {tp: end for tp, end in offsets.ends(inputs).items() if end > 0}
        seen: Offsets | None = None
        since = clock()
        while ends:
            committed = offsets.committed(group)
            late = behind(ends, committed)
            if not late:
                break
            now = clock()
            mine = {tp: committed.get(tp, 0) for tp in ends}
            if mine != seen:
                seen, since = mine, now
            if now >= deadline or now - since >= quiet:
                why = f"no progress for {quiet:g} s" if now < deadline else f"not within {timeout:g} s"
                log.warning("%s has not committed all of its input (%s; behind on %s): scored as it is", group, why,
                            ", ".join(f"{t}[{p}]" for t, p in late[:5]))
                settled = False
                break
            sleep(0.25)
        if clock() >= deadline:
            return False
    return settled
