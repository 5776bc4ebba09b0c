"""The hash chains' SQL, shared by the SQLite and PostgreSQL stores (see :mod:`fenghuo.core.chain`).

Every function takes a DB-API cursor (``sqlite3`` or ``psycopg2``) and the driver's placeholder
``mark`` (``?`` or ``%s``), and runs inside the caller's transaction. Appends read the chain's
head row first; on PostgreSQL with ``lock=True`` that read is ``SELECT ... FOR UPDATE``, so
concurrent writers (two alert services, the API and a worker) append one after the other: the
second waits on the head row until the first commits, then reads the head the first wrote.
SQLite's writers are serialised by ``BEGIN IMMEDIATE`` already.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fenghuo.core import chain
from fenghuo.core.chain import GENESIS, Link

ALERT_COLS = "id, fingerprint, status, level, risk, feed, grid, drill, created_at, updated_at, doc"

# the same DDL on both stores (types that both accept)
TABLES_DDL = [
    "ALTER TABLE audit ADD COLUMN prev_hash TEXT",
    "ALTER TABLE audit ADD COLUMN hash TEXT",
    "ALTER TABLE rules ADD COLUMN seq BIGINT",
    "ALTER TABLE rules ADD COLUMN prev_hash TEXT",
    "ALTER TABLE rules ADD COLUMN hash TEXT",
    "CREATE UNIQUE INDEX rules_seq ON rules (seq)",
    "CREATE TABLE alert_log (seq BIGINT PRIMARY KEY, alert_id TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL, "
    "digest TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)",
    "CREATE TABLE chain_heads (name TEXT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL, "
    "ts DOUBLE PRECISION NOT NULL, chained_at_migration BIGINT NOT NULL DEFAULT 0)",
]


_TOP = {"audit": "SELECT max(id) FROM audit", "rules": "SELECT max(seq) FROM rules",
        "alerts": "SELECT max(seq) FROM alert_log"}
_LAST = {"audit": "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1",
         "rules": "SELECT seq, hash FROM rules WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1",
         "alerts": "SELECT seq, hash FROM alert_log ORDER BY seq DESC LIMIT 1"}


def head(cur: Any, mark: str, name: str, lock: bool) -> tuple[int, str]:
    """Where the next link goes: (seq, hash) of the chain's head, locked until commit with ``lock``
    (PostgreSQL: ``FOR UPDATE``).

    Rows written around fenghuo must never stop alerts being saved (``verify`` reports them): the next
    seq is past any row already in the table, and a deleted head row is made again from the last link.
    """
    select = (f"SELECT seq, hash, ({_TOP[name]}) FROM chain_heads WHERE name = {mark}"
              + (" FOR UPDATE" if lock else ""))
    cur.execute(select, (name,))
    row = cur.fetchone()
    if row is None:
        cur.execute(_LAST[name])
        last = cur.fetchone() or (0, GENESIS)
        cur.execute(f"INSERT INTO chain_heads (name, seq, hash, ts) VALUES ({mark}, {mark}, {mark}, 0) "
                    "ON CONFLICT (name) DO NOTHING", (name, int(last[0]), str(last[1] or GENESIS)))
        cur.execute(select, (name,))
        row = cur.fetchone()
    return max(int(row[0]), int(row[2] or 0)), str(row[1])


SET_HEAD = "UPDATE chain_heads SET seq = {m}, hash = {m}, ts = {m} WHERE name = {m}"


def set_head(cur: Any, mark: str, name: str, new: tuple[int, str], ts: float) -> None:
    cur.execute(SET_HEAD.format(m=mark), (new[0], new[1], ts, name))


def heads(cur: Any) -> dict[str, dict[str, Any]]:
    cur.execute("SELECT name, seq, hash, ts, chained_at_migration FROM chain_heads ORDER BY name")
    return {r[0]: {"seq": int(r[1]), "hash": r[2], "ts": r[3], "chained_at_migration": int(r[4])}
            for r in cur.fetchall()}


# -- appends -------------------------------------------------------------------------------------

def audit_row(cur: Any, mark: str, lock: bool, ts: float, actor: str, action: str, target: str,
              detail: str) -> None:
    ts = float(ts)
    links, new = chain.append(head(cur, mark, "audit", lock),
                              [lambda n: chain.audit_content(n, ts, actor, action, target, detail)])
    seq, prev, h = links[0]
    cur.execute("INSERT INTO audit (id, ts, actor, action, target, detail, prev_hash, hash) VALUES "
                f"({', '.join([mark] * 8)})", (seq, ts, actor, action, target, detail, prev, h))
    set_head(cur, mark, "audit", new, ts)


def rule_row(cur: Any, mark: str, lock: bool, rule_id: str, version: int, body: str | None, actor: str,
             ts: float) -> None:
    ts = float(ts)
    links, new = chain.append(head(cur, mark, "rules", lock),
                              [lambda n: chain.rule_content(n, rule_id, version, body, actor, ts)])
    seq, prev, h = links[0]
    cur.execute("INSERT INTO rules (id, version, body, actor, changed_at, seq, prev_hash, hash) VALUES "
                f"({', '.join([mark] * 8)})", (rule_id, version, body, actor, ts, seq, prev, h))
    set_head(cur, mark, "rules", new, ts)


def normal_alert_row(r: tuple[Any, ...]) -> tuple[Any, ...]:
    """An ``alerts`` row as the database gives it back (REAL/float8 times, integer level)."""
    return (r[0], r[1], r[2], int(r[3]), r[4], r[5], r[6], r[7], float(r[8]), float(r[9]), r[10])


def alert_links(cur: Any, mark: str, lock: bool, rows: list[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]],
                                                                                         tuple[int, str]]:
    """The ``alert_log`` rows for saved ``alerts`` rows (in ALERT_COLS order) and the new head.
    The caller inserts them (executemany / execute_values) and calls :func:`set_head`."""
    entries = [(r[0], r[9], chain.alert_digest(r)) for r in rows]
    links, new = chain.append(head(cur, mark, "alerts", lock),
                              [lambda n, e=e: chain.alert_entry_content(n, *e) for e in entries])  # type: ignore[misc]
    return [(seq, a, ts, d, prev, h) for (seq, prev, h), (a, ts, d) in zip(links, entries, strict=True)], new


ALERT_LOG_INSERT = "INSERT INTO alert_log (seq, alert_id, ts, digest, prev_hash, hash) VALUES "


# -- reads for verification ----------------------------------------------------------------------

_LINK_SQL = {
    "audit": "SELECT id, ts, actor, action, target, detail, prev_hash, hash FROM audit WHERE id > {m} "
             "ORDER BY id LIMIT {m}",
    "rules": "SELECT seq, id, version, body, actor, changed_at, prev_hash, hash FROM rules WHERE seq > {m} "
             "ORDER BY seq LIMIT {m}",
    "alerts": "SELECT seq, alert_id, ts, digest, prev_hash, hash FROM alert_log WHERE seq > {m} ORDER BY seq LIMIT {m}",
}


def links(cur: Any, mark: str, name: str, after: int, limit: int) -> list[Link]:
    cur.execute(_LINK_SQL[name].format(m=mark), (after, limit))
    out: list[Link] = []
    for r in cur.fetchall():
        seq = int(r[0])
        if name == "audit":
            content = chain.audit_content(seq, float(r[1]), r[2], r[3], r[4], r[5])
        elif name == "rules":
            content = chain.rule_content(seq, r[1], int(r[2]), r[3], r[4], float(r[5]))
        else:
            content = chain.alert_entry_content(seq, r[1], float(r[2]), r[3])
        out.append((seq, content, r[-2], r[-1]))
    return out


def alert_digests(cur: Any, mark: str, after: str, limit: int) -> list[tuple[str, str]]:
    cur.execute(f"SELECT {ALERT_COLS} FROM alerts WHERE id > {mark} ORDER BY id LIMIT {mark}", (after, limit))
    return [(r[0], chain.alert_digest(normal_alert_row(r))) for r in cur.fetchall()]


def unchained(cur: Any) -> list[tuple[str, str]]:
    """Rows that cannot be links: rule versions without a seq, numbers below 1."""
    out: list[tuple[str, str]] = []
    cur.execute("SELECT id, version FROM rules WHERE seq IS NULL OR seq < 1 ORDER BY id, version")
    out += [("rules", f"rule {r[0]} version {r[1]}") for r in cur.fetchall()]
    cur.execute("SELECT id FROM audit WHERE id < 1 ORDER BY id")
    out += [("audit", f"seq {r[0]}") for r in cur.fetchall()]
    cur.execute("SELECT seq FROM alert_log WHERE seq < 1 ORDER BY seq")
    out += [("alert_log", f"seq {r[0]}") for r in cur.fetchall()]
    return out


# -- the migration -------------------------------------------------------------------------------

def backfill(cur: Any, mark: str, now: float,
             many: Callable[[Any, str, list[tuple[Any, ...]]], None] | None = None) -> dict[str, int]:
    """Chain the rows already there when the chain tables are created (in the migration's transaction):
    audit rows in id order (renumbered 1..N: a bigserial may have gaps), rule versions in time order,
    one journal link per existing alert. Returns the number of rows chained per chain. ``many`` runs one
    statement over many rows (default ``cur.executemany``; psycopg2's ``execute_batch`` is faster)."""
    def run_many(sql: str, rows: list[tuple[Any, ...]]) -> None:
        if many is None:
            cur.executemany(sql, rows)
        else:
            many(cur, sql, rows)

    ins = f"INSERT INTO chain_heads (name, seq, hash, ts, chained_at_migration) VALUES ({', '.join([mark] * 5)})"
    counts: dict[str, int] = {}

    cur.execute("SELECT id, ts, actor, action, target, detail FROM audit ORDER BY id")
    rows = cur.fetchall()
    cur.execute("UPDATE audit SET id = -id")
    run_many(f"UPDATE audit SET id = {mark} WHERE id = {mark}", [(i, -r[0]) for i, r in enumerate(rows, 1)])
    done, new = chain.append((0, GENESIS), [lambda n, r=r: chain.audit_content(n, float(r[1]), *r[2:])
                                            for r in rows])  # type: ignore[misc]
    run_many(f"UPDATE audit SET prev_hash = {mark}, hash = {mark} WHERE id = {mark}",
                    [(p, h, s) for s, p, h in done])
    cur.execute(ins, ("audit", new[0], new[1], now, len(rows)))
    counts["audit"] = len(rows)

    cur.execute("SELECT id, version, body, actor, changed_at FROM rules ORDER BY changed_at, id, version")
    rules = cur.fetchall()
    done, new = chain.append((0, GENESIS), [lambda n, r=r: chain.rule_content(n, r[0], int(r[1]), r[2], r[3],
                                                                              float(r[4])) for r in rules])  # type: ignore[misc]
    run_many(f"UPDATE rules SET seq = {mark}, prev_hash = {mark}, hash = {mark} WHERE id = {mark} "
                    f"AND version = {mark}", [(s, p, h, r[0], r[1]) for (s, p, h), r in zip(done, rules, strict=True)])
    cur.execute(ins, ("rules", new[0], new[1], now, len(rules)))
    counts["rules"] = len(rules)

    cur.execute(f"SELECT {ALERT_COLS} FROM alerts ORDER BY updated_at, id")
    alerts = [normal_alert_row(r) for r in cur.fetchall()]
    entries = [(r[0], r[9], chain.alert_digest(r)) for r in alerts]
    done, new = chain.append((0, GENESIS), [lambda n, e=e: chain.alert_entry_content(n, *e)
                                            for e in entries])  # type: ignore[misc]
    run_many(ALERT_LOG_INSERT + f"({', '.join([mark] * 6)})",
                    [(s, a, ts, d, p, h) for (s, p, h), (a, ts, d) in zip(done, entries, strict=True)])
    cur.execute(ins, ("alerts", new[0], new[1], now, len(alerts)))
    counts["alerts"] = len(alerts)
    return counts


class Reader:
    """The reads :func:`fenghuo.core.chain.verify` needs, on one cursor: inside one transaction they see one
    snapshot, so links and alert rows written meanwhile by a running service are not taken for tampering."""

    def __init__(self, cur: Any, mark: str) -> None:
        self.cur, self.mark = cur, mark

    def chain_heads(self) -> dict[str, dict[str, Any]]:
        return heads(self.cur)

    def chain_links(self, chain: str, after: int, limit: int) -> list[Link]:
        return links(self.cur, self.mark, chain, after, limit)

    def alert_digests(self, after: str, limit: int) -> list[tuple[str, str]]:
        return alert_digests(self.cur, self.mark, after, limit)

    def unchained_rows(self) -> list[tuple[str, str]]:
        return unchained(self.cur)


def run_ddl(cur: Any, statements: Iterable[str]) -> None:
    for stmt in statements:
        cur.execute(stmt)
