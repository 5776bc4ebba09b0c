"""The outbox delivers by level, then age: a red notification decided behind a backlog of ten thousand
blue ones reaches its receiver in the first window of deliveries after it, never behind the backlog;
an alert's own notifications still arrive in the order they were decided. Both stores keep the order
with an index that serves it."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fenghuo.alerts.delivery import Delivery, Outcome
from fenghuo.core.config import parse_config
from fenghuo.core.settings import Settings
from fenghuo.core.store import Notification, Store
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.runtime.embedded import Pipeline
from tests.support import Receiver

PG_DSN = os.environ.get("FENGHUO_TEST_PG_DSN")
T0 = 1_700_000_000.0
GRIDS = 20


# -- the store's order -----------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.skipif(
    not PG_DSN, reason="FENGHUO_TEST_PG_DSN is not set (scripts/services/postgres.sh start DIR PORT)"))])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s: Store = SqliteStore(tmp_path / "db")
        yield s
        s.close()
        return
    from fenghuo.core.store.postgres import PostgresStore

    s = PostgresStore(request.getfixturevalue("pg_database"))
    yield s
    s.close()


def note(nid: str, alert_id: str, priority: int, created: float, channel: str = "hook", **kw: Any) -> Notification:
    return Notification(id=nid, alert_id=alert_id, channel=channel, responder="r", kind="raised", tier=0,
                        payload={"n": nid}, created_at=created, priority=priority, **kw)


def ids(items: list[Notification]) -> list[str]:
    return [n.id for n in items]


def test_due_order_is_level_then_age_and_an_alerts_older_rows_rise_with_it(store: Store) -> None:
    store.save_alerts([], [note("blue-old", "b1", 2, T0), note("blue-new", "b2", 2, T0 + 5),
                           note("drill-red", "d1", 7, T0 + 1), note("orange", "o1", 6, T0 + 2),
                           note("red", "r1", 8, T0 + 3), note("red-retry", "r2", 8, T0, next_attempt_at=T0 + 60)])
    assert ids(store.due_notifications(T0 + 10, 10)) == ["red", "drill-red", "orange", "blue-old", "blue-new"]
    assert ids(store.due_notifications(T0 + 10, 2)) == ["red", "drill-red"]
    assert ids(store.due_notifications(T0 + 60, 1)) == ["red-retry"]  # due again: by its level and age
    # alert b2 goes red: its pending blue rises with it, ahead of the other blue, and stays first of the two
    store.save_alerts([], [note("b2-upgraded", "b2", 8, T0 + 20)])
    assert ids(store.due_notifications(T0 + 30, 10)) == ["red", "blue-new", "b2-upgraded", "drill-red", "orange",
                                                         "blue-old"]
    # a delivered row keeps the priority it had; a rise never lowers anything
    [sent] = [n for n in store.due_notifications(T0 + 30, 10) if n.id == "orange"]
    sent.status, sent.attempts, sent.delivered_at = "delivered", 1, T0 + 31
    store.update_notifications([sent])
    store.save_alerts([], [note("o1-downgraded", "o1", 2, T0 + 40), note("r1-cleared", "r1", 2, T0 + 40)])
    got = {n.id: n.priority for a in ("o1", "r1") for n in store.notifications_for(a)}
    assert got == {"orange": 6, "o1-downgraded": 2, "red": 8, "r1-cleared": 2}
    assert store.pending_notification_count() == 8


def _plan(store: Store) -> str:
    sql = ("SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= {p} "
           "ORDER BY priority DESC, created_at, {tie} LIMIT {p}")
    if isinstance(store, SqliteStore):
        rows = store._db.execute("EXPLAIN QUERY PLAN " + sql.format(p="?", tie="rowid"), (T0, 10)).fetchall()
        return " | ".join(str(r[-1]) for r in rows)
    with store._tx() as cur:  # type: ignore[attr-defined]
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute("EXPLAIN " + sql.format(p="%s", tie="ord"), (T0, 10))
        return " | ".join(r[0] for r in cur.fetchall())


def test_an_index_serves_the_due_order(store: Store) -> None:
    store.save_alerts([], [note(f"n{i}", f"a{i % 7}", 2 + 2 * (i % 4), T0 + i) for i in range(50)])
    plan = _plan(store)
    assert "outbox_next" in plan, plan
    assert "TEMP B-TREE" not in plan.upper() and " Sort" not in plan, plan  # no sort of the pending rows


# -- a red behind a backlog of blues ---------------------------------------------------------------
@pytest.fixture
def recorder() -> Iterator[Receiver]:
    r = Receiver(keep_alive=True)
    yield r
    r.close()


def backlog_pipeline(tmp: Path, receiver: Receiver) -> Pipeline:
    nodes: list[dict[str, Any]] = [{"id": "D", "name": "区", "kind": "district"}]
    nodes += [{"id": f"G{i}", "name": f"网格{i}", "kind": "grid", "parent": "D", "centroid": [30 + i / 100, 114]}
              for i in range(GRIDS)]
    config = parse_config({
        "nodes": nodes,
        "channels": [{"name": c, "type": "webhook", "url": f"{receiver.url}/{c}", "secret": "prio-test-secret",
                      "max_attempts": 3} for c in ("a", "b")],
        "responders": [{"id": f"duty{i}", "name": f"值班{i}", "node": f"G{i}", "channels": ["a", "b"]}
                       for i in range(GRIDS)],
        "rules": [{"id": "level", "metric": "level_m", "levels": {"blue": 1.0, "red": 10.0}}],
    })
    return Pipeline(Settings(data_dir=tmp), config, SqliteStore(tmp / "db"))


def reading(source: str, value: float, grid: str = "G0") -> dict[str, Any]:
    return {"feed": "sensor", "source": source, "ts": time.time(), "grid": grid, "metric": "level_m", "value": value}


def test_a_red_behind_ten_thousand_blues_arrives_in_the_first_window(tmp_path: Path,
                                                                    recorder: Receiver) -> None:
    p, receiver = backlog_pipeline(tmp_path, recorder), recorder
    # 5,000 blue alerts, then alert X (blue too: its two notifications are the newest of the 10,002)
    p.ingest([reading(f"s{i}", 2.0, grid=f"G{i % GRIDS}") for i in range(5000)])
    p.ingest([reading("x", 2.0)])
    assert p.store.pending_notification_count() == 10_002
    p.delivery.run_due()  # the backlog is being delivered ...
    receiver.wait_for(lambda got: len(got) >= 10, timeout=60)
    p.ingest([reading("r", 20.0)])  # ... when a red alert is raised, and X goes red
    p.ingest([reading("x", 20.0)])
    with receiver.lock:
        seen = len(receiver.requests)
    got = receiver.wait_for(lambda got: sum(g["json"]["alert"]["level"] == "red" for g in got) >= 4, timeout=60)
    p.delivery.close()
    reds = [i for i, g in enumerate(got) if g["json"]["alert"]["level"] == "red"]
    # all four red notifications came within the first window after they were decided: a few dozen
    # deliveries, not the thousands of blues that were pending ahead of them
    assert reds[-1] - seen < 2 * p.delivery.window, (seen, reds)
    assert p.store.pending_notification_count() > 9000
    # X's "raised" (blue, behind the whole backlog) rose with it and went before its "upgraded"
    x = [(g["path"], g["json"]["event"]) for g in got if g["json"]["alert"]["source"] == "x"]
    assert sorted(x) == [("/a", "raised"), ("/a", "upgraded"), ("/b", "raised"), ("/b", "upgraded")]
    assert [e for _, e in x] == ["raised", "raised", "upgraded", "upgraded"]


def test_an_outcome_is_recorded_before_its_notification_can_be_fetched_again(tmp_path: Path) -> None:
    """Outcomes are recorded in batches; until its outcome is recorded a notification is not sent again,
    however often the outbox is read meanwhile, and every outcome is recorded once."""
    store = SqliteStore(tmp_path / "db")
    sent: list[str] = []
    batches: list[list[str]] = []
    first_batch, release = threading.Event(), threading.Event()

    class Quick:
        name = "q"

        def send(self, key: str, payload: dict[str, Any]) -> str:
            sent.append(key)
            return "ok"

    def record_many(outcomes: list[Outcome]) -> None:
        if not batches:
            first_batch.set()
            release.wait(5)  # a slow commit
        store.update_notifications([n for n, *_ in outcomes])
        batches.append([n.id for n, *_ in outcomes])

    d = Delivery(store, {"q": Quick()}, {"q": 3}, lambda *_: None, now=time.time, workers=4,
                 outcomes=record_many)
    store.save_alerts([], [note(f"n{i}", f"a{i}", 2, T0 + i, channel="q") for i in range(40)])
    d.run_due()
    assert first_batch.wait(5)
    for _ in range(20):  # the outbox read again and again while the first outcome waits for its commit
        d.run_due()
    release.set()
    deadline = time.monotonic() + 10
    while store.pending_notification_count() and time.monotonic() < deadline:
        d.run_due()
        time.sleep(0.01)
    d.close()
    assert sorted(sent) == sorted(f"n{i}" for i in range(40)) and len(sent) == 40
    recorded = [i for b in batches for i in b]
    assert sorted(recorded) == sorted(sent)
    assert len(batches) < 40  # some outcomes shared a commit


def test_an_outbox_from_before_priorities_gets_its_alerts_levels(tmp_path: Path) -> None:
    """Upgrading a database: pending notifications take their alert's level (drills one less), so a
    backlog left by the previous version is delivered red first too."""
    import sqlite3

    from fenghuo.core.store.sqlite import MIGRATIONS

    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
    for stmt in filter(str.strip, MIGRATIONS[0].split(";")):
        db.execute(stmt)
    db.execute("INSERT INTO schema_migrations VALUES (1, 0)")
    for aid, level, drill in (("blue", 1, None), ("red", 4, None), ("drill", 4, "d1")):
        db.execute("INSERT INTO alerts VALUES (?, ?, 'open', ?, 'safety', 'sensor', 'G', ?, 0, 0, '{}')",
                   (aid, aid, level, drill))
        db.execute("INSERT INTO outbox VALUES (?, ?, 'hook', NULL, 'raised', 0, '{}', ?, 'pending', 0, 0, NULL, NULL)",
                   (f"n-{aid}", aid, {"blue": 1.0, "red": 3.0, "drill": 2.0}[aid]))
    db.close()
    store = SqliteStore(path)
    try:
        assert [(n.id, n.priority) for n in store.due_notifications(T0, 10)] == [
            ("n-red", 8), ("n-drill", 7), ("n-blue", 2)]
    finally:
        store.close()
