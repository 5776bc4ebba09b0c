"""What each PostgreSQL flavour promises beyond the contract, proven with its own machinery on a fresh database.

TimescaleDB (``FENGHUO_TEST_TSDB_DSN``): the compression job compresses the chunks created more than 7 days ago
and the store reads, writes and deduplicates through them; the retention job drops the chunks created more than
400 days ago and their ids still count as seen; the continuous aggregate, once its job ran, holds exactly the
per-minute aggregate of the raw rows. The jobs are run with ``CALL run_job`` (what their schedule does); a chunk's
age is its ``creation_time`` in TimescaleDB's catalog, moved back as a clock would move forward.

Both flavours: ``events_1m`` equals the per-minute aggregate computed in Python from the Storm Gloria readings and
the Boston blizzard complaints of fenghuo/demo (plain: a view over the monthly partitions). On the plain server,
where TimescaleDB is installed but not preloaded, the store opens plain, keeps its connection and logs why.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from fenghuo.core.models import Event
from fenghuo.core.store.postgres import PostgresStore
from tests.contracts.store_support import T0, ev, fresh_database, pg_params, run_job, server_dsn

DAY = 86400.0
MIDNIGHT = 1579651200.0  # 2020-01-22T00:00Z: three days from here are three daily chunks


@pytest.fixture
def tsdb() -> Iterator[tuple[PostgresStore, Any]]:
    """A store on a fresh database of the TimescaleDB server, and an autocommit connection to that database."""
    import psycopg2

    with fresh_database(server_dsn("timescaledb")) as dsn:
        store = PostgresStore(dsn)
        conn = psycopg2.connect(dsn)
        conn.autocommit = True
        try:
            assert store.timescale, store.flavour_reason
            yield store, conn
        finally:
            conn.close()
            store.close()


def sql(conn: Any, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(query, args)
        return cur.fetchall() if cur.description else []


def chunks(conn: Any) -> list[tuple[str, bool]]:
    """(first day of the chunk, compressed?) of every chunk of ``events``, in time order."""
    return [(str(r[0].date()), r[1]) for r in sql(
        conn, "SELECT range_start, is_compressed FROM timescaledb_information.chunks "
              "WHERE hypertable_name = 'events' ORDER BY range_start")]


def age_chunks(conn: Any, days: float, before: float) -> None:
    """Make the chunks holding times before ``before`` look created ``days`` days earlier than they were."""
    sql(conn, "UPDATE _timescaledb_catalog.chunk c SET creation_time = c.creation_time - make_interval(days => %s) "
              "FROM timescaledb_information.chunks i WHERE i.hypertable_name = 'events' "
              "AND i.chunk_schema = c.schema_name AND i.chunk_name = c.table_name AND i.range_end <= to_timestamp(%s)",
        days, before)


def three_days() -> list[Event]:
    """A reading every 10 minutes for three days (three daily chunks), two gauges."""
    return [ev(f"{g}-{k}", MIDNIGHT + k * 600.0, source=f"hubeau:{g}", value=1.0 + (k % 50) / 10)
            for g in ("A", "B") for k in range(3 * 144)]


def test_the_compression_job_compresses_week_old_chunks_and_the_store_works_through_them(
        tsdb: tuple[PostgresStore, Any]) -> None:
    store, conn = tsdb
    events = three_days()
    store.add_events(events, T0)
    before = store.series(feed="sensor", grid="G-1", source="hubeau:A", metric=None, category=None,
                          start=MIDNIGHT, end=MIDNIGHT + 3 * DAY)
    assert len(before) == 3 * 144
    run_job(conn, "policy_compression")
    assert [c for _, c in chunks(conn)] == [False] * len(chunks(conn))  # all created just now: kept as they are
    age_chunks(conn, 8, MIDNIGHT + 2 * DAY)  # the first two days' chunks were created 8 days ago
    run_job(conn, "policy_compression")
    assert [c for _, c in chunks(conn)] == [True, True, False]
    (size,) = sql(conn, "SELECT before_compression_total_bytes, after_compression_total_bytes "
                        "FROM hypertable_compression_stats('events')")
    assert size[1] < size[0]
    after = store.series(feed="sensor", grid="G-1", source="hubeau:A", metric=None, category=None,
                         start=MIDNIGHT, end=MIDNIGHT + 3 * DAY)
    assert after == before  # the same events, read through the compressed chunks
    assert store.add_events(events[:5], T0) == []  # ids in compressed chunks are still known
    late = ev("A-late", MIDNIGHT + 3600.5, source="hubeau:A", value=9.0)
    assert store.add_events([late], T0) == [late]  # a late reading lands in a compressed chunk
    got = store.series(feed="sensor", grid="G-1", source="hubeau:A", metric=None, category=None,
                       start=MIDNIGHT + 3600, end=MIDNIGHT + 3601)
    assert [e.id for e in got] == ["A-6", "A-late"]


def test_the_retention_job_drops_chunks_created_400_days_ago_and_keeps_their_ids(
        tsdb: tuple[PostgresStore, Any]) -> None:
    store, conn = tsdb
    events = three_days()
    store.add_events(events, T0)
    run_job(conn, "policy_retention")
    assert len(chunks(conn)) == 3  # 2020 data loaded today is not dropped for its age: it arrived today
    age_chunks(conn, 401, MIDNIGHT + DAY)  # the first day's chunk was created 401 days ago
    run_job(conn, "policy_retention")
    assert [d for d, _ in chunks(conn)] == ["2020-01-23", "2020-01-24"]
    assert store.event_count() == 2 * 2 * 144
    assert store.add_events(events[:3], T0) == []  # a very late redelivery of a dropped event is still known


def test_the_continuous_aggregate_holds_the_raw_rows_aggregate_once_refreshed(
        tsdb: tuple[PostgresStore, Any]) -> None:
    store, conn = tsdb
    events = demo_events()
    for i in range(0, len(events), 1000):
        store.add_events(events[i:i + 1000], T0)
    run_job(conn, "policy_refresh_continuous_aggregate")
    sql(conn, "ALTER MATERIALIZED VIEW events_1m SET (timescaledb.materialized_only = true)")  # only what the job wrote
    materialised = minute_rows(conn)
    direct = sql(conn, "SELECT extract(epoch FROM time_bucket('1 minute', at))::float8, feed, grid, metric, count(*), "
                       "avg(value), min(value), max(value) FROM events GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4")
    assert len(materialised) == len(direct) > 1000
    assert_same_rows(materialised, direct)


@pytest.mark.parametrize("flavour", pg_params())
def test_the_minute_view_is_the_per_minute_aggregate_of_the_demo_data(flavour: str) -> None:
    import psycopg2

    with fresh_database(server_dsn(flavour)) as dsn:
        store = PostgresStore(dsn)
        conn = psycopg2.connect(dsn)
        conn.autocommit = True
        try:
            assert store.timescale == (flavour == "timescaledb"), store.flavour_reason
            events = demo_events()
            for i in range(0, len(events), 1000):
                store.add_events(events[i:i + 1000], T0)
            if store.timescale:
                run_job(conn, "policy_refresh_continuous_aggregate")
            else:  # the events went to their months' partitions
                assert {r[0] for r in sql(conn, "SELECT tableoid::regclass::text FROM events")} == {
                    "events_p201501", "events_p202001"}
            assert_same_rows(minute_rows(conn), python_minutes(events))
        finally:
            conn.close()
            store.close()


def test_installed_but_not_preloaded_the_store_opens_plain_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    """The plain server of make test has TimescaleDB installed (the machine has it) but not preloaded: opening a
    store there used to end the connection (FATAL: extension "timescaledb" must be preloaded)."""
    import logging

    import psycopg2

    with fresh_database(server_dsn("postgres")) as dsn:
        conn = psycopg2.connect(dsn)
        try:
            if not sql(conn, "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"):
                pytest.skip("TimescaleDB is not installed on this machine: scripts/services/timescaledb.sh install")
            assert "timescaledb" not in sql(conn, "SHOW shared_preload_libraries")[0][0]
        finally:
            conn.close()
        with caplog.at_level(logging.INFO, logger="fenghuo.core.store.postgres"):
            store = PostgresStore(dsn)
        try:
            assert not store.timescale
            assert store.add_events([ev("1")], T0) == [ev("1")] and store.event_count() == 1  # the connection lives
            (record,) = [r for r in caplog.records if "plain monthly partitions" in r.getMessage()]
            assert record.levelno == logging.WARNING
            assert "shared_preload_libraries = 'timescaledb'" in record.getMessage()
        finally:
            store.close()


# -- helpers -----------------------------------------------------------------------------------------------
def demo_events() -> list[Event]:
    """Storm Gloria's river levels and the Boston blizzard's complaints (fenghuo/demo), as events."""
    from datetime import datetime

    from fenghuo.demo import demo_files
    from fenghuo.ingest.adapters import read_records

    out = []
    for path, fmt in demo_files():
        for r in read_records(path, fmt=fmt):
            ts = datetime.fromisoformat(r["ts"].replace("Z", "+00:00")).timestamp()
            out.append(Event(feed=r["feed"], source=r["source"], ts=ts, grid=r.get("grid") or r["source"],
                             id=r["id"], lat=r.get("lat"), lon=r.get("lon"), metric=r.get("metric"),
                             value=r.get("value"), category=r.get("category"), text=r.get("text"),
                             attrs=r.get("attrs") or {}))
    return out


def minute_rows(conn: Any) -> list[tuple[Any, ...]]:
    return sql(conn, "SELECT extract(epoch FROM bucket)::float8, feed, grid, metric, n, avg_value, min_value, "
                     "max_value FROM events_1m ORDER BY 1, 2, 3, 4")


def python_minutes(events: list[Event]) -> list[tuple[Any, ...]]:
    groups: dict[tuple[Any, ...], list[float | None]] = defaultdict(list)
    for e in events:
        groups[(math.floor(e.ts / 60) * 60.0, e.feed, e.grid, e.metric)].append(e.value)
    out = []
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[2], k[3] or "\uffff")):  # NULL metric sorts last
        values = [v for v in groups[key] if v is not None]
        avg = sum(values) / len(values) if values else None
        out.append((*key, len(groups[key]), avg, min(values, default=None), max(values, default=None)))
    return out


def assert_same_rows(got: list[tuple[Any, ...]], expected: list[tuple[Any, ...]]) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g[:5] == e[:5]
        for a, b in zip(g[5:], e[5:], strict=True):  # the mean, min and max, NULL for complaints
            assert a == b if a is None or b is None else math.isclose(a, b, rel_tol=1e-12), (g, e)
