"""The alert service of the distributed runtime: signal batches from Kafka through AlertService.

A kafka-python group consumer (group ``<prefix>-alerts``, auto-commit off) reads the signals
topic. Each record is one detector batch for one grid: its signals are applied (dedup ->
mute -> escalate -> notify -> record, one store transaction per batch), then the grid's
event-time watermarks advance the clocks and due escalations fire, exactly as the embedded
pipeline does after each ingest. Offsets are committed only after the store has the result.

One open alert per fingerprint: the store's unique partial index refuses a second one; on that
IntegrityError the open alerts are reloaded and the batch is applied again. Partitions moving
between instances reload the open alerts too. A tick loop fires escalations on the wall clock and
delivers the outbox (alerts/delivery.py) from the same process.

The parts, each in its own module of this folder: :mod:`.positions` (signals already applied, per
grid), :mod:`.corroboration` (fusion of both detector stages' signals, state per grid),
:mod:`.commands` (ack/resolve from the API and the replies), :mod:`.grid_clocks` (event clocks per
grid), :mod:`.state` (what is saved in the store, as versioned data). This module assembles them and
runs the consumer loop.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any

from fenghuo.alerts.delivery import Delivery
from fenghuo.alerts.incidents import IncidentBook
from fenghuo.alerts.inhibit import Inhibitor
from fenghuo.alerts.mute import MaintenanceWindows
from fenghuo.alerts.notifiers import build_notifiers
from fenghuo.alerts.notifiers.base import Notifier
from fenghuo.alerts.routing import Router
from fenghuo.alerts.silences import SilenceBook
from fenghuo.alerts.stages import Change
from fenghuo.core.clock import Clock, WallClock
from fenghuo.core.config import Config
from fenghuo.core.grids import GridTree
from fenghuo.core.models import Signal
from fenghuo.core.settings import Settings
from fenghuo.core.store import Store
from fenghuo.core.titles import make_title, rule_titles
from fenghuo.detectors.open_warnings import OpenWarnings, StoreWarnings
from fenghuo.runtime.kafka.alert_service.commands import DRILL_CLOCK, apply_command, apply_drill_clock, reply_to_wire
from fenghuo.runtime.kafka.alert_service.corroboration import StoredCorroboration
from fenghuo.runtime.kafka.alert_service.grid_clocks import GridClocks, ScopedAlertService
from fenghuo.runtime.kafka.alert_service.positions import Positions
from fenghuo.runtime.kafka.alert_service.state import (
    CLOCKS_KEY,
    FUSION_KEY,
    GRID_POSITIONS_KEY,
    POSITIONS_KEY,
    dump_clocks,
    load_clocks,
)
from fenghuo.runtime.kafka.bus import (
    REBALANCE_STALL_S,
    SignalBatch,
    Topics,
    batch_from_wire,
    rebalance_watch,
    wait_for_topics,
)
from fenghuo.runtime.topology import corroboration_for

__all__ = ["CLOCKS_KEY", "FUSION_KEY", "GRID_POSITIONS_KEY", "POSITIONS_KEY", "AlertWorker", "StoredCorroboration",
           "integrity_errors", "make_alert_worker"]

log = logging.getLogger("fenghuo.alerts.kafka")


def integrity_errors() -> tuple[type[BaseException], ...]:
    import sqlite3

    out: list[type[BaseException]] = [sqlite3.IntegrityError]
    try:
        import psycopg2

        out.append(psycopg2.IntegrityError)
    except ImportError:  # PostgreSQL support not installed: SQLite only
        pass
    return tuple(out)


class AlertWorker:
    def __init__(self, settings: Settings, config: Config, store: Store, topics: Topics,
                 notifiers: dict[str, Notifier] | None = None, clock: Clock | None = None,
                 group: str | None = None) -> None:
        self.settings, self.config, self.store, self.topics = settings, config, store, topics
        self.group = group or topics.group("alerts")
        self.clocks = GridClocks(settings.clock, clock or WallClock())
        raw = store.get_state(CLOCKS_KEY)
        if raw:
            self.clocks.restore(load_clocks(raw))
        self.tree = GridTree(config.nodes, config.grid_match_km)
        names = {n.id: (n.name, n.name_en or n.name) for n in config.nodes}
        titles = rule_titles(config.rules)
        self.router = Router(config, self._chain)
        self.integrity = integrity_errors()
        # silences are made by the API (KafkaFront) in the store: read again before every batch, command and tick
        self.silences = SilenceBook(store, self.tree, self.clocks.wall_now)
        self.alerts = ScopedAlertService(config, store, self.router, self.clocks.now_of,
                                         lambda: uuid.uuid4().hex[:16], lambda s: make_title(s, names, titles),
                                         self._publish,
                                         reraise=self.integrity,
                                         muters=[self.silences, MaintenanceWindows.of(config, self.tree)],
                                         inhibitor=Inhibitor(config.inhibit_rules, self.tree),
                                         incidents=IncidentBook(config.incidents, self._chain_kinds))
        self.alerts.clocks = self.clocks
        self.notifiers = notifiers if notifiers is not None else build_notifiers(config, settings.public_url or None)
        self.delivery = Delivery(store, self.notifiers, {c.name: c.max_attempts for c in config.channels},
                                 self.alerts.record_delivery, self.clocks.wall_now, settings.delivery_workers,
                                 outcomes=self.alerts.record_deliveries)
        # applied source offsets per (grid, topic, partition), read per grid from the store the first time a
        # grid's batch comes and forgotten when partitions move: another instance may have applied more since
        self.positions = Positions.from_store(store.get_state)
        fusion = corroboration_for(config)  # the topology's alert-service stage
        self.fusion = None if fusion is None else StoredCorroboration(fusion, store.get_state)
        # the open external warnings corroborate local signals: read again from the store every few seconds (the
        # instance that raised a warning may be another one) and kept from this instance's own changes at once
        self.open_warnings = OpenWarnings(chain=self._chain)
        self.store_warnings = StoreWarnings(self.open_warnings, lambda: self.store)
        if fusion is not None:
            fusion.use_warnings(self.open_warnings)
        self.commands = 0
        self.stopping = threading.Event()
        self.watch: Any = None  # its rebalance listener once subscribed (read by fenghuo/runtime/kafka/probes.py)
        self.producer: Any = None
        self.applied = 0
        self.retried = 0
        self.latencies: list[float] = []  # seconds from ingest receipt to alert change persisted

    @property
    def redelivered(self) -> int:
        """Signals dropped as already applied."""
        return self.positions.redelivered

    def _chain(self, grid: str) -> list[str]:
        return self.tree.chain_ids(grid)

    def _chain_kinds(self, grid: str) -> list[tuple[str, str]]:
        return [(n.id, n.kind) for n in self.tree.chain(grid)]

    def _publish(self, changes: list[Change]) -> None:
        self.open_warnings.take(ch.alert for ch in changes)
        if self.producer is None:
            return
        for ch in changes:
            doc = {"type": ch.kind, "alert": ch.alert.to_json(full=False)}
            self.producer.send(self.topics.alerts, key=ch.alert.fingerprint.encode(),
                               value=json.dumps(doc, ensure_ascii=False).encode())

    # -- applying signal batches -----------------------------------------------------------------
    def fresh(self, batch: SignalBatch) -> tuple[list[Signal], list[float | None]]:
        """The batch's signals not applied before (see :meth:`Positions.fresh`)."""
        return self.positions.fresh(batch)

    def apply_record(self, raw: bytes) -> None:
        batch = batch_from_wire(raw)
        signals, rxs = self.positions.fresh(batch)
        offsets = self.positions.advanced(batch)
        state = self.positions.state(batch.grid, offsets)  # saved with the changes
        if self.fusion is not None and signals:  # fresh signals only: a replayed one was corroborated before
            self.store_warnings.maybe()
            signals, rxs, fused = self.fusion.run(signals, rxs)
            state.update(fused)
        try:
            changes = self._apply(batch, signals, state)
        except BaseException:
            if self.fusion is not None:  # not saved: read the grids' corroboration state again
                self.fusion.forget({s.grid for s in signals})
            raise
        self.positions.commit(batch.grid, offsets)
        now = time.time()
        if changes:
            self.latencies += [now - rx for rx in rxs if rx is not None]
            del self.latencies[:-10_000]
        self.applied += len(signals)

    def refresh_silences(self) -> None:
        """The silences changed in the store since the last look (one indexed read; usually none)."""
        try:
            self.silences.refresh()
        except Exception:  # the store is away: the batch's own write fails too; keep the silences known so far
            log.exception("could not read the silences from the store; using those read before")

    def _apply(self, batch: SignalBatch, signals: list[Signal], state: dict[str, bytes]) -> list[Change]:
        changes: list[Change] = []
        self.refresh_silences()
        for attempt in range(3):
            try:
                with self.alerts.lock, self.clocks.scoped(batch.grid or None):
                    changes = self.alerts.apply(signals, state) if signals else []
                    for drill, ts in batch.clock.items():
                        self.clocks.now_of(drill, ts)
                    self.alerts.tick(list(batch.clock) or [None])
                break
            except self.integrity:  # another instance opened that fingerprint: take its alert, apply again
                if attempt == 2:
                    raise
                self.retried += 1
                log.warning("an open alert already exists for a fingerprint here; reloading and re-applying")
                self.reload()
        return changes

    def apply_command(self, raw: bytes, partition: int | None = None) -> None:
        """An ack or resolve from the API (the alert service is the only writer of alerts): apply it,
        then answer on the alerts topic, keyed by alert id, with the command's id and the outcome. A drill
        run's clock (``partition``: the commands partition it came on) moves that drill's clocks and ticks its
        escalations in the partition's grids; it has no answer."""
        self.refresh_silences()
        cmd = json.loads(raw)
        if isinstance(cmd, dict) and cmd.get("op") == DRILL_CLOCK:
            try:
                apply_drill_clock(self.alerts, self.clocks, cmd, partition)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("drill clock command ignored: %s", exc)
            self.commands += 1
            return
        key, reply = apply_command(self.alerts, self.clocks, raw)
        self.commands += 1
        if self.producer is not None:
            self.producer.send(self.topics.alerts, key=key, value=reply_to_wire(reply))

    def save_state(self) -> None:
        self.store.put_state(CLOCKS_KEY, dump_clocks(self.clocks.snapshot()))

    def reload(self) -> None:
        with self.alerts.lock:
            self.alerts.dedup.load(self.store.open_alerts())
            if self.alerts.incidents is not None:  # as the store has them (another instance may have changed them)
                self.alerts.incidents.load(self.store.open_incidents())
            self.positions.forget()  # read again per grid: another instance may have applied more
            if self.fusion is not None:
                self.fusion.forget()  # another instance may have corroborated these grids meanwhile

    def corroborate_warnings(self) -> None:
        """Warnings that opened since the last look corroborate the local signals held in the grids this instance
        runs (those whose corroboration state it has read: its partitions'), each grid's in a step of its own with
        that grid's corroboration state, as a batch of it is applied."""
        if self.fusion is None:
            return
        self.store_warnings.maybe()
        by_grid: dict[str, list[Signal]] = {}
        for s in self.fusion.fusion.warnings_opened():
            by_grid.setdefault(s.grid, []).append(s)
        for grid, signals in by_grid.items():
            state = {FUSION_KEY + grid: self.fusion.dump(grid)}
            try:
                self._apply(SignalBatch(grid, signals, {}, [None] * len(signals), [[] for _ in signals]), signals,
                            state)
            except Exception:
                self.fusion.forget({grid})  # not saved: read the grid's corroboration state again
                log.exception("the corroboration of %d signal(s) in %s by an opened warning could not be stored",
                              len(signals), grid)

    def tick(self) -> None:
        self.refresh_silences()
        self.corroborate_warnings()
        with self.alerts.lock:
            self.alerts.tick_all()
        self.delivery.run_due()

    # -- the loop --------------------------------------------------------------------------------
    def run(self) -> None:
        from kafka import KafkaConsumer, KafkaProducer

        bootstrap = self.settings.kafka_bootstrap
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, client_id="fenghuo-alerts", acks="all",
                                      linger_ms=5)

        def connect() -> tuple[Any, Any]:
            consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=self.group, client_id="fenghuo-alerts",
                                     enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=500)
            # the commands topic has the signals topic's partitions and keys (grids): the range assignor
            # gives the same partition numbers of both to one instance, so a grid's alerts have one writer
            wait_for_topics(consumer, [self.topics.signals, self.topics.commands])
            listener = self.watch = rebalance_watch(self.reload)  # self.watch: the worker's readiness probe reads it
            consumer.subscribe([self.topics.signals, self.topics.commands], listener=listener)
            return consumer, listener

        consumer, listener = connect()
        log.info("alert service consuming %s as group %s", self.topics.signals, self.group)
        last_tick = 0.0
        try:
            while not self.stopping.is_set():
                polled = consumer.poll(timeout_ms=int(self.settings.tick_seconds * 1000))
                records = sorted((r for batch in polled.values() for r in batch), key=lambda r: r.timestamp)
                for r in records:
                    if r.topic == self.topics.commands:
                        self.apply_command(r.value, r.partition)
                    else:
                        self.apply_record(r.value)
                if records:
                    self.save_state()
                    consumer.commit()
                if time.monotonic() - last_tick >= self.settings.tick_seconds:
                    self.tick()
                    last_tick = time.monotonic()
                if listener.stalled():
                    log.warning("group rebalance stalled for %.0f s: rejoining with a new consumer", REBALANCE_STALL_S)
                    consumer.close()
                    consumer, listener = connect()
        finally:
            consumer.close()
            self.producer.close(timeout=5)
            self.delivery.close()

    def stop(self) -> None:
        self.stopping.set()


def make_alert_worker(settings: Settings, config: Config, store: Store, prefix: str | None = None,
                      **kw: Any) -> AlertWorker:

    return AlertWorker(settings, config, store, (Topics(prefix) if prefix else Topics.of(settings)), **kw)
