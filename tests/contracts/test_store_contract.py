"""One store contract, run over every Store implementation: SQLite and PostgreSQL, plain and TimescaleDB.

The PostgreSQL cases need real servers: ``FENGHUO_TEST_PG_DSN`` (``scripts/services/postgres.sh
start DIR PORT`` prints it) and ``FENGHUO_TEST_TSDB_DSN`` (the same with ``PG_PRELOAD=timescaledb``, after
``scripts/services/timescaledb.sh install``). Each test gets a fresh, uniquely named database, dropped afterwards.
The fixtures are in tests/contracts/conftest.py, the sample rows in tests/contracts/store_support.py.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import pytest

from fenghuo.core.levels import Level
from fenghuo.core.models import Event, Risk, Status, TimelineEntry
from fenghuo.core.store import AlertQuery, Store
from tests.contracts.store_support import T0, Opener, alert, ev, ids, note, run_job


def _integrity_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [sqlite3.IntegrityError]
    try:
        import psycopg2

        errors.append(psycopg2.IntegrityError)
    except ImportError:  # pragma: no cover - psycopg2 is a dependency
        pass
    return tuple(errors)


# -- schema ----------------------------------------------------------------------------------------
def test_migrations_are_idempotent(open_store: Opener) -> None:
    first = open_store()
    version = first.schema_version()  # type: ignore[attr-defined]
    assert version >= 1
    first.add_events([ev(1)], T0)
    second = open_store()  # migrating an up-to-date schema again is a no-op
    assert second.schema_version() == version  # type: ignore[attr-defined]
    assert second.event_count() == 1


# -- events ----------------------------------------------------------------------------------------
def test_events_idempotent_by_id(store: Store) -> None:
    assert store.add_events([], T0) == []
    a, b = ev("a"), ev("b", T0 + 1)
    assert ids(store.add_events([a, b], T0)) == ["a", "b"]
    c, d = ev("c", T0 + 2), ev("d", T0 + 3)
    a_again = ev("a", T0 + 86400 * 40, value=99.0)  # same id, other time and value: still a duplicate
    c_again = ev("c", T0 + 5, value=7.0)
    new = store.add_events([b, c, a_again, c_again, d], T0 + 10)
    assert ids(new) == ["c", "d"]
    assert new[0] is c  # the first of repeats within a batch wins
    assert store.event_count() == 4
    assert store.add_events([a, b, c, d], T0 + 20) == []
    stored = {e.id: e for _, e in store.events_after(0, 100)}
    assert stored["a"].value == 1.0 and stored["a"].ts == T0
    assert stored["c"].value == 1.0 and stored["c"].ts == T0 + 2


def test_events_after_orders_by_arrival(store: Store) -> None:
    assert store.max_seq() == 0
    assert store.events_after(0, 10) == []
    # arrival order, not event time: later batches carry older times, across months and years
    batches = [[ev("x1", T0 + 100), ev("x2", T0)], [ev("y1", T0 - 86400 * 400)], [ev("z1", T0 + 86400 * 70)]]
    for batch in batches:
        store.add_events(batch, T0)
    rows = store.events_after(0, 100)
    assert [e.id for _, e in rows] == ["x1", "x2", "y1", "z1"]
    seqs = [s for s, _ in rows]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert store.max_seq() == seqs[-1]
    assert [e.id for _, e in store.events_after(seqs[1], 1)] == ["y1"]
    assert store.events_after(seqs[-1], 10) == []
    store.add_events([ev("late", T0 - 10)], T0)
    assert [e.id for _, e in store.events_after(seqs[-1], 10)] == ["late"]


def test_events_round_trip_every_field(store: Store) -> None:
    e = Event(feed="complaint", source="hotline", ts=T0 + 0.123456789, grid="G-0012", id="k\t1\\x",
              lat=42.905022451731, lon=-1.9366190619787567, metric=None, value=None, category="wage arrears",
              text="欠薪\n\t\"quoted\" back\\slash\r", attrs={"n": 2, "tags": ["a", "b"], "z": None}, drill="flood-1")
    assert store.add_events([e], T0) == [e]
    [(_, got)] = store.events_after(0, 10)
    assert got == e
    [got] = store.series(feed="complaint", grid=None, source=None, metric=None, category=None, start=T0, end=T0 + 1)
    assert got == e


def test_series_filters(store: Store) -> None:
    events = [
        ev(1, T0 + 30, grid="G-1", source="s1", metric="m1"),
        ev(2, T0 + 10, grid="G-1", source="s1", metric="m1"),
        ev(3, T0 + 20, grid="G-2", source="s1", metric="m1"),
        ev(4, T0 + 20, grid="G-1", source="s2", metric="m1"),
        ev(5, T0 + 20, grid="G-1", source="s1", metric="m2"),
        ev(6, T0 + 20, feed="complaint", grid="G-1", source="app", metric=None, value=None, category="noise",
           text="t"),
        ev(7, T0 + 25, feed="complaint", grid="G-1", source="app", metric=None, value=None, category="fire",
           text="t"),
        ev(8, T0 + 86400 * 35, grid="G-1", source="s1", metric="m1"),  # next month
    ]
    store.add_events(events, T0)

    def q(feed: str = "sensor", start: float = T0, end: float = T0 + 86400 * 60, limit: int = 20000,
          **kw: Any) -> list[str]:
        kw = {"grid": None, "source": None, "metric": None, "category": None} | kw
        return ids(store.series(feed=feed, start=start, end=end, limit=limit, **kw))

    everything = store.series(feed="sensor", grid=None, source=None, metric=None, category=None, start=T0,
                              end=T0 + 86400 * 60)
    assert [e.ts for e in everything] == sorted(e.ts for e in everything)  # ordered by ts
    assert sorted(q()) == ["1", "2", "3", "4", "5", "8"]
    assert q(grid="G-1", source="s1", metric="m1") == ["2", "1", "8"]
    assert sorted(q(grid="G-2")) == ["3"]
    assert sorted(q(source="s2")) == ["4"]
    assert sorted(q(metric="m2")) == ["5"]
    assert q(feed="complaint") == ["6", "7"]
    assert q(feed="complaint", category="fire") == ["7"]
    assert q(grid="G-1", source="s1", metric="m1", start=T0 + 10, end=T0 + 30) == ["2", "1"]  # inclusive bounds
    assert q(grid="G-1", source="s1", metric="m1", start=T0 + 11, end=T0 + 29) == []
    assert q(grid="G-1", source="s1", metric="m1", limit=2) == ["2", "1"]
    assert q(feed="opinion") == []


def test_history_rows_for_backtests(store: Store) -> None:
    store.add_events([ev(1, T0 + 20, value=2.0), ev(2, T0 + 10, value=1.0), ev(3, T0 + 10, source="hubeau:B"),
                      ev(4, T0 + 15, drill="exercise"), ev(5, T0 + 30, metric="other"),
                      ev(6, T0 + 5, feed="complaint", metric=None, value=None, category="snow", text="t")], T0)
    rows = store.history_rows(feed="sensor", metric="water_level_m", category=None, source=None,
                              start=T0, end=T0 + 100)
    assert [(r[0], r[3], r[4]) for r in rows] == [("hubeau:A", T0 + 10, 1.0), ("hubeau:B", T0 + 10, 1.0),
                                                  ("hubeau:A", T0 + 20, 2.0)]  # time, then arrival; no drill
    one = store.history_rows(feed="sensor", metric="water_level_m", category=None, source="hubeau:B",
                             start=T0, end=T0 + 100)
    assert [r[0] for r in one] == ["hubeau:B"]
    snow = store.history_rows(feed="complaint", metric=None, category="snow", source=None, start=T0, end=T0 + 9)
    assert [(r[1], r[2]) for r in snow] == [("G-1", "snow")]


def test_concurrent_writers_store_each_id_once(store: Store) -> None:
    results: list[list[Event]] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        for b in range(5):
            got = store.add_events([ev(f"e{(k + b + j) % 40}", T0 + j) for j in range(10)], T0)
            with lock:
                results.append(got)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    returned = [e.id for batch in results for e in batch]
    assert sorted(returned) == sorted(set(returned))  # each id reported new exactly once
    assert store.event_count() == len(returned)
    seqs = [s for s, _ in store.events_after(0, 1000)]
    assert seqs == sorted(seqs) and len(seqs) == len(returned)


# -- dead letters ----------------------------------------------------------------------------------
def test_dead_letters_keep_their_records(store: Store) -> None:
    assert store.dead_letter_count() == 0 and store.dead_letters() == []
    store.add_dead_letters([], T0)
    store.add_dead_letters([(0, "ts: missing", {"feed": "sensor", "value": "x"}), (3, "not an object", [1, 2])], T0)
    store.add_dead_letters([(1, "bad json", "{oops 烽火")], T0 + 5)
    assert store.dead_letter_count() == 3
    rows = store.dead_letters()
    assert [(r["index"], r["error"], r["record"]) for r in rows] == [
        (1, "bad json", "{oops 烽火"),
        (3, "not an object", [1, 2]),
        (0, "ts: missing", {"feed": "sensor", "value": "x"}),
    ]
    assert rows[0]["received_at"] == T0 + 5
    assert [r["index"] for r in store.dead_letters(limit=1, offset=1)] == [3]


# -- alerts ----------------------------------------------------------------------------------------
def test_alerts_save_get_and_update(store: Store) -> None:
    a = alert("a1", level=Level.ORANGE)
    store.save_alerts([a], [], None)
    assert store.get_alert("a1") == a
    assert store.get_alert("missing") is None
    a.status, a.level = Status.ACKNOWLEDGED, Level.RED
    a.add(TimelineEntry(T0 + 60, "acknowledged", None, "li.wei", None, None))
    store.save_alerts([a], [], None)
    got = store.get_alert("a1")
    assert got == a and got is not None and len(got.timeline) == 2
    assert ids(store.open_alerts()) == ["a1"]
    a.status = Status.RESOLVED
    store.save_alerts([a], [], None)
    assert store.open_alerts() == []
    assert ids(store.all_alerts()) == ["a1"]


def test_list_alerts_filters_and_order(store: Store) -> None:
    alerts = [
        alert("blue-open", level=Level.BLUE, updated=T0 + 50),
        alert("red-open", level=Level.RED, updated=T0 + 10, grid="G-2"),
        alert("red-open-newer", level=Level.RED, updated=T0 + 20, feed="complaint", risk=Risk.CONTRADICTION),
        alert("red-resolved", level=Level.RED, status=Status.RESOLVED, updated=T0 + 99),
        alert("yellow-acked", level=Level.YELLOW, status=Status.ACKNOWLEDGED, drill="flood"),
        alert("orange-drill", level=Level.ORANGE, drill="blizzard", grid="G-2"),
    ]
    store.save_alerts(alerts, [], None)

    def q(**kw: Any) -> list[str]:
        return ids(store.list_alerts(AlertQuery(**kw)))

    # open (and acknowledged) before resolved, then most severe first, then most recently updated
    assert q() == ["red-open-newer", "red-open", "orange-drill", "yellow-acked", "blue-open", "red-resolved"]
    assert q(status="open") == ["red-open-newer", "red-open", "orange-drill", "blue-open"]
    assert q(status="acknowledged") == ["yellow-acked"]
    assert q(status="resolved") == ["red-resolved"]
    assert q(level="red") == ["red-open-newer", "red-open", "red-resolved"]
    assert q(level="II") == ["orange-drill"]
    assert q(grid="G-2") == ["red-open", "orange-drill"]
    assert q(feed="complaint") == ["red-open-newer"]
    assert q(risk="contradiction") == ["red-open-newer"]
    assert q(drill="true") == ["orange-drill", "yellow-acked"]
    assert q(drill="false") == ["red-open-newer", "red-open", "blue-open", "red-resolved"]
    assert q(drill="flood") == ["yellow-acked"]
    assert q(status="open", level="red", grid="G-2") == ["red-open"]
    assert q(limit=2) == ["red-open-newer", "red-open"]
    assert q(limit=2, offset=4) == ["blue-open", "red-resolved"]
    assert sorted(ids(store.all_alerts(drill=True))) == ["orange-drill", "yellow-acked"]
    assert sorted(ids(store.all_alerts(drill=False))) == ["blue-open", "red-open", "red-open-newer", "red-resolved"]
    assert len(store.all_alerts()) == 6
    assert sorted(ids(store.open_alerts())) == ["blue-open", "orange-drill", "red-open", "red-open-newer",
                                                "yellow-acked"]


def test_one_open_alert_per_fingerprint(store: Store) -> None:
    first = alert("a1", fp="river|G-1")
    store.save_alerts([first], [note("n1", "a1")], {"cursor": b"1"})
    with pytest.raises(_integrity_errors()):
        store.save_alerts([alert("a2", fp="river|G-1")], [note("n2", "a2")], {"cursor": b"2"})
    # the failed save changed nothing: no alert, no notification, cursor unchanged
    assert store.get_alert("a2") is None and store.notifications_for("a2") == []
    assert store.get_state("cursor") == b"1"
    acked = alert("a1", fp="river|G-1", status=Status.ACKNOWLEDGED)
    with pytest.raises(_integrity_errors()):  # acknowledged is still open
        store.save_alerts([acked, alert("a3", fp="river|G-1")], [], None)
    first.status = Status.RESOLVED
    store.save_alerts([first, alert("a2", fp="river|G-1")], [], {"cursor": b"3"})  # resolve, then a new one: fine
    assert ids(store.open_alerts()) == ["a2"]
    store.save_alerts([alert("a4", fp="other")], [], None)
    assert sorted(ids(store.open_alerts())) == ["a2", "a4"]


# -- outbox ----------------------------------------------------------------------------------------
def test_outbox_insert_if_absent_and_due_order(store: Store) -> None:
    a = alert("a1")
    store.save_alerts([a], [note("n-late", created=T0 + 5), note("n-b", created=T0), note("n-a", created=T0),
                            note("n-future", created=T0 + 1, next_attempt_at=T0 + 3600)], {"cursor": b"42"})
    assert store.get_state("cursor") == b"42"
    assert store.pending_notification_count() == 4
    # created_at first, then insertion order; not yet due ones wait
    assert ids(store.due_notifications(T0 + 10, 10)) == ["n-b", "n-a", "n-late"]
    assert ids(store.due_notifications(T0 + 10, 2)) == ["n-b", "n-a"]
    assert ids(store.due_notifications(T0 + 3600, 10)) == ["n-b", "n-a", "n-future", "n-late"]
    # saving the same notification again never resets it (insert-if-absent)
    sent = store.due_notifications(T0 + 10, 1)[0]
    sent.status, sent.attempts, sent.delivered_at = "delivered", 1, T0 + 11
    store.update_notification(sent)
    store.save_alerts([a], [note("n-b", created=T0 - 100)], None)
    assert store.get_state("cursor") == b"42"  # no state leaves it
    [got] = [n for n in store.notifications_for("a1") if n.id == "n-b"]
    assert got == sent
    retry = store.due_notifications(T0 + 10, 10)[0]
    assert retry.id == "n-a"
    retry.attempts, retry.next_attempt_at, retry.last_error = 1, T0 + 60, "HTTP 503"
    store.update_notification(retry)
    assert ids(store.due_notifications(T0 + 10, 10)) == ["n-late"]
    failed = store.due_notifications(T0 + 10, 10)[0]
    failed.status, failed.last_error = "failed", "gave up"
    store.update_notification(failed)
    assert store.pending_notification_count() == 2
    assert ids(store.notifications_for("a1")) == ["n-b", "n-a", "n-future", "n-late"]
    assert store.notifications_for("a1")[1].last_error == "HTTP 503"
    assert store.notifications_for("nothing") == []


def test_outbox_backlog_by_priority(store: Store) -> None:
    """What /metrics shows as the outbox backlog by level: pending notifications counted per priority."""
    assert store.pending_notifications_by_priority() == {}
    store.save_alerts([alert("a1"), alert("a2", fp="other")],
                      [note("n1", priority=8), note("n2", priority=8), note("n3", "a2", priority=4),
                       note("n4", "a2", priority=4, status="delivered")], None)
    assert store.pending_notifications_by_priority() == {8: 2, 4: 1}


# -- rules, audit, state ---------------------------------------------------------------------------
def test_rules_versions_and_history(store: Store) -> None:
    assert store.rules() == [] and store.rule_history("river") == []
    body = {"id": "river", "levels": {"blue": 3.0, "red": 4.5}, "note": "水位"}
    assert store.put_rule("river", body, "analyst", T0) == 1
    assert store.put_rule("gas", {"id": "gas"}, "admin", T0 + 1) == 1
    body2 = body | {"levels": {"blue": 3.2, "red": 4.5}}
    assert store.put_rule("river", body2, "analyst", T0 + 2) == 2
    assert store.rules() == [
        {"id": "gas", "version": 1, "body": {"id": "gas"}, "actor": "admin", "changed_at": T0 + 1},
        {"id": "river", "version": 2, "body": body2, "actor": "analyst", "changed_at": T0 + 2},
    ]
    assert store.put_rule("river", None, "admin", T0 + 3) == 3  # deleted: gone from rules, kept in history
    assert [r["id"] for r in store.rules()] == ["gas"]
    assert store.rule_history("river") == [
        {"version": 1, "body": body, "actor": "analyst", "changed_at": T0},
        {"version": 2, "body": body2, "actor": "analyst", "changed_at": T0 + 2},
        {"version": 3, "body": None, "actor": "admin", "changed_at": T0 + 3},
    ]
    assert store.put_rule("river", body, "analyst", T0 + 4) == 4
    assert [(r["id"], r["version"]) for r in store.rules()] == [("gas", 1), ("river", 4)]


def test_audit_log_newest_first(store: Store) -> None:
    assert store.audit_log() == []
    for i in range(3):
        store.audit(T0 + i, "admin", "rule.put", f"rule-{i}", f"v{i} 修改")
    log = store.audit_log()
    assert [r["target"] for r in log] == ["rule-2", "rule-1", "rule-0"]
    assert log[0] == {"ts": T0 + 2, "actor": "admin", "action": "rule.put", "target": "rule-2", "detail": "v2 修改"}
    assert [r["target"] for r in store.audit_log(limit=1)] == ["rule-2"]


def test_state_key_values(store: Store) -> None:
    assert store.get_state("detector:G-1") is None
    blob = bytes(range(256)) * 3
    store.put_state("detector:G-1", blob)
    assert store.get_state("detector:G-1") == blob
    store.put_state("detector:G-1", b"")
    assert store.get_state("detector:G-1") == b""
    store.put_state("cursor", b"7")
    assert store.get_state("cursor") == b"7"


def test_data_survives_close_and_reopen(open_store: Opener) -> None:
    s = open_store()
    s.add_events([ev("a"), ev("b", T0 + 1)], T0)
    s.add_dead_letters([(0, "bad", {"x": 1})], T0)
    a = alert("a1", level=Level.RED)
    s.save_alerts([a], [note("n1")], {"cursor": b"5"})
    s.put_rule("river", {"id": "river"}, "analyst", T0)
    s.audit(T0, "admin", "login", "-", "")
    s.put_state("k", b"\x00v")
    last = s.max_seq()
    s.close()
    r = open_store()
    assert r.event_count() == 2 and r.max_seq() == last
    assert r.add_events([ev("a"), ev("c")], T0) == [ev("c")]
    assert r.max_seq() > last
    assert r.dead_letter_count() == 1
    assert r.get_alert("a1") == a
    assert ids(r.due_notifications(T0, 10)) == ["n1"]
    assert r.get_state("cursor") == b"5" and r.get_state("k") == b"\x00v"
    assert r.rule_history("river")[0]["body"] == {"id": "river"}
    assert r.audit_log()[0]["action"] == "login"


# -- PostgreSQL only: the time-series layout of each flavour ---------------------------------------
MINUTES = [(T0, "complaint", "G-1", None, 1, None, None, None),
           (T0, "sensor", "G-1", "water_level_m", 2, 2.0, 1.0, 3.0),
           (T0 + 60, "sensor", "G-1", "water_level_m", 1, 5.0, 5.0, 5.0)]


def test_postgres_partitions_and_minute_view(pg_flavour: str, pg_database: str) -> None:
    """Plain: monthly partitions made on demand, far times in DEFAULT, the minute view over them. TimescaleDB: the
    same minute rows from the continuous aggregate before and after its refresh job ran, and a backfill of older
    events written after that run reaches it at the next run."""
    import psycopg2

    from fenghuo.core.store.postgres import PostgresStore

    s = PostgresStore(pg_database)
    assert s.timescale == (pg_flavour == "timescaledb"), s.flavour_reason
    s.add_events([ev("1", T0, value=1.0), ev("2", T0 + 30, value=3.0), ev("4", T0 + 86400 * 40, value=2.0),
                  ev("5", 1e12, value=0.0),
                  ev("6", T0 + 10, feed="complaint", metric=None, value=None, category="noise", text="吵")], T0)
    conn = psycopg2.connect(pg_database)
    conn.autocommit = True

    def minutes() -> list[tuple[Any, ...]]:
        with conn.cursor() as cur:
            cur.execute("SELECT extract(epoch FROM bucket), feed, grid, metric, n, avg_value, min_value, max_value "
                        "FROM events_1m WHERE bucket < to_timestamp(%s) ORDER BY bucket, feed", (T0 + 86400,))
            return cur.fetchall()

    try:
        assert minutes() == MINUTES[:2]  # real time: the raw rows, aggregated at query time
        if s.timescale:
            run_job(conn, "policy_refresh_continuous_aggregate")
            assert minutes() == MINUTES[:2]  # now materialised
            s.add_events([ev("3", T0 + 60, value=5.0)], T0)  # a backfill below the refreshed range
            run_job(conn, "policy_refresh_continuous_aggregate")
            assert minutes() == MINUTES
            with conn.cursor() as cur:
                cur.execute("SELECT extract(epoch FROM at) FROM events WHERE id = '5'")
                assert cur.fetchone() == (1e12,)  # year 33658: stored at its own time
        else:
            s.add_events([ev("3", T0 + 60, value=5.0)], T0)
            assert minutes() == MINUTES
            with conn.cursor() as cur:
                cur.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                            "WHERE i.inhparent = 'events'::regclass ORDER BY 1")
                assert [r[0] for r in cur.fetchall()] == ["events_default", "events_p202001", "events_p202003"]
                cur.execute("SELECT id FROM events_default")
                assert cur.fetchall() == [("5",)]  # far outside the partitioned years
    finally:
        conn.close()
        s.close()


# -- retention: purge_texts (fenghuo/core/retention.py) ---------------------------------------------------------
def test_purge_texts_removes_old_complaint_and_opinion_texts_only(store: Store) -> None:
    old, new = T0, T0 + 86400 * 30
    complaint = {"feed": "complaint", "metric": None, "value": None, "category": "噪音"}
    store.add_events([ev("c-old", old - 3600, **complaint, text="张三 13812345678 楼上装修太吵"),
                      ev("o-old", old, feed="opinion", metric=None, value=None, category="拆迁", text="强拆！"),
                      ev("s-old", old)], received_at=old)
    store.add_events([ev("c-new", old, **complaint, text="新的投诉")], received_at=new)
    store.add_dead_letters([(0, "ts: bad", {"feed": "complaint", "text": "李四 13912345678", "ts": "x"}),
                            (1, "not JSON", '{"feed": "complaint", "text": "半行'),
                            (2, "feed: unknown", {"feed": "weather", "value": 3})], old)
    store.add_dead_letters([(0, "ts: bad", {"feed": "complaint", "text": "新的", "ts": "x"})], new)
    cutoff = old + 86400
    assert store.purge_texts(cutoff, ("complaint", "opinion"), dry_run=True) == {"events": 2, "dead_letters": 2}
    assert {e.id: e.text for _, e in store.events_after(0, 10)}["c-old"] is not None  # a dry run changes nothing
    assert store.purge_texts(cutoff, ("complaint", "opinion")) == {"events": 2, "dead_letters": 2}
    events = {e.id: e for _, e in store.events_after(0, 10)}
    assert {i: e.text for i, e in events.items()} == {"c-old": None, "o-old": None, "s-old": None, "c-new": "新的投诉"}
    assert (events["c-old"].category, events["c-old"].grid, events["c-old"].ts) == ("噪音", "G-1", old - 3600)
    assert len(store.series(feed="complaint", grid="G-1", source=None, metric=None, category="噪音",
                            start=0, end=new)) == 2  # counts still work
    records = [d["record"] for d in sorted(store.dead_letters(10), key=lambda d: d["id"])]
    assert records == [{"feed": "complaint", "text": "[purged]", "ts": "x"}, "[purged]",
                       {"feed": "weather", "value": 3}, {"feed": "complaint", "text": "新的", "ts": "x"}]
    assert store.purge_texts(cutoff, ("complaint", "opinion")) == {"events": 0, "dead_letters": 0}  # idempotent
