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
from fenghuo.alerts.incidents import MAX_TEXT, GroupStage, Incident, IncidentBook, RecordIncidents
from fenghuo.alerts.inhibit import Inhibitor, InhibitStage
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
WITHHELD = ("not_sent", "expired")  # outbox statuses of notifications a send policy recorded instead of sending


class AlertNotFound(LookupError):
    pass


class AlertConflict(ValueError):
    pass


class AlertService:
    def __init__(self, config: Config, store: Store, router: Router, now_of: NowOf, new_id: IdFn,
                 title: TitleFn, publish: Publish, muters: list[Muter] | None = None,
                 reraise: tuple[type[BaseException], ...] = (), inhibitor: Inhibitor | None = None,
                 incidents: IncidentBook | None = None) -> None:
        """``reraise``: write errors that the caller handles for the whole batch (the distributed alert
        service reloads and applies again on a unique-index violation), never set aside per signal.
        ``muters`` (silences, maintenance windows) and ``inhibitor`` (the config's inhibit_rules) hold back the
        notifications of the changes they match, escalations included; the timeline records them."""
        self.config = config
        self.store = store
        self.now_of = now_of
        self.lock = threading.RLock()
        self.dedup = Dedup(new_id, title)
        self.dedup.load(store.open_alerts())
        self.escalate = Escalate(config.escalation, router)
        self.router = router
        self.muters: list[Muter] = list(muters or [])
        self.mute = MultiStage(MuteStage(self.muters), InhibitStage(inhibitor, lambda: self.dedup.open.values()))
        self.deliver = MultiStage(Notify(router), Record(store))
        # incidents (config `incidents`, docs/incidents.md): grouping between escalate and notify
        self.incidents = incidents if incidents is not None and config.incidents.enabled else None
        self.group: GroupStage | None = None
        if self.incidents is not None:
            self.incidents.load(store.open_incidents())
            self.group = GroupStage(self.incidents, router, config.escalation, now_of,
                                    lambda: self.dedup.open.values(), self.dedup.own)
            self.deliver = MultiStage(self.group, Notify(router), RecordIncidents(store))
        self.publish = publish
        self.reraise = reraise
        self.set_aside = 0  # signals whose alert change the store refused

    # -- steps --------------------------------------------------------------------------------------
    def _step(self, ctx: Context, work: Callable[[Context], list[Change]]) -> list[Change]:
        """Compute changes with ``work`` on the step's copies, write them with ``ctx.state`` in one
        transaction, then keep and publish them. On any failure memory is as it was and the error goes on."""
        self.dedup.begin()
        if self.incidents is not None:
            self.incidents.begin()
        try:
            changes = self.deliver.exec(ctx, work(ctx))
        except BaseException:
            self.dedup.rollback()
            if self.incidents is not None:
                self.incidents.rollback()
            raise
        self.dedup.commit()
        if self.incidents is not None:
            self.incidents.commit()
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
            changes += self._quiet(self.escalate.due(self._open_in(s.drill), {s.drill: now}, self.dedup.own),
                                   {s.drill: now})
            ch = self.dedup.apply(s, now)
            if ch is not None:
                ctx.now = now
                changes += [c.stamp() for c in self.escalate.exec(ctx, self.mute.exec(ctx, [ch]))]
        return changes

    def _quiet(self, changes: list[Change], now_of: dict[str | None, float]) -> list[Change]:
        """Escalations through mute and inhibit too, each on its alert's clock: a silenced alert escalates in
        its timeline but notifies nobody until the silence ends."""
        for ch in changes:
            if ch.notify:
                self.mute.exec(Context(now=now_of.get(ch.alert.drill, 0.0)), [ch])
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

    def forget_drill(self, drill: str) -> None:
        """A purged drill run's open alerts and incidents leave memory (the store has deleted them already)."""
        with self.lock:
            for fp in [fp for fp, a in self.dedup.open.items() if a.drill == drill]:
                del self.dedup.open[fp]
            if self.incidents is not None:
                for key in [k for k, inc in self.incidents.open.items() if inc.drill == drill]:
                    del self.incidents.open[key]

    def tick(self, drills: list[str | None]) -> list[Change]:
        """Fire due escalations and auto-resolves on each clock (None = the real one)."""
        with self.lock:
            now_of = {d: self.now_of(d, None) for d in drills}
            return self._step(Context(now=now_of.get(None, 0.0)), lambda ctx: self._due(now_of))

    def _due(self, now_of: dict[str | None, float]) -> list[Change]:
        opened = self._scoped(list(self.dedup.open.values()))
        changes = self._quiet(self.escalate.due(opened, now_of, self.dedup.own), now_of)
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
            inc_noted: list[tuple[Incident, Notification, bool, str, bool]] = []
            for n, ok, detail, final in outcomes:
                if not (ok or final or n.attempts == 1):
                    continue
                if n.kind.startswith("incident_"):  # an incident's summary: its outcome goes to its timeline
                    inc = self.incidents.get(n.alert_id) if self.incidents is not None else None
                    if inc is not None:
                        inc_noted.append((inc, n, ok, detail, final))
                    continue
                try:
                    noted.append((by_id.get(n.alert_id) or self._get(n.alert_id), n, ok, detail, final))
                except AlertNotFound:
                    continue
            if not noted and not inc_noted:
                return

            def work(ctx: Context) -> list[Change]:
                changed: dict[str, Change] = {}
                for inc, n, ok, detail, final in inc_noted:
                    mine = self.incidents.own(inc) if self.incidents is not None else inc
                    kind = ("notify_withheld" if n.status in WITHHELD else "notified" if ok
                            else "notify_failed" if final else "notify_retrying")
                    mine.add(self.now_of(mine.drill, None), kind, n.responder,
                             f"{n.kind} tier {n.tier}: {detail} (attempt {n.attempts})", n.channel)
                for a, n, ok, detail, final in noted:
                    mine = self.dedup.own(a)
                    kind = ("notify_withheld" if n.status in WITHHELD else "notified" if ok
                            else "notify_failed" if final else "notify_retrying")
                    mine.add(TimelineEntry(self.now_of(mine.drill, None), kind, mine.level.name_en, n.responder,
                                           n.channel, f"{n.kind} tier {n.tier}: {detail} (attempt {n.attempts})"))
                    changed[mine.id] = Change(mine, "updated")
                return list(changed.values())

            self._step(Context(now=self.now_of(None, None)), work)
            for a, n, ok, detail, final in noted:  # (a withheld notification says nothing of its channel)
                if a.feed != "system" and (ok or final) and n.status not in WITHHELD:
                    self._channel_health(n.channel, ok, detail)
            for _inc, n, ok, detail, final in inc_noted:
                if (ok or final) and n.status not in WITHHELD:
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

    # -- notes and incidents ------------------------------------------------------------------------
    def add_note(self, alert_id: str, actor: str, text: str, public: bool = False) -> Alert:
        """A responder's note in the alert's timeline (``note``; ``public``: carried in the alert's next CAP
        message). Notifies nobody."""
        text = text.strip()[:MAX_TEXT]
        if not text:
            raise AlertConflict("a note needs some text")
        with self.lock:
            a = self._get(alert_id)
            now = self.now_of(a.drill, None)

            def work(ctx: Context) -> list[Change]:
                mine = self.dedup.own(a)
                mine.add(TimelineEntry(now, "note_public" if public else "note", mine.level.name_en, actor, None,
                                       text))
                return [Change(mine, "noted")]

            return self._step(Context(now=now), work)[0].alert

    def incident(self, incident_id: str) -> Incident | None:
        if self.incidents is not None:
            held = self.incidents.get(incident_id)
            if held is not None:
                return held
        doc = self.store.get_incident(incident_id)
        return Incident.from_doc(doc) if doc else None

    def act_incident(self, incident_id: str, op: str, actor: str, comment: str = "") -> Incident:
        """``ack`` or ``resolve`` an incident and every member alert with it (in one step), or add a ``note``."""
        with self.lock:
            inc = self.incident(incident_id)
            if inc is None or self.incidents is None or self.group is None:
                raise AlertNotFound(incident_id)
            if op == "ack" and inc.status != "open":
                raise AlertConflict(f"incident {incident_id} is {inc.status}, not open")
            if op == "resolve" and inc.status == "resolved":
                raise AlertConflict(f"incident {incident_id} is already resolved")
            if op == "note" and not comment.strip():
                raise AlertConflict("a note needs some text")
            now = self.now_of(inc.drill, None)
            group, book = self.group, self.incidents

            def work(ctx: Context) -> list[Change]:
                mine = group.act(inc, op, actor, now, comment.strip()[:MAX_TEXT])
                if op == "note":
                    return []
                out: list[Change] = []
                why = f"with incident {mine.id}" + (f": {comment}" if comment else "")
                open_by_id = {a.id: a for a in self.dedup.open.values()}
                for mid in list(mine.members):
                    a = open_by_id.get(mid)
                    if a is None:
                        continue
                    a = self.dedup.own(a)
                    if op == "ack" and a.status == Status.OPEN:
                        a.status, a.acked_at, a.acked_by, a.escalate_at = Status.ACKNOWLEDGED, now, actor, None
                        a.add(TimelineEntry(now, "acknowledged", a.level.name_en, actor, None, why))
                        out.append(Change(a, "acknowledged"))
                    elif op == "resolve":
                        out.append(self._resolve(a, actor, now, why))
                    mine.members[mid].status = str(a.status)
                book.own(mine)
                return out

            self._step(Context(now=now), work)
            done = self.incidents.get(incident_id)
            if done is None:  # resolved: no longer held open
                doc = self.store.get_incident(incident_id)
                if doc is None:
                    raise AlertNotFound(incident_id)
                return Incident.from_doc(doc)
            return done
