"""Incidents: the alerts of one risk under one node (a street, by default) grouped and notified together, as
Alertmanager's groups (``group_wait``, ``group_interval``, ``repeat_interval``).

An incident is keyed by (risk, the ancestor node of kind ``group_by_kind``, the drill or none). While it is open
its members' changes are not notified one by one: the incident is, with a summary (count by level, grids, the
highest level), first ``group_wait`` after it opens, then at most once per ``group_interval`` when members were
added or upgraded, and once per ``repeat_interval`` as a reminder while nobody has acknowledged it. It escalates
itself (its highest level's deadline, tiers from its node upward), not each member, so a storm escalates a
handful of times, not hundreds. Fewer than ``min_alerts`` open alerts under the node: each is notified as before.

The timing is pure (:func:`next_notification`, clock given); :class:`IncidentBook` keeps the open incidents with
the alert service's copy-on-write steps (the store has a change before memory does), and :class:`GroupStage` is
the stage between escalate and notify.

>>> from fenghuo.core.config import Incidents
>>> p = Incidents(enabled=True, group_wait=30, group_interval=300, repeat_interval=3600)
>>> inc = Incident(id="i1", risk="safety", node="S", drill=None, created_at=1000.0, updated_at=1000.0,
...                members={"a1": Member("a1", "G1", "river", "red", "open", 1000.0)})
>>> next_notification(inc, p)
('opened', 1030.0)
>>> inc.notified_at, inc.pending = 1030.0, True
>>> next_notification(inc, p)
('updated', 1330.0)
>>> inc.pending = False
>>> next_notification(inc, p)
('reminder', 4630.0)
>>> inc.status = "acknowledged"
>>> next_notification(inc, p) is None
True
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from fenghuo.alerts.notifiers.wording import masked_payload
from fenghuo.alerts.notify import notification_id, priority, when
from fenghuo.alerts.record import Record
from fenghuo.alerts.routing import Router
from fenghuo.alerts.stages import Change, Context
from fenghuo.core.config import Escalation, Incidents
from fenghuo.core.levels import Level
from fenghuo.core.models import Alert, Risk, Status, TimelineEntry, iso
from fenghuo.core.store import Notification

MAX_TIMELINE = 500  # an incident's own timeline keeps its first entry and the latest ones
MAX_TEXT = 2000  # a note
NowOf = Callable[[str | None, float | None], float]
KindOf = Callable[[str], list[tuple[str, str]]]  # grid -> its chain as (node id, kind), bottom up


@dataclass(slots=True)
class Member:
    """What the incident knows of a member alert (kept current with each of its changes)."""

    id: str
    grid: str
    rule: str
    level: str
    status: str
    joined_at: float
    title_zh: str = ""
    title_en: str = ""
    cleared: bool = False  # its condition has cleared (it waits for a responder to resolve it)

    @property
    def firing(self) -> bool:
        return self.status != "resolved" and not self.cleared

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "grid": self.grid, "rule": self.rule, "level": self.level, "status": self.status,
                "cleared": self.cleared, "joined_at": iso(self.joined_at),
                "title": {"zh-CN": self.title_zh, "en": self.title_en}}


@dataclass(slots=True)
class Incident:
    id: str
    risk: str
    node: str
    drill: str | None
    created_at: float
    updated_at: float
    status: str = "open"  # open | acknowledged | resolved
    level: str = "blue"  # the highest current level of its open members
    members: dict[str, Member] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)  # {ts, kind, level, actor, channel, detail}
    notified_at: float | None = None  # the last summary sent
    notifications: int = 0  # summaries decided so far
    pending: bool = False  # members added or upgraded since the last summary
    escalation_tier: int = 0
    escalate_at: float | None = None
    deadline_s: float = 0.0
    acked_at: float | None = None
    acked_by: str | None = None
    resolved_at: float | None = None
    resolved_by: str | None = None
    feed: str = ""

    @property
    def is_open(self) -> bool:
        return self.status != "resolved"

    @property
    def firing(self) -> bool:
        """Has it a member whose condition has not cleared? Only then does it take new members and remind."""
        return any(m.firing for m in self.members.values())

    @property
    def key(self) -> tuple[str, str, str | None]:
        return self.risk, self.node, self.drill

    def copy(self) -> Incident:
        return replace(self, members={k: replace(m) for k, m in self.members.items()}, timeline=list(self.timeline))

    def add(self, ts: float, kind: str, actor: str | None = None, detail: str | None = None,
            channel: str | None = None) -> None:
        self.timeline.append({"ts": ts, "kind": kind, "level": self.level, "actor": actor, "channel": channel,
                              "detail": detail})
        if len(self.timeline) > MAX_TIMELINE:
            del self.timeline[1:len(self.timeline) - MAX_TIMELINE + 1]
        self.updated_at = max(self.updated_at, ts)

    def recompute_level(self) -> bool:
        """The highest level of the open members (all of them when none is open); True when it rose."""
        live = [Level.parse(m.level) for m in self.members.values() if m.status != "resolved"]
        every = live or [Level.parse(m.level) for m in self.members.values()] or [Level.BLUE]
        before = Level.parse(self.level)
        self.level = Level(max(every)).name_en
        return Level.parse(self.level) > before

    def summary(self) -> dict[str, Any]:
        by_level = Counter(m.level for m in self.members.values() if m.status != "resolved")
        firing = sum(1 for m in self.members.values() if m.firing)
        grids = sorted({m.grid for m in self.members.values()})
        return {"alerts": len(self.members),
                "open": sum(by_level.values()), "firing": firing,
                "by_level": {lv.name_en: by_level.get(lv.name_en, 0) for lv in reversed(list(Level))},
                "grids": grids[:200], "grid_count": len(grids), "max_level": self.level}

    def summary_text(self) -> str:
        s = self.summary()
        levels = ", ".join(f"{n} {lv}" for lv, n in s["by_level"].items() if n)
        grids = ", ".join(s["grids"][:10]) + (f" and {s['grid_count'] - 10} more" if s["grid_count"] > 10 else "")
        return f"{s['alerts']} alerts under {self.node} ({levels or 'none open'}); grids: {grids}"

    def to_doc(self) -> dict[str, Any]:
        """The stored document (plain data); the store indexes ``id``, ``status``, ``created_at``, ``updated_at``."""
        return {"id": self.id, "risk": self.risk, "node": self.node, "drill": self.drill,
                "created_at": self.created_at, "updated_at": self.updated_at, "status": self.status,
                "level": self.level, "feed": self.feed,
                "members": [[m.id, m.grid, m.rule, m.level, m.status, m.joined_at, m.title_zh, m.title_en, m.cleared]
                            for m in self.members.values()],
                "timeline": self.timeline, "notified_at": self.notified_at, "notifications": self.notifications,
                "pending": self.pending, "escalation_tier": self.escalation_tier, "escalate_at": self.escalate_at,
                "deadline_s": self.deadline_s, "acked_at": self.acked_at, "acked_by": self.acked_by,
                "resolved_at": self.resolved_at, "resolved_by": self.resolved_by}

    @classmethod
    def from_doc(cls, d: dict[str, Any]) -> Incident:
        members = {str(r[0]): Member(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), float(r[5]),
                                     str(r[6]), str(r[7]), bool(r[8]) if len(r) > 8 else False)
                   for r in d.get("members") or []}
        return cls(id=str(d["id"]), risk=str(d["risk"]), node=str(d["node"]), drill=d.get("drill"),
                   created_at=float(d["created_at"]), updated_at=float(d["updated_at"]), status=str(d["status"]),
                   level=str(d.get("level") or "blue"), members=members, timeline=list(d.get("timeline") or []),
                   notified_at=d.get("notified_at"), notifications=int(d.get("notifications") or 0),
                   pending=bool(d.get("pending")), escalation_tier=int(d.get("escalation_tier") or 0),
                   escalate_at=d.get("escalate_at"), deadline_s=float(d.get("deadline_s") or 0.0),
                   acked_at=d.get("acked_at"), acked_by=d.get("acked_by"), resolved_at=d.get("resolved_at"),
                   resolved_by=d.get("resolved_by"), feed=str(d.get("feed") or ""))

    def to_json(self, full: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "risk": self.risk, "node": self.node, "drill": self.drill, "status": self.status,
            "level": self.level, "created_at": iso(self.created_at), "updated_at": iso(self.updated_at),
            "acknowledged_at": iso(self.acked_at), "acknowledged_by": self.acked_by,
            "resolved_at": iso(self.resolved_at), "resolved_by": self.resolved_by,
            "escalation_tier": self.escalation_tier, "escalate_at": iso(self.escalate_at),
            "notified_at": iso(self.notified_at), "notifications": self.notifications, "summary": self.summary(),
        }
        if full:
            out["members"] = [m.to_json() for m in self.members.values()]
            out["timeline"] = [{**e, "ts": iso(e["ts"])} for e in self.timeline]
        return out


def next_notification(inc: Incident, policy: Incidents) -> tuple[str, float] | None:
    """The incident's next summary and when it falls due (pure): ``opened`` ``group_wait`` after it opened;
    then ``updated`` ``group_interval`` after the last when members were added or upgraded since; else a
    ``reminder`` ``repeat_interval`` after the last while nobody has acknowledged it and a member is still firing
    (its condition not cleared); none once resolved."""
    if not inc.is_open:
        return None
    if inc.notified_at is None:
        return "opened", inc.created_at + policy.group_wait
    if inc.pending:
        return "updated", inc.notified_at + policy.group_interval
    if inc.status == "open" and inc.firing:
        return "reminder", inc.notified_at + policy.repeat_interval
    return None


def incident_id(key: tuple[str, str, str | None], created_at: float, seq: int) -> str:
    raw = f"{key}|{created_at!r}|{seq}|{uuid.uuid4().hex}"  # unique across restarts too
    return "inc-" + hashlib.sha256(raw.encode()).hexdigest()[:16]


def held_back(a: Alert) -> bool:
    """Was the alert's raise muted or inhibited? Then it takes no part in incidents (it notifies nobody anyway)."""
    return any(e.kind in ("muted", "inhibited") for e in a.timeline[:3])


class IncidentBook:
    """The open incidents, changed in the alert service's steps: :meth:`own` gives a step's copy; :meth:`commit`
    keeps the step's versions once the store has them, :meth:`rollback` drops them."""

    def __init__(self, policy: Incidents, chain_kinds: KindOf) -> None:
        self.policy = policy
        self.chain_kinds = chain_kinds
        self.open: dict[str, Incident] = {}
        self._step: dict[str, Incident] | None = None
        self._seq = 0

    def load(self, docs: Iterable[dict[str, Any]]) -> None:
        self.open = {}
        for d in docs:
            inc = Incident.from_doc(d)
            if inc.is_open:
                self.open[inc.id] = inc

    def begin(self) -> None:
        self._step = {}

    def commit(self) -> None:
        step, self._step = self._step or {}, None
        for inc in step.values():
            if inc.is_open:
                self.open[inc.id] = inc
            else:
                self.open.pop(inc.id, None)

    def rollback(self) -> None:
        self._step = None

    def changed(self) -> list[Incident]:
        return list((self._step or {}).values())

    def own(self, inc: Incident) -> Incident:
        step = self._step
        if step is None:
            return inc
        mine = step.get(inc.id)
        if mine is None:
            mine = step[inc.id] = inc.copy()
        return mine

    def current(self) -> list[Incident]:
        """Every open incident as the step sees it."""
        step = self._step or {}
        out = {i: step.get(i, inc) for i, inc in self.open.items()}
        out.update({i: inc for i, inc in step.items() if i not in out})
        return [inc for inc in out.values() if inc.is_open]

    def get(self, incident_id: str) -> Incident | None:
        step = self._step or {}
        return step.get(incident_id) or self.open.get(incident_id)

    def of_member(self, alert_id: str) -> Incident | None:
        for inc in self.current():
            if alert_id in inc.members:
                return inc
        return None

    def key_of(self, a: Alert) -> tuple[str, str, str | None] | None:
        if a.feed == "system" or a.risk == Risk.SYSTEM:
            return None
        for node, kind in self.chain_kinds(a.grid):
            if kind == self.policy.group_by_kind:
                return str(a.risk), node, a.drill
        return None

    def open_for(self, key: tuple[str, str, str | None]) -> Incident | None:
        for inc in self.current():
            if inc.key == key and len(inc.members) < self.policy.max_members and inc.firing:
                return inc
        return None

    def new(self, key: tuple[str, str, str | None], at: float, feed: str) -> Incident:
        self._seq += 1
        inc = Incident(id=incident_id(key, at, self._seq), risk=key[0], node=key[1], drill=key[2], created_at=at,
                       updated_at=at, feed=feed)
        if self._step is not None:
            self._step[inc.id] = inc
        else:
            self.open[inc.id] = inc
        return inc


def member_of(a: Alert, at: float) -> Member:
    return Member(a.id, a.grid, a.rule, a.level.name_en, str(a.status), at, a.title_zh, a.title_en, a.cleared)


class GroupStage:
    """Between escalate and notify: alerts join incidents (their own notification held back), incidents change
    with their members, and due incident summaries and escalations become outbox notifications."""

    def __init__(self, book: IncidentBook, router: Router, escalation: Escalation, now_of: NowOf,
                 open_alerts: Callable[[], Iterable[Alert]], own: Callable[[Alert], Alert]) -> None:
        self.book = book
        self.policy = book.policy
        self.router = router
        self.escalation = escalation
        self.now_of = now_of
        self.open_alerts = open_alerts
        self.own = own

    def exec(self, ctx: Context, changes: list[Change]) -> list[Change]:
        extra: list[Change] = []
        for ch in changes:
            self._one(ctx, ch, extra)
        out = changes + extra
        for inc in self.book.current():
            self._due(ctx, inc)
        ctx.incidents = [inc.to_doc() for inc in self.book.changed()]
        return out

    # -- members --------------------------------------------------------------------------------------
    def _one(self, ctx: Context, ch: Change, extra: list[Change]) -> None:
        a = ch.alert
        inc = self.book.of_member(a.id)
        t = when(ctx, ch) if ch.kind == "escalated" else (a.timeline[-1].ts if a.timeline else ctx.now)
        if inc is not None:
            self._member_changed(inc, a, ch, t)
            return
        if ch.kind != "raised" or not ch.notify:
            return
        key = self.book.key_of(a)
        if key is None:
            return
        inc = self.book.open_for(key)
        if inc is None:
            others = [o for o in self.open_alerts()
                      if o.id != a.id and o.status == Status.OPEN and self.book.key_of(o) == key
                      and o.created_at >= t - self.policy.window and not held_back(o)
                      and self.book.of_member(o.id) is None]
            if len(others) + 1 < self.policy.min_alerts:
                return  # a lone alert: notified as before
            inc = self.book.new(key, t, a.feed)
            inc.add(t, "opened", None, f"{len(others) + 1} {key[0]} alerts under {key[1]}")
            for o in sorted(others, key=lambda x: x.created_at)[: self.policy.max_members - 1]:
                mine = self.own(o)
                self._join(inc, mine, t)
                extra.append(Change(mine, "updated"))
            self._arm(inc, t)
        inc = self.book.own(inc)
        self._join(inc, a, t)
        ch.notify = False  # the incident's summary tells of it
        inc.pending = True

    def _join(self, inc: Incident, a: Alert, t: float) -> None:
        inc.members[a.id] = member_of(a, t)
        rose = inc.recompute_level()
        if rose and inc.notified_at is not None:
            self._arm(inc, t)
        a.escalate_at = None  # the incident escalates, not each member
        a.add(TimelineEntry(t, "incident_joined", a.level.name_en, inc.id, None,
                            f"joined incident {inc.id} ({len(inc.members)} {inc.risk} alerts under {inc.node}): "
                            "notified and escalated with it"))
        inc.add(t, "member_joined", a.id, f"{a.title_en or a.rule} ({a.level.name_en}, {a.grid})")

    def _member_changed(self, inc: Incident, a: Alert, ch: Change, t: float) -> None:
        inc = self.book.own(inc)
        m = inc.members[a.id]
        before, was_firing = Level.parse(m.level), inc.firing
        m.level, m.status, m.cleared = a.level.name_en, str(a.status), a.cleared
        if a.status != Status.RESOLVED:
            a.escalate_at = None
        ch.notify = False
        if ch.kind in ("upgraded", "recurred") and a.level > before:
            inc.add(t, "member_upgraded", a.id, f"{a.grid}: {before.name_en} -> {a.level.name_en}")
        if inc.recompute_level():  # the incident's highest level rose: an update (a member's lower rise waits)
            inc.pending = True
            if inc.status == "open":
                self._arm(inc, t)
        if was_firing and not inc.firing and inc.is_open:  # every member has cleared: say so once
            inc.pending = True
            inc.add(t, "all_cleared", None, "every member's condition has cleared")
        if ch.kind == "resolved" and all(x.status == "resolved" for x in inc.members.values()):
            inc.status, inc.resolved_at, inc.resolved_by = "resolved", t, a.resolved_by
            inc.escalate_at, inc.pending = None, False
            inc.add(t, "resolved", a.resolved_by, "every member is resolved")

    def _arm(self, inc: Incident, t: float) -> None:
        inc.deadline_s = self.escalation.deadline(Level.parse(inc.level))
        if inc.status == "open":
            if inc.escalate_at is None and inc.notified_at is None:
                tier = self.router.first_tier(self.as_alert(inc), 0, t)
                inc.escalation_tier = tier if tier is not None else 0
            inc.escalate_at = t + inc.deadline_s

    # -- summaries and escalation ---------------------------------------------------------------------
    def as_alert(self, inc: Incident) -> Alert:
        """The incident as an alert at its node, for the router (who is told at each tier) and the wording."""
        level = Level.parse(inc.level)
        return Alert(id=inc.id, fingerprint=f"incident|{inc.id}", risk=Risk(inc.risk), feed=inc.feed or "complaint",
                     grid=inc.node, source=inc.node, series="incident", rule="incident", level=level,
                     status=Status.OPEN if inc.status == "open" else Status.ACKNOWLEDGED, drill=inc.drill,
                     created_at=inc.created_at, updated_at=inc.updated_at, max_level=level,
                     title_zh=f"{inc.node} 事件：{len(inc.members)} 条预警",
                     title_en=f"Incident at {inc.node}: {len(inc.members)} alerts")

    def _due(self, ctx: Context, inc: Incident) -> None:
        now = self.now_of(inc.drill, None)
        if inc.status == "open" and inc.escalate_at is not None and inc.escalate_at <= now:
            inc = self.book.own(inc)
            while inc.escalate_at is not None and inc.escalate_at <= now:
                self._escalate(ctx, inc)
        nxt = next_notification(inc, self.policy)
        if nxt is None or nxt[1] > now:
            return
        inc = self.book.own(inc)
        kind, _ = nxt
        inc.notified_at, inc.pending = now, False
        inc.notifications += 1
        inc.add(now, f"summary_{kind}", None, inc.summary_text())
        self._notify(ctx, inc, kind, inc.escalation_tier, now)

    def _escalate(self, ctx: Context, inc: Incident) -> None:
        at = inc.escalate_at
        assert at is not None
        alert = self.as_alert(inc)
        nxt = self.router.first_tier(alert, inc.escalation_tier + 1, at)
        if nxt is None:
            inc.escalate_at = None
            inc.add(at, "escalation_exhausted", None, "not acknowledged and no higher tier to escalate to")
            return
        inc.escalation_tier, inc.escalate_at = nxt, at + inc.deadline_s
        node = self.router.tiers(alert)[nxt]
        inc.add(at, "escalated", None, f"not acknowledged within {inc.deadline_s:g} s: tier {nxt} ({node})")
        self._notify(ctx, inc, "escalated", nxt, at)

    def _notify(self, ctx: Context, inc: Incident, kind: str, tier: int, at: float) -> None:
        alert = self.as_alert(inc)
        tiers = self.router.tiers(alert)
        node = tiers[tier] if tier < len(tiers) else None
        step = len(inc.timeline) + inc.notifications * MAX_TIMELINE
        event = f"incident_{kind}"
        doc = {**alert.to_json(full=False), "status": inc.status, "escalation_tier": tier,
               "escalate_at": iso(inc.escalate_at), "deadline_seconds": inc.deadline_s}
        for responder, channel in self.router.recipients(alert, tier, at):
            nid = notification_id(inc.id, event, step, tier, responder, channel)
            ctx.notifications.append(Notification(
                id=nid, alert_id=inc.id, channel=channel, responder=responder, kind=event, tier=tier,
                payload=masked_payload({"notification_id": nid, "event": event, "tier": tier, "node": node,
                                        "responder": responder, "channel": channel, "drill": inc.drill,
                                        "detail": inc.summary_text(), "alert": doc,
                                        "incident": inc.to_json(full=False)}),
                created_at=ctx.now or at, next_attempt_at=0.0,  # (a step without signal changes has no time)
                priority=priority(Level.parse(inc.level), bool(inc.drill))))

    # -- responders -----------------------------------------------------------------------------------
    def act(self, inc: Incident, op: str, actor: str, at: float, comment: str) -> Incident:
        mine = self.book.own(inc)
        if op == "ack":
            mine.status, mine.acked_at, mine.acked_by, mine.escalate_at = "acknowledged", at, actor, None
            mine.add(at, "acknowledged", actor, comment or None)
        elif op == "resolve":
            mine.status, mine.resolved_at, mine.resolved_by = "resolved", at, actor
            mine.escalate_at, mine.pending = None, False
            mine.add(at, "resolved", actor, comment or None)
        else:
            mine.add(at, "note", actor, comment[:MAX_TEXT])
        return mine


class RecordIncidents(Record):
    """Record, with the step's changed incidents in the same transaction as its alerts and notifications."""

    def exec(self, ctx: Context, changes: list[Change]) -> list[Change]:
        if not ctx.incidents:
            return super().exec(ctx, changes)
        alerts = list({id(c.alert): c.alert for c in changes}.values())
        self.store.save_alerts(alerts, ctx.notifications, ctx.state, incidents=ctx.incidents)
        return changes
