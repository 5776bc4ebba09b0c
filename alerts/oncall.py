"""Who is on duty at a node at a given time: the rotations of the ``oncall`` configuration (docs/oncall.md).

Pure arithmetic on local calendar dates in the rotation's timezone, so a hand-over at 09:00 local stays at
09:00 across a daylight-saving change; the time is given by the caller (the alert's clock: drills on their
event clock). An override in force takes precedence over the rotation (``responder`` none: nobody on duty).

>>> from datetime import date
>>> from fenghuo.core.oncall_config import Rotation
>>> r = Rotation(node="C", responders=["wang", "li"], start=date(2026, 3, 2), handover="09:00",
...              overrides=[{"from": "2026-03-16", "to": "2026-03-17", "responder": "zhao"}])
>>> plan = Plan(r, "Asia/Shanghai")
>>> t = lambda text: datetime.fromisoformat(text + "+08:00").timestamp()
>>> [plan.shift_at(t(x)).responder for x in ("2026-03-02T08:59", "2026-03-02T09:00", "2026-03-09T09:00",
...                                        "2026-03-16T00:00", "2026-03-18T00:00")]
['li', 'wang', 'li', 'zhao', 'wang']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from fenghuo.core.config import Config, Responder
from fenghuo.core.oncall_config import WEEKDAYS, Rotation, zone


@dataclass(frozen=True, slots=True)
class Shift:
    """``responder`` (None: nobody) is on duty from ``since`` to ``until`` (epoch seconds); ``override``: by an
    override (leave, a holiday), with its ``note``."""

    responder: str | None
    since: float
    until: float
    override: bool = False
    note: str = ""


class Plan:
    """One rotation, ready to answer :meth:`shift_at`."""

    def __init__(self, rotation: Rotation, default_tz: str) -> None:
        self.rotation = rotation
        self.tz: tzinfo = zone(rotation.timezone or default_tz) or UTC
        self.tz_name = rotation.timezone or default_tz
        self.members = list(rotation.responders)
        self.days = 7 if rotation.rotation == "weekly" else 1
        self.at = rotation.handover_time()
        start = rotation.start
        if self.days == 7:
            start += timedelta(days=(WEEKDAYS.index(rotation.handover_day) - start.weekday()) % 7)
        self.first = start  # the date of responders[0]'s first hand-over
        self.overrides = sorted(
            ((self._ts(s), self._ts(e), o.responder, o.note) for o in rotation.overrides for s, e in [o.span()]),
            key=lambda x: x[0])

    def _ts(self, local: datetime) -> float:
        """A local wall time to epoch seconds (a time skipped by a DST change counts as the time it jumps to)."""
        return local.replace(tzinfo=self.tz).timestamp()

    def handover(self, day: date) -> float:
        """The hand-over instant on a local date."""
        return self._ts(datetime.combine(day, self.at))

    def _base(self, t: float) -> tuple[str, float, float]:
        """The rotation's own shift at ``t``: (responder, since, until), ignoring overrides."""
        today = datetime.fromtimestamp(t, self.tz).date()
        day = today - timedelta(days=(today - self.first).days % self.days)  # a hand-over date of the pattern
        if self.handover(day) > t:
            day -= timedelta(days=self.days)
        index = (day - self.first).days // self.days
        nxt = day + timedelta(days=self.days)
        return self.members[index % len(self.members)], self.handover(day), self.handover(nxt)

    def shift_at(self, t: float) -> Shift:
        """Who is on duty at ``t``, since when and until when (the next change: a hand-over or an override's
        start or end)."""
        since_floor = float("-inf")
        for start, end, responder, note in self.overrides:
            if start <= t < end:
                return Shift(responder, start, end, True, note)
            if end <= t:
                since_floor = max(since_floor, end)
        who, since, until = self._base(t)
        for start, _, _, _ in self.overrides:
            if t < start < until:
                until = start
                break
        return Shift(who, max(since, since_floor), until)

    def next_shift(self, t: float) -> Shift:
        """The shift after the one at ``t`` (who takes over at the next hand-over)."""
        return self.shift_at(self.shift_at(t).until)

    def local(self, t: float) -> str:
        """``t`` as a local wall time of the rotation's timezone, to the minute."""
        return datetime.fromtimestamp(t, self.tz).strftime("%Y-%m-%d %H:%M")

    def rostered(self) -> set[str]:
        """Every responder this rotation may put on duty (members and those of overrides)."""
        return set(self.members) | {o.responder for o in self.rotation.overrides if o.responder}


class Roster:
    """Every rotation of a configuration, by node. A responder of a node in no rotation there is always
    reachable; one in a rotation (or an override) is reachable while on duty.

    >>> from fenghuo.core.config import parse_config
    >>> cfg = parse_config({"nodes": [{"id": "D", "name": "区", "kind": "district"}],
    ...     "channels": [{"name": "log", "type": "log"}], "timezone": "Europe/Paris",
    ...     "responders": [{"id": i, "name": i, "node": "D", "channels": ["log"]} for i in ("a", "b", "boss")],
    ...     "oncall": [{"node": "D", "responders": ["a", "b"], "rotation": "daily", "start": "2026-03-28"}]})
    >>> roster = Roster(cfg)
    >>> t = lambda text: datetime.fromisoformat(text).timestamp()
    >>> # 2026-03-29 is the spring change in Paris: the hand-over stays at 09:00 local (07:00 UTC, was 08:00)
    >>> roster.reachable("D", t("2026-03-29T06:59:00+00:00")), roster.reachable("D", t("2026-03-29T07:00:00+00:00"))
    ([('a', True), ('boss', False)], [('b', True), ('boss', False)])
    """

    def __init__(self, config: Config) -> None:
        self.plans: dict[str, list[Plan]] = {}
        for r in config.oncall:
            self.plans.setdefault(r.node, []).append(Plan(r, config.timezone))
        self.responders: dict[str, list[Responder]] = {}
        for resp in config.responders:
            self.responders.setdefault(resp.node, []).append(resp)
        self._rostered = {node: set().union(*(p.rostered() for p in plans)) for node, plans in self.plans.items()}

    def has_rotation(self, node: str) -> bool:
        return node in self.plans

    def rostered(self, node: str) -> set[str]:
        """The node's responders that are reachable only while on duty."""
        return self._rostered.get(node, set())

    def on_duty(self, node: str, t: float) -> set[str]:
        """The responders the node's rotations put on duty at ``t`` (empty when it has none)."""
        return {s.responder for p in self.plans.get(node, []) if (s := p.shift_at(t)).responder is not None}

    def reachable(self, node: str, t: float) -> list[tuple[str, bool]]:
        """The node's responders reachable at ``t`` as (id, by a rotation): those on duty, and those in no rotation."""
        rostered, duty = self.rostered(node), self.on_duty(node, t)
        return [(r.id, r.id in rostered) for r in self.responders.get(node, [])
                if r.id not in rostered or r.id in duty]

    def may_reach(self, node: str, responder: str, t: float) -> bool:
        """Whether ``responder`` of ``node`` is to be told at ``t`` (on duty, or in no rotation there)."""
        return responder not in self.rostered(node) or responder in self.on_duty(node, t)

    def board(self, t: float, nodes: Iterable[tuple[str, str, str]]) -> list[dict[str, object]]:
        """What ``GET /v1/oncall`` shows for ``nodes`` ((id, name, English name), in order): per node with
        responders or rotations, each rotation's shift at ``t`` and the next one, and who is always reachable."""
        names = {r.id: r.name for rs in self.responders.values() for r in rs}

        def person(rid: str | None) -> dict[str, str] | None:
            return None if rid is None else {"id": rid, "name": names.get(rid, rid)}

        out: list[dict[str, object]] = []
        for node, name, name_en in nodes:
            plans = self.plans.get(node, [])
            if not plans and node not in self.responders:
                continue
            rows = []
            for p in plans:
                now, nxt = p.shift_at(t), p.next_shift(t)
                rows.append({"name": p.rotation.label, "timezone": p.tz_name, "rotation": p.rotation.rotation,
                             "on_duty": person(now.responder), "since": now.since, "until": now.until,
                             "until_local": p.local(now.until), "override": now.override, "note": now.note,
                             "next": {"responder": person(nxt.responder), "at": nxt.since,
                                      "at_local": p.local(nxt.since), "override": nxt.override}})
            rostered = self.rostered(node)
            always = [person(r.id) for r in self.responders.get(node, []) if r.id not in rostered]
            out.append({"node": node, "name": name, "name_en": name_en, "rotations": rows, "always": always,
                        "nobody_on_duty": bool(plans) and not always and not self.on_duty(node, t)})
        return out
