"""Notify: turn alert changes into outbox notifications, one per recipient and channel.

The notification id is the idempotency key receivers use to drop repeats: it is derived from the
alert, the change and the recipient, so deciding twice (a replay after a crash) sends once.
Recipients are those reachable when the change happened by the alert's clock (an escalation: its
deadline; duty rotations: :mod:`fenghuo.alerts.oncall`).
"""

from __future__ import annotations

import hashlib

from fenghuo.alerts.notifiers.wording import masked_payload
from fenghuo.alerts.routing import Router
from fenghuo.alerts.stages import Change, Context
from fenghuo.core.levels import Level
from fenghuo.core.store import Notification


def notification_id(alert_id: str, kind: str, step: int, tier: int, responder: str | None, channel: str) -> str:
    raw = f"{alert_id}|{kind}|{step}|{tier}|{responder}|{channel}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def priority(level: Level, drill: bool) -> int:
    """The outbox delivers higher priorities first, then older notifications first.

    Twice the level (red 8, orange 6, yellow 4, blue 2), one less for a drill: drills keep the order of
    levels but go behind real alerts of the same level (a drill's red still goes before a real blue).

    >>> [priority(level, False) for level in Level], priority(Level.RED, True), priority(Level.BLUE, True)
    ([2, 4, 6, 8], 7, 1)
    """
    return 2 * int(level) - int(drill)


def payload(ch: Change, tier: int, node: str | None, responder: str | None, channel: str) -> dict[str, object]:
    a = ch.alert
    alert = a.to_json(full=False)
    if ch.level:
        alert["level"] = ch.level
    return {
        "event": ch.kind,
        "tier": tier,
        "node": node,
        "responder": responder,
        "channel": channel,
        "drill": a.drill,
        "detail": ch.detail,
        "alert": alert,
    }


def when(ctx: Context, ch: Change) -> float:
    """The time of a change by the alert's clock: an escalation's is its timeline entry's (it may fall due
    before the step's time, when a batch brings it), any other change's is the step's."""
    a = ch.alert
    if ch.kind == "escalated" and ch.step is not None and 0 < ch.step <= len(a.timeline):
        entry = a.timeline[ch.step - 1]
        if entry.kind == "escalated":
            return entry.ts
    return ctx.now


class Notify:
    def __init__(self, router: Router) -> None:
        self.router = router

    def exec(self, ctx: Context, changes: list[Change]) -> list[Change]:
        for ch in changes:
            if not ch.notify:
                continue
            a = ch.alert
            tier = a.escalation_tier if ch.tier is None else ch.tier
            tiers = self.router.tiers(a)
            node = tiers[tier] if tier < len(tiers) else None
            step = len(a.timeline) if ch.step is None else ch.step
            rank = priority(Level.parse(ch.level) if ch.level else a.level, bool(a.drill))
            for responder, channel in self.router.recipients(a, tier, when(ctx, ch)):
                nid = notification_id(a.id, ch.kind, step, tier, responder, channel)
                ctx.notifications.append(Notification(
                    id=nid, alert_id=a.id, channel=channel, responder=responder, kind=ch.kind, tier=tier,
                    payload=masked_payload({"notification_id": nid, **payload(ch, tier, node, responder, channel)}),
                    created_at=ctx.now, next_attempt_at=0.0, priority=rank,
                ))
        return changes
