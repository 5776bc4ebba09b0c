"""Muting: silences and maintenance windows share one :class:`Muter` protocol.

A muted change is still recorded (and shown on the board); it only sends no notification.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from fenghuo.alerts.stages import Change, Context
from fenghuo.core.models import Alert, TimelineEntry


class Muter(Protocol):
    def mutes(self, alert: Alert, now: float) -> str | None:
        """A reason when the alert is muted now, else None."""
        ...


@dataclass(frozen=True, slots=True)
class Silence:
    """Mute alerts matching grid / rule (``"*"`` = any) between ``start`` and ``end``."""

    id: str
    start: float
    end: float
    grid: str = "*"
    rule: str = "*"
    created_by: str = ""
    comment: str = ""

    def mutes(self, alert: Alert, now: float) -> str | None:
        if not self.start <= now < self.end:
            return None
        if self.grid not in ("*", alert.grid) or self.rule not in ("*", alert.rule):
            return None
        return f"silence {self.id}" + (f" ({self.comment})" if self.comment else "")


class MuteStage:
    def __init__(self, muters: list[Muter]) -> None:
        self.muters = muters

    def exec(self, ctx: Context, changes: list[Change]) -> list[Change]:
        for ch in changes:
            if not ch.notify:
                continue
            for m in self.muters:
                reason = m.mutes(ch.alert, ctx.now)
                if reason:
                    ch.notify = False
                    ch.alert.add(TimelineEntry(ctx.now, "muted", ch.alert.level.name_en, None, None, reason))
                    break
        return changes
