"""The distributed store: PostgreSQL (TimescaleDB when available) via psycopg2.

Behaves like :class:`fenghuo.core.store.sqlite.SqliteStore` (the contract tests in
``tests/contracts/test_store_contract.py`` run the same cases on both). Thread-safe: every call borrows a
connection from a bounded pool and runs in its own transaction. A connection that failed at the
connection level is discarded, so the call after a database restart gets a fresh one; callers
retry the failed call (``add_events`` is idempotent by event id).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
from psycopg2.extensions import cursor as Cursor
from psycopg2.extras import execute_batch, execute_values
from psycopg2.pool import ThreadedConnectionPool

from fenghuo.core.models import Alert, Event
from fenghuo.core.retention import purge_record
from fenghuo.core.store import AlertQuery, Notification, drill_sql, raised_priorities, risk_sql, warning_sql
from fenghuo.core.store import chain_sql as chains
from fenghuo.core.store import pg_events as ev
from fenghuo.core.store.codec import alert_from_doc, alert_query_sql, alert_to_doc
from fenghuo.core.store.pg_migrations import (
    LOCK_DRILLS,
    LOCK_MIGRATE,
    LOCK_NS,
    LOCK_RULES,
    LOCK_SILENCES,
    MIGRATIONS,
    SCHEMA_MIGRATIONS,
    TIMESCALE_AVAILABLE,
    TIMESCALE_PRELOADED,
    chain_tables,
    timescale_flavour,
)

log = logging.getLogger(__name__)

_NOTIFY_COLS = ("id, alert_id, channel, responder, kind, tier, payload, created_at, status, attempts, "
                "next_attempt_at, last_error, delivered_at, priority")


def _row_notification(r: tuple[Any, ...]) -> Notification:
    return Notification(id=r[0], alert_id=r[1], channel=r[2], responder=r[3], kind=r[4], tier=r[5],
                        payload=json.loads(r[6]), created_at=r[7], status=r[8], attempts=r[9],
                        next_attempt_at=r[10], last_error=r[11], delivered_at=r[12], priority=r[13])


_ALERT_UPSERT = f"INSERT INTO alerts ({chains.ALERT_COLS}) VALUES ".encode()
_ALERT_ON_CONFLICT = (b" ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint, status = excluded.status, "
                      b"level = excluded.level, risk = excluded.risk, feed = excluded.feed, grid = excluded.grid, "
                      b"drill = excluded.drill, created_at = excluded.created_at, updated_at = excluded.updated_at, "
                      b"doc = excluded.doc")
_ALERT_ROW = "(" + ", ".join(["%s"] * 11) + ")"
_LOG_ROW = "(" + ", ".join(["%s"] * 6) + ")"


class PostgresStore:
    def __init__(self, dsn: str, max_connections: int = 8, connect_timeout: int = 10) -> None:
        self.dsn = dsn
        self._pool = ThreadedConnectionPool(1, max_connections, dsn, connect_timeout=connect_timeout,
                                            application_name="fenghuo")
        self._slots = threading.BoundedSemaphore(max_connections)  # getconn raises, never waits, when exhausted
        self._months_lock = threading.Lock()
        self._months: set[int] = set()
        self.timescale_installed = self.timescale_offered = False  # installed / and preloaded: set by _migrate
        self.flavour_reason = ""  # why events are (not) a hypertable, set by _migrate
        self._migrate()
        with self._tx() as cur:
            cur.execute("SELECT flavour FROM schema_migrations WHERE version = 2")
            self.timescale = cur.fetchone()[0] == "timescaledb"
            if not self.timescale:
                self._months = ev.existing_months(cur)
        if self.timescale:
            log.info("PostgreSQL store: events in a TimescaleDB hypertable")
        elif self.timescale_offered:
            log.info("PostgreSQL store: events in plain monthly partitions: this database was created before "
                     "TimescaleDB was available (schema_migrations); a new database would use it")
        else:  # a warning when TimescaleDB is there but cannot be used: the operator probably wants it
            (log.warning if self.timescale_installed else log.info)(
                "PostgreSQL store: events in plain monthly partitions: %s", self.flavour_reason)

    # -- plumbing -----------------------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[Cursor]:
        """One transaction on a pooled connection: commit on success, roll back on error."""
        with self._slots:
            conn = self._pool.getconn()
            broken = False
            try:
                with conn.cursor() as cur:
                    yield cur
                conn.commit()
            except BaseException as exc:
                broken = bool(conn.closed) or isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError)
                if not broken:
                    try:
                        conn.rollback()
                    except psycopg2.Error:
                        broken = True
                raise
            finally:
                self._pool.putconn(conn, close=broken)

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        with self._tx() as cur:
            cur.execute(sql, args)
            return cur.fetchone()[0]

    def _all(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        with self._tx() as cur:
            cur.execute(sql, args)
            return cur.fetchall()

    # -- schema -------------------------------------------------------------------------------------
    def _migrate(self) -> None:
        with self._tx() as cur:
            cur.execute(TIMESCALE_AVAILABLE)
            available = cur.fetchone() is not None
            cur.execute(TIMESCALE_PRELOADED)
            timescale, self.flavour_reason = timescale_flavour(available, str(cur.fetchone()[0] or ""))
            self.timescale_installed, self.timescale_offered = available, timescale
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_NS, LOCK_MIGRATE))
            cur.execute(SCHEMA_MIGRATIONS)
        for version, script in enumerate(MIGRATIONS, start=1):
            with self._tx() as cur:  # one transaction per version; the lock makes concurrent openers wait
                cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_NS, LOCK_MIGRATE))
                cur.execute("SELECT 1 FROM schema_migrations WHERE version = %s", (version,))
                if cur.fetchone():
                    continue
                cur.execute(script(timescale))
                if script is chain_tables:  # chain the rows already there, in the migration's transaction
                    chains.backfill(cur, "%s", time.time(), many=lambda c, sql, rows: execute_batch(c, sql, rows,
                                                                                                    page_size=500))
                flavour = ("timescaledb" if timescale else "partitioned") if version == 2 else ""
                cur.execute("INSERT INTO schema_migrations VALUES (%s, %s, %s)", (version, time.time(), flavour))

    def schema_version(self) -> int:
        return int(self._one("SELECT coalesce(max(version), 0) FROM schema_migrations"))

    # -- events -------------------------------------------------------------------------------------
    def add_events(self, events: list[Event], received_at: float) -> list[Event]:
        if not events:
            return []
        with self._months_lock:  # the month cache; the advisory lock inside serialises writers anyway
            months = set(self._months)
        try:
            with self._tx() as cur:
                out = ev.add_events(cur, events, received_at, timescale=self.timescale, known_months=months)
        finally:
            with self._months_lock:
                self._months |= months
        return out

    def event_count(self) -> int:
        return int(self._one("SELECT count(*) FROM events"))

    def max_seq(self) -> int:
        return int(self._one("SELECT coalesce(max(seq), 0) FROM events"))

    def events_after(self, seq: int, limit: int) -> list[tuple[int, Event]]:
        rows = self._all(f"SELECT seq, {ev.EVENT_COLS} FROM events WHERE seq > %s ORDER BY seq LIMIT %s",
                         (seq, limit))
        return [(r[0], ev.row_event(r[1:])) for r in rows]

    def series(self, *, feed: str, grid: str | None, source: str | None, metric: str | None,
               category: str | None, start: float, end: float, limit: int = 20000) -> list[Event]:
        sql = f"SELECT {ev.EVENT_COLS} FROM events WHERE feed = %s AND ts >= %s AND ts <= %s"
        args: list[Any] = [feed, float(start), float(end)]
        if self.timescale:  # chunk exclusion on the time dimension; ts stays the exact filter
            sql += " AND at >= to_timestamp(%s) - interval '1 second' AND at <= to_timestamp(%s) + interval '1 second'"
            args += [float(start), float(end)]
        for col, val in (("grid", grid), ("source", source), ("metric", metric), ("category", category)):
            if val is not None:
                sql += f" AND {col} = %s"
                args.append(val)
        sql += " ORDER BY ts LIMIT %s"
        args.append(limit)
        return [ev.row_event(r) for r in self._all(sql, args)]

    def history_rows(self, *, feed: str, metric: str | None, category: str | None, source: str | None,
                     start: float, end: float, drill: str | None = None) -> list[tuple[Any, ...]]:
        sql = "SELECT source, grid, category, ts, value FROM events WHERE feed = %s AND ts >= %s AND ts <= %s " \
              + ("AND drill IS NULL" if drill is None else "AND drill = %s")
        args: list[Any] = [feed, float(start), float(end)] + ([] if drill is None else [drill])
        if self.timescale:  # chunk exclusion, as in series()
            sql += " AND at >= to_timestamp(%s) - interval '1 second' AND at <= to_timestamp(%s) + interval '1 second'"
            args += [float(start), float(end)]
        for col, val in (("metric", metric), ("category", category), ("source", source)):
            if val is not None:
                sql += f" AND {col} = %s"
                args.append(val)
        return self._all(sql + " ORDER BY ts, seq", args)

    def complaint_page(self, *, start: float, end: float, drill: bool | str, after: tuple[float, int] | None = None,
                       limit: int = 5000) -> list[tuple[float, int, Event]]:
        sql = f"SELECT ts, seq, {ev.EVENT_COLS} FROM events WHERE feed = 'complaint' AND ts >= %s AND ts < %s AND " \
              + ("drill = %s" if isinstance(drill, str) else "drill IS NOT NULL" if drill else "drill IS NULL")
        args: list[Any] = [float(start), float(end)] + ([drill] if isinstance(drill, str) else [])
        if self.timescale:  # chunk exclusion, as in series()
            sql += " AND at >= to_timestamp(%s) - interval '1 second' AND at <= to_timestamp(%s) + interval '1 second'"
            args += [float(start), float(end)]
        if after is not None:
            sql += " AND (ts > %s OR (ts = %s AND seq > %s))"
            args += [float(after[0]), float(after[0]), int(after[1])]
        args.append(int(limit))
        rows = self._all(sql + " ORDER BY ts, seq LIMIT %s", args)
        return [(r[0], r[1], ev.row_event(r[2:])) for r in rows]

    # -- dead letters -------------------------------------------------------------------------------
    def add_dead_letters(self, items: list[tuple[int, str, Any]], received_at: float) -> None:
        if not items:
            return
        rows = [(received_at, i, err, json.dumps(rec, ensure_ascii=False, default=str)) for i, err, rec in items]
        with self._tx() as cur:
            execute_values(cur, "INSERT INTO dead_letters (received_at, idx, error, record) VALUES %s", rows,
                           page_size=1000)

    def dead_letters(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        rows = self._all("SELECT id, received_at, idx, error, record FROM dead_letters "
                         "ORDER BY id DESC LIMIT %s OFFSET %s", (limit, offset))
        return [{"id": r[0], "received_at": r[1], "index": r[2], "error": r[3], "record": json.loads(r[4])}
                for r in rows]

    def dead_letter_count(self) -> int:
        return int(self._one("SELECT count(*) FROM dead_letters"))

    # -- retention (fenghuo/core/retention.py) -----------------------------------------------------------
    def purge_texts(self, before: float, feeds: tuple[str, ...], dry_run: bool = False) -> dict[str, int]:
        where = "feed = ANY(%s) AND text IS NOT NULL AND received_at < %s"
        rows = self._all("SELECT id, record FROM dead_letters WHERE received_at < %s AND "
                         "(record LIKE '%%\"text\"%%' OR left(record, 1) IN ('\"', '['))", (before,))
        letters = [(json.dumps(new, ensure_ascii=False), i) for i, rec in rows
                   if (new := purge_record(json.loads(rec))) is not None]
        if dry_run:
            return {"events": int(self._one(f"SELECT count(*) FROM events WHERE {where}", (list(feeds), before))),
                    "dead_letters": len(letters)}
        with self._tx() as cur:  # row locks only: ingest goes on (old row versions go at the next VACUUM)
            cur.execute(f"UPDATE events SET text = NULL WHERE {where}", (list(feeds), before))
            n = cur.rowcount
            cur.executemany("UPDATE dead_letters SET record = %s WHERE id = %s", letters)
        return {"events": n, "dead_letters": len(letters)}

    # -- alerts and the outbox ----------------------------------------------------------------------
    def save_alerts(self, alerts: list[Alert], notifications: list[Notification],
                    state: dict[str, bytes] | None = None, incidents: list[dict[str, Any]] | None = None) -> None:
        irows = {str(d["id"]): (str(d["id"]), str(d["status"]), float(d["created_at"]), float(d["updated_at"]),
                                json.dumps(d, ensure_ascii=False)) for d in incidents or ()}
        # one row per id (the last wins, as with SQLite's row-by-row upsert): a multi-row
        # ON CONFLICT DO UPDATE may not touch the same row twice
        latest = {a.id: a for a in alerts}
        rows = [chains.normal_alert_row((a.id, a.fingerprint, str(a.status), a.level, str(a.risk), a.feed, a.grid,
                                         a.drill, a.created_at, a.updated_at, alert_to_doc(a)))
                for a in latest.values()]
        nrows = [(n.id, n.alert_id, n.channel, n.responder, n.kind, n.tier,
                  json.dumps(n.payload, ensure_ascii=False), n.created_at, n.status, n.attempts,
                  n.next_attempt_at, n.last_error, n.delivered_at, n.priority) for n in notifications]
        with self._tx() as cur:
            if rows:
                # the alert journal's head row first (FOR UPDATE): concurrent savers (two alert services)
                # queue here, so their links follow one another and nothing else in here can deadlock
                log, head = chains.alert_links(cur, "%s", True, rows)
                # then the rows, their links and the new head in one round trip (one multi-statement query)
                cur.execute(b"; ".join((
                    _ALERT_UPSERT + b",".join(cur.mogrify(_ALERT_ROW, r) for r in rows) + _ALERT_ON_CONFLICT,
                    chains.ALERT_LOG_INSERT.encode() + b",".join(cur.mogrify(_LOG_ROW, r) for r in log),
                    cur.mogrify(chains.SET_HEAD.format(m="%s"), (*head, rows[-1][9], "alerts")))))
            if nrows:
                execute_values(cur, f"INSERT INTO outbox ({_NOTIFY_COLS}) VALUES %s ON CONFLICT (id) DO NOTHING",
                               nrows, page_size=1000)
                # an alert's earlier pending notifications rise to its newest one's priority (as in SQLite)
                execute_values(cur, "UPDATE outbox o SET priority = v.p FROM (VALUES %s) AS v (alert_id, p) "
                               "WHERE o.alert_id = v.alert_id AND o.status = 'pending' AND o.priority < v.p",
                               list(raised_priorities(notifications).items()), page_size=1000)
            for key, value in (state or {}).items():
                cur.execute("INSERT INTO state VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET "
                            "value = excluded.value", (key, value))
            if irows:
                execute_values(cur, "INSERT INTO incidents VALUES %s ON CONFLICT (id) DO UPDATE SET "
                               "status = excluded.status, updated_at = excluded.updated_at, doc = excluded.doc",
                               list(irows.values()), page_size=500)

    def get_incident(self, incident_id: str) -> dict[str, Any] | None:
        rows = self._all("SELECT doc FROM incidents WHERE id = %s", (incident_id,))
        return json.loads(rows[0][0]) if rows else None

    def incidents(self, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        where, args = ("WHERE status = %s", [status]) if status else ("", [])
        rows = self._all(f"SELECT doc FROM incidents {where} ORDER BY updated_at DESC LIMIT %s", [*args, limit])
        return [json.loads(r[0]) for r in rows]

    def open_incidents(self) -> list[dict[str, Any]]:
        return [json.loads(r[0]) for r in self._all("SELECT doc FROM incidents WHERE status <> 'resolved'")]

    def get_alert(self, alert_id: str) -> Alert | None:
        rows = self._all("SELECT doc FROM alerts WHERE id = %s", (alert_id,))
        return alert_from_doc(rows[0][0]) if rows else None

    def open_alerts(self) -> list[Alert]:
        return [alert_from_doc(r[0]) for r in self._all("SELECT doc FROM alerts WHERE status <> 'resolved'")]

    def list_alerts(self, q: AlertQuery) -> list[Alert]:
        sql, args = alert_query_sql(q, "%s")
        return [alert_from_doc(r[0]) for r in self._all(sql, args)]

    def all_alerts(self, drill: bool | None = None) -> list[Alert]:
        sql = "SELECT doc FROM alerts"
        if drill is True:
            sql += " WHERE drill IS NOT NULL"
        elif drill is False:
            sql += " WHERE drill IS NULL"
        return [alert_from_doc(r[0]) for r in self._all(sql)]

    def due_notifications(self, now: float, limit: int, exclude: Collection[str] = ()) -> list[Notification]:
        rows = self._all(f"SELECT {_NOTIFY_COLS} FROM outbox WHERE status = 'pending' AND next_attempt_at <= %s "
                         "ORDER BY priority DESC, created_at, ord LIMIT %s", (now, limit + len(exclude)))
        return [_row_notification(r) for r in rows if r[0] not in exclude][:limit]

    def pending_notification_count(self) -> int:
        return int(self._one("SELECT count(*) FROM outbox WHERE status = 'pending'"))

    def pending_notifications_by_priority(self) -> dict[int, int]:
        rows = self._all("SELECT priority, count(*) FROM outbox WHERE status = 'pending' GROUP BY priority")
        return {int(p): int(n) for p, n in rows}

    def update_notification(self, n: Notification) -> None:
        self.update_notifications([n])

    def update_notifications(self, items: list[Notification]) -> None:
        """Delivery outcomes, in one transaction."""
        with self._tx() as cur:
            execute_values(cur, "UPDATE outbox o SET status = v.status, attempts = v.attempts, "
                           "next_attempt_at = v.next_attempt_at, last_error = v.last_error, "
                           "delivered_at = v.delivered_at FROM (VALUES %s) AS v (id, status, attempts, "
                           "next_attempt_at, last_error, delivered_at) WHERE o.id = v.id",
                           [(n.id, n.status, n.attempts, float(n.next_attempt_at), n.last_error,
                             None if n.delivered_at is None else float(n.delivered_at)) for n in items],
                           template="(%s, %s, %s::integer, %s::float8, %s::text, %s::float8)", page_size=1000)

    def notifications_for(self, alert_id: str) -> list[Notification]:
        rows = self._all(f"SELECT {_NOTIFY_COLS} FROM outbox WHERE alert_id = %s ORDER BY created_at, ord",
                         (alert_id,))
        return [_row_notification(r) for r in rows]

    # -- rules and audit ----------------------------------------------------------------------------
    def rules(self) -> list[dict[str, Any]]:
        rows = self._all(
            "SELECT DISTINCT ON (id) id, version, body, actor, changed_at FROM rules "
            "ORDER BY id, version DESC")
        rows = sorted((r for r in rows if r[2] is not None), key=lambda r: r[0])  # code-point order, as SQLite
        return [{"id": r[0], "version": r[1], "body": json.loads(r[2]), "actor": r[3], "changed_at": r[4]}
                for r in rows]

    def rule_history(self, rule_id: str) -> list[dict[str, Any]]:
        rows = self._all("SELECT version, body, actor, changed_at FROM rules WHERE id = %s ORDER BY version",
                         (rule_id,))
        return [{"version": r[0], "body": json.loads(r[1]) if r[1] else None, "actor": r[2], "changed_at": r[3]}
                for r in rows]

    def put_rule(self, rule_id: str, body: dict[str, Any] | None, actor: str, ts: float) -> int:
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_RULES, rule_id))
            cur.execute("SELECT coalesce(max(version), 0) + 1 FROM rules WHERE id = %s", (rule_id,))
            v = int(cur.fetchone()[0])
            chains.rule_row(cur, "%s", True, rule_id, v,
                            json.dumps(body, ensure_ascii=False) if body is not None else None, actor, ts)
        return v

    def audit(self, ts: float, actor: str, action: str, target: str, detail: str) -> None:
        with self._tx() as cur:  # the chain's head row is locked (FOR UPDATE) until commit: appends queue
            chains.audit_row(cur, "%s", True, ts, actor, action, target, detail)

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._all("SELECT ts, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT %s", (limit,))
        return [{"ts": r[0], "actor": r[1], "action": r[2], "target": r[3], "detail": r[4]} for r in rows]

    # -- silences -----------------------------------------------------------------------------------
    def put_silence(self, doc: dict[str, Any], actor: str, action: str, ts: float, detail: str) -> int:
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_NS, LOCK_SILENCES))
            cur.execute("SELECT coalesce(max(rev), 0) + 1 FROM silences")
            rev = int(cur.fetchone()[0])
            cur.execute("INSERT INTO silences VALUES (%s, %s, %s) ON CONFLICT (id) DO UPDATE SET rev = excluded.rev, "
                        "doc = excluded.doc", (str(doc["id"]), rev, json.dumps(doc, ensure_ascii=False)))
            chains.audit_row(cur, "%s", True, ts, actor, action, str(doc["id"]), detail)
        return rev

    def silences(self, after_rev: int = 0, limit: int = 10_000, newest_first: bool = False) -> list[dict[str, Any]]:
        order = "DESC" if newest_first else "ASC"
        rows = self._all(f"SELECT rev, doc FROM silences WHERE rev > %s ORDER BY rev {order} LIMIT %s",
                         (after_rev, limit))
        return [{"rev": int(r[0]), "doc": json.loads(r[1])} for r in rows]

    # -- hash chains (fenghuo/core/chain.py) -------------------------------------------------------------
    def chain_heads(self) -> dict[str, dict[str, Any]]:
        with self._tx() as cur:
            return chains.heads(cur)

    # -- drill runs (fenghuo/drills) -------------------------------------------------------------------
    def create_drill_run(self, scenario: str, doc: dict[str, Any], ts: float) -> dict[str, Any]:
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_NS, LOCK_DRILLS))
            return drill_sql.create_run(cur, "%s", scenario, doc, ts)

    def update_drill_run(self, doc: dict[str, Any], ts: float) -> None:
        with self._tx() as cur:
            drill_sql.update_run(cur, "%s", doc, ts)

    def get_drill_run(self, run: str) -> dict[str, Any] | None:
        with self._tx() as cur:
            return drill_sql.get_run(cur, "%s", run)

    def drill_runs(self, scenario: str | None = None, status: str | None = None,
                   limit: int = 100) -> list[dict[str, Any]]:
        with self._tx() as cur:
            return drill_sql.runs(cur, "%s", scenario, status, limit)

    def purge_drill(self, run: str, actor: str, ts: float) -> dict[str, int]:
        with self._tx() as cur:
            counts = drill_sql.purge_run(cur, "%s", True, run, ts, event_ids=True)
            warning_sql.purge_drill(cur, "%s", run)  # the run's CAP warnings (alerts/external.py) go with it
            chains.audit_row(cur, "%s", True, ts, actor, "drill.purge", run, json.dumps(counts))
        return counts

    # -- the risk forecast (fenghuo/runtime/risk_job.py) ----------------------------------------------
    def save_risk_forecast(self, doc: dict[str, Any], drill: str | None, created_at: float) -> int:
        with self._tx() as cur:
            return risk_sql.save_forecast(cur, "%s", doc, drill, created_at)

    def risk_forecasts(self, drill: str | None = None, horizon_days: int | None = None, before: float | None = None,
                       limit: int = 20) -> list[dict[str, Any]]:
        with self._tx() as cur:
            return risk_sql.forecasts(cur, "%s", drill, horizon_days, before, limit)

    def save_risk_watch(self, notices: list[tuple[dict[str, Any], list[Notification]]]) -> list[dict[str, Any]]:
        with self._tx() as cur:
            return risk_sql.save_watch(cur, "%s", notices, "INSERT INTO|ON CONFLICT DO NOTHING")

    def risk_watches(self, drill: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        with self._tx() as cur:
            return risk_sql.watches(cur, "%s", drill, limit)

    def risk_alert_marks(self, start: float, end: float, drill: str | None) -> list[dict[str, Any]]:
        with self._tx() as cur:
            return risk_sql.alert_marks(cur, "%s", start, end, drill)

    def risk_latest_complaint(self, drill: str | None) -> float | None:
        with self._tx() as cur:
            return risk_sql.latest_complaint(cur, "%s", drill)

    # -- CAP warnings taken in (fenghuo/alerts/external.py) -------------------------------------------
    def put_warnings(self, docs: list[dict[str, Any]]) -> None:
        with self._tx() as cur:
            warning_sql.put(cur, "%s", docs, warning_sql.UPSERT)

    def get_warning(self, sender: str, identifier: str) -> dict[str, Any] | None:
        with self._tx() as cur:
            return warning_sql.get(cur, "%s", sender, identifier)

    def warnings(self, state: str | None = None, drill: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        with self._tx() as cur:
            return warning_sql.listing(cur, "%s", state, drill, limit)

    @contextmanager
    def chain_snapshot(self) -> Iterator[chains.Reader]:
        """One REPEATABLE READ, READ ONLY transaction: one snapshot for the whole walk."""
        with self._tx() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield chains.Reader(cur, "%s")

    # -- pipeline state -----------------------------------------------------------------------------
    def get_state(self, key: str) -> bytes | None:
        rows = self._all("SELECT value FROM state WHERE key = %s", (key,))
        return bytes(rows[0][0]) if rows else None

    def put_state(self, key: str, value: bytes) -> None:
        with self._tx() as cur:
            cur.execute("INSERT INTO state VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (key, psycopg2.Binary(value)))

    def close(self) -> None:
        if not self._pool.closed:
            self._pool.closeall()
