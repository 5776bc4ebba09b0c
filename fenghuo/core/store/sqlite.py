"""The embedded store: SQLite in WAL mode, versioned migrations, one writer at a time."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from operator import attrgetter
from pathlib import Path
from typing import Any

import orjson

from fenghuo.core.models import Alert, Event
from fenghuo.core.privacy import private_dir, private_file, sqlite_files
from fenghuo.core.retention import purge_record
from fenghuo.core.store import (
    AlertQuery,
    Notification,
    StoreDamaged,
    StoreMissing,
    drill_sql,
    raised_priorities,
    risk_sql,
    warning_sql,
)
from fenghuo.core.store import chain_sql as chains
from fenghuo.core.store.codec import alert_from_doc, alert_query_sql, alert_to_doc

RESTORE_HINT = "restore from backup (docs/operations.md: stop fenghuo, copy the backup over it, " \
               "run `fenghuo audit verify`, start)"


def _chain_tables(db: sqlite3.Connection) -> None:
    """The hash chains' tables and heads; the rows already there are chained now (fenghuo.core.chain)."""
    cur = db.cursor()
    chains.run_ddl(cur, chains.TABLES_DDL)
    counts = chains.backfill(cur, "?", time.time())
    cur.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'audit'", (counts["audit"],))


def _events_unique_per_source(db: sqlite3.Connection) -> None:
    """Ids are unique per source, so another source cannot squat a gauge's ids. SQLite cannot drop a column's
    UNIQUE, so ``events`` is rebuilt the documented way (new table, copy, drop, rename), keeping every row's
    ``seq``, the AUTOINCREMENT high mark and the indexes. Old rows stay duplicates of themselves."""
    (ddl,) = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'").fetchone()
    new_ddl = re.sub(r"\bid TEXT NOT NULL UNIQUE\b", "id TEXT NOT NULL", ddl, count=1)
    if new_ddl == ddl or not new_ddl.rstrip().endswith(")"):
        raise RuntimeError(f"migration 4: unexpected events table: {ddl}")
    new_ddl = new_ddl.replace("CREATE TABLE events", "CREATE TABLE events_by_source", 1)
    new_ddl = new_ddl.rstrip()[:-1].rstrip() + ",\n        UNIQUE (source, id)\n    )"
    indexes = [r[0] for r in db.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' "
                                        "AND sql IS NOT NULL")]
    cols = ", ".join(r[1] for r in db.execute("PRAGMA table_info(events)"))
    db.execute(new_ddl)
    db.execute(f"INSERT INTO events_by_source ({cols}) SELECT {cols} FROM events ORDER BY seq")
    db.execute("DELETE FROM sqlite_sequence WHERE name = 'events_by_source'")
    db.execute("INSERT INTO sqlite_sequence (name, seq) SELECT 'events_by_source', seq FROM sqlite_sequence "
               "WHERE name = 'events'")
    db.execute("DROP TABLE events")
    db.execute("ALTER TABLE events_by_source RENAME TO events")
    for sql in indexes:
        db.execute(sql)


# version n is MIGRATIONS[n - 1]: an SQL script, or a function run in the migration's transaction
MIGRATIONS: list[str | Callable[[sqlite3.Connection], None]] = [
    # 1: the first schema
    """
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        feed TEXT NOT NULL, source TEXT NOT NULL, ts REAL NOT NULL, grid TEXT NOT NULL,
        lat REAL, lon REAL, metric TEXT, value REAL, category TEXT, text TEXT,
        attrs TEXT, drill TEXT, received_at REAL NOT NULL
    );
    CREATE INDEX events_series ON events (feed, grid, ts);
    CREATE INDEX events_source ON events (source, metric, ts);
    CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT, received_at REAL NOT NULL,
        idx INTEGER NOT NULL, error TEXT NOT NULL, record TEXT NOT NULL
    );
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, status TEXT NOT NULL, level INTEGER NOT NULL,
        risk TEXT NOT NULL, feed TEXT NOT NULL, grid TEXT NOT NULL, drill TEXT,
        created_at REAL NOT NULL, updated_at REAL NOT NULL, doc TEXT NOT NULL
    );
    CREATE UNIQUE INDEX alerts_one_open ON alerts (fingerprint) WHERE status != 'resolved';
    CREATE INDEX alerts_updated ON alerts (updated_at);
    CREATE TABLE rules (
        id TEXT NOT NULL, version INTEGER NOT NULL, body TEXT, actor TEXT NOT NULL, changed_at REAL NOT NULL,
        PRIMARY KEY (id, version)
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, actor TEXT NOT NULL,
        action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL
    );
    CREATE TABLE outbox (
        id TEXT PRIMARY KEY, alert_id TEXT NOT NULL, channel TEXT NOT NULL, responder TEXT,
        kind TEXT NOT NULL, tier INTEGER NOT NULL, payload TEXT NOT NULL, created_at REAL NOT NULL,
        status TEXT NOT NULL, attempts INTEGER NOT NULL, next_attempt_at REAL NOT NULL,
        last_error TEXT, delivered_at REAL
    );
    CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
    CREATE INDEX outbox_alert ON outbox (alert_id);
    CREATE TABLE state (key TEXT PRIMARY KEY, value BLOB NOT NULL);
    """,
    # 2: the outbox delivers by priority (fenghuo.alerts.notify.priority: 2 x level, one less for a drill), then age;
    # pending rows get their alert's; the partial index serves due_notifications' order (and the pending count)
    """
    ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
    UPDATE outbox SET priority = coalesce((SELECT 2 * a.level - (a.drill IS NOT NULL) FROM alerts a
                                           WHERE a.id = outbox.alert_id), 0) WHERE status = 'pending';
    DROP INDEX outbox_due;
    CREATE INDEX outbox_next ON outbox (priority DESC, created_at) WHERE status = 'pending';
    """,
    _chain_tables,  # 3: hash chains over the audit log, rule versions and alert changes (fenghuo/core/chain.py)
    _events_unique_per_source,  # 4: an event id is unique per source: UNIQUE (source, id) instead of UNIQUE (id)
    # 5: silences (fenghuo/alerts/silences.py), the latest version of each; rev orders every change
    """
    CREATE TABLE silences (id TEXT PRIMARY KEY, rev INTEGER NOT NULL UNIQUE, doc TEXT NOT NULL);
    """,
    # 6: incidents (fenghuo/alerts/incidents.py): the latest version of each, written with its alerts' step
    """
    CREATE TABLE incidents (id TEXT PRIMARY KEY, status TEXT NOT NULL, created_at REAL NOT NULL,
                            updated_at REAL NOT NULL, doc TEXT NOT NULL);
    CREATE INDEX incidents_status ON incidents (status, updated_at);
    """,
    drill_sql.ddl("REAL"),  # 7: drill runs (fenghuo/drills), numbered per scenario
    risk_sql.ddl("REAL", "INTEGER"),  # 8: risk forecasts made and watch notices sent (fenghuo/runtime/risk_job.py)
    warning_sql.ddl("REAL"),  # 9: CAP warnings taken in (fenghuo/alerts/external.py)
]

def _ENCODE(obj: Any) -> str:  # noqa: N802 - attrs are encoded once per stored event: the fast encoder
    return orjson.dumps(obj, default=str).decode()
_EVENT_COLS = "feed, source, ts, grid, lat, lon, metric, value, category, text, attrs, drill"

# add_events: one multi-row INSERT per chunk of events (fewer statement runs than executemany of one
# row each). A row is the Event's fields in _INSERT_COLS order, then received_at and the encoded attrs.
_INSERT_COLS = "id, feed, source, ts, grid, lat, lon, metric, value, category, text, drill, received_at, attrs"
_ROW_FIELDS = attrgetter("id", "feed", "source", "ts", "grid", "lat", "lon", "metric", "value", "category", "text",
                         "drill")
_N_COLS = 14
_CHUNK_ROWS = 128  # a power of two: the last rows go in chunks of 64, 32, ... 1 (at most 8 distinct statements)
_INSERT_SQL = {1 << k: f"INSERT OR IGNORE INTO events ({_INSERT_COLS}) VALUES " +
               ",".join(["(" + ",".join("?" * _N_COLS) + ")"] * (1 << k))
               for k in range(_CHUNK_ROWS.bit_length())}


def _chunks(n_rows: int) -> list[int]:
    """Row counts of the INSERTs for ``n_rows`` rows.

    >>> _chunks(300)
    [128, 128, 32, 8, 4]
    """
    out = [_CHUNK_ROWS] * (n_rows // _CHUNK_ROWS)
    rest = n_rows % _CHUNK_ROWS
    out += [size for size in sorted(_INSERT_SQL, reverse=True) if rest & size]
    return out


def _row_event(r: tuple[Any, ...]) -> Event:
    return Event(id=r[0], feed=r[1], source=r[2], ts=r[3], grid=r[4], lat=r[5], lon=r[6], metric=r[7], value=r[8],
                 category=r[9], text=r[10], attrs=json.loads(r[11]) if r[11] else {}, drill=r[12])


def _row_notification(r: tuple[Any, ...]) -> Notification:
    return Notification(id=r[0], alert_id=r[1], channel=r[2], responder=r[3], kind=r[4], tier=r[5],
                        payload=json.loads(r[6]), created_at=r[7], status=r[8], attempts=r[9],
                        next_attempt_at=r[10], last_error=r[11], delivered_at=r[12], priority=r[13])


_NOTIFY_COLS = ("id, alert_id, channel, responder, kind, tier, payload, created_at, status, attempts, "
                "next_attempt_at, last_error, delivered_at, priority")


def marker_path(path: Path) -> Path:
    """The file written beside a database when it is created: its absence later is not a new start."""
    return path.with_name(path.name + ".created")


def check_file(path: Path) -> None:
    """Refuse a database that is missing or empty where one was (its marker exists), or empty (0 bytes)."""
    marker = marker_path(path)
    size = path.stat().st_size if path.exists() else None
    if marker.exists() and not size:
        state = "is missing" if size is None else "is empty (0 bytes)"
        raise StoreMissing(f"the database {path} {state} but this data directory had one ({marker} says so): "
                           f"{RESTORE_HINT}. To start over with an empty store on purpose, delete {marker}.")
    if size == 0:
        raise StoreMissing(f"the database {path} is empty (0 bytes): if this data directory had data, "
                           f"{RESTORE_HINT}; if it is new, delete the empty file.")


def _corrupt(exc: sqlite3.DatabaseError) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or type(exc) is sqlite3.DatabaseError


def _create(path: Path) -> None:
    """A new database appears whole: made under a temporary name, then linked into place (never over an
    existing file), so no process ever sees a 0-byte database being born and takes it for an emptied one."""
    tmp = path.with_name(f".{path.name}.new-{os.getpid()}-{threading.get_ident()}")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        db = sqlite3.connect(str(tmp))
        try:
            db.execute("PRAGMA journal_mode=WAL")  # writes the header: the file is a database from now on
        finally:
            db.close()
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first: use that one
        except OSError:  # a file system without hard links
            if not path.exists():
                os.rename(tmp, path)
    finally:
        for f in sqlite_files(tmp):
            f.unlink(missing_ok=True)


def _write_marker(path: Path) -> None:
    marker = marker_path(path)
    if not marker.exists():
        try:
            fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps({"database": path.name, "created_at": time.time(),
                                 "note": "fenghuo refuses to start if this database goes missing or empty"}) + "\n")


class SqliteStore:
    def __init__(self, path: Path, synchronous: str = "FULL", check: bool = True) -> None:
        """Open (or create) the database. With ``check`` (the default), first refuse one that is damaged
        (``PRAGMA quick_check``: :class:`StoreDamaged`), or missing or emptied where one was
        (:class:`StoreMissing`); each names the file and what to do."""
        private_dir(path.parent)  # 0700: the database holds complaint texts
        self.path = path
        if check:
            check_file(path)
            if not path.exists():
                _create(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        try:
            for f in sqlite_files(path):  # 0600 before a byte is written; -wal and -shm take the file's mode
                private_file(f)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.execute("PRAGMA busy_timeout=10000")
            if check:
                problems = [r[0] for r in self._db.execute("PRAGMA quick_check(5)")]
                if problems != ["ok"]:
                    raise StoreDamaged(f"the database {path} is damaged (SQLite quick_check: {problems[0]}): "
                                       f"{RESTORE_HINT}")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            if _corrupt(exc):
                raise StoreDamaged(f"the database {path} is damaged ({exc}): {RESTORE_HINT}") from None
            raise
        except BaseException:
            self._db.close()
            raise
        _write_marker(path)

    # -- schema -------------------------------------------------------------------------------------
    def _migrate(self) -> None:
        with self._lock:
            self._db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                             "applied_at REAL NOT NULL)")
            done = {r[0] for r in self._db.execute("SELECT version FROM schema_migrations")}
            for version, script in enumerate(MIGRATIONS, start=1):
                if version in done:
                    continue
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    if self._db.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)).fetchone():
                        self._db.execute("COMMIT")  # another process applied it while this one waited
                        continue
                    if callable(script):
                        script(self._db)
                    else:
                        for stmt in filter(str.strip, script.split(";")):
                            self._db.execute(stmt)
                    self._db.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, time.time()))
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise

    def schema_version(self) -> int:
        return int(self._db.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] or 0)

    def _tx(self) -> _Tx:
        return _Tx(self)

    # -- events -------------------------------------------------------------------------------------
    def add_events(self, events: list[Event], received_at: float) -> list[Event]:
        if not events:
            return []
        values: list[Any] = []  # the rows one after the other, flat: the chunks' parameters
        add, fields, encode = values.extend, _ROW_FIELDS, _ENCODE
        for e in events:
            add(fields(e))
            attrs = e.attrs
            add((received_at, encode(attrs) if attrs else None))
        with self._tx() as db:
            before = db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
            changes = db.total_changes
            start = 0
            for size in _chunks(len(events)):  # in input order: of repeated (source, id) the first is kept
                end = start + size * _N_COLS
                db.execute(_INSERT_SQL[size], values[start:end])
                start = end
            if db.total_changes - changes == len(events):
                return events  # all new: the common case needs no read-back
            new_keys = set(db.execute("SELECT source, id FROM events WHERE seq > ?", (before,)))  # unique per source
        if len(new_keys) == len(events):
            return events
        out, seen = [], set()
        for e in events:
            key = (e.source, e.id)
            if key in new_keys and key not in seen:
                seen.add(key)
                out.append(e)
        return out

    def event_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])

    def max_seq(self) -> int:
        return int(self._db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])

    def events_after(self, seq: int, limit: int) -> list[tuple[int, Event]]:
        with self._lock:
            rows = self._db.execute(f"SELECT seq, id, {_EVENT_COLS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                                    (seq, limit)).fetchall()
        return [(r[0], _row_event(r[1:])) for r in rows]

    def series(self, *, feed: str, grid: str | None, source: str | None, metric: str | None,
               category: str | None, start: float, end: float, limit: int = 20000) -> list[Event]:
        sql = f"SELECT id, {_EVENT_COLS} FROM events WHERE feed = ? AND ts >= ? AND ts <= ?"
        args: list[Any] = [feed, start, end]
        for col, val in (("grid", grid), ("source", source), ("metric", metric), ("category", category)):
            if val is not None:
                sql += f" AND {col} = ?"
                args.append(val)
        sql += " ORDER BY ts LIMIT ?"
        args.append(limit)
        with self._lock:
            return [_row_event(r) for r in self._db.execute(sql, args).fetchall()]

    def history_rows(self, *, feed: str, metric: str | None, category: str | None, source: str | None,
                     start: float, end: float, drill: str | None = None) -> list[tuple[Any, ...]]:
        sql = "SELECT source, grid, category, ts, value FROM events WHERE feed = ? AND ts >= ? AND ts <= ? " \
              + ("AND drill IS NULL" if drill is None else "AND drill = ?")
        args: list[Any] = [feed, start, end] + ([] if drill is None else [drill])
        for col, val in (("metric", metric), ("category", category), ("source", source)):
            if val is not None:
                sql += f" AND {col} = ?"
                args.append(val)
        with self._lock:
            return self._db.execute(sql + " ORDER BY ts, seq", args).fetchall()

    def complaint_page(self, *, start: float, end: float, drill: bool | str, after: tuple[float, int] | None = None,
                       limit: int = 5000) -> list[tuple[float, int, Event]]:
        sql = f"SELECT ts, seq, id, {_EVENT_COLS} FROM events WHERE feed = 'complaint' AND ts >= ? AND ts < ? AND " \
              + ("drill = ?" if isinstance(drill, str) else "drill IS NOT NULL" if drill else "drill IS NULL")
        args: list[Any] = [start, end] + ([drill] if isinstance(drill, str) else [])
        if after is not None:
            sql += " AND (ts > ? OR (ts = ? AND seq > ?))"
            args += [after[0], after[0], after[1]]
        args.append(limit)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY ts, seq LIMIT ?", args).fetchall()
        return [(r[0], r[1], _row_event(r[2:])) for r in rows]

    # -- dead letters -------------------------------------------------------------------------------
    def add_dead_letters(self, items: list[tuple[int, str, Any]], received_at: float) -> None:
        if not items:
            return
        rows = [(received_at, i, err, json.dumps(rec, ensure_ascii=False, default=str)) for i, err, rec in items]
        with self._tx() as db:
            db.executemany("INSERT INTO dead_letters (received_at, idx, error, record) VALUES (?,?,?,?)", rows)

    def dead_letters(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT id, received_at, idx, error, record FROM dead_letters "
                                    "ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset)).fetchall()
        return [{"id": r[0], "received_at": r[1], "index": r[2], "error": r[3], "record": json.loads(r[4])}
                for r in rows]

    def dead_letter_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM dead_letters").fetchone()[0])

    # -- retention (fenghuo/core/retention.py) -----------------------------------------------------------
    def purge_texts(self, before: float, feeds: tuple[str, ...], dry_run: bool = False) -> dict[str, int]:
        where = f"feed IN ({','.join('?' * len(feeds))}) AND text IS NOT NULL AND received_at < ?"
        args: list[Any] = [*feeds, before]
        with self._lock:
            rows = self._db.execute("SELECT id, record FROM dead_letters WHERE received_at < ? AND "
                                    "(record LIKE '%\"text\"%' OR substr(record, 1, 1) IN ('\"', '['))",
                                    (before,)).fetchall()
        letters = [(json.dumps(new, ensure_ascii=False), i) for i, rec in rows
                   if (new := purge_record(json.loads(rec))) is not None]
        if dry_run:
            with self._lock:
                n = int(self._db.execute(f"SELECT count(*) FROM events WHERE {where}", args).fetchone()[0])
            return {"events": n, "dead_letters": len(letters)}
        n, lo, top = 0, 0, self.max_seq()
        with self._lock:
            self._db.execute("PRAGMA secure_delete=ON")  # the old text is overwritten, not left in free space
        try:
            while lo < top:  # short transactions: ingest goes on between them
                with self._tx() as db:
                    n += db.execute(f"UPDATE events SET text = NULL WHERE seq > ? AND seq <= ? AND {where}",
                                    [lo, lo + 20000, *args]).rowcount
                lo += 20000
            with self._tx() as db:
                db.executemany("UPDATE dead_letters SET record = ? WHERE id = ?", letters)
        finally:
            with self._lock:
                self._db.execute("PRAGMA secure_delete=OFF")
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # nor in the write-ahead log
        return {"events": n, "dead_letters": len(letters)}

    # -- alerts and the outbox ----------------------------------------------------------------------
    def save_alerts(self, alerts: list[Alert], notifications: list[Notification],
                    state: dict[str, bytes] | None = None, incidents: list[dict[str, Any]] | None = None) -> None:
        irows = [(str(d["id"]), str(d["status"]), float(d["created_at"]), float(d["updated_at"]),
                  json.dumps(d, ensure_ascii=False)) for d in incidents or ()]
        rows = [chains.normal_alert_row((a.id, a.fingerprint, str(a.status), a.level, str(a.risk), a.feed, a.grid,
                                         a.drill, a.created_at, a.updated_at, alert_to_doc(a))) for a in alerts]
        nrows = [(n.id, n.alert_id, n.channel, n.responder, n.kind, n.tier,
                  json.dumps(n.payload, ensure_ascii=False), n.created_at, n.status, n.attempts,
                  n.next_attempt_at, n.last_error, n.delivered_at, n.priority) for n in notifications]
        with self._tx() as db:
            db.executemany(f"INSERT INTO alerts ({chains.ALERT_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
                           "ON CONFLICT (id) DO UPDATE SET fingerprint=excluded.fingerprint, status=excluded.status, "
                           "level=excluded.level, risk=excluded.risk, feed=excluded.feed, grid=excluded.grid, "
                           "drill=excluded.drill, created_at=excluded.created_at, updated_at=excluded.updated_at, "
                           "doc=excluded.doc", rows)
            if rows:  # one link per alert saved, in the alert journal (hash chain "alerts")
                cur = db.cursor()
                log, head = chains.alert_links(cur, "?", False, rows)
                db.executemany(chains.ALERT_LOG_INSERT + "(?,?,?,?,?,?)", log)
                chains.set_head(cur, "?", "alerts", head, rows[-1][9])
            db.executemany(f"INSERT OR IGNORE INTO outbox ({_NOTIFY_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           nrows)
            # an alert's earlier pending notifications rise to its newest one's priority: a red escalation
            # never waits behind its own blue "raised", which it must not overtake
            db.executemany("UPDATE outbox SET priority = ? WHERE alert_id = ? AND status = 'pending' AND priority < ?",
                           [(p, a, p) for a, p in raised_priorities(notifications).items()])
            if state:
                db.executemany("INSERT INTO state VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
                               "value=excluded.value", list(state.items()))
            if irows:
                db.executemany("INSERT INTO incidents VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                               "status=excluded.status, updated_at=excluded.updated_at, doc=excluded.doc", irows)

    def get_incident(self, incident_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT doc FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def incidents(self, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        where, args = ("WHERE status = ?", [status]) if status else ("", [])
        with self._lock:
            rows = self._db.execute(f"SELECT doc FROM incidents {where} ORDER BY updated_at DESC LIMIT ?",
                                    (*args, limit)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def open_incidents(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT doc FROM incidents WHERE status != 'resolved'").fetchall()
        return [json.loads(r[0]) for r in rows]

    def get_alert(self, alert_id: str) -> Alert | None:
        with self._lock:
            row = self._db.execute("SELECT doc FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return alert_from_doc(row[0]) if row else None

    def open_alerts(self) -> list[Alert]:
        with self._lock:
            rows = self._db.execute("SELECT doc FROM alerts WHERE status != 'resolved'").fetchall()
        return [alert_from_doc(r[0]) for r in rows]

    def list_alerts(self, q: AlertQuery) -> list[Alert]:
        sql, args = alert_query_sql(q, "?")
        with self._lock:
            return [alert_from_doc(r[0]) for r in self._db.execute(sql, args).fetchall()]

    def all_alerts(self, drill: bool | None = None) -> list[Alert]:
        sql = "SELECT doc FROM alerts"
        if drill is True:
            sql += " WHERE drill IS NOT NULL"
        elif drill is False:
            sql += " WHERE drill IS NULL"
        with self._lock:
            return [alert_from_doc(r[0]) for r in self._db.execute(sql).fetchall()]

    def due_notifications(self, now: float, limit: int, exclude: Collection[str] = ()) -> list[Notification]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_NOTIFY_COLS} FROM outbox WHERE status = 'pending' AND "
                                    "next_attempt_at <= ? ORDER BY priority DESC, created_at, rowid LIMIT ?",
                                    (now, limit + len(exclude))).fetchall()
        return [_row_notification(r) for r in rows if r[0] not in exclude][:limit]

    def pending_notification_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()[0])

    def pending_notifications_by_priority(self) -> dict[int, int]:
        rows = self._db.execute("SELECT priority, count(*) FROM outbox WHERE status = 'pending' GROUP BY priority")
        return {int(p): int(n) for p, n in rows.fetchall()}

    def update_notification(self, n: Notification) -> None:
        self.update_notifications([n])

    def update_notifications(self, items: list[Notification]) -> None:
        """Delivery outcomes, in one transaction."""
        with self._tx() as db:
            db.executemany("UPDATE outbox SET status=?, attempts=?, next_attempt_at=?, last_error=?, delivered_at=? "
                           "WHERE id=?", [(n.status, n.attempts, n.next_attempt_at, n.last_error, n.delivered_at,
                                           n.id) for n in items])

    def notifications_for(self, alert_id: str) -> list[Notification]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_NOTIFY_COLS} FROM outbox WHERE alert_id = ? ORDER BY created_at",
                                    (alert_id,)).fetchall()
        return [_row_notification(r) for r in rows]

    # -- rules and audit ----------------------------------------------------------------------------
    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT r.id, r.version, r.body, r.actor, r.changed_at FROM rules r JOIN "
                "(SELECT id, max(version) v FROM rules GROUP BY id) m ON r.id = m.id AND r.version = m.v "
                "WHERE r.body IS NOT NULL ORDER BY r.id").fetchall()
        return [{"id": r[0], "version": r[1], "body": json.loads(r[2]), "actor": r[3], "changed_at": r[4]}
                for r in rows]

    def rule_history(self, rule_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT version, body, actor, changed_at FROM rules WHERE id = ? "
                                    "ORDER BY version", (rule_id,)).fetchall()
        return [{"version": r[0], "body": json.loads(r[1]) if r[1] else None, "actor": r[2], "changed_at": r[3]}
                for r in rows]

    def put_rule(self, rule_id: str, body: dict[str, Any] | None, actor: str, ts: float) -> int:
        with self._tx() as db:
            v = db.execute("SELECT coalesce(max(version), 0) FROM rules WHERE id = ?", (rule_id,)).fetchone()[0] + 1
            chains.rule_row(db.cursor(), "?", False, rule_id, int(v),
                            json.dumps(body, ensure_ascii=False) if body is not None else None, actor, ts)
        return int(v)

    def audit(self, ts: float, actor: str, action: str, target: str, detail: str) -> None:
        with self._tx() as db:
            chains.audit_row(db.cursor(), "?", False, ts, actor, action, target, detail)

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT ts, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT ?",
                                    (limit,)).fetchall()
        return [{"ts": r[0], "actor": r[1], "action": r[2], "target": r[3], "detail": r[4]} for r in rows]

    # -- silences -----------------------------------------------------------------------------------
    def put_silence(self, doc: dict[str, Any], actor: str, action: str, ts: float, detail: str) -> int:
        with self._tx() as db:
            rev = int(db.execute("SELECT coalesce(max(rev), 0) + 1 FROM silences").fetchone()[0])
            db.execute("INSERT INTO silences VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET rev = excluded.rev, "
                       "doc = excluded.doc", (str(doc["id"]), rev, json.dumps(doc, ensure_ascii=False)))
            chains.audit_row(db.cursor(), "?", False, ts, actor, action, str(doc["id"]), detail)
        return rev

    def silences(self, after_rev: int = 0, limit: int = 10_000, newest_first: bool = False) -> list[dict[str, Any]]:
        order = "DESC" if newest_first else "ASC"
        with self._lock:
            rows = self._db.execute(f"SELECT rev, doc FROM silences WHERE rev > ? ORDER BY rev {order} LIMIT ?",
                                    (after_rev, limit)).fetchall()
        return [{"rev": int(r[0]), "doc": json.loads(r[1])} for r in rows]

    # -- drill runs (fenghuo/drills) -------------------------------------------------------------------
    def create_drill_run(self, scenario: str, doc: dict[str, Any], ts: float) -> dict[str, Any]:
        with self._tx() as db:
            return drill_sql.create_run(db.cursor(), "?", scenario, doc, ts)

    def update_drill_run(self, doc: dict[str, Any], ts: float) -> None:
        with self._tx() as db:
            drill_sql.update_run(db.cursor(), "?", doc, ts)

    def get_drill_run(self, run: str) -> dict[str, Any] | None:
        with self._lock:
            return drill_sql.get_run(self._db.cursor(), "?", run)

    def drill_runs(self, scenario: str | None = None, status: str | None = None,
                   limit: int = 100) -> list[dict[str, Any]]:
        with self._lock:
            return drill_sql.runs(self._db.cursor(), "?", scenario, status, limit)

    def purge_drill(self, run: str, actor: str, ts: float) -> dict[str, int]:
        with self._tx() as db:
            cur = db.cursor()
            counts = drill_sql.purge_run(cur, "?", False, run, ts)
            warning_sql.purge_drill(cur, "?", run)  # the run's CAP warnings (alerts/external.py) go with it
            chains.audit_row(cur, "?", False, ts, actor, "drill.purge", run, json.dumps(counts))
        return counts

    # -- the risk forecast (fenghuo/runtime/risk_job.py) ----------------------------------------------
    def save_risk_forecast(self, doc: dict[str, Any], drill: str | None, created_at: float) -> int:
        with self._tx() as db:
            return risk_sql.save_forecast(db.cursor(), "?", doc, drill, created_at)

    def risk_forecasts(self, drill: str | None = None, horizon_days: int | None = None, before: float | None = None,
                       limit: int = 20) -> list[dict[str, Any]]:
        with self._lock:
            return risk_sql.forecasts(self._db.cursor(), "?", drill, horizon_days, before, limit)

    def save_risk_watch(self, notices: list[tuple[dict[str, Any], list[Notification]]]) -> list[dict[str, Any]]:
        with self._tx() as db:
            return risk_sql.save_watch(db.cursor(), "?", notices, "INSERT OR IGNORE INTO|")

    def risk_watches(self, drill: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        with self._lock:
            return risk_sql.watches(self._db.cursor(), "?", drill, limit)

    def risk_alert_marks(self, start: float, end: float, drill: str | None) -> list[dict[str, Any]]:
        with self._lock:
            return risk_sql.alert_marks(self._db.cursor(), "?", start, end, drill)

    def risk_latest_complaint(self, drill: str | None) -> float | None:
        with self._lock:
            return risk_sql.latest_complaint(self._db.cursor(), "?", drill)

    # -- CAP warnings taken in (fenghuo/alerts/external.py) -------------------------------------------
    def put_warnings(self, docs: list[dict[str, Any]]) -> None:
        with self._tx() as db:
            warning_sql.put(db.cursor(), "?", docs, warning_sql.UPSERT)

    def get_warning(self, sender: str, identifier: str) -> dict[str, Any] | None:
        with self._lock:
            return warning_sql.get(self._db.cursor(), "?", sender, identifier)

    def warnings(self, state: str | None = None, drill: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        with self._lock:
            return warning_sql.listing(self._db.cursor(), "?", state, drill, limit)

    # -- hash chains (fenghuo/core/chain.py) -------------------------------------------------------------
    def chain_heads(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return chains.heads(self._db.cursor())

    @contextmanager
    def chain_snapshot(self) -> Iterator[chains.Reader]:
        """One read transaction on a connection of its own (WAL: the store's writers carry on meanwhile)."""
        conn = sqlite3.connect(str(self.path), isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("BEGIN")
            yield chains.Reader(conn.cursor(), "?")
        finally:
            conn.close()

    def backup(self, dest: Path) -> None:
        """A consistent copy of the database at ``dest`` (a new file, 0600) by SQLite's online backup, all
        pages in one step (one read transaction: a snapshot; in WAL mode other processes keep writing)."""
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        target = sqlite3.connect(str(dest))
        try:
            with self._lock:
                self._db.backup(target)
        finally:
            target.close()

    # -- pipeline state -----------------------------------------------------------------------------
    def get_state(self, key: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return bytes(row[0]) if row else None

    def put_state(self, key: str, value: bytes) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO state VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                       (key, value))

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _Tx:
    """``with store._tx() as db``: one IMMEDIATE transaction under the store's lock."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    def __enter__(self) -> sqlite3.Connection:
        self.store._lock.acquire()
        self.store._db.execute("BEGIN IMMEDIATE")
        return self.store._db

    def __exit__(self, exc_type: object, *_: object) -> None:
        try:
            self.store._db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.store._lock.release()
