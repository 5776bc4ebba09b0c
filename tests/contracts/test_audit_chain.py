"""Tamper evidence: the hash chains over the audit log, rule versions and alert changes.

Contract cases, on SQLite and PostgreSQL alike (the store contract's fixtures, tests/contracts/conftest.py):
rows are edited, deleted and inserted directly with sqlite3 / psycopg2, and ``verify`` must name
the table, the row and what is wrong; an untouched store verifies.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fenghuo.core import chain
from fenghuo.core.levels import Level
from fenghuo.core.models import Status, TimelineEntry
from fenghuo.core.store import Store
from tests.contracts.store_support import T0, Opener, alert

# the contract suite's fixtures (tests/contracts/conftest.py): every case runs on SQLite and on PostgreSQL
# (FENGHUO_TEST_PG_DSN)

Raw = Callable[..., list[tuple[Any, ...]]]


@pytest.fixture
def raw(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Raw]:
    """Run SQL on the test's database around fenghuo (``?`` placeholders on both), committed at once."""
    conns: list[Any] = []  # connected at the first statement: after the store has created the database
    if kind == "sqlite":
        import sqlite3

        def run(sql: str, *args: Any) -> list[tuple[Any, ...]]:
            if not conns:
                conns.append(sqlite3.connect(str(tmp_path / "fenghuo.db"), isolation_level=None))
            cur = conns[0].execute(sql, args)
            return cur.fetchall() if cur.description else []
    else:
        import psycopg2

        dsn = request.getfixturevalue("pg_database")

        def run(sql: str, *args: Any) -> list[tuple[Any, ...]]:
            if not conns:
                conns.append(psycopg2.connect(dsn))
                conns[0].autocommit = True
            with conns[0].cursor() as cur:
                cur.execute(sql.replace("?", "%s"), args)
                return cur.fetchall() if cur.description else []
    yield run
    for conn in conns:
        conn.close()


def history(store: Store) -> None:
    """Five audit rows, three rule versions, two alerts saved four times."""
    for i in range(5):
        store.audit(T0 + i, f"admin:{i}", "rule.put", f"rule-{i}", json.dumps({"i": i}))
    store.put_rule("river", {"metric": "water_level_m", "red": 3.0}, "analyst:li", T0)
    store.put_rule("river", {"metric": "water_level_m", "red": 3.5}, "analyst:li", T0 + 1)
    store.put_rule("smoke", None, "analyst:wang", T0 + 2)
    a1, a2 = alert("a1", level=Level.ORANGE), alert("a2")
    store.save_alerts([a1, a2], [], None)
    a1.status = Status.ACKNOWLEDGED
    a1.add(TimelineEntry(T0 + 60, "acknowledged", None, "responder:zhang", None, "on my way"))
    store.save_alerts([a1], [], None)
    a1.status = Status.RESOLVED
    a1.add(TimelineEntry(T0 + 120, "resolved", None, "responder:zhang", None, None))
    store.save_alerts([a1], [], None)


def broken(store: Store, exported: dict[str, list[chain.Checkpoint]] | None = None) -> chain.Break:
    result = chain.verify(store, exported)
    assert not result.ok
    first = result.first_break()
    assert first is not None
    return first


def test_untouched_store_verifies(store: Store) -> None:
    history(store)
    result = chain.verify(store)
    assert result.ok, result.summary()
    heads = {c.chain: c.head_seq for c in result.chains}
    assert heads == {"audit": 5, "rules": 3, "alerts": 4}
    assert {n: h["seq"] for n, h in store.chain_heads().items()} == heads
    assert store.audit_log(2)[0]["detail"] == json.dumps({"i": 4})  # the API's view is unchanged


def test_empty_store_verifies(store: Store) -> None:
    assert chain.verify(store).ok


def test_edited_audit_row_is_named(store: Store, raw: Raw) -> None:
    history(store)
    raw("UPDATE audit SET detail = ? WHERE id = 3", '{"i": 99}')
    b = broken(store)
    assert (b.table, b.row, b.problem) == ("audit", "seq 3", "content changed")


def test_deleted_audit_row_is_named(store: Store, raw: Raw) -> None:
    history(store)
    raw("DELETE FROM audit WHERE id = 2")
    b = broken(store)
    assert (b.table, b.row, b.problem) == ("audit", "seq 2", "row missing")


def test_last_audit_row_deleted_shows_against_the_head(store: Store, raw: Raw) -> None:
    history(store)
    raw("DELETE FROM audit WHERE id = 5")
    b = broken(store)
    assert (b.table, b.row, b.problem) == ("audit", "seq 5", "row missing")


def test_audit_row_inserted_around_fenghuo(store: Store, raw: Raw) -> None:
    history(store)
    raw("INSERT INTO audit (id, ts, actor, action, target, detail) VALUES (6, ?, 'admin:x', 'rule.put', 'r', '{}')",
        T0 + 9)
    b = broken(store)
    assert (b.table, b.row, b.problem) == ("audit", "seq 6", "row inserted")


def test_rehashed_row_breaks_the_next_link(store: Store, raw: Raw) -> None:
    """An edit whose hash was recomputed (no secret) still breaks the link to the next row."""
    history(store)
    prev = raw("SELECT prev_hash FROM audit WHERE id = 2")[0][0]
    content = chain.audit_content(2, T0 + 1, "admin:1", "rule.put", "rule-1", '{"i": 42}')
    raw("UPDATE audit SET detail = '{\"i\": 42}', hash = ? WHERE id = 2", chain.link(prev, content))
    b = broken(store)
    assert (b.table, b.row, b.problem) == ("audit", "seq 3", "link broken")
    assert "seq 2 was rewritten" in b.detail


def test_rule_versions_edited_or_deleted(store: Store, raw: Raw) -> None:
    history(store)
    raw("UPDATE rules SET body = ? WHERE id = 'river' AND version = 1", json.dumps({"metric": "x", "red": 99}))
    b = broken(store)
    assert (b.table, b.row, b.problem) == ("rules", "seq 1", "content changed")


def test_rule_version_deleted(store: Store, raw: Raw) -> None:
    history(store)
    raw("DELETE FROM rules WHERE id = 'river' AND version = 2")
    b = broken(store)
    assert (b.table, b.row, b.problem) == ("rules", "seq 2", "row missing")


def test_rule_version_inserted_without_a_seq(store: Store, raw: Raw) -> None:
    history(store)
    raw("INSERT INTO rules (id, version, body, actor, changed_at) VALUES ('river', 3, NULL, 'x', ?)", T0 + 5)
    b = broken(store)
    assert (b.table, b.row, b.problem) == ("rules", "rule river version 3", "row inserted")


def test_timeline_entry_edited_in_the_alert_row(store: Store, raw: Raw) -> None:
    history(store)
    doc = json.loads(raw("SELECT doc FROM alerts WHERE id = 'a1'")[0][0])
    doc["timeline"][1][3] = "system: auto-resolved"  # who acknowledged
    raw("UPDATE alerts SET doc = ? WHERE id = 'a1'", json.dumps(doc, ensure_ascii=False, separators=(",", ":")))
    b = broken(store)
    assert (b.table, b.row, b.problem) == ("alerts", "alert a1", "content changed")


def test_timeline_entry_deleted_or_status_column_edited(store: Store, raw: Raw) -> None:
    history(store)
    raw("UPDATE alerts SET status = 'open' WHERE id = 'a1'")
    b = broken(store)
    assert (b.table, b.row, b.problem) == ("alerts", "alert a1", "content changed")


def test_alert_row_deleted_or_inserted(store: Store, raw: Raw) -> None:
    history(store)
    row = raw("SELECT id, fingerprint, status, level, risk, feed, grid, drill, created_at, updated_at, doc "
              "FROM alerts WHERE id = 'a2'")[0]
    raw("DELETE FROM alerts WHERE id = 'a2'")
    b = broken(store)
    assert (b.table, b.row, b.problem) == ("alerts", "alert a2", "row missing")
    raw("INSERT INTO alerts (id, fingerprint, status, level, risk, feed, grid, drill, created_at, updated_at, doc) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?)", "forged", "fp-forged", *row[2:])
    raw("INSERT INTO alerts (id, fingerprint, status, level, risk, feed, grid, drill, created_at, updated_at, doc) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?)", *row)
    b = broken(store)
    assert (b.table, b.row, b.problem) == ("alerts", "alert forged", "row inserted")


def test_alert_journal_link_deleted(store: Store, raw: Raw) -> None:
    history(store)
    raw("DELETE FROM alert_log WHERE seq = 3")
    b = broken(store)
    assert (b.table, b.row, b.problem) == ("alert_log", "seq 3", "row missing")


def test_exported_head_catches_a_consistent_rewrite(store: Store, raw: Raw, tmp_path: Path) -> None:
    """Deleting the newest audit row and resetting the recorded head is invisible to the chain alone;
    the head exported earlier is not."""
    history(store)
    chain.export_heads(store.chain_heads(), tmp_path / "export", T0 + 3600)
    exported = chain.checkpoints(chain.read_exported(tmp_path / "export" / chain.HEADS_FILE))
    assert chain.verify(store, exported).ok
    h4 = raw("SELECT hash FROM audit WHERE id = 4")[0][0]
    raw("DELETE FROM audit WHERE id = 5")
    raw("UPDATE chain_heads SET seq = 4, hash = ? WHERE name = 'audit'", h4)
    assert chain.verify(store).ok  # what no exported head can see
    b = broken(store, exported)
    assert (b.table, b.row, b.problem) == ("audit", "seq 5", "row missing")
    assert "exported at" in b.detail


def test_the_chain_extends_an_exported_head(store: Store, tmp_path: Path) -> None:
    history(store)
    chain.export_heads(store.chain_heads(), tmp_path, T0)
    store.audit(T0 + 10, "admin:x", "rule.delete", "smoke", "{}")
    store.save_alerts([alert("a3")], [], None)
    result = chain.verify(store, chain.checkpoints(chain.read_exported(tmp_path / chain.HEADS_FILE)))
    assert result.ok, result.summary()
    assert sum(c.checkpoints for c in result.chains) == 3


def test_concurrent_writers_keep_one_chain(open_store: Opener) -> None:
    """Two store instances (on PostgreSQL: two connection pools, as two alert services) appending at once."""
    stores = [open_store(), open_store()]
    errors: list[BaseException] = []

    def write(k: int) -> None:
        try:
            s = stores[k % 2]
            for i in range(15):
                s.audit(T0 + i, f"w{k}", "x", str(i), "{}")
                s.save_alerts([alert(f"w{k}-{i}", fp=f"fp-{k}-{i}")], [], None)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    result = chain.verify(stores[0])
    assert result.ok, result.summary()
    assert {c.chain: c.head_seq for c in result.chains} == {"audit": 60, "rules": 0, "alerts": 60}


def test_daily_head_export_writes_once_a_day(store: Store, tmp_path: Path) -> None:
    history(store)
    daily = chain.DailyHeadExport(tmp_path)
    assert daily.maybe(store, T0)
    assert not daily.maybe(store, T0 + 3600)
    assert chain.DailyHeadExport(tmp_path).maybe(store, T0 + 86400)  # a restarted service reads the file
    records = chain.read_exported(tmp_path / chain.HEADS_FILE)
    assert [r["chains"]["audit"]["seq"] for r in records] == [5, 5]
    assert (tmp_path / chain.HEADS_FILE).stat().st_mode & 0o777 == 0o600


def test_existing_store_is_chained_at_migration(kind: str, open_store: Opener, raw: Raw,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows written before the chains existed are chained when the migration runs (and said so)."""
    import fenghuo.core.store.postgres as pg
    import fenghuo.core.store.sqlite as lite
    from fenghuo.core.store.codec import alert_to_doc

    module: Any = lite if kind == "sqlite" else pg
    newest = lite._chain_tables if kind == "sqlite" else pg.chain_tables
    full = list(module.MIGRATIONS)
    monkeypatch.setattr(module, "MIGRATIONS", full[:full.index(newest)])  # the schema before the chains
    old = open_store()
    for i in (1, 4, 9):  # a bigserial may leave gaps
        raw("INSERT INTO audit (id, ts, actor, action, target, detail) VALUES (?, ?, 'admin:a', 'rule.put', ?, '{}')",
            i, T0 + i, f"r{i}")
    raw("INSERT INTO rules (id, version, body, actor, changed_at) VALUES ('river', 1, '{\"red\": 3}', 'config', ?)", T0)
    a = alert("old")
    raw("INSERT INTO alerts (id, fingerprint, status, level, risk, feed, grid, drill, created_at, updated_at, doc) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?)", a.id, a.fingerprint, str(a.status), int(a.level), str(a.risk), a.feed,
        a.grid, a.drill, a.created_at, a.updated_at, alert_to_doc(a))
    old.close()
    monkeypatch.setattr(module, "MIGRATIONS", full)
    store = open_store()
    store.audit(T0 + 20, "admin:b", "rule.delete", "river", "{}")
    result = chain.verify(store)
    assert result.ok, result.summary()
    by = {c.chain: c for c in result.chains}
    assert [(by[n].chained_at_migration, by[n].head_seq) for n in chain.CHAINS] == [(3, 4), (1, 1), (1, 1)]
    assert [r["target"] for r in store.audit_log(10)] == ["river", "r9", "r4", "r1"]
    assert "were rows already there when the chain was created" in result.summary()


def test_a_deleted_head_row_is_reported_and_never_stops_alerts(store: Store, raw: Raw) -> None:
    history(store)
    raw("DELETE FROM chain_heads WHERE name = 'alerts'")
    b = broken(store)
    assert (b.table, b.row, b.problem) == ("chain_heads", "head alerts", "row missing")
    store.save_alerts([alert("a9")], [], None)  # a red alert is still stored: the head is made again
    assert store.get_alert("a9") is not None
    assert store.chain_heads()["alerts"]["seq"] == 5
    assert chain.verify(store).ok


def test_a_forged_link_never_stops_alerts_being_saved(store: Store, raw: Raw) -> None:
    history(store)
    raw("INSERT INTO alert_log (seq, alert_id, ts, digest, prev_hash, hash) VALUES (5, 'a1', 0, 'x', 'y', 'z')")
    store.save_alerts([alert("a9")], [], None)
    assert store.get_alert("a9") is not None
    b = broken(store)
    assert (b.table, b.row, b.problem) == ("alert_log", "seq 5", "content changed")


def test_verify_while_writers_run_sees_no_false_break(store: Store) -> None:
    """Verify reads one snapshot: links and alert rows written meanwhile are not taken for tampering."""
    history(store)
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        a = alert("busy", level=Level.ORANGE)
        i = 0
        try:
            while not stop.is_set():
                i += 1
                a.add(TimelineEntry(T0 + i, "escalated", None, None, "sms", f"tier {i}"))
                a.updated_at = T0 + i
                store.save_alerts([a], [], None)
                store.audit(T0 + i, "system", "tick", "busy", "{}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        results = [chain.verify(store) for _ in range(5)]
    finally:
        stop.set()
        writer.join()
    assert not errors
    assert all(r.ok for r in results), [r.summary() for r in results if not r.ok]
    assert chain.verify(store).ok
