"""Simulated responders: each tier acknowledges ``ack_after`` after an alert reaches it (its raise, or the
escalation to it) and resolves ``resolve_after`` later; a ``no_ack`` tier (kind, node or number) never answers."""

from __future__ import annotations

from fenghuo.core.levels import Level
from fenghuo.core.models import Alert, Risk, Status, TimelineEntry
from fenghuo.drills.responders import Action, due, next_actions, reached_at, silent
from fenghuo.drills.scenario import NoAck, Responders

CHAIN = [("G", "grid"), ("C", "community"), ("S", "street"), ("D", "district")]


def tiers(alert: Alert) -> list[tuple[str, str]]:
    return CHAIN


def alert(aid: str = "a1", *, tier: int = 1, status: Status = Status.OPEN, created: float = 1000.0,
          escalated_at: float | None = None, acked_at: float | None = None) -> Alert:
    timeline = [TimelineEntry(created, "raised", "red")]
    if escalated_at is not None:
        timeline.append(TimelineEntry(escalated_at, "escalated", "red", detail=f"tier {tier} ({CHAIN[tier][0]})"))
    a = Alert(aid, "f", Risk.SAFETY, "sensor", "G", "s", "s/m", "river", Level.RED, status, "d-r1", created, created,
              escalation_tier=tier, timeline=timeline)
    if acked_at is not None:
        a.acked_at, a.acked_by = acked_at, "drill-responder@C"
        a.timeline.append(TimelineEntry(acked_at, "acknowledged", "red", actor="drill-responder@C"))
    return a


def test_a_tier_acknowledges_after_the_alert_reaches_it() -> None:
    policy = Responders(ack_after=600, resolve_after=3600)
    assert due(alert(), policy, tiers, []) == Action(1600.0, "ack", "a1", "drill-responder@C")
    moved = alert(tier=2, escalated_at=1900.0)
    assert reached_at(moved) == 1900.0
    assert due(moved, policy, tiers, []) == Action(2500.0, "ack", "a1", "drill-responder@S")


def test_an_acknowledged_alert_is_resolved_later_by_whoever_acknowledged_it() -> None:
    acked = alert(status=Status.ACKNOWLEDGED, acked_at=1600.0)
    assert due(acked, Responders(resolve_after=3600), tiers, []) == Action(5200.0, "resolve", "a1",
                                                                            "drill-responder@C")
    assert due(acked, Responders(resolve_after=None), tiers, []) is None  # left open


def test_nobody_acts_for_people_or_on_a_resolved_alert() -> None:
    assert due(alert(), Responders(human=True), tiers, []) is None
    assert due(alert(status=Status.RESOLVED), Responders(), tiers, []) is None


def test_a_no_ack_tier_never_answers_by_kind_node_or_number() -> None:
    at_c = alert(tier=1)
    for rule in ("community", "C", 1):
        assert silent(1, CHAIN[1], [NoAck(kind="no_ack", tier=rule)])
        assert due(at_c, Responders(), tiers, [NoAck(kind="no_ack", tier=rule)]) is None
    assert not silent(2, CHAIN[2], [NoAck(kind="no_ack", tier="community")])
    escalated = alert(tier=2, escalated_at=1300.0)  # past the silent community: the street answers
    assert due(escalated, Responders(ack_after=60), tiers, [NoAck(kind="no_ack", tier="community")]) == Action(
        1360.0, "ack", "a1", "drill-responder@S")


def test_the_next_actions_come_soonest_first() -> None:
    alerts = [alert("late", created=5000.0), alert("early", created=1000.0),
              alert("done", status=Status.RESOLVED), alert("acked", status=Status.ACKNOWLEDGED, acked_at=1100.0)]
    actions = next_actions(alerts, Responders(ack_after=600, resolve_after=300), tiers, [])
    assert [(a.alert, a.op, a.at) for a in actions] == [("acked", "resolve", 1400.0), ("early", "ack", 1600.0),
                                                        ("late", "ack", 5600.0)]
