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

Corroboration (``detectors.fusion``) runs here, not in a detector stage: a grid's sensor and text
signals come from the grid stage and its complaint-burst signals from the district stage, both keyed
by the grid, so this is the one place that sees them all (:class:`StoredCorroboration`). Its state is
kept per grid in the store and saved in the batch's transaction, with the alert changes and the
applied positions.
"""

from __future__ import annotations

import json
import logging
import pickle
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from fenghuo.alerts.delivery import Delivery
from fenghuo.alerts.notifiers.base import Notifier
from fenghuo.alerts.routing import Router
from fenghuo.alerts.service import AlertConflict, AlertNotFound
from fenghuo.alerts.stages import Change
from fenghuo.core.clock import Clock, WallClock
from fenghuo.core.config import Config
from fenghuo.core.grids import GridTree
from fenghuo.core.models import Signal
from fenghuo.core.settings import Settings
from fenghuo.core.store import Store
from fenghuo.core.titles import make_title
from fenghuo.detectors.fusion import Corroboration
from fenghuo.runtime.kafka.alert_service.grid_clocks import GridClocks, ScopedAlertService
from fenghuo.runtime.kafka.bus import (
    REBALANCE_STALL_S,
    SignalBatch,
    Topics,
    batch_from_wire,
    rebalance_watch,
    wait_for_topics,
)
from fenghuo.runtime.kafka.district_runner import make_corroboration

log = logging.getLogger("fenghuo.alerts.kafka")
CLOCKS_KEY = "kafka-alerts-clocks"
POSITIONS_KEY = "kafka-alerts-positions"  # before per-grid keys: one dict for every grid (read as a fallback)
GRID_POSITIONS_KEY = "kafka-alerts-positions/"  # + grid: {(topic, partition): highest applied offset}
FUSION_KEY = "kafka-alerts-fusion/"  # + grid: that grid's corroboration groups (one per drill)


def integrity_errors() -> tuple[type[BaseException], ...]:
    import sqlite3

    out: list[type[BaseException]] = [sqlite3.IntegrityError]
    try:
        import psycopg2

        out.append(psycopg2.IntegrityError)
    except ImportError:  # PostgreSQL support not installed: SQLite only
        pass
    return tuple(out)


class StoredCorroboration:
    """:class:`Corroboration` over the alert service's signal batches, its state kept per grid in the store.

    A grid's groups are read from the store (``FUSION_KEY + grid``) the first time one of its signals
    comes, and :meth:`run` returns, with the signals, the grid states to save in the same transaction as
    the alert changes (so a crash keeps both or neither). :meth:`forget` drops what is in memory, to be
    read again: after partitions moved (another instance may have run the grid meanwhile).

    >>> from fenghuo.core.levels import Level
    >>> from fenghuo.core.models import Risk
    >>> def sig(feed, detector, ts):
    ...     return Signal(detector, f"{feed}-rule", Risk.SAFETY, feed, "G1", f"G1/{feed}", "src", ts,
    ...                   Level.YELLOW, 1.0, "")
    >>> saved = {}
    >>> fusion = StoredCorroboration(Corroboration(), saved.get)
    >>> out, rx, state = fusion.run([sig("complaint", "burst", 0.0)], [1.0])
    >>> [s.kind for s in out], sorted(state)
    (['level'], ['kafka-alerts-fusion/G1'])
    >>> saved.update(state)
    >>> again = StoredCorroboration(Corroboration(), saved.get)  # a restarted alert service
    >>> out, rx, state = again.run([sig("sensor", "threshold", 600.0)], [2.0])
    >>> [(s.kind, s.certainty.value) for s in out], rx
    ([('level', 'Observed'), ('corroboration', 'Observed'), ('corroboration', 'Observed')], [2.0, 2.0, 2.0])
    """

    def __init__(self, fusion: Corroboration, load: Callable[[str], bytes | None]) -> None:
        self.fusion, self.load = fusion, load
        self.keys: dict[str, set[tuple[str | None, str]]] = {}  # loaded grid -> its (drill, grid) group keys

    def _ensure(self, grid: str) -> set[tuple[str | None, str]]:
        keys = self.keys.get(grid)
        if keys is None:
            raw = self.load(FUSION_KEY + grid)
            groups: dict[tuple[str | None, str], Any] = pickle.loads(raw) if raw else {}
            self.fusion.groups.update(groups)
            keys = self.keys[grid] = set(groups)
        return keys

    def run(self, signals: list[Signal], rxs: list[float | None]
            ) -> tuple[list[Signal], list[float | None], dict[str, bytes]]:
        """The signals, each followed by the corroboration signals it causes (the embedded engine's post stage
        order), the receipt time of each, and the changed grids' states to save with them."""
        out: list[Signal] = []
        out_rx: list[float | None] = []
        grids: set[str] = set()
        for s, rx in zip(signals, rxs, strict=True):
            self._ensure(s.grid).add((s.drill, s.grid))
            grids.add(s.grid)
            out.append(s)
            out_rx.append(rx)
            for c in self.fusion.observe(s):
                out.append(c)
                out_rx.append(rx)
        return out, out_rx, {FUSION_KEY + g: self.dump(g) for g in sorted(grids)}

    def dump(self, grid: str) -> bytes:
        groups = self.fusion.groups
        return pickle.dumps({k: groups[k] for k in self._ensure(grid) if k in groups},
                            protocol=pickle.HIGHEST_PROTOCOL)

    def forget(self, grids: set[str] | None = None) -> None:
        """Drop these grids' state (all with None) from memory: the next signal reads it from the store."""
        for g in list(self.keys) if grids is None else grids:
            for k in self.keys.pop(g, ()):
                self.fusion.groups.pop(k, None)


class AlertWorker:
    def __init__(self, settings: Settings, config: Config, store: Store, topics: Topics,
                 notifiers: dict[str, Notifier] | None = None, clock: Clock | None = None,
                 group: str | None = None) -> None:
        from fenghuo.runtime.embedded import build_notifiers

        self.settings, self.config, self.store, self.topics = settings, config, store, topics
        self.group = group or topics.group("alerts")
        self.clocks = GridClocks(settings.clock, clock or WallClock())
        raw = store.get_state(CLOCKS_KEY)
        if raw:
            self.clocks.restore(pickle.loads(raw))
        self.tree = GridTree(config.nodes, config.grid_match_km)
        names = {n.id: (n.name, n.name_en or n.name) for n in config.nodes}
        self.router = Router(config, self._chain)
        self.integrity = integrity_errors()
        self.alerts = ScopedAlertService(config, store, self.router, self.clocks.now_of,
                                         lambda: uuid.uuid4().hex[:16], lambda s: make_title(s, names), self._publish,
                                         reraise=self.integrity)
        self.alerts.clocks = self.clocks
        self.notifiers = notifiers if notifiers is not None else build_notifiers(config)
        self.delivery = Delivery(store, self.notifiers, {c.name: c.max_attempts for c in config.channels},
                                 self.alerts.record_delivery, self.clocks.wall_now, settings.delivery_workers,
                                 outcomes=self.alerts.record_deliveries)
        # applied source offsets per (grid, topic, partition), read per grid from the store the first time a
        # grid's batch comes and forgotten when partitions move: another instance may have applied more since
        self.positions: dict[tuple[str, str, int], int] = {}
        self._position_grids: set[str] = set()
        raw = store.get_state(POSITIONS_KEY)
        self._legacy_positions: dict[tuple[str, str, int], int] = pickle.loads(raw) if raw else {}
        self.redelivered = 0  # signals dropped as already applied
        fusion = make_corroboration(config.detectors)
        self.fusion = None if fusion is None else StoredCorroboration(fusion, store.get_state)
        self.commands = 0
        self.stopping = threading.Event()
        self.producer: Any = None
        self.applied = 0
        self.retried = 0
        self.latencies: list[float] = []  # seconds from ingest receipt to alert change persisted

    def _chain(self, grid: str) -> list[str]:
        return [n.id for n in self.tree.chain(grid)] or [grid]

    def _publish(self, changes: list[Change]) -> None:
        if self.producer is None:
            return
        for ch in changes:
            doc = {"type": ch.kind, "alert": ch.alert.to_json(full=False)}
            self.producer.send(self.topics.alerts, key=ch.alert.fingerprint.encode(),
                               value=json.dumps(doc, ensure_ascii=False).encode())

    # -- applying signal batches -----------------------------------------------------------------
    def _grid_positions(self, grid: str) -> None:
        """Read a grid's applied offsets from the store unless this instance already holds them."""
        if grid in self._position_grids:
            return
        raw = self.store.get_state(GRID_POSITIONS_KEY + grid)
        if raw:
            saved: dict[tuple[str, int], int] = pickle.loads(raw)
            found = {(grid, t, p): off for (t, p), off in saved.items()}
        else:
            found = {k: v for k, v in self._legacy_positions.items() if k[0] == grid}
        self.positions.update(found)
        self._position_grids.add(grid)

    def _dump_positions(self, grid: str, positions: dict[tuple[str, str, int], int]) -> bytes:
        return pickle.dumps({(t, p): off for (g, t, p), off in positions.items() if g == grid})

    def fresh(self, batch: SignalBatch) -> tuple[list[Signal], list[float | None]]:
        """The batch's signals not applied before: a signal whose source events are all at or below the
        highest offset applied for their grid and partition came from events a replaced detector worker had
        already processed (its state was saved just before theirs was; the replacement re-runs them)."""
        self._grid_positions(batch.grid)
        keep: list[Signal] = []
        rxs: list[float | None] = []
        rx = batch.rx + [None] * (len(batch.signals) - len(batch.rx))
        for sig, where, r in zip(batch.signals, batch.positions or [[]] * len(batch.signals), rx, strict=False):
            if not where or any(off > self.positions.get((batch.grid, t, p), -1) for t, p, off in where):
                keep.append(sig)
                rxs.append(r)
            else:
                self.redelivered += 1
        return keep, rxs

    def apply_record(self, raw: bytes) -> None:
        batch = batch_from_wire(raw)
        signals, rxs = self.fresh(batch)
        positions = dict(self.positions)
        for where in batch.positions:  # per grid: grids sharing a partition interleave their offsets
            for t, p, off in where:
                if off > positions.get((batch.grid, t, p), -1):
                    positions[(batch.grid, t, p)] = off
        state = {GRID_POSITIONS_KEY + batch.grid: self._dump_positions(batch.grid, positions)}  # with the changes
        if self.fusion is not None and signals:  # fresh signals only: a replayed one was corroborated before
            signals, rxs, fused = self.fusion.run(signals, rxs)
            state.update(fused)
        try:
            changes = self._apply(batch, signals, state)
        except BaseException:
            if self.fusion is not None:  # not saved: read the grids' corroboration state again
                self.fusion.forget({s.grid for s in signals})
            raise
        self.positions.update((k, v) for k, v in positions.items() if k[0] == batch.grid)
        self._position_grids.add(batch.grid)
        now = time.time()
        if changes:
            self.latencies += [now - rx for rx in rxs if rx is not None]
            del self.latencies[:-10_000]
        self.applied += len(signals)

    def _apply(self, batch: SignalBatch, signals: list[Signal], state: dict[str, bytes]) -> list[Change]:
        changes: list[Change] = []
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

    def apply_command(self, raw: bytes) -> None:
        """An ack or resolve from the API (the alert service is the only writer of alerts): apply it,
        then answer on the alerts topic, keyed by alert id, with the command's id and the outcome."""
        cmd = json.loads(raw)
        reply: dict[str, Any] = {"type": "command", "command": cmd.get("id"), "ok": False}
        act = {"ack": self.alerts.ack, "resolve": self.alerts.resolve}.get(str(cmd.get("op")))
        try:
            if act is None:
                raise ValueError(f"unknown command {cmd.get('op')!r}")
            with self.alerts.lock, self.clocks.scoped(cmd.get("grid") or None):
                alert = act(str(cmd["alert"]), str(cmd.get("actor") or "api"), str(cmd.get("comment") or ""))
            reply.update(ok=True, alert=alert.to_json())
        except AlertNotFound:
            reply.update(status=404, error=f"no alert {cmd.get('alert')}")
        except AlertConflict as exc:
            reply.update(status=409, error=str(exc))
        except ValueError as exc:
            reply.update(status=400, error=str(exc))
        except Exception as exc:  # the store refused it: nothing changed (the step rolled back); say so
            log.exception("the %s of alert %s could not be stored", cmd.get("op"), cmd.get("alert"))
            reply.update(status=503, error=f"the change could not be stored ({type(exc).__name__}); nothing changed")
        self.commands += 1
        if self.producer is not None:
            self.producer.send(self.topics.alerts, key=str(cmd.get("alert", "")).encode(),
                               value=json.dumps(reply, ensure_ascii=False).encode())

    def save_state(self) -> None:
        self.store.put_state(CLOCKS_KEY, pickle.dumps(self.clocks.snapshot()))

    def reload(self) -> None:
        with self.alerts.lock:
            self.alerts.dedup.load(self.store.open_alerts())
            self.positions = {}  # read again per grid: another instance may have applied more
            self._position_grids.clear()
            if self.fusion is not None:
                self.fusion.forget()  # another instance may have corroborated these grids meanwhile

    def tick(self) -> None:
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
            listener = rebalance_watch(self.reload)
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
                        self.apply_command(r.value)
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
    from fenghuo.runtime.kafka.bus import topic_prefix

    return AlertWorker(settings, config, store, Topics(prefix or topic_prefix()), **kw)
