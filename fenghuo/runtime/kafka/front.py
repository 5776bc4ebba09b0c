"""The API's side of the distributed runtime (``fenghuo run`` with ``FENGHUO_BUS=kafka``).

:class:`KafkaFront` is the :class:`~fenghuo.runtime.service.Service` of this runtime, as the embedded
:class:`~fenghuo.runtime.embedded.Pipeline` is of the other, but runs no detection, no escalation ticks and no
outbox delivery:

* ingest validates and hands the events to Kafka (:class:`~fenghuo.runtime.kafka.ingest_worker.KafkaIngest`): it
  returns once Kafka has them, or raises ``BusUnavailable`` (the API answers 503 + Retry-After); rejected
  records (those the API could not read among them) go to the dead-letter topic, which the store writer keeps;
* reads (alerts, rules, reports, series) come from the shared store the workers write;
* a rule change goes to the store, then a rule mark to every event partition (:meth:`KafkaFront.mark_rules`;
  :mod:`.rule_marks`), and the call returns once Kafka has them: every event produced after it is run under the
  new rule (the config's rules new to the store are marked at start);
* ack and resolve are commands on ``<prefix>.commands`` (keyed by the alert's grid, so the alert
  service instance that owns the grid's signals applies them); the alert service answers on the
  alerts topic with the command's id, and the call returns the alert as the alert service left it
  (``CommandTimeout`` -> 504 when no answer comes in time);
* the alerts topic also feeds the live board's stream (``/v1/alerts/stream``);
* with the ``health`` detector configured, the feed watch (:class:`fenghuo.runtime.feed_watch.FeedWatch`) runs
  here, where the HTTP ingest receives every record: each accepted event (not a drill's) is seen at its receipt
  time once Kafka has it, and a thread ticks the watch every ``tick_seconds`` on the wall clock; a
  ``source-silent`` / ``feed-silent`` signal goes to the signals topic as a batch of the system node (keyed by
  it, no positions: the alert service applies it as fresh), as the embedded pipeline applies it. A signal Kafka
  does not take is sent again at the next tick. The watch's state is in memory (a restarted API learns again),
  and each API instance watches what it received (behind a load balancer, a source is watched by the
  instances it reaches);
* each stage's consumer lag is read here every few seconds (:mod:`.lag`): ``/metrics`` shows it per group and
  partition with the stages' events/s and the outbox backlog by level, and a stage whose oldest unfinished record
  waited past ``lag_alert_seconds`` raises a ``consumer-lag`` system alert, sent as the feed watch's are
  (docs/pipeline-health.md);
* drill runs (fenghuo/drills, ``self.drills``) run here as in the embedded runtime, with the workers doing the
  detection: the run's records go to Kafka, its simulated acks are commands, its clock reaches the alert
  service as ``drill_clock`` commands on every commands partition (:mod:`.drill_clock`), a run is scored once
  the workers have caught up (:mod:`.settle`), and a scenario's ``kill`` / ``pause_broker`` run the operator's
  ``drills.chaos`` commands (:mod:`.chaos`). See docs/drills.md, "Drills in Kafka mode".
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from fenghuo.alerts.external import WarningBook, WarningResult
from fenghuo.alerts.routing import Router
from fenghuo.alerts.service import AlertConflict, AlertNotFound
from fenghuo.core.chain import DailyHeadExport
from fenghuo.core.clock import Clocks, WallClock
from fenghuo.core.config import Config, Rule
from fenghuo.core.grids import GridTree
from fenghuo.core.models import Alert, Event, Signal, Status
from fenghuo.core.retention import PurgeJob
from fenghuo.core.rulebook import RuleBook
from fenghuo.core.settings import Settings
from fenghuo.core.store import AlertQuery, Store, open_store
from fenghuo.drills.control import MAX_RUN_ALERTS, DrillControl
from fenghuo.drills.scenario import Kill, PauseBroker
from fenghuo.ingest.cap_in import CapAlert, CapError
from fenghuo.ingest.cap_poll import cap_poller_for
from fenghuo.ingest.events import Rejected
from fenghuo.runtime.broadcast import Broadcaster
from fenghuo.runtime.feed_watch import FeedWatch, feed_watch_for
from fenghuo.runtime.kafka.alert_service.commands import drill_clock_command
from fenghuo.runtime.kafka.bus import batch_to_wire
from fenghuo.runtime.kafka.chaos import RuntimeChaos
from fenghuo.runtime.kafka.drill_clock import DrillClocks
from fenghuo.runtime.kafka.ingest_worker import KafkaIngest
from fenghuo.runtime.kafka.lag import LagMonitor, LagWatch, prometheus_lines
from fenghuo.runtime.kafka.rule_marks import MARK_KEY, mark_to_wire
from fenghuo.runtime.kafka.settle import KafkaOffsets, wait_settled
from fenghuo.runtime.kafka.warning_port import KafkaWarningPort
from fenghuo.runtime.service import (
    BusUnavailable,
    CommandTimeout,
    IngestResult,
    MetricFigures,
    Stats,
    StoreReads,
    merge_refused,
    open_by_level,
    outbox_by_level,
)

log = logging.getLogger("fenghuo.runtime.kafka.front")
_T = TypeVar("_T")
DRILL_PACE = 600.0  # scenario seconds per wall second of a `speed: max` drill run here (docs/drills.md)
ESCALATION_SETTLE_S = 15.0  # how long a run waits for the alert service to take in an escalation deadline
SETTLE_S = 120.0  # how long a drill run that ends waits for the workers to catch up before it is scored


class AlertCommands:
    """``ack``/``resolve`` with AlertService's signature, carried out by the alert service."""

    def __init__(self, front: KafkaFront, timeout_s: float = 10.0) -> None:
        self.front, self.timeout_s = front, timeout_s
        self.pending: dict[str, Future[dict[str, Any]]] = {}

    def ack(self, alert_id: str, actor: str, comment: str = "") -> Alert:
        return self._send("ack", alert_id, actor, comment)

    def resolve(self, alert_id: str, actor: str, comment: str = "") -> Alert:
        return self._send("resolve", alert_id, actor, comment)

    def answered(self, reply: dict[str, Any]) -> None:
        fut = self.pending.pop(str(reply.get("command")), None)
        if fut is not None and not fut.done():
            fut.set_result(reply)

    def _send(self, op: str, alert_id: str, actor: str, comment: str) -> Alert:
        stored = self.front.store.get_alert(alert_id)
        if stored is None:
            raise AlertNotFound(alert_id)
        if stored.drill:  # the run's clock first, on the same partition: the ack is stamped on the run's clock
            self.front.drill_clocks.flush(stored.drill)
        if not self.front.listening.is_set():
            raise BusUnavailable("not connected to the alerts topic yet")
        cid = uuid.uuid4().hex
        fut: Future[dict[str, Any]] = Future()
        self.pending[cid] = fut
        cmd = {"id": cid, "op": op, "alert": alert_id, "grid": stored.grid, "actor": actor, "comment": comment,
               "ts": time.time()}
        try:
            self.front.kafka.produce(self.front.topics.commands, stored.grid.encode(),
                                     json.dumps(cmd, ensure_ascii=False).encode())
            reply = fut.result(self.timeout_s)
        except TimeoutError:
            raise CommandTimeout(f"the alert service did not confirm the {op} of {alert_id} within "
                                 f"{self.timeout_s:g} s; it is queued and will be applied") from None
        finally:
            self.pending.pop(cid, None)
        if reply.get("ok"):
            return self.front.store.get_alert(alert_id) or stored  # committed before the answer was sent
        if reply.get("status") == 404:
            raise AlertNotFound(alert_id)
        raise AlertConflict(str(reply.get("error", "refused")))


class KafkaFront(StoreReads):
    """The Kafka runtime's :class:`~fenghuo.runtime.service.Service` (the API process's part of it)."""

    def __init__(self, settings: Settings, config: Config, store: Store, kafka: KafkaIngest,
                 command_timeout_s: float = 10.0) -> None:
        self.settings, self.config, self.store, self.kafka = settings, config, store, kafka
        self.topics = kafka.topics
        self.clocks = Clocks(settings.clock, WallClock())
        self.tree = GridTree(config.nodes, config.grid_match_km)
        self.broadcaster = Broadcaster()
        self.stats = Stats()
        self.purge = PurgeJob(store, config.privacy.text_retention_days, self.clocks.wall_now)
        self.heads = DailyHeadExport(settings.data_dir)
        self.lock = threading.RLock()
        self.rulebook = RuleBook(store, self.tree)
        before = {r["id"]: r["version"] for r in store.rules()}
        self.rulebook.seed(config, self.clocks.wall_now())
        # the config's rules the store had not seen: marked on the event partitions at start (a worker that read
        # the store before the seed applies them before any event produced after the API is up)
        self._seeded = {r["id"]: int(r["version"]) for r in store.rules() if before.get(r["id"]) != r["version"]}
        self.listening = threading.Event()
        self.alerts = AlertCommands(self, command_timeout_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # sources and feeds gone silent (with `health`): on the system node, as the embedded pipeline raises them
        self.feed_watch: FeedWatch | None = feed_watch_for(config, Router(config, self.tree.chain_ids).system_node())
        self._watch_lock = threading.Lock()
        self._watch_unsent: list[Signal] = []  # raised, not yet taken by Kafka: sent again at the next tick
        # the offsets client the escalation settles use (one per front: an admin client and a consumer), made at
        # the first, closed and made again after an error; kafka-python's clients are not thread-safe, so the drills'
        # settles take turns on it
        self._settle_lock = threading.Lock()
        self._settle_offsets: KafkaOffsets | None = None
        self._ticker: threading.Thread | None = None
        # each stage's consumer lag, read every few seconds for /metrics; a `consumer-lag` system alert past the limit
        self.lag = LagMonitor(self.topics, lambda: KafkaOffsets(settings.kafka_bootstrap),
                              LagWatch(settings.lag_alert_seconds, Router(config, self.tree.chain_ids).system_node()),
                              self.send_system_signals)
        # CAP warnings taken in (docs/warnings.md): judged here over the shared store, their alert changes sent to
        # the alert service as signals (fenghuo/runtime/kafka/warning_port.py); expiry on the tick thread
        self.warnings = WarningBook(config, self.tree, store, KafkaWarningPort(self), self.clocks.now_of)
        # the CAP feeds of warnings.sources, polled by this (API) process from start to stop
        self.cap_poller = cap_poller_for(config, settings, lambda alerts, origin: self.take_warnings(alerts, origin))
        # drill runs: the run's clock to the alert service, the operator's chaos commands, the runs themselves
        self.drill_clocks = DrillClocks(self._send_drill_clock)
        self.chaos = RuntimeChaos(config.drills.chaos, wall=self.clocks.wall_now)
        self._closing = False
        self.drills = DrillControl(self, store, config, self.tree, wall=self.clocks.wall_now,
                                   data_dirs=[Path(d) for d in [config.drills.data_dir] if d is not None],
                                   max_pace=DRILL_PACE)

    # -- what the routes call -------------------------------------------------------------------
    def parse(self, records: list[Any], drill: str | None = None, *, may_drill: bool = True
              ) -> tuple[list[Event], list[tuple[int, str, Any]]]:
        return self.kafka.parse(records, drill, may_drill=may_drill)

    def ingest(self, records: list[Any], drill: str | None = None, *, may_drill: bool = True,
               refused: Sequence[Rejected] = ()) -> IngestResult:
        """To Kafka: the events to their feeds' topics, the rejected records (``refused`` among them) to the
        dead-letter topic. BusUnavailable: nothing was accepted (503). A drill run's records wait for the broker
        while a pause its scenario made lasts (:meth:`_through_pause`)."""
        if drill is not None and drill in self.drills.active:
            return self._through_pause(lambda: self._ingest(records, drill, may_drill=may_drill, refused=refused))
        return self._ingest(records, drill, may_drill=may_drill, refused=refused)

    def _ingest(self, records: list[Any], drill: str | None, *, may_drill: bool,
                refused: Sequence[Rejected]) -> IngestResult:
        events, bad = merge_refused(records, refused, lambda rs: self.parse(rs, drill, may_drill=may_drill))
        seen: set[tuple[str, str]] = set()  # ids are unique per source
        unique = []
        for e in events:
            if (e.source, e.id) not in seen:
                seen.add((e.source, e.id))
                unique.append(e)
        self.kafka.send(unique, bad)
        if self.feed_watch is not None and unique:
            now = self.clocks.wall_now()
            with self._watch_lock:
                for e in unique:
                    if not e.drill:
                        self.feed_watch.seen(e.source, e.feed, now)
        result = IngestResult(len(unique), len(events) - len(unique), [{"index": i, "error": e} for i, e, _ in bad])
        self.stats.events += result.accepted
        self.stats.duplicates += result.duplicates
        self.stats.rejected += len(result.rejected)
        return result

    def take_warnings(self, alerts: list[CapAlert | CapError], origin: str, drill: str | None = None
                      ) -> list[WarningResult]:
        """CAP messages to alerts through the alert service (BusUnavailable: 503, nothing of the failing message
        recorded, so sending it again works)."""
        return self.warnings.take(alerts, origin, drill)

    def list_warnings(self, state: str | None = "open", drill: str | None = None, limit: int = 500
                      ) -> list[dict[str, Any]]:
        return self.warnings.open_warnings(drill, state, limit)

    def ack(self, alert_id: str, actor: str, comment: str = "") -> Alert:
        return self._through_pause(lambda: self.alerts.ack(alert_id, actor, comment))

    def resolve(self, alert_id: str, actor: str, comment: str = "") -> Alert:
        return self._through_pause(lambda: self.alerts.resolve(alert_id, actor, comment))

    def _through_pause(self, call: Callable[[], _T]) -> _T:
        """``call``; while a broker pause a drill injected lasts (and a minute after its resume), a BusUnavailable
        is waited out and the call made again, so the run goes on after the pause instead of failing. A call
        the broker took (a command with no answer in time) is not made again."""
        while True:
            try:
                return call()
            except BusUnavailable:
                if self.clocks.wall_now() >= self.chaos.paused_until() or self._stop.is_set():
                    raise
                self._stop.wait(1.0)

    # -- drill runs (fenghuo/drills): what a run asks of the runtime -----------------------------
    def advance_drill(self, drill: str, ts: float, detectors: bool = True) -> None:
        """The run's clock to the alert service (coalesced; see :mod:`.drill_clock`): its escalations fire and its
        acks are stamped on it, also after the last record. ``detectors`` is not used: the detector workers tick
        each grid on the drill's latest event time there (docs/distributed.md)."""
        self.drill_clocks.advance(drill, ts)

    def _send_drill_clock(self, drill: str, ts: float) -> None:
        """One ``drill_clock`` command on every partition of the commands topic (each instance of the alert
        service moves the clocks of its own partitions' grids)."""
        parts = self.kafka.partitions(self.topics.commands)
        value = drill_clock_command(drill, ts, len(parts))
        for p in parts:
            self.kafka.produce(self.topics.commands, drill.encode(), value, partition=p)

    def settle_drill(self, drill: str) -> None:
        """Nothing to wait for here: the detectors' background work is the detector workers' (their batches)."""

    def settle_escalations(self, drill: str) -> None:
        """The run's clock passed an escalation deadline: it goes out now, and the run waits (at most
        ``ESCALATION_SETTLE_S``) until the alert service has taken it in, so the run's responders see the alert at
        its new tier before the clock moves on (a busy machine was seen to let the run end first)."""
        self.drill_clocks.flush(drill)
        with self._settle_lock:
            try:
                if self._settle_offsets is None:
                    self._settle_offsets = KafkaOffsets(self.settings.kafka_bootstrap)
                if not wait_settled(self._settle_offsets, self.topics, ESCALATION_SETTLE_S, quiet=ESCALATION_SETTLE_S,
                                    only=self.topics.group("alerts")):
                    log.info("drill %s: the alert service is behind; the run goes on", drill)
            except Exception:  # the broker is away: the run goes on with what the store has
                log.info("drill %s: could not tell whether the alert service caught up", drill, exc_info=True)
                self._close_settle_offsets()

    def _close_settle_offsets(self) -> None:
        """Close the escalation settles' client (after an error, or at stop); the next settle makes a new one."""
        offsets, self._settle_offsets = self._settle_offsets, None
        if offsets is not None:
            try:
                offsets.close()
            except Exception:  # closing a client whose broker is away
                log.debug("closing the settle offsets client failed", exc_info=True)

    def drill_open_alerts(self, drill: str) -> list[Alert]:
        """The run's open and acknowledged alerts, as the alert service last stored them."""
        return [a for a in self.store.list_alerts(AlertQuery(drill=drill, limit=MAX_RUN_ALERTS))
                if a.status != Status.RESOLVED]

    def drill_due(self, drill: str) -> float | None:
        """Not known here: the detector workers tick on their own (docs/distributed.md)."""
        return None

    def flush_drill_notifications(self, timeout: float) -> None:
        """A run ends: its last clock goes out, then the wait until every stage has caught up (bounded by
        ``SETTLE_S``; ``timeout`` while the API stops), so the run is scored with all its alerts in the store.
        The alert service delivers the notifications itself."""
        self.drill_clocks.flush_all()
        offsets = None
        try:
            offsets = KafkaOffsets(self.settings.kafka_bootstrap)
            if not wait_settled(offsets, self.topics, timeout if self._closing else max(timeout, SETTLE_S)):
                log.warning("a drill run is scored before the workers caught up: its last alerts may be missing")
        except Exception:  # the broker is away: scored with what the store has
            log.warning("could not tell whether the workers caught up; scoring with what the store has",
                        exc_info=True)
        finally:
            if offsets is not None:
                offsets.close()

    def drill_chaos(self, drill: str, fault: Kill | PauseBroker) -> str:
        """Run the operator's ``drills.chaos`` command for the fault (docs/drills.md, "Chaos in Kafka mode")."""
        if isinstance(fault, Kill):
            return self.chaos.kill(fault.target)
        return self.chaos.pause(fault.for_)

    def purge_drill(self, drill: str, actor: str) -> dict[str, int]:
        """The run's events, alerts and notifications leave the store. The detector workers keep the run's
        detector state in their tables (and changelogs), unread: a run's id is never reused."""
        counts = self.store.purge_drill(drill, actor, self.clocks.wall_now())
        self.drill_clocks.forget(drill)
        return counts

    def metrics(self) -> MetricFigures:
        """This process's ingest counts; the alert service delivers, so no delivery outcomes here."""
        s = self.stats
        return MetricFigures(s.events, s.duplicates, s.rejected, s.signals, s.alerts_changed, list(s.latencies),
                             self.store.pending_notification_count(), open_by_level(self.open_alerts()),
                             outbox_by_level=outbox_by_level(self.store.pending_notifications_by_priority()),
                             extra=prometheus_lines(self.lag.report, self.clocks.wall_now()))

    def put_rule(self, rule_id: str, body: Any, actor: str) -> tuple[dict[str, Any], int]:
        """Store the rule's new version, then its marks on every event partition (:meth:`mark_rules`): every event
        produced after this returns is run under it. BusUnavailable (503): stored, but not yet ordered with the
        events (the workers' periodic refresh applies it within seconds; sending it again orders it)."""
        rule: Rule
        rule, version = self.rulebook.put(rule_id, body, actor, self.clocks.wall_now())
        self.mark_rules({rule_id: version})
        return rule.model_dump(), version

    def delete_rule(self, rule_id: str, actor: str) -> int:
        version = self.rulebook.delete(rule_id, actor, self.clocks.wall_now())
        self.mark_rules({rule_id: version})
        return version

    def mark_rules(self, versions: dict[str, int]) -> None:
        """A rule mark naming ``versions`` (which the store has now) on every partition of every event topic,
        returned once Kafka has them all: each detector worker reads the rules before it runs any event behind
        one (fenghuo/runtime/kafka/rule_marks.py, docs/distributed.md "Rule changes ordered with events")."""
        value = mark_to_wire(versions, self.clocks.wall_now())
        try:
            self.kafka.produce_to_partitions([(topic, p, MARK_KEY, value) for topic in self.topics.events
                                              for p in self.kafka.partitions(topic)])
        except BusUnavailable as exc:
            names = ", ".join(f"{r} v{v}" for r, v in versions.items())
            raise BusUnavailable(f"the rule change ({names}) is stored, but Kafka did not take it for the detector "
                                 f"workers, which apply it within seconds; send it again to order it with the "
                                 f"events ({exc})") from exc

    # -- the alerts topic: command answers and the live stream -----------------------------------
    def _listen(self) -> None:
        from kafka import KafkaConsumer, TopicPartition

        while not self._stop.is_set():
            consumer = None
            try:
                consumer = KafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap, group_id=None,
                                         client_id="fenghuo-api", enable_auto_commit=False,
                                         reconnect_backoff_max_ms=1000)
                parts = consumer.partitions_for_topic(self.topics.alerts) or set()
                if not parts:
                    raise BusUnavailable(f"topic {self.topics.alerts} not found (fenghuo kafka create-topics)")
                tps = [TopicPartition(self.topics.alerts, p) for p in sorted(parts)]
                consumer.assign(tps)
                consumer.seek_to_end(*tps)
                for tp in tps:
                    consumer.position(tp)  # resolved now: no answer sent after this can be missed
                self.listening.set()
                while not self._stop.is_set():
                    for batch in consumer.poll(timeout_ms=200).values():
                        for r in batch:
                            self._on_alert_record(r.value)
                    self._daily()
            except Exception:  # the broker is away: answer 503 meanwhile, connect again
                self.listening.clear()
                log.warning("alerts topic listener: Kafka unavailable; retrying", exc_info=True)
                self._stop.wait(1.0)
            finally:
                if consumer is not None:
                    consumer.close()

    def _daily(self) -> None:
        """The retention purge (on a thread of its own) and the chain heads' export, once a day each."""
        try:
            self.purge.tick()
            self.heads.maybe(self.store, self.clocks.wall_now())
        except Exception:
            log.exception("daily purge or chain-head export failed; tried again later")

    def _on_alert_record(self, raw: bytes) -> None:
        doc = json.loads(raw)
        if doc.get("type") == "command":
            self.alerts.answered(doc)
        else:
            self.broadcaster.publish(doc)

    # -- the feed watch: sources and feeds gone silent -----------------------------------------
    def tick_feed_watch(self) -> int:
        """Tick the feed watch on the wall clock and send what it raises (and what Kafka did not take before) to
        the signals topic, keyed by the system node; the number of signals sent. BusUnavailable: kept for the
        next tick."""
        if self.feed_watch is None:
            return 0
        with self._watch_lock:
            self._watch_unsent += self.feed_watch.tick(self.clocks.wall_now())
            signals = list(self._watch_unsent)
        if not signals:
            return 0
        self.send_system_signals(signals)
        with self._watch_lock:
            del self._watch_unsent[:len(signals)]
        log.info("feed watch: %s", "; ".join(s.reason for s in signals))
        return len(signals)

    def send_system_signals(self, signals: list[Signal]) -> None:
        """System signals (the feed watch's, the lag watch's) to the signals topic as one batch keyed by their node
        (no positions: the alert service applies them as fresh). BusUnavailable: Kafka did not take them."""
        if not signals:
            return
        grid = signals[0].grid
        self.kafka.produce(self.topics.signals, grid.encode(),
                           batch_to_wire(grid, signals, {}, [None] * len(signals), [[] for _ in signals]))
        self.stats.signals += len(signals)

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.settings.tick_seconds):
            try:
                self.warnings.tick()  # warnings whose `expires` passed: cleared and resolved
                self.tick_feed_watch()
            except BusUnavailable:
                log.warning("feed watch: Kafka did not take its signals; sent again at the next tick")
            except Exception:  # keep ticking; the error is logged with its trace
                log.exception("feed watch tick failed")

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        if self._seeded:
            try:
                self.mark_rules(self._seeded)
            except BusUnavailable:  # the workers' periodic refresh reads them from the store all the same
                log.warning("the config's new rules are stored but not marked on the event partitions", exc_info=True)
        self.drills.recover()  # runs a stop cut short: interrupted
        self._thread = threading.Thread(target=self._listen, name="fenghuo-alerts-topic", daemon=True)
        self._thread.start()
        self._ticker = threading.Thread(target=self._tick_loop, name="fenghuo-feed-watch", daemon=True)
        self._ticker.start()  # the feed watch (with `health`) and the warnings' expiry
        self.lag.start()
        self.listening.wait(10.0)
        if self.cap_poller is not None:
            self.cap_poller.start()

    def stop(self) -> None:
        if self.cap_poller is not None:
            self.cap_poller.stop()
        self._closing = True
        self.drills.close()
        self.chaos.close()  # a broker a drill paused is resumed now
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        if self._ticker:
            self._ticker.join(timeout=5)
        self.lag.stop()
        with self._settle_lock:
            self._close_settle_offsets()
        self.purge.wait(30)
        self.kafka.close()
        self.store.close()


def build_kafka_front(settings: Settings, config: Config) -> KafkaFront:
    from fenghuo.runtime.kafka.ingest_worker import make_kafka_ingest

    return KafkaFront(settings, config, open_store(settings.store_url, settings.data_dir),
                      make_kafka_ingest(settings, config))
