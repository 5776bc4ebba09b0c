"""The store port: everything fenghuo keeps (events, dead letters, alerts with their timelines,
rules with their versions, the audit log, the notification outbox, pipeline state).

All SQL lives in the store modules; :func:`open_store` picks SQLite or PostgreSQL from settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from fenghuo.models import Alert, Event


@dataclass(slots=True)
class Notification:
    """One message to one channel, kept in the outbox until delivered or finally failed."""

    id: str  # the idempotency key receivers use to drop repeats
    alert_id: str
    channel: str
    responder: str | None
    kind: str
    tier: int
    payload: dict[str, Any]
    created_at: float
    status: str = "pending"  # pending | delivered | failed
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_error: str | None = None
    delivered_at: float | None = None


@dataclass(slots=True)
class AlertQuery:
    status: str | None = None
    level: str | None = None
    grid: str | None = None
    feed: str | None = None
    risk: str | None = None
    drill: str | None = None  # "true": drills only, "false": real only, else a drill name
    limit: int = 200
    offset: int = 0


class Store(Protocol):
    def add_events(self, events: list[Event], received_at: float) -> list[Event]:
        """Store events; return those that were new (ids not seen before), in order."""
        ...

    def event_count(self) -> int: ...
    def events_after(self, seq: int, limit: int) -> list[tuple[int, Event]]: ...
    def max_seq(self) -> int: ...
    def series(self, *, feed: str, grid: str | None, source: str | None, metric: str | None,
               category: str | None, start: float, end: float, limit: int = 20000) -> list[Event]: ...
    def history_rows(self, *, feed: str, metric: str | None, category: str | None, source: str | None,
                     start: float, end: float) -> list[tuple[Any, ...]]:
        """``(source, grid, category, ts, value)`` of every real (not drill) event, by time then arrival."""
        ...

    def add_dead_letters(self, items: list[tuple[int, str, Any]], received_at: float) -> None: ...
    def dead_letters(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]: ...
    def dead_letter_count(self) -> int: ...
    def save_alerts(self, alerts: list[Alert], notifications: list[Notification],
                    state: dict[str, bytes] | None = None) -> None:
        """Changed alerts, their new outbox rows and pipeline state (the cursor...) in one transaction."""
        ...
    def get_alert(self, alert_id: str) -> Alert | None: ...
    def open_alerts(self) -> list[Alert]: ...
    def list_alerts(self, q: AlertQuery) -> list[Alert]: ...
    def all_alerts(self, drill: bool | None = None) -> list[Alert]: ...
    def rules(self) -> list[dict[str, Any]]: ...
    def rule_history(self, rule_id: str) -> list[dict[str, Any]]: ...
    def put_rule(self, rule_id: str, body: dict[str, Any] | None, actor: str, ts: float) -> int: ...
    def audit(self, ts: float, actor: str, action: str, target: str, detail: str) -> None: ...
    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]: ...
    def due_notifications(self, now: float, limit: int) -> list[Notification]: ...
    def pending_notification_count(self) -> int: ...
    def update_notification(self, n: Notification) -> None: ...
    def notifications_for(self, alert_id: str) -> list[Notification]: ...
    def get_state(self, key: str) -> bytes | None: ...
    def put_state(self, key: str, value: bytes) -> None: ...
    def close(self) -> None: ...


def open_store(url: str, data_dir: Path) -> Store:
    """``""`` or ``sqlite:///path``: SQLite (WAL); ``postgresql://...``: PostgreSQL."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        from fenghuo.store.postgres import PostgresStore  # type: ignore[import-not-found]

        return PostgresStore(url)  # type: ignore[no-any-return]
    from fenghuo.store.sqlite import SqliteStore

    path = Path(url.removeprefix("sqlite:///")) if url else data_dir / "fenghuo.db"
    return SqliteStore(path)
