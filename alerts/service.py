"""The alert service: signals in, alerts out, through the stages dedup -> mute -> escalate ->
notify -> record. Ack, resolve and delivery outcomes come through here too, so one lock orders
every change to an alert.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from alerts.dedup import Dedup, IdFn, TitleFn
from alerts.escalate import Escalate
from alerts.mute import Muter, MuteStage
from alerts.notify import Notify
from alerts.record import Publish, Record
from alerts.routing import Router
from alerts.stages import Change, Context, MultiStage
from fenghuo.config import Config
from fenghuo.levels import Level
from fenghuo.models import Alert, Risk, Signal, Status, TimelineEntry
from fenghuo.store import Notification, Store

NowOf = Callable[[str | None, float | None], float]  # (drill, event time) -> now


class AlertNotFound(LookupError):
    pass


class AlertConflict(ValueError):
    pass


class AlertService:
    def __init__(self, config: Config, store: Store, router: Router, now_of: NowOf, new_id: IdFn,
                 title: TitleFn, publish: Publish, muters: list[Muter] | None = None) -> None:
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
        self.deliver = MultiStage(Notify(router), Record(store, publish))

    def apply(self, signals: list[Signal], state: dict[str, bytes] | None = None) -> list[Change]:
        """Apply signals in event order; persist with ``state`` (the pipeline's cursor, a worker's
        applied offsets) in one transaction, so a crash cannot separate them.

        Each signal is stamped with its own clock's time (on an event clock, its event time), and
        escalations that fall due before it fire first, so a timeline reads in time order.
        """
        with self.lock:
            changes: list[Change] = []
            ctx = Context(now=0.0, state=state)
            for s in signals:
                now = self.now_of(s.drill, s.ts)
                changes += self.escalate.due(self._open_in(s.drill), {s.drill: now})
                ch = self.dedup.apply(s, now)
                if ch is not None:
                    ctx.now = now
                    changes += [c.stamp() for c in self.escalate.exec(ctx, self.mute.exec(ctx, [ch]))]
            return self.deliver.exec(ctx, changes)

    def _open_in(self, drill: str | None) -> list[Alert]:
        return self._scoped([a for a in self.dedup.open.values() if a.drill == drill and a.escalate_at is not None])

    def _scoped(self, alerts: list[Alert]) -> list[Alert]:
        """The alerts a tick may touch: all of them here; one grid's in the distributed alert service."""
        return alerts

    def tick(self, drills: list[str | None]) -> list[Change]:
        """Fire due escalations and auto-resolves on each clock (None = the real one)."""
        with self.lock:
            now_of = {d: self.now_of(d, None) for d in drills}
            opened = self._scoped(list(self.dedup.open.values()))
            changes = self.escalate.due(opened, now_of)
            after = self.config.escalation.auto_resolve_after
            if after is not None:
                for a in opened:
                    now = now_of.get(a.drill)
                    if now is not None and a.cleared and a.cleared_at is not None and a.cleared_at + after <= now:
                        changes.append(self._resolve(a, "system", now, "auto-resolved after clearing"))
            if not changes:
                return []
            return self.deliver.exec(Context(now=now_of.get(None, 0.0)), changes)

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
            a.status, a.acked_at, a.acked_by, a.escalate_at = Status.ACKNOWLEDGED, now, actor, None
            a.add(TimelineEntry(now, "acknowledged", a.level.name_en, actor, None, comment or None))
            self.deliver.exec(Context(now=now), [Change(a, "acknowledged")])
            return a

    def resolve(self, alert_id: str, actor: str, comment: str = "") -> Alert:
        with self.lock:
            a = self._get(alert_id)
            if a.status == Status.RESOLVED:
                raise AlertConflict(f"alert {alert_id} is already resolved")
            now = self.now_of(a.drill, None)
            self.deliver.exec(Context(now=now), [self._resolve(a, actor, now, comment)])
            return a

    def _resolve(self, a: Alert, actor: str, now: float, comment: str) -> Change:
        a.status, a.resolved_at, a.resolved_by, a.escalate_at = Status.RESOLVED, now, actor, None
        a.add(TimelineEntry(now, "resolved", a.level.name_en, actor, None, comment or None))
        self.dedup.close(a)
        return Change(a, "resolved", notify=False)

    def record_delivery(self, n: Notification, ok: bool, detail: str, final: bool) -> None:
        """A delivery outcome: update the outbox row and, when final, the alert's timeline."""
        with self.lock:
            self.store.update_notification(n)
            if not (ok or final or n.attempts == 1):
                return
            try:
                a = self._get(n.alert_id)
            except AlertNotFound:
                return
            kind = "notified" if ok else ("notify_failed" if final else "notify_retrying")
            if a.feed != "system" and (ok or final):
                self._channel_health(n.channel, ok, detail)
            a.add(TimelineEntry(self.now_of(a.drill, None), kind, a.level.name_en, n.responder, n.channel,
                                f"{n.kind} tier {n.tier}: {detail} (attempt {n.attempts})"))
            self.deliver.exec(Context(now=self.now_of(a.drill, None)), [Change(a, "updated")])

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
