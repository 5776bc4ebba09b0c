"""The one function that builds the whole embedded service from settings and config.

``Pipeline.ingest`` validates records, stores them (the accepted ones are durable before the
call returns), runs the detectors and the alert stages. A background loop ticks the detectors (what the
passing of time causes: a sensor gone silent, on each clock domain's time) and the feed watch (a whole
source or feed gone quiet, on the wall clock), applying their signals as an ingest does, ticks escalations,
delivers the outbox and snapshots detector state; on start, events stored but not yet processed
(a crash) are processed, and deadlines that passed while the service was down fire.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from itertools import islice
from operator import attrgetter, gt
from typing import Any

from fenghuo.alerts.delivery import Delivery, SendPolicy
from fenghuo.alerts.external import ServicePort, WarningBook, WarningResult
from fenghuo.alerts.incidents import IncidentBook
from fenghuo.alerts.inhibit import Inhibitor
from fenghuo.alerts.mute import MaintenanceWindows
from fenghuo.alerts.notifiers import build_notifiers
from fenghuo.alerts.notifiers.base import Notifier
from fenghuo.alerts.routing import Router
from fenghuo.alerts.service import AlertService
from fenghuo.alerts.silences import SilenceBook
from fenghuo.alerts.stages import Change
from fenghuo.core.chain import DailyHeadExport
from fenghuo.core.clock import Clock, Clocks, WallClock
from fenghuo.core.config import Config
from fenghuo.core.grids import GridTree
from fenghuo.core.models import Alert, Event, Signal
from fenghuo.core.privacy import private_dir, private_tree
from fenghuo.core.retention import PurgeJob
from fenghuo.core.rulebook import RuleBook
from fenghuo.core.settings import Settings
from fenghuo.core.store import Store, open_store
from fenghuo.core.titles import make_title, rule_titles
from fenghuo.detectors.engine import DetectorEngine
from fenghuo.detectors.open_warnings import OpenWarnings
from fenghuo.drills.control import DrillControl
from fenghuo.ingest.cap_in import CapAlert, CapError
from fenghuo.ingest.cap_poll import cap_poller_for
from fenghuo.ingest.events import Rejected, make_resolver, parse_records
from fenghuo.runtime import topology
from fenghuo.runtime.broadcast import Broadcaster
from fenghuo.runtime.feed_watch import FeedWatch, feed_watch_for
from fenghuo.runtime.service import (
    AlertsBehind,
    IngestResult,
    MetricFigures,
    Stats,
    StoreReads,
    merge_refused,
    open_by_level,
    outbox_by_level,
)

__all__ = ["AlertsBehind", "Pipeline", "build_pipeline"]

log = logging.getLogger("fenghuo.runtime.embedded")
_ts = attrgetter("ts")
SNAPSHOT_EVERY = 10.0
MAX_UNAPPLIED = 100_000


class Pipeline(StoreReads):
    """The embedded runtime: every stage in this process (a :class:`~fenghuo.runtime.service.Service`)."""

    def __init__(self, settings: Settings, config: Config, store: Store, clock: Clock | None = None,
                 new_id: Callable[[], str] | None = None, notifiers: dict[str, Notifier] | None = None,
                 *, backfill: bool = False, notify_max_age: float | None = None) -> None:
        """``backfill``: a replay of history: the notifications of the alerts this run changes are recorded as
        not sent, and nothing else is sent either; ``notify_max_age``: queued notifications older than this
        (seconds) are recorded as expired, not sent (see :class:`fenghuo.alerts.delivery.SendPolicy`)."""
        self.settings = settings
        self.backfill_alerts: set[str] | None = set() if backfill else None  # alerts changed by this backfill
        self.config = config
        self.store = store
        self.clocks = Clocks(settings.clock, clock or WallClock())
        self.tree = GridTree(config.nodes, config.grid_match_km)
        self.grid_of = make_resolver(self.tree)  # lat/lon or grid id -> the grid
        self.broadcaster = Broadcaster()
        self.stats = Stats()
        self.lock = threading.RLock()
        self.rulebook = RuleBook(store, self.tree)
        self.rulebook.seed(config, self.clocks.wall_now())
        self.engine = DetectorEngine((), self._chain)
        self.engine.set_rules(*self.rulebook.current_versions())
        models = private_dir(private_dir(settings.data_dir) / "models")  # 0700: personal data inside
        topology.add_detectors(self.engine, config, topology.ALL, models)  # every stage in this process
        private_tree(models)  # model caches 0600 whatever the umask
        names = {n.id: (n.name, n.name_en or n.name) for n in config.nodes}
        titles = rule_titles(config.rules)  # the rules' own title_zh / title_en (a rule edited later keeps these)
        self.router = Router(config, self._chain)
        self.feed_watch: FeedWatch | None = feed_watch_for(config, self.router.system_node())  # with `health`
        self.silence_book = SilenceBook(store, self.tree, self.clocks.wall_now)  # silences made through the API
        self.alerts = AlertService(config, store, self.router, self.clocks.now_of, new_id or _uuid,
                                   lambda s: make_title(s, names, titles), self._publish,
                                   muters=[self.silence_book, MaintenanceWindows.of(config, self.tree)],
                                   inhibitor=Inhibitor(config.inhibit_rules, self.tree),
                                   incidents=IncidentBook(config.incidents, self._chain_kinds))
        # the open external (CAP) warnings, kept from the published alert changes: rules' while_warning and
        # corroboration read them (docs/warnings-detection.md)
        self.open_warnings = OpenWarnings.of_alerts(self.alerts.dedup.open.values(), self._chain)
        self.engine.use_warnings(self.open_warnings)
        self.notifiers = notifiers if notifiers is not None else build_notifiers(config, settings.public_url or None)
        self.delivery = Delivery(store, self.notifiers, {c.name: c.max_attempts for c in config.channels},
                                 self.alerts.record_delivery, self.clocks.wall_now, settings.delivery_workers,
                                 outcomes=self.alerts.record_deliveries,
                                 policy=SendPolicy(max_age=notify_max_age,
                                                   backfill=self._backfilled if backfill else None,
                                                   history=store.notifications_for)
                                 if backfill or notify_max_age is not None else None)
        self.cursor = int(store.get_state("cursor") or 0)
        self.unapplied: list[Signal] = []  # signals whose alert changes the store has not taken yet
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_snapshot = 0.0
        self.drills = DrillControl(self, store, config, self.tree, wall=self.clocks.wall_now,
                                   data_dirs=[d for d in [config.drills.data_dir] if d is not None])
        self.delivery.faults = self.drills.fault  # a drill scenario's failing channels
        self.purge = PurgeJob(store, config.privacy.text_retention_days, self.clocks.wall_now)  # daily
        self.heads = DailyHeadExport(settings.data_dir)  # the hash chains' heads, once a day
        # CAP warnings taken in (docs/warnings.md): alerts through this alert service, expiry on the tick
        self.warnings = WarningBook(config, self.tree, store, ServicePort(self.alerts, store), self.clocks.now_of)
        # the CAP feeds of warnings.sources, polled from start to stop (a backfill polls nothing)
        self.cap_poller = None if backfill else cap_poller_for(
            config, settings, lambda alerts, origin: self.take_warnings(alerts, origin))

    def _chain(self, grid: str) -> list[str]:
        return self.tree.chain_ids(grid)

    def _chain_kinds(self, grid: str) -> list[tuple[str, str]]:
        return [(n.id, n.kind) for n in self.tree.chain(grid)]

    def _backfilled(self, alert_id: str) -> bool:
        if self.backfill_alerts is None:
            return False  # an incident's summaries (ids "inc-...") decided during a backfill are the backfill's too
        return alert_id in self.backfill_alerts or alert_id.startswith("inc-")

    def _publish(self, changes: list[Change]) -> None:
        if self.backfill_alerts is not None:
            self.backfill_alerts.update(ch.alert.id for ch in changes)
        self.stats.alerts_changed += len(changes)
        self.open_warnings.take(ch.alert for ch in changes)
        for ch in changes:
            self.broadcaster.publish({"type": ch.kind, "alert": ch.alert.to_json(full=False)})

    # -- ingest -------------------------------------------------------------------------------------
    def parse(self, records: list[Any], drill: str | None = None, *, may_drill: bool = True
              ) -> tuple[list[Event], list[Rejected]]:
        """Validate against the config's ``limits`` and a time window around the wall clock's now."""
        return parse_records(records, self.grid_of, drill, now=self.clocks.wall_now(), limits=self.config.limits,
                             may_drill=may_drill)

    def ingest(self, records: list[Any], drill: str | None = None, *, may_drill: bool = True,
               refused: Sequence[Rejected] = ()) -> IngestResult:
        """Store and process the valid records; ``may_drill`` False refuses every record marked as a drill.
        The rejected ones (and ``refused``, records the caller could not read) go to the dead letters."""
        if len(self.unapplied) >= MAX_UNAPPLIED:
            raise AlertsBehind(f"{len(self.unapplied)} detector signals wait for the store to take their alert "
                               "changes; nothing of this request was stored: send it again later")
        received = time.perf_counter()
        events, bad = merge_refused(records, refused, lambda rs: self.parse(rs, drill, may_drill=may_drill))
        now = self.clocks.wall_now()
        self.store.add_dead_letters(bad, now)
        with self.lock:
            new = self.store.add_events(events, now)
            if self.feed_watch is not None:  # each (source, feed) once: received together, at the same time
                for source, feed in dict.fromkeys([(e.source, e.feed) for e in new if not e.drill]):
                    self.feed_watch.seen(source, feed, now)
            self._process(new, received)
        self.stats.events += len(new)
        self.stats.duplicates += len(events) - len(new)
        self.stats.rejected += len(bad)
        return IngestResult(len(new), len(events) - len(new), [{"index": i, "error": e} for i, e, _ in bad])

    def _process(self, events: list[Event], received: float | None = None, apply: bool = True) -> None:
        if not events:
            return
        times = [e.ts for e in events]
        if any(map(gt, times, islice(times, 1, None))):
            events = sorted(events, key=_ts)
        signals: list[Signal] = self.engine.process(events)
        self.cursor = self.store.max_seq()
        if not apply:
            return
        self.stats.signals += len(signals)
        self._apply_signals(signals)
        latest = {e.drill: e.ts for e in events}  # in time order: each drill's last event is its latest
        for drill, ts in latest.items():  # the clocks only move forward: to its latest event is to each in turn
            self.clocks.now_of(drill, ts)
        self.alerts.tick(list(set(latest)))
        if signals and received is not None:
            self.stats.observe_latency(time.perf_counter() - received)

    def _apply_signals(self, signals: list[Signal]) -> None:
        """Signals to the alert service with the cursor. When the store refuses the write, they wait (with any
        earlier ones still waiting) for the next ingest or tick, and detector snapshots wait too, so a restart
        in between re-runs those events from the last applied cursor: nothing is lost. The events are stored
        already, so the ingest that brought them still succeeds."""
        batch, self.unapplied = self.unapplied + signals, []
        try:
            self.alerts.apply(batch, state={"cursor": str(self.cursor).encode()})
        except Exception:
            self.unapplied = batch  # all of them: past MAX_UNAPPLIED, ingest refuses new events instead
            log.exception("the store refused the alert changes of %d signal(s): they wait for the next try",
                          len(batch))

    # -- drill runs (fenghuo/drills): what a run asks of the runtime ---------------------------------
    def advance_drill(self, drill: str, ts: float, detectors: bool = True) -> None:
        """Move drill ``drill``'s clock to ``ts`` and apply what time alone causes there: silent sensors (with
        ``detectors``), escalations (as the tick does, for that drill only)."""
        with self.lock:
            now = self.clocks.now_of(drill, ts)
            signals = self.engine.tick({drill: now}) if detectors else []
            if signals:
                self.stats.signals += len(signals)
                self._apply_signals(signals)
            self.alerts.tick([drill])

    def settle_drill(self, drill: str) -> None:
        """Before a drill's next moment: its detectors' background work is in place (not under the lock: only
        the drill's own thread touches the drill's detector state)."""
        self.engine.settle_drill(drill)

    def settle_escalations(self, drill: str) -> None:
        """Nothing to wait for: :meth:`advance_drill` escalated the drill's alerts before it returned."""

    def drill_open_alerts(self, drill: str) -> list[Alert]:
        return [a for a in list(self.alerts.dedup.open.values()) if a.drill == drill]

    def drill_due(self, drill: str) -> float | None:
        with self.lock:
            return self.engine.next_due().get(drill)

    def flush_drill_notifications(self, timeout: float) -> None:
        self.delivery.run_due()
        self.delivery.flush(timeout=timeout)

    def drill_chaos(self, drill: str, fault: Any) -> str:
        """The embedded runtime is one process: a drill cannot kill a part of it or pause a broker."""
        return f"{fault.kind} skipped: a fault of the distributed runtime (run the drill in Kafka mode)"

    def purge_drill(self, drill: str, actor: str) -> dict[str, int]:
        """Delete a drill run's events, alerts and notifications (store first), then its detector state and
        clock in memory."""
        with self.lock:
            counts = self.store.purge_drill(drill, actor, self.clocks.wall_now())
            self.alerts.forget_drill(drill)
            self.engine.forget_drill(drill)
            self.open_warnings.forget_drill(drill)
            self.clocks.drills.pop(drill, None)
        return counts

    # -- rules --------------------------------------------------------------------------------------
    def put_rule(self, rule_id: str, body: Any, actor: str) -> tuple[dict[str, Any], int]:
        with self.lock:
            rule, version = self.rulebook.put(rule_id, body, actor, self.clocks.wall_now())
            self.engine.set_rules(*self.rulebook.current_versions())
        return rule.model_dump(), version

    def delete_rule(self, rule_id: str, actor: str) -> int:
        with self.lock:
            version = self.rulebook.delete(rule_id, actor, self.clocks.wall_now())
            self.engine.set_rules(*self.rulebook.current_versions())
        return version

    # -- alerts and figures -------------------------------------------------------------------------
    def ack(self, alert_id: str, actor: str, comment: str = "") -> Alert:
        return self.alerts.ack(alert_id, actor, comment)

    def resolve(self, alert_id: str, actor: str, comment: str = "") -> Alert:
        return self.alerts.resolve(alert_id, actor, comment)

    def add_note(self, alert_id: str, actor: str, text: str, public: bool = False) -> Alert:
        return self.alerts.add_note(alert_id, actor, text, public)

    def act_incident(self, incident_id: str, op: str, actor: str, comment: str = "") -> dict[str, Any]:
        done = self.alerts.act_incident(incident_id, op, actor, comment)
        return self.get_incident(incident_id) or done.to_json()  # with the combined timeline, as GET answers

    def open_alerts(self) -> list[Alert]:
        return list(self.alerts.dedup.open.values())  # in memory: the same as the store's, without a query

    # -- CAP warnings (fenghuo/alerts/external.py) -----------------------------------------------------
    def take_warnings(self, alerts: list[CapAlert | CapError], origin: str, drill: str | None = None
                      ) -> list[WarningResult]:
        """CAP messages (parsed; the bad ones as CapError, dead-lettered) to alerts: one result each."""
        return self.warnings.take(alerts, origin, drill)

    def list_warnings(self, state: str | None = "open", drill: str | None = None, limit: int = 500
                      ) -> list[dict[str, Any]]:
        """The warnings taken in (``state`` None: all), newest first ("open_warnings" of the contract: that name
        is the detectors' view of open warnings here)."""
        return self.warnings.open_warnings(drill, state, limit)

    def metrics(self) -> MetricFigures:
        s = self.stats
        return MetricFigures(s.events, s.duplicates, s.rejected, s.signals, s.alerts_changed, list(s.latencies),
                             self.store.pending_notification_count(), open_by_level(self.open_alerts()),
                             self.delivery.delivered, self.delivery.failed,
                             outbox_by_level=outbox_by_level(self.store.pending_notifications_by_priority()))

    # -- lifecycle ----------------------------------------------------------------------------------
    def recover(self) -> None:
        """Restore detector state; re-run what was stored but not processed before a stop or crash."""
        raw = self.store.get_state("snapshot")
        snap_cursor = 0
        if raw:
            snap_cursor = self._restore_snapshot(raw)
        applied = int(self.store.get_state("cursor") or 0)
        warm = replayed = 0
        for seq, apply in ((snap_cursor, False), (applied, True)):
            limit = applied if not apply else None
            while True:
                rows = self.store.events_after(seq, 5000)
                if limit is not None:
                    rows = [r for r in rows if r[0] <= limit]
                if not rows:
                    break
                self._process([e for _, e in rows], apply=apply)
                seq = rows[-1][0]
                if apply:
                    replayed += len(rows)
                else:
                    warm += len(rows)
        self.cursor = self.store.max_seq()
        if raw:
            self.engine.resume()  # back after a stop: a grace for detectors that count the wall clock's time
        if warm or replayed:
            log.info("recovered: %d events re-learned, %d processed that a stop had left", warm, replayed)

    SNAPSHOT_VERSION = 1  # of the saved snapshot (kind "embedded-snapshot"; the detectors version their own parts)

    def snapshot(self) -> None:
        """Save the detectors' state, the clocks and the cursor as versioned data (never a pickle)."""
        from fenghuo.core import state as saved

        with self.lock:
            if self.unapplied:  # the detectors are ahead of the stored alerts: keep the older snapshot
                return
            data = {"engine": self.engine.snapshot(), "clocks": self.clocks.snapshot(), "cursor": self.cursor}
            self.store.put_state("snapshot", saved.dumps("embedded-snapshot", self.SNAPSHOT_VERSION, data))
            # by then every queued notification was queued: the next start judges their age from it
            self.store.put_state("wall_seen", repr(self.clocks.wall_now()).encode())
        self._last_snapshot = time.monotonic()

    def _restore_snapshot(self, raw: bytes) -> int:
        """Restore the detectors and clocks from a saved snapshot; its cursor. A snapshot the previous
        release (0.1.0) pickled is read once (the next snapshot is written as data); one of a version this
        release does not know raises StateVersionError: the service does not start rather than start empty."""
        from fenghuo.core import state as saved

        if saved.is_state(raw):
            snap = saved.loads(raw, "embedded-snapshot", {self.SNAPSHOT_VERSION: lambda d: d})
            self.engine.restore(snap["engine"])
        else:
            snap = saved.legacy_unpickle(raw)
            if not (isinstance(snap, dict) and {"engine", "clocks", "cursor"} <= snap.keys()):
                raise saved.StateVersionError("saved embedded-snapshot is a pickle, but not of a snapshot")
            self.engine.restore_legacy(snap["engine"])
            log.info("read a detector snapshot of the previous release: it is written as data from now on")
        self.clocks.restore(snap["clocks"])
        return int(snap["cursor"])

    def tick(self) -> None:
        with self.lock:
            if self.unapplied:
                self._apply_signals([])
            self._tick_detectors()
            self.alerts.tick(self.clocks.domains())
        self.warnings.tick()  # warnings whose `expires` passed are cleared and resolved
        self.delivery.run_due()
        if time.monotonic() - self._last_snapshot > SNAPSHOT_EVERY:
            self.snapshot()
        self.purge.tick()  # old complaint and opinion texts, once a day on a thread of its own
        self.heads.maybe(self.store, self.clocks.wall_now())  # to DATA_DIR/chain-heads.jsonl

    def _tick_detectors(self) -> None:
        """What time alone causes: the detectors' tick on each clock domain's time (``""`` the real one, each
        drill its event clock) and the feed watch's on the wall clock, applied as an ingest's signals are
        (with the cursor, under the lock; if the store refuses them they wait in ``unapplied`` and the
        snapshot waits too, so a restart ticks again from the older state and raises them again)."""
        now = {"": self.clocks.now_of(None)}
        # a drill run drives its own detectors' time while its records last (fenghuo.drills.runner): not here
        now.update({d: self.clocks.now_of(d) for d in self.clocks.drills if not self.drills.owns(d)})
        signals = self.engine.tick(now)
        if self.feed_watch is not None:
            signals += self.feed_watch.tick(self.clocks.wall_now())
        if signals:
            self.stats.signals += len(signals)
            self._apply_signals(signals)

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.tick_seconds):
            try:
                self.tick()
            except Exception:  # keep ticking; the error is logged with its trace
                log.exception("tick failed")

    def start(self) -> None:
        with self.lock:
            self.recover()
        self.drills.recover()  # runs a stop cut short: interrupted
        if self.delivery.policy is not None and self.delivery.policy.max_age is not None:
            seen = self.store.get_state("wall_seen")  # the previous process's last sign of life
            self.delivery.policy.queued_by = float(seen) if seen else None
            expired = self.delivery.sweep(at_start=True).get("expired", 0)
            if expired:
                log.warning("%d queued notification(s) waited longer than %.0f s: recorded as expired, not sent "
                            "(FENGHUO_NOTIFY_MAX_AGE / --notify-max-age sets the bound)", expired,
                            self.delivery.policy.max_age)
        self.tick()
        self._thread = threading.Thread(target=self._loop, name="fenghuo-tick", daemon=True)
        self._thread.start()
        if self.cap_poller is not None:
            self.cap_poller.start()

    def stop(self) -> None:
        if self.cap_poller is not None:
            self.cap_poller.stop()
        self.drills.close()
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        self.snapshot()
        self.engine.close()
        if self.backfill_alerts is not None:  # what the run raised and the tick did not reach yet
            self.delivery.sweep()
        self.delivery.close()
        self.purge.wait(30)
        self.store.close()


def _uuid() -> str:
    return uuid.uuid4().hex[:16]


def build_pipeline(settings: Settings, config: Config, **kw: Any) -> Pipeline:
    store = open_store(settings.store_url, settings.data_dir)
    return Pipeline(settings, config, store, **kw)
