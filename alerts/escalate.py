"""Escalation: an alert nobody acknowledges within its level's deadline goes one tier up.

Raising sets the deadline; an upgrade restarts it at the new level's deadline; ack or resolve
stops it. :meth:`Escalate.due` runs on every tick with the alert's own clock (drills escalate on
their event clock, so a replay at 600x escalates at 600x).

A tier is reached when somebody there is to be told at that moment: where a node has duty rotations, only who
is on duty then (:mod:`fenghuo.alerts.oncall`). A tier whose rotations put nobody on duty is passed over at
once, with a ``no_one_on_duty`` entry in the timeline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from fenghuo.alerts.routing import Router
from fenghuo.alerts.stages import Change, Context
from fenghuo.core.config import Escalation
from fenghuo.core.models import Alert, Status, TimelineEntry


class Escalate:
    def __init__(self, policy: Escalation, router: Router) -> None:
        self.policy = policy
        self.router = router

    def exec(self, ctx: Context, changes: list[Change]) -> list[Change]:
        for ch in changes:
            a = ch.alert
            if ch.kind == "raised":
                tier = self.router.first_tier(a, 0, ctx.now)
                self._no_one_on_duty(a, 0, tier, ctx.now)
                a.escalation_tier = tier if tier is not None else 0
                self._arm(a, ctx.now)
            elif ch.kind == "upgraded" and a.status == Status.OPEN:
                above = a.escalation_tier + 1
                if self.router.first_tier(a, above, ctx.now) is not None or self.router.rotations_from(a, above):
                    self._arm(a, ctx.now)  # (a rotation above may have somebody on duty by the deadline)
                else:  # already at the top: nobody left to escalate to
                    a.deadline_s, a.escalate_at = self.policy.deadline(a.level), None
            elif ch.kind in ("acknowledged", "resolved"):
                a.escalate_at = None
        return changes

    def _no_one_on_duty(self, a: Alert, start: int, stop: int | None, at: float) -> None:
        """Say in the timeline which tiers from ``start`` to ``stop`` were passed over for nobody on duty."""
        for node in self.router.unstaffed(a, start, stop, at):
            a.add(TimelineEntry(at, "no_one_on_duty", a.level.name_en, None, None,
                                f"no one on duty at {node}: passed over"))

    def _arm(self, a: Alert, now: float) -> None:
        a.deadline_s = self.policy.deadline(a.level)
        a.escalate_at = now + a.deadline_s

    def due(self, alerts: Iterable[Alert], now_of: dict[str | None, float],
            own: Callable[[Alert], Alert] | None = None) -> list[Change]:
        """Escalate every open, unacknowledged alert whose deadline has passed on its clock.
        ``own`` gives the version of an alert to change (the alert service's copy-on-write step)."""
        out = []
        for a in alerts:
            if a.status != Status.OPEN or a.escalate_at is None:
                continue
            now = now_of.get(a.drill)
            if now is None or a.escalate_at > now:
                continue
            if own is not None:
                a = own(a)
            while a.escalate_at is not None and a.escalate_at <= now:
                out.append(self._step(a))
        return out

    def _step(self, a: Alert) -> Change:
        at = a.escalate_at
        assert at is not None
        nxt = self.router.first_tier(a, a.escalation_tier + 1, at)
        self._no_one_on_duty(a, a.escalation_tier + 1, nxt, at)
        if nxt is None:
            a.escalate_at = None
            a.add(TimelineEntry(at, "escalation_exhausted", a.level.name_en, None, None,
                                "not acknowledged and no higher tier to escalate to"))
            return Change(a, "updated")
        node = self.router.tiers(a)[nxt]
        a.escalation_tier = nxt
        a.escalate_at = at + a.deadline_s
        a.add(TimelineEntry(at, "escalated", a.level.name_en, None, None,
                            f"not acknowledged within {a.deadline_s:g} s: tier {nxt} ({node})"))
        return Change(a, "escalated", notify=True, detail=node, tier=nxt, step=len(a.timeline),
                      level=a.level.name_en)
