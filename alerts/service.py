"""The alert service: signals in, alerts out, through the stages dedup -> mute -> escalate ->
notify -> record. Ack, resolve and delivery outcomes come through here too, so one lock orders
every change to an alert.

Every change is a step (:meth:`AlertService._step`): computed on copies of the alerts it touches,
written to the store in one transaction, and only then kept in memory and published. A step whose
write fails changes nothing. A batch of signals whose write fails is applied again one signal at a
time, so one change the store refuses cannot hold back the others (a red alert of another series in
the same batch); the refused one is set aside, logged and kept in the dead-letter store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from fenghuo.alerts.dedup import Dedup, IdFn, TitleFn
from fenghuo.alerts.escalate import Escalate
from fenghuo.alerts.mute import Muter, MuteStage
from fenghuo.alerts.notify import Notify
from fenghuo.alerts.record import Publish, Record
from fenghuo.alerts.routing import Router
from fenghuo.alerts.stages import Change, Context, MultiStage
from fenghuo.core.config import Config
from fenghuo.core.levels import Level
from fenghuo.core.models import Alert, Risk, Signal, Status, TimelineEntry
from fenghuo.core.privacy import mask_pii
from fenghuo.core.store import Notification, Store

NowOf = Callable[[str | None, float | None], float]  # (drill, event time) -> now
log = logging.getLogger("fenghuo.alerts")
SET_ASIDE_KEY = "alerts-set-aside"


class AlertNotFound(LookupError):
    pass


class AlertConflict(ValueError):
    pass


class AlertService:
    def __init__(self, config: Config, store: Store, router: Router, now_of: NowOf, new_id: IdFn,
                 title: TitleFn, publish: Publish, muters: list[Muter] | None = None,
                 reraise: tuple[type[BaseException], ...] = ()) -> None:
        """``reraise``: write errors that the caller handles for the whole batch (the distributed alert
        service reloads and applies again on a unique-index violation), never set aside per signal."""
        self.config = config
        self.store = store
        self.now_of = now_of
        self.lock = threading.RLock()
        self.dedup = Dedup(new_id, title)
        self.dedup.load(store.open_alerts())
        self.escalate = Escalate(config.escalation, router)
        self.router = router
        self.muters: list[Muter] = list(muters or [])
        self.mute = MuteStage(self.muters)
        self.deliver = MultiStage(Notify(router), Record(store))
        self.publish = publish
        self.reraise = reraise
        self.set_aside = 0  # signals whose alert change the store refused

    # -- steps --------------------------------------------------------------------------------------
    def _step(self, ctx: Context, work: Callable[[Context], list[Change]]) -> list[Change]:
        """Compute changes with ``work`` on the step's copies, write them with ``ctx.state`` in one
        transaction, then keep and publish them. On any failure memory is as it was and the error goes on."""
        self.dedup.begin()
        try:
            changes = self.deliver.exec(ctx, work(ctx))
        except BaseException:
            self.dedup.rollback()
            raise
        self.dedup.commit()
        if changes:
            self.publish(changes)
        return changes

    def apply(self, signals: list[Signal], state: dict[str, bytes] | None = None) -> list[Change]:
        """Apply signals in event order; persist with ``state`` (the pipeline's cursor, a worker's
        applied offsets) in one transaction, so a crash cannot separate them.

        Each signal is stamped with its own clock's time (on an event clock, its event time), and
        escalations that fall due before it fire first, so a timeline reads in time order.
        """
        with self.lock:
            try:
                return self._step(Context(now=0.0, state=state), lambda ctx: self._changes_of(signals, ctx))
            except self.reraise:
                raise
            except Exception:
                log.exception("storing the alert changes of %d signal(s) failed; applying them one at a time",
                              len(signals))
            return self._one_by_one(signals, state)

    def _changes_of(self, signals: list[Signal], ctx: Context) -> list[Change]:
        changes: list[Change] = []
        for s in signals:
            now = self.now_of(s.drill, s.ts)
            changes += self.escalate.due(self._open_in(s.drill), {s.drill: now}, self.dedup.own)
            ch = self.dedup.apply(s, now)
            if ch is not None:
                ctx.now = now
                changes += [c.stamp() for c in self.escalate.exec(ctx, self.mute.exec(ctx, [ch]))]
        return changes

    def _one_by_one(self, signals: list[Signal], state: dict[str, bytes] | None) -> list[Change]:
        """After a batch's write failed: each signal in its own step. If the store then takes the batch's state,
        it works, and the signals it refused are set aside; if not, the store is failing: the error goes on
        (nothing is set aside; the caller's state is not advanced, so the events are applied again later)."""
        out: list[Change] = []
        refused: list[tuple[int, Signal, Exception]] = []
        for i, s in enumerate(signals):
            for attempt in (1, 2):  # a second try at once: a passing fault (a lock, a lost connection) goes by
                try:
                    out += self._step(Context(now=0.0), lambda ctx, s=s: self._changes_of([s], ctx))
                    break
                except self.reraise:
                    raise
                except Exception as exc:
                    if attempt == 2:
                        refused.append((i, s, exc))
        probe = dict(state or {})
        if refused:
            self.set_aside += len(refused)
            probe[SET_ASIDE_KEY] = str(self.set_aside).encode()
        if probe:
            self.store.save_alerts([], [], probe)  # raises when the store itself is failing
        for i, s, exc in refused:
            log.error("set aside signal %s/%s in %s (%s at %s): the store refused its alert change: %s: %s",
                      s.detector, s.rule, s.grid, s.level.name_en if s.level else "clear", s.ts,
                      type(exc).__name__, mask_pii(str(exc)[:200]))
            self._keep_set_aside(i, s, exc)
        return out

    def _keep_set_aside(self, index: int, s: Signal, exc: Exception) -> None:
        record = {"signal": {"detector": s.detector, "rule": s.rule, "risk": str(s.risk), "feed": s.feed,
                             "grid": s.grid, "series": s.series, "source": s.source, "ts": float(s.ts),
                             "drill": s.drill, "level": s.level.name_en if s.level else None,
                             "score": float(s.score)}}
        try:
            self.store.add_dead_letters(
                [(index, f"alert change could not be stored: {type(exc).__name__}: {mask_pii(str(exc)[:200])}",
                  record)], self.now_of(None, None))
        except Exception:
            log.exception("could not keep the set-aside signal in the dead-letter store")

    def _open_in(self, drill: str | None) -> list[Alert]:
        return self._scoped([a for a in self.dedup.open.values() if a.drill == drill and a.escalate_at is not None])

    def _scoped(self, alerts: list[Alert]) -> list[Alert]:
        """The alerts a tick may touch: all of them here; one grid's in the distributed alert service."""
        return alerts

    def tick(self, drills: list[str | None]) -> list[Change]:
        """Fire due escalations and auto-resolves on each clock (None = the real one)."""
        with self.lock:
            now_of = {d: self.now_of(d, None) for d in drills}
            return self._step(Context(now=now_of.get(None, 0.0)), lambda ctx: self._due(now_of))

    def _due(self, now_of: dict[str | None, float]) -> list[Change]:
        opened = self._scoped(list(self.dedup.open.values()))
        changes = self.escalate.due(opened, now_of, self.dedup.own)
        after = self.config.escalation.auto_resolve_after
        if after is not None:
            for a in opened:
                now = now_of.get(a.drill)
                if now is not None and a.cleared and a.cleared_at is not None and a.cleared_at + after <= now:
                    changes.append(self._resolve(self.dedup.own(a), "system", now, "auto-resolved after clearing"))
        return changes

    def _get(self, alert_id: str) -> Alert:
        for a in self.dedup.open.values():
            if a.id == alert_id:
                return a
        stored = self.store.get_alert(alert_id)
        if stored is None:
            raise AlertNotFound(alert_id)
        return stored

    def ack(self, alert_id: str, actor: str, comment: str = "") -> Alert:
        with self.lock:
            a = self._get(alert_id)
            if a.status != Status.OPEN:
                raise AlertConflict(f"alert {alert_id} is {a.status}, not open")
            now = self.now_of(a.drill, None)

            def work(ctx: Context) -> list[Change]:
                mine = self.dedup.own(a)
                mine.status, mine.acked_at, mine.acked_by, mine.escalate_at = Status.ACKNOWLEDGED, now, actor, None
                mine.add(TimelineEntry(now, "acknowledged", mine.level.name_en, actor, None, comment or None))
                return [Change(mine, "acknowledged")]

            return self._step(Context(now=now), work)[0].alert

    def resolve(self, alert_id: str, actor: str, comment: str = "") -> Alert:
        with self.lock:
            a = self._get(alert_id)
            if a.status == Status.RESOLVED:
                raise AlertConflict(f"alert {alert_id} is already resolved")
            now = self.now_of(a.drill, None)
            changes = self._step(Context(now=now), lambda ctx: [self._resolve(self.dedup.own(a), actor, now, comment)])
            return changes[0].alert

    def _resolve(self, a: Alert, actor: str, now: float, comment: str) -> Change:
        a.status, a.resolved_at, a.resolved_by, a.escalate_at = Status.RESOLVED, now, actor, None
        a.add(TimelineEntry(now, "resolved", a.level.name_en, actor, None, comment or None))
        self.dedup.close(a)
        return Change(a, "resolved", notify=False)

    def record_delivery(self, n: Notification, ok: bool, detail: str, final: bool) -> None:
        """A delivery outcome: update the outbox row and, when final, the alert's timeline."""
        self.record_deliveries([(n, ok, detail, final)])

    def record_deliveries(self, outcomes: list[tuple[Notification, bool, str, bool]]) -> None:
        """Delivery outcomes in a batch: the outbox rows in one transaction, then the timeline entries they
        make (a success, a final failure, a first failure) in one step."""
        with self.lock:
            self.store.update_notifications([n for n, *_ in outcomes])
            by_id = {a.id: a for a in self.dedup.open.values()}
            noted: list[tuple[Alert, Notification, bool, str, bool]] = []
            for n, ok, detail, final in outcomes:
                if not (ok or final or n.attempts == 1):
                    continue
                try:
                    noted.append((by_id.get(n.alert_id) or self._get(n.alert_id), n, ok, detail, final))
                except AlertNotFound:
                    continue
            if not noted:
                return

            def work(ctx: Context) -> list[Change]:
                changed: dict[str, Change] = {}
                for a, n, ok, detail, final in noted:
                    mine = self.dedup.own(a)
                    kind = "notified" if ok else ("notify_failed" if final else "notify_retrying")
                    mine.add(TimelineEntry(self.now_of(mine.drill, None), kind, mine.level.name_en, n.responder,
                                           n.channel, f"{n.kind} tier {n.tier}: {detail} (attempt {n.attempts})"))
                    changed[mine.id] = Change(mine, "updated")
                return list(changed.values())

            self._step(Context(now=self.now_of(None, None)), work)
            for a, n, ok, detail, final in noted:
                if a.feed != "system" and (ok or final):
                    self._channel_health(n.channel, ok, detail)

    def _channel_health(self, channel: str, ok: bool, detail: str) -> None:
        """A channel whose notification finally failed raises a system alert (orange); the next
        delivery through it clears that alert. Never silent."""
        grid = self.router.system_node()
        signal = Signal(detector="delivery", rule="channel-failing", risk=Risk.SYSTEM, feed="system", grid=grid,
                        series=channel, source=channel, ts=self.now_of(None, None),
                        level=None if ok else Level.ORANGE, score=0.0 if ok else 1.0,
                        reason=f"channel {channel}: " + ("delivering again" if ok else f"gave up: {detail}"),
                        evidence={"channel": channel})
        if ok and signal.fingerprint not in self.dedup.open:
            return
        self.apply([signal])
