"""Composable alert stages, after Alertmanager's ``notify.Stage``.

Each stage takes the context and the alert changes of one step and returns the changes that go
on; :class:`MultiStage` runs stages in order. The stages of the alert service are dedup (signals
to changes, in :mod:`fenghuo.alerts.dedup`), mute, escalate, notify and record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from fenghuo.core.models import Alert
from fenghuo.core.store import Notification


@dataclass(slots=True)
class Change:
    """Something that happened to an alert in this step."""

    alert: Alert
    kind: str  # raised | upgraded | downgraded | cleared | recurred | updated | escalated | acknowledged | resolved
    notify: bool = False
    detail: str = ""
    tier: int | None = None  # the tier to notify (default: the alert's tier when notified)
    step: int | None = None  # the timeline position that caused it (part of the idempotency key)
    level: str | None = None  # the alert's level at that moment

    def stamp(self) -> Change:
        """Fix tier and level as they are now (notifications are decided later in the step)."""
        if self.tier is None:
            self.tier = self.alert.escalation_tier
        if self.level is None:
            self.level = self.alert.level.name_en
        return self


@dataclass(slots=True)
class Context:
    now: float
    notifications: list[Notification] = field(default_factory=list)
    state: dict[str, bytes] | None = None  # saved with the alerts, in the same transaction
    incidents: list[dict[str, Any]] = field(default_factory=list)  # changed incidents' documents, saved with them


class Stage(Protocol):
    def exec(self, ctx: Context, changes: list[Change]) -> list[Change]: ...


class MultiStage:
    def __init__(self, *stages: Stage) -> None:
        self.stages = stages

    def exec(self, ctx: Context, changes: list[Change]) -> list[Change]:
        for stage in self.stages:
            changes = stage.exec(ctx, changes)
        return changes
