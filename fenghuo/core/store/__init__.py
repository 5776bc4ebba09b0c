"""The store port: everything fenghuo keeps (events, dead letters, alerts with their timelines,
rules with their versions, the audit log, the notification outbox, pipeline state).

All SQL lives in the store modules; :func:`open_store` picks SQLite or PostgreSQL from settings.
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from fenghuo.core.models import Alert, Event


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
    priority: int = 0  # delivery order: higher first, then older first (see fenghuo.alerts.notify.priority)


def raised_priorities(notifications: list[Notification]) -> dict[str, int]:
    """Per alert, the highest priority among new notifications: the stores raise the alert's earlier
    pending ones to it, so an escalation never waits behind its own alert's older, lower ones.

    >>> raised_priorities([Notification("n1", "a", "c", None, "raised", 0, {}, 0.0, priority=2),
    ...                    Notification("n2", "a", "c", None, "upgraded", 0, {}, 1.0, priority=8)])
    {'a': 8}
    """
    out: dict[str, int] = {}
    for n in notifications:
        out[n.alert_id] = max(n.priority, out.get(n.alert_id, n.priority))
    return out


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


class StoreIntegrityError(Exception):
    """The database cannot be trusted as it is (damaged, or missing where one was): fenghuo refuses to start.
    The message names the file and what to do; the command line prints it without a traceback."""


class StoreDamaged(StoreIntegrityError):
    """The database file fails SQLite's integrity check or is not a database."""


class StoreMissing(StoreIntegrityError):
    """The database file is missing or empty, but this data directory had one."""


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
                     start: float, end: float, drill: str | None = None) -> list[tuple[Any, ...]]:
        """``(source, grid, category, ts, value)`` of every real event (``drill``: of that drill's events instead),
        by time then arrival."""
        ...

    def complaint_page(self, *, start: float, end: float, drill: bool | str, after: tuple[float, int] | None = None,
                       limit: int = 5000) -> list[tuple[float, int, Event]]:
        """One page of complaint events with ``start <= ts < end`` (drills only with ``drill`` True, one drill's
        only with its name, else real ones only), as ``(ts, seq, event)`` by time then arrival; ``after``: the
        ``(ts, seq)`` of the previous page's last row (keyset paging: pages stay consistent while events arrive).
        At most ``limit`` rows."""
        ...

    def add_dead_letters(self, items: list[tuple[int, str, Any]], received_at: float) -> None: ...
    def dead_letters(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]: ...
    def dead_letter_count(self) -> int: ...
    def purge_texts(self, before: float, feeds: tuple[str, ...], dry_run: bool = False) -> dict[str, int]:
        """Remove the texts of events of ``feeds`` received before ``before`` (text NULL, all else kept) and
        of dead letters received before it (see :func:`fenghuo.core.retention.purge_record`); return the counts
        ``{"events": n, "dead_letters": m}`` (with ``dry_run``: what would be purged, nothing changed)."""
        ...
    def save_alerts(self, alerts: list[Alert], notifications: list[Notification],
                    state: dict[str, bytes] | None = None, incidents: list[dict[str, Any]] | None = None) -> None:
        """Changed alerts, their new outbox rows, pipeline state (the cursor...) and changed incidents (their
        documents, ``id``, ``status``, ``created_at`` and ``updated_at`` among the keys) in one transaction."""
        ...
    # incidents (fenghuo/alerts/incidents.py), written by save_alerts with the step that changes them
    def get_incident(self, incident_id: str) -> dict[str, Any] | None: ...
    def incidents(self, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """The incidents (of ``status``, or all), most recently changed first, at most ``limit``."""
        ...
    def open_incidents(self) -> list[dict[str, Any]]: ...
    def get_alert(self, alert_id: str) -> Alert | None: ...
    def open_alerts(self) -> list[Alert]: ...
    def list_alerts(self, q: AlertQuery) -> list[Alert]: ...
    def all_alerts(self, drill: bool | None = None) -> list[Alert]: ...
    def rules(self) -> list[dict[str, Any]]: ...
    def rule_history(self, rule_id: str) -> list[dict[str, Any]]: ...
    def put_rule(self, rule_id: str, body: dict[str, Any] | None, actor: str, ts: float) -> int: ...
    def audit(self, ts: float, actor: str, action: str, target: str, detail: str) -> None: ...
    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]: ...
    # silences (fenghuo/alerts/silences.py): each change gets the next revision, with its audit row
    def put_silence(self, doc: dict[str, Any], actor: str, action: str, ts: float, detail: str) -> int:
        """Create or replace the silence ``doc["id"]`` and write the audit row (``action``, target the id) in one
        transaction; the new revision (one more than the highest so far)."""
        ...
    def silences(self, after_rev: int = 0, limit: int = 10_000, newest_first: bool = False) -> list[dict[str, Any]]:
        """``[{"rev", "doc"}]`` of the silences changed after revision ``after_rev``, by revision."""
        ...
    def due_notifications(self, now: float, limit: int, exclude: Collection[str] = ()) -> list[Notification]:
        """Pending notifications due by ``now``: highest priority first, then oldest; ``exclude``: ids
        to pass over (those a deliverer has in hand)."""
        ...
    def pending_notification_count(self) -> int: ...
    def pending_notifications_by_priority(self) -> dict[int, int]:
        """Pending notifications per outbox priority (2 x level, one less for a drill): the backlog by level."""
        ...
    def update_notification(self, n: Notification) -> None: ...
    def update_notifications(self, items: list[Notification]) -> None:
        """Delivery outcomes, in one transaction."""
        ...
    def notifications_for(self, alert_id: str) -> list[Notification]: ...
    # the hash chains (fenghuo/core/chain.py): read by `fenghuo audit verify` and GET /v1/audit/verify
    def chain_heads(self) -> dict[str, dict[str, Any]]:
        """``{chain: {"seq", "hash", "ts", "chained_at_migration"}}`` as recorded with the last append."""
        ...
    def chain_snapshot(self) -> AbstractContextManager[Any]:
        """``with store.chain_snapshot() as reader``: the chains' rows as of one snapshot (a
        :class:`fenghuo.core.chain.ChainReader`: ``chain_heads``, ``chain_links``, ``alert_digests``,
        ``unchained_rows``), so a walk over a running service sees no half-written change."""
        ...
    # drill runs (fenghuo/drills): one row per run, its document holding the scenario, progress and scorecard
    def create_drill_run(self, scenario: str, doc: dict[str, Any], ts: float) -> dict[str, Any]:
        """Store the next run of ``scenario``: its id ``<scenario>-r<n>`` and ``n`` are set in the returned doc."""
        ...
    def update_drill_run(self, doc: dict[str, Any], ts: float) -> None: ...
    def get_drill_run(self, run: str) -> dict[str, Any] | None: ...
    def drill_runs(self, scenario: str | None = None, status: str | None = None,
                   limit: int = 100) -> list[dict[str, Any]]:
        """Runs newest first (of one scenario, or in one status)."""
        ...
    def purge_drill(self, run: str, actor: str, ts: float) -> dict[str, int]:
        """Delete the run's events, alerts, notifications and incidents (alerts tombstoned in the journal), with
        an audit row, in one transaction; the counts removed."""
        ...
    # the risk forecast (fenghuo/runtime/risk_job.py, SQL in fenghuo/core/store/risk_sql.py)
    def save_risk_forecast(self, doc: dict[str, Any], drill: str | None, created_at: float) -> int:
        """Store a forecast (its JSON bounded); its id."""
        ...
    def risk_forecasts(self, drill: str | None = None, horizon_days: int | None = None, before: float | None = None,
                       limit: int = 20) -> list[dict[str, Any]]:
        """Stored forecasts of the real data (``drill``: of that drill run), newest first."""
        ...
    def save_risk_watch(self, notices: list[tuple[dict[str, Any], list[Notification]]]) -> list[dict[str, Any]]:
        """Record watch notices not recorded before (by ``key``) with their outbox rows, in one transaction;
        the new ones."""
        ...
    def risk_watches(self, drill: str | None = None, limit: int = 200) -> list[dict[str, Any]]: ...
    def risk_alert_marks(self, start: float, end: float, drill: str | None) -> list[dict[str, Any]]:
        """``{ts, grid, level, risk, rule}`` of the alerts raised in ``[start, end)`` (real, or that drill's)."""
        ...
    def risk_latest_complaint(self, drill: str | None) -> float | None: ...
    # CAP warnings taken in (fenghuo/alerts/external.py, SQL in fenghuo/core/store/warning_sql.py)
    def put_warnings(self, docs: list[dict[str, Any]]) -> None:
        """Insert or replace warning documents (keyed by ``sender`` and ``identifier``) in one transaction."""
        ...
    def get_warning(self, sender: str, identifier: str) -> dict[str, Any] | None: ...
    def warnings(self, state: str | None = None, drill: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """Warning documents newest first (of ``state``; ``drill``: "true", "false" or a drill's name)."""
        ...
    def get_state(self, key: str) -> bytes | None: ...
    def put_state(self, key: str, value: bytes) -> None: ...
    def close(self) -> None: ...


def check_store(url: str, data_dir: Path) -> None:
    """Open and close the store once: raises :class:`StoreIntegrityError` (with what to do) for a damaged
    SQLite file, or one missing or emptied where one was, before a service starts serving."""
    open_store(url, data_dir).close()


def open_store(url: str, data_dir: Path) -> Store:
    """``""`` or ``sqlite:///path``: SQLite (WAL); ``postgresql://...``: PostgreSQL."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        from fenghuo.core.store.postgres import PostgresStore  # type: ignore[import-not-found]

        return PostgresStore(url)  # type: ignore[no-any-return]
    from fenghuo.core.store.sqlite import SqliteStore

    path = Path(url.removeprefix("sqlite:///")) if url else data_dir / "fenghuo.db"
    return SqliteStore(path)
