"""Simulated responders: what each tier of a drill does with the alerts that reach it, on the drill's clock.

A tier acknowledges an alert ``ack_after`` after the alert reached it (its raise, or the escalation to it), and
resolves it ``resolve_after`` after acknowledging. A ``no_ack`` injection names tiers (a node kind, a node id, or
a tier number) whose responders never acknowledge: the alert's deadline passes and it escalates to the next tier,
whose responders then act. Pure logic: the alerts, their tiers and the time come in; actions go out.

>>> from fenghuo.core.models import Alert, Risk, Status, TimelineEntry
>>> from fenghuo.core.levels import Level
>>> a = Alert("a1", "f", Risk.SAFETY, "sensor", "g", "s", "s", "r", Level.RED, Status.OPEN, "d-r1", 100.0, 100.0,
...           timeline=[TimelineEntry(100.0, "raised", "red")])
>>> tiers = lambda alert: [("G", "grid"), ("C", "community")]
>>> due(a, Responders(ack_after=60), tiers, ())
Action(at=160.0, op='ack', alert='a1', actor='drill-responder@G')
>>> due(a, Responders(ack_after=60), tiers, (NoAck(kind="no_ack", tier="grid"),)) is None
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from fenghuo.core.models import Alert, Status
from fenghuo.drills.scenario import NoAck, Responders

Tiers = Callable[[Alert], list[tuple[str, str]]]  # the alert's tiers: (node id, node kind), by escalation tier


class Action(NamedTuple):
    at: float  # drill time
    op: str  # ack | resolve
    alert: str
    actor: str


def reached_at(alert: Alert) -> float:
    """When the alert reached its current tier: its last escalation, else its raise."""
    for entry in reversed(alert.timeline):
        if entry.kind == "escalated":
            return entry.ts
    return alert.created_at


def silent(tier: int, node: tuple[str, str] | None, no_ack: Iterable[NoAck]) -> bool:
    """Whether the responders at this tier never acknowledge."""
    for rule in no_ack:
        if isinstance(rule.tier, int):
            if rule.tier == tier:
                return True
        elif node is not None and rule.tier in node:
            return True
    return False


def due(alert: Alert, policy: Responders, tiers: Tiers, no_ack: Sequence[NoAck]) -> Action | None:
    """The next thing the simulated responders do with ``alert`` (and when), or None."""
    if policy.human or alert.status == Status.RESOLVED:
        return None
    chain = tiers(alert)
    tier = alert.escalation_tier
    node = chain[tier] if tier < len(chain) else None
    actor = f"drill-responder@{node[0] if node else tier}"
    if alert.status == Status.OPEN:
        if silent(tier, node, no_ack):
            return None
        return Action(reached_at(alert) + policy.ack_after, "ack", alert.id, actor)
    if policy.resolve_after is None:
        return None
    acked = alert.acked_at if alert.acked_at is not None else alert.updated_at
    return Action(acked + policy.resolve_after, "resolve", alert.id, alert.acked_by or actor)


def next_actions(alerts: Iterable[Alert], policy: Responders, tiers: Tiers, no_ack: Sequence[NoAck]) -> list[Action]:
    """Every open alert's next action, soonest first."""
    out = [a for a in (due(x, policy, tiers, no_ack) for x in alerts) if a is not None]
    return sorted(out)
