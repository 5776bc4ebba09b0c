"""Consumer lag of the distributed runtime's stages, as ``GET /metrics`` shows it and a system alert watches it.

Each stage is a consumer group reading its input topics (:func:`fenghuo.runtime.kafka.settle.stages`): the store
writer (``<prefix>-store``), the detector workers (``<prefix>-detectors``: the event topics and the roll-up topic)
and the alert service (``<prefix>-alerts``: signals and commands). Its lag on a partition is the end offset less
the offset the group committed (a worker commits only what it finished, so the lag is work not yet done).

:class:`LagHistory` is pure: it is given the offsets read at a time and keeps the recent end offsets, which tell
how long the oldest unfinished record has waited (``seconds``: from the first reading that saw the end offset
past the committed one; a lower bound, as exact as the reading period) and how many records per second each stage
finishes (the committed offsets' growth over about a minute). :class:`LagWatch` (pure, the time is the report's)
raises a ``consumer-lag`` system alert when a stage's oldest unfinished record has waited longer than the limit
(``Settings.lag_alert_seconds``) and clears it below half the limit. :class:`LagMonitor` reads the offsets from the
broker every few seconds on a thread of its own, so a scrape of ``/metrics`` costs no broker call.

>>> h = LagHistory()
>>> _ = h.add(100.0, {("e", 0): 10}, {"g-store": {("e", 0): 10}})
>>> r = h.add(105.0, {("e", 0): 25}, {"g-store": {("e", 0): 12}})
>>> [(p.group, p.records, p.seconds) for p in r.partitions], r.rates
([('g-store', 13, 0.0)], {'g-store': 0.4})
>>> h.add(130.0, {("e", 0): 25}, {"g-store": {("e", 0): 12}}).partitions[0].seconds  # waiting since 105
25.0
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fenghuo.core.levels import Level
from fenghuo.core.models import Risk, Signal
from fenghuo.runtime.kafka.bus import Topics
from fenghuo.runtime.kafka.settle import Offsets, stages
from fenghuo.runtime.service import BusUnavailable

log = logging.getLogger("fenghuo.runtime.kafka.lag")

SAMPLE_S = 5.0  # how often the offsets are read (a scrape shows the latest reading)
RATE_WINDOW_S = 60.0  # events/s per stage: the committed offsets' growth over about this long
HISTORY_S = 6 * 3600.0  # end offsets kept this long: a lag older than this shows as this long
MAX_SAMPLES = 4320  # ... and at most this many readings (6 h at 5 s)
MAX_SERIES = 4096  # partitions shown in /metrics at most (the most lagging first)
EVIDENCE_PARTITIONS = 10  # the most lagging partitions named in an alert


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """One group's position on one partition: committed offset, end offset and how long the oldest record it has
    not finished has waited (0 when it has finished all)."""

    group: str
    topic: str
    partition: int
    committed: int
    end: int
    seconds: float

    @property
    def records(self) -> int:
        return max(0, self.end - self.committed)


@dataclass(slots=True)
class LagReport:
    """One reading: when (wall clock; None before the first), whether the broker answered, each group's partitions
    and the records per second each group finished lately."""

    at: float | None = None
    up: bool = False
    partitions: list[PartitionLag] = field(default_factory=list)
    rates: dict[str, float] = field(default_factory=dict)
    error: str = ""

    def worst(self) -> dict[str, list[PartitionLag]]:
        """Each group's lagging partitions, the longest wait first."""
        out: dict[str, list[PartitionLag]] = {}
        for p in sorted(self.partitions, key=lambda p: (-p.seconds, -p.records)):
            out.setdefault(p.group, [])
            if p.records:
                out[p.group].append(p)
        return out


def group_inputs(topics: Topics) -> dict[str, list[str]]:
    """Each stage's consumer group and every topic it reads.

    >>> group_inputs(Topics("t"))["t-alerts"]
    ['t.signals', 't.commands']
    """
    out: dict[str, list[str]] = {}
    for group, inputs in stages(topics):
        out.setdefault(group, [])
        out[group] += [t for t in inputs if t not in out[group]]
    return out


class LagHistory:
    """The recent readings of end offsets and committed offsets (see the module's doc); pure."""

    def __init__(self, keep_s: float = HISTORY_S, max_samples: int = MAX_SAMPLES) -> None:
        self.keep_s = keep_s
        self.samples: deque[tuple[float, Offsets, dict[str, Offsets]]] = deque(maxlen=max_samples)

    def add(self, at: float, ends: Offsets, committed: dict[str, Offsets]) -> LagReport:
        """Take the offsets read at ``at``; the report of this reading. ``committed``: group -> its committed offset
        on each partition of its input topics (0 where it never committed); partitions not in ``ends`` are left."""
        while self.samples and self.samples[0][0] < at - self.keep_s:
            self.samples.popleft()
        self.samples.append((at, dict(ends), {g: dict(c) for g, c in committed.items()}))
        parts = []
        for group, offsets in committed.items():
            for tp, done in sorted(offsets.items()):
                if tp in ends:
                    end = ends[tp]
                    parts.append(PartitionLag(group, tp[0], tp[1], done, end, self._waited(at, tp, done, end)))
        return LagReport(at, True, parts, self._rates(at))

    def _waited(self, at: float, tp: tuple[str, int], done: int, end: int) -> float:
        """Seconds since the first reading whose end offset was past ``done`` (0 when nothing is left)."""
        if done >= end:
            return 0.0
        for t, ends, _ in self.samples:
            if ends.get(tp, 0) > done:
                return max(0.0, at - t)
        return 0.0

    def _rates(self, at: float) -> dict[str, float]:
        """Records per second each group committed since the reading closest to ``RATE_WINDOW_S`` ago."""
        if len(self.samples) < 2:
            return {}
        _, _, now = self.samples[-1]
        then_at, _, then = min(list(self.samples)[:-1], key=lambda s: abs(at - s[0] - RATE_WINDOW_S))
        if at <= then_at:
            return {}
        out = {}
        for group, offsets in now.items():
            before = then.get(group, {})
            grown = sum(max(0, off - before[tp]) for tp, off in offsets.items() if tp in before)
            out[group] = round(grown / (at - then_at), 3)
        return out


class LagWatch:
    """A ``consumer-lag`` system alert per stage whose oldest unfinished record waited more than ``limit_s``;
    cleared once every partition of the stage is back under half of it. Pure: the time is the report's.

    >>> w = LagWatch(60.0, "D")
    >>> slow = LagReport(1000.0, True, [PartitionLag("t-alerts", "t.signals", 0, 5, 9, 75.0)])
    >>> [(s.rule, s.series, s.level.name_en) for s in w.check(slow)], w.check(slow)
    ([('consumer-lag', 'lag:t-alerts', 'orange')], [])
    >>> [(s.kind, s.level) for s in w.check(LagReport(1100.0, True, [PartitionLag("t-alerts", "t.signals", 0, 9, 9,
    ...  0.0)]))]
    [('clear', None)]
    """

    def __init__(self, limit_s: float, grid: str, level: Level = Level.ORANGE) -> None:
        self.limit_s, self.grid, self.level = limit_s, grid, level
        self.alerting: dict[str, float] = {}  # group -> since when its alert is open

    def check(self, report: LagReport) -> list[Signal]:
        """The alerts to raise and clear after this reading (none when the broker did not answer)."""
        if not report.up or report.at is None:
            return []
        out = []
        for group, lagging in sorted(report.worst().items()):
            waited = lagging[0].seconds if lagging else 0.0
            if group not in self.alerting and waited > self.limit_s:
                self.alerting[group] = report.at
                out.append(self._signal(group, report.at, lagging, self.level,
                                        f"stage {group} is behind: a record has waited {waited:.0f} s (limit "
                                        f"{self.limit_s:.0f} s), {sum(p.records for p in lagging)} record(s) "
                                        f"not finished on {len(lagging)} partition(s)"))
            elif group in self.alerting and waited <= self.limit_s / 2:
                since = self.alerting.pop(group)
                out.append(self._signal(group, report.at, lagging, None,
                                        f"stage {group} caught up ({report.at - since:.0f} s after the lag alert)"))
        return out

    def _signal(self, group: str, at: float, lagging: list[PartitionLag], level: Level | None,
                reason: str) -> Signal:
        top = [{"topic": p.topic, "partition": p.partition, "records": p.records, "waited_s": round(p.seconds, 1)}
               for p in lagging[:EVIDENCE_PARTITIONS]]
        return Signal(detector="health", rule="consumer-lag", risk=Risk.SYSTEM, feed="system", grid=self.grid,
                      series=f"lag:{group}", source=group, ts=at, level=level,
                      score=0.0 if level is None else 1.0, reason=reason,
                      kind="level" if level is not None else "clear",
                      evidence={"group": group, "limit_s": self.limit_s, "partitions": top})


def _label(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_lines(report: LagReport, now: float) -> list[str]:
    """The report in the Prometheus text format (the most lagging ``MAX_SERIES`` partitions).

    >>> r = LagReport(10.0, True, [PartitionLag("t-store", "t.events.sensor", 0, 3, 5, 2.5)], {"t-store": 1.5})
    >>> [ln for ln in prometheus_lines(r, 12.0) if not ln.startswith("#")][:3]
    ['fenghuo_kafka_up 1', 'fenghuo_kafka_lag_read_age_seconds 2.000', \
'fenghuo_kafka_consumer_lag{group="t-store",topic="t.events.sensor",partition="0"} 2']
    """
    lines = ["# HELP fenghuo_kafka_up Whether the last reading of the consumer offsets reached the broker.",
             "# TYPE fenghuo_kafka_up gauge", f"fenghuo_kafka_up {int(report.up)}",
             "# HELP fenghuo_kafka_lag_read_age_seconds Seconds since the offsets shown were read.",
             "# TYPE fenghuo_kafka_lag_read_age_seconds gauge",
             f"fenghuo_kafka_lag_read_age_seconds {max(0.0, now - report.at) if report.at else -1:.3f}"]
    shown = sorted(report.partitions, key=lambda p: (-p.seconds, -p.records, p.group, p.topic, p.partition))
    shown = sorted(shown[:MAX_SERIES], key=lambda p: (p.group, p.topic, p.partition))
    labels = [f'group="{_label(p.group)}",topic="{_label(p.topic)}",partition="{p.partition}"' for p in shown]
    for name, kind, what, value in (
            ("fenghuo_kafka_consumer_lag", "gauge", "Records not yet finished (end offset less committed offset).",
             lambda p: str(p.records)),
            ("fenghuo_kafka_consumer_lag_seconds", "gauge", "How long the oldest unfinished record has waited.",
             lambda p: f"{p.seconds:.1f}"),
            ("fenghuo_kafka_committed_offset", "gauge", "The group's committed offset.", lambda p: str(p.committed)),
            ("fenghuo_kafka_end_offset", "gauge", "The partition's end offset.", lambda p: str(p.end))):
        lines += [f"# HELP {name} {what}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{{{lb}}} {value(p)}" for lb, p in zip(labels, shown, strict=True)]
    lines += ["# HELP fenghuo_stage_events_per_second Records each stage finished per second lately (committed).",
              "# TYPE fenghuo_stage_events_per_second gauge"]
    lines += [f'fenghuo_stage_events_per_second{{group="{_label(g)}"}} {r}' for g, r in sorted(report.rates.items())]
    return lines


class LagMonitor:
    """Reads the offsets every ``every_s`` seconds on a thread of its own (kafka-python; ``offsets`` makes the
    reader, :class:`fenghuo.runtime.kafka.settle.KafkaOffsets`), keeps the latest :class:`LagReport` and sends the
    lag alerts of ``watch`` with ``send`` (those not taken, BusUnavailable, go again after the next reading)."""

    def __init__(self, topics: Topics, offsets: Callable[[], Any], watch: LagWatch | None,
                 send: Callable[[list[Signal]], None], every_s: float = SAMPLE_S,
                 wall: Callable[[], float] = time.time) -> None:
        self.inputs = group_inputs(topics)
        self.make_offsets, self.watch, self.send, self.every_s, self.wall = offsets, watch, send, every_s, wall
        self.history = LagHistory()
        self.report = LagReport()
        self.unsent: list[Signal] = []
        self._reader: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> LagReport:
        """Read the offsets now; the new report (on failure, the last partitions with ``up`` false)."""
        try:
            if self._reader is None:
                self._reader = self.make_offsets()
            ends = self._reader.ends(sorted({t for ts in self.inputs.values() for t in ts}))
            committed = {}
            for group, inputs in self.inputs.items():
                mine = {tp: off for tp, off in self._reader.committed(group).items() if tp[0] in inputs}
                committed[group] = {**dict.fromkeys((tp for tp in ends if tp[0] in inputs), 0), **mine}
            self.report = self.history.add(self.wall(), ends, committed)
        except Exception as exc:  # the broker is away: say so, keep the last figures
            log.warning("could not read the consumer offsets (%s); trying again in %.0f s", type(exc).__name__,
                        self.every_s)
            self.report = LagReport(self.report.at, False, self.report.partitions, self.report.rates, str(exc))
            self._close_reader()
        return self.report

    def step(self) -> int:
        """One reading, then its alerts sent; the number of signals sent."""
        report = self.sample()
        if self.watch is not None:
            self.unsent += self.watch.check(report)
        if not self.unsent:
            return 0
        signals = list(self.unsent)
        try:
            self.send(signals)
        except BusUnavailable:
            log.warning("lag alert: Kafka did not take it; sent again after the next reading")
            return 0
        del self.unsent[:len(signals)]
        log.info("lag watch: %s", "; ".join(s.reason for s in signals))
        return len(signals)

    def _run(self) -> None:
        while True:
            try:
                self.step()
            except Exception:  # keep reading; the error is logged with its trace
                log.exception("lag reading failed")
            if self._stop.wait(self.every_s):
                return

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fenghuo-kafka-lag", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._close_reader()

    def _close_reader(self) -> None:
        if self._reader is not None:
            try:
                self._reader.close()
            except Exception:  # closing a client of a broker that is away
                log.debug("closing the offsets reader failed", exc_info=True)
            self._reader = None
