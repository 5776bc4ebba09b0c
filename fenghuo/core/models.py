"""Domain models: Event, Signal, Alert and its timeline.

Times are float seconds since the epoch (UTC) inside the service and ISO 8601 on the wire.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from fenghuo.core.levels import Level

FEEDS = ("sensor", "complaint", "opinion")


class Risk(StrEnum):
    SAFETY = "safety"
    CONTRADICTION = "contradiction"
    SYSTEM = "system"  # fenghuo's own health: a notification channel that keeps failing


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Certainty(StrEnum):
    """CAP 1.2 certainty, raised by corroboration across feeds."""

    POSSIBLE = "Possible"
    LIKELY = "Likely"
    OBSERVED = "Observed"


def iso(ts: float | None) -> str | None:
    """Seconds since the epoch as ISO 8601 UTC.

    >>> iso(0.0)
    '1970-01-01T00:00:00Z'
    """
    if ts is None:
        return None
    text = datetime.fromtimestamp(ts, UTC).isoformat()
    text = text.replace("+00:00", "Z")
    return text


def parse_ts(value: Any) -> float:
    """ISO 8601 text (naive means UTC) or epoch seconds to epoch seconds.

    >>> parse_ts("2020-01-22T10:00:00Z")
    1579687200.0
    >>> parse_ts("2020-01-22 10:00:00+01:00")
    1579683600.0
    """
    if not isinstance(value, str):  # (text, the usual shape, tested first)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("ts must be an ISO 8601 time or epoch seconds")
        return float(value)
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


@dataclass(slots=True)
class Event:
    feed: str
    source: str
    ts: float
    grid: str
    id: str
    lat: float | None = None
    lon: float | None = None
    metric: str | None = None
    value: float | None = None
    category: str | None = None
    text: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    drill: str | None = None

    @property
    def series(self) -> str:
        """The key of the series this event belongs to (one sensor's metric, one complaint category)."""
        if self.feed == "sensor":
            return f"{self.source}/{self.metric}"
        return f"{self.grid}/{self.category or '*'}"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ts"] = iso(self.ts)
        return out


@dataclass(slots=True)
class Signal:
    """One detector's finding. ``level`` None means the condition cleared."""

    detector: str
    rule: str
    risk: Risk
    feed: str
    grid: str
    series: str
    source: str
    ts: float
    level: Level | None
    score: float
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    drill: str | None = None
    kind: str = "level"  # level | clear | forecast | corroboration
    certainty: Certainty = Certainty.OBSERVED

    @property
    def fingerprint(self) -> str:
        drill = f"drill:{self.drill}|" if self.drill else ""
        return f"{drill}{self.risk}|{self.rule}|{self.grid}|{self.series}"


@dataclass(slots=True)
class TimelineEntry:
    ts: float
    kind: str
    level: str | None = None
    actor: str | None = None
    channel: str | None = None
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ts": iso(self.ts),
            "kind": self.kind,
            "level": self.level,
            "actor": self.actor,
            "channel": self.channel,
            "detail": self.detail,
        }


@dataclass(slots=True)
class Alert:
    id: str
    fingerprint: str
    risk: Risk
    feed: str
    grid: str
    source: str
    series: str
    rule: str
    level: Level
    status: Status
    drill: str | None
    created_at: float
    updated_at: float
    certainty: Certainty = Certainty.OBSERVED
    title_zh: str = ""
    title_en: str = ""
    max_level: Level = Level.BLUE
    cleared: bool = False
    cleared_at: float | None = None
    acked_at: float | None = None
    acked_by: str | None = None
    resolved_at: float | None = None
    resolved_by: str | None = None
    deadline_s: float = 0.0
    escalation_tier: int = 0
    escalate_at: float | None = None
    timeline: list[TimelineEntry] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status != Status.RESOLVED

    def add(self, entry: TimelineEntry) -> None:
        self.timeline.append(entry)
        self.updated_at = max(self.updated_at, entry.ts)

    def copy(self) -> Alert:
        """A copy that can change without changing this one (timeline entries and evidence items are
        never changed in place, only appended, so the lists are copied and their items shared)."""
        return replace(self, timeline=list(self.timeline), evidence=list(self.evidence))

    def to_json(self, full: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "fingerprint": self.fingerprint,
            "risk": str(self.risk),
            "feed": self.feed,
            "grid": self.grid,
            "source": self.source,
            "series": self.series,
            "rule": self.rule,
            "level": self.level.name_en,
            "level_zh": self.level.name_zh,
            "max_level": self.max_level.name_en,
            "status": str(self.status),
            "drill": self.drill,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "certainty": str(self.certainty),
            "title": {"zh-CN": self.title_zh, "en": self.title_en},
            "cleared": self.cleared,
            "acknowledged_at": iso(self.acked_at),
            "acknowledged_by": self.acked_by,
            "resolved_at": iso(self.resolved_at),
            "resolved_by": self.resolved_by,
            "escalation_tier": self.escalation_tier,
            "escalate_at": iso(self.escalate_at),
            "deadline_seconds": self.deadline_s,
        }
        if full:
            out["timeline"] = [e.to_json() for e in self.timeline]
            out["evidence"] = self.evidence
        return out


# the kernel's values inside saved detector state, under stable tags (fenghuo.core.state)
def _register_state() -> None:
    from fenghuo.core import state

    state.register("signal", Signal)
    state.register("certainty", Certainty)
    state.register("risk", Risk)
    state.register("level", Level)


_register_state()
