"""TimescaleDB against plain PostgreSQL partitions, on the store's own schema (migrations of PostgresStore).

A month of 10-minute readings for ``--series`` gauges (default 1,000: 4.32 million rows; January 2020), one sensor
event each, ten gauges a grid. Each flavour gets a fresh database on its server (dropped at the end):

* **COPY ingest**: the rows COPYed into ``events`` in batches of 100,000 (what the store's ``add_events`` ends
  with; the COPY text is written to a file before the clock starts, so this is the server's share): a hypertable
  of daily chunks on the TimescaleDB server, monthly partitions on the plain one, the same indexes;
* **aggregates**: per minute over one day and per hour over the month, all gauges: through ``events_1m`` (the
  continuous aggregate, refreshed once after the load; the plain flavour's view) against the same aggregate of
  the raw rows; median of 3 runs, after one warm-up run;
* **storage**: ``events`` with its indexes before and after compressing every chunk (segment by feed and grid),
  beside the plain partitions' size.

Usage (``make bench`` runs it when scripts/services/timescaledb.sh could install TimescaleDB)::

    python -m benchmarks.timescale --plain-dsn postgresql://postgres@127.0.0.1:55610/fenghuo \\
        --tsdb-dsn postgresql://postgres@127.0.0.1:55611/fenghuo [--series 1000] [--days 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fenghuo.core.models import Event
from fenghuo.core.store.pg_events import at_text, copy_columns, ensure_partitions, months_of
from fenghuo.core.store.postgres import PostgresStore

START = 1577836800.0  # 2020-01-01T00:00Z
STEP = 600.0
BATCH = 100_000
DAY = 86400.0


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    import psycopg2
    from psycopg2.extensions import make_dsn

    name = f"fh_bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(server)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield make_dsn(server, dbname=name)
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


def write_rows(path: Path, series: int, days: int, timescale: bool) -> int:
    """The month's readings in COPY text (columns ``copy_columns``), in time order as a stream would send them."""
    n = 0
    steps = int(days * DAY / STEP)
    with path.open("w", encoding="utf-8") as f:
        for k in range(steps):
            ts = START + k * STEP
            at = "\t" + at_text(ts) if timescale else ""
            lines = []
            for s in range(series):
                value = 2.0 + (s % 17) / 10 + ((k + s) % 144) / 100
                lines.append(f"g{s:04d}@{k}\tsensor\thubeau:g{s:04d}\t{ts!r}\tG-{s // 10:03d}\t\\N\t\\N\t"
                             f"water_level_m\t{value!r}\t\\N\t\\N\t\\N\t\\N\t{ts + 5.0!r}{at}\n")
            f.writelines(lines)
            n += series
    return n


def copy_file(cur: Any, path: Path, timescale: bool) -> float:
    """COPY the file into ``events`` in batches of BATCH lines, one commit each; seconds spent."""
    spent = 0.0
    with path.open("r", encoding="utf-8") as f:
        while True:
            chunk = [line for _, line in zip(range(BATCH), f, strict=False)]
            if not chunk:
                return spent
            buf = "".join(chunk)
            t = time.perf_counter()
            cur.copy_expert(f"COPY events ({copy_columns(timescale)}) FROM STDIN", _Reader(buf))
            cur.connection.commit()
            spent += time.perf_counter() - t


class _Reader:
    """A file-like object over a str, for copy_expert."""

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def read(self, size: int = -1) -> str:
        end = len(self.text) if size < 0 else self.pos + size
        out = self.text[self.pos:end]
        self.pos = end
        return out

    def readline(self, size: int = -1) -> str:  # pragma: no cover - copy_expert reads blocks
        return self.read(size)


def timed(cur: Any, sql: str, runs: int = 3) -> tuple[float, int]:
    """(median seconds, rows) of a query, after a warm-up run."""
    cur.execute(sql)
    rows = len(cur.fetchall())
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        cur.execute(sql)
        cur.fetchall()
        times.append(time.perf_counter() - t)
    return statistics.median(times), rows


def queries(timescale: bool, days: int) -> dict[str, str]:
    day0, day1 = START + 14 * DAY, START + 15 * DAY  # one day in the middle of the month
    end = START + days * DAY
    if timescale:
        bucket = "time_bucket(INTERVAL '1 minute', at)"
        hour_raw = "time_bucket(INTERVAL '1 hour', at)"
        where = lambda a, b: f"at >= to_timestamp({a}) AND at < to_timestamp({b})"  # noqa: E731
    else:
        bucket = "to_timestamp(floor(ts / 60) * 60)"
        hour_raw = "to_timestamp(floor(ts / 3600) * 3600)"
        where = lambda a, b: f"ts >= {a} AND ts < {b}"  # noqa: E731
    return {
        "per minute, 1 day, events_1m": "SELECT bucket, grid, metric, avg_value FROM events_1m "
                                        f"WHERE bucket >= to_timestamp({day0}) AND bucket < to_timestamp({day1})",
        "per minute, 1 day, raw rows": f"SELECT {bucket}, grid, metric, avg(value) FROM events "
                                       f"WHERE {where(day0, day1)} GROUP BY 1, 2, 3",
        "per hour, month, events_1m": "SELECT date_trunc('hour', bucket), grid, metric, sum(avg_value * n) / sum(n) "
                                      f"FROM events_1m WHERE bucket >= to_timestamp({START}) "
                                      f"AND bucket < to_timestamp({end}) GROUP BY 1, 2, 3",
        "per hour, month, raw rows": f"SELECT {hour_raw}, grid, metric, avg(value) FROM events "
                                     f"WHERE {where(START, end)} GROUP BY 1, 2, 3",
    }


def size(cur: Any, timescale: bool) -> int:
    if timescale:
        cur.execute("SELECT hypertable_size('events')")
    else:
        cur.execute("SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits "
                    "WHERE inhparent = 'events'::regclass")
    return int(cur.fetchone()[0])


def run_flavour(server: str, name: str, series: int, days: int, tmp: Path, out: Callable[[str], None]) -> None:
    import psycopg2

    with fresh_database(server) as dsn:
        store = PostgresStore(dsn)
        timescale = store.timescale
        if name == "timescaledb" and not timescale:
            raise SystemExit(f"{server}: the store did not choose TimescaleDB: {store.flavour_reason}")
        store.close()
        path = tmp / f"{name}.copy"
        t = time.perf_counter()
        rows = write_rows(path, series, days, timescale)
        out(f"{name}: {rows:,} rows of COPY text written in {time.perf_counter() - t:.0f} s "
            f"({path.stat().st_size / 1e6:.0f} MB; not timed below)")
        conn = psycopg2.connect(dsn)
        try:
            cur = conn.cursor()
            if not timescale:  # the store makes the month's partition on demand; here once, before the clock
                month = [Event(feed="sensor", source="x", ts=START + d * DAY, grid="G", id="x") for d in range(days)]
                ensure_partitions(cur, months_of(month), set())
                conn.commit()
            spent = copy_file(cur, path, timescale)
            path.unlink()
            out(f"{name}: COPY into events: {spent:.1f} s, {rows / spent:,.0f} rows/s")
            conn.autocommit = True
            cur.execute("VACUUM ANALYZE events")
            if timescale:
                t = time.perf_counter()
                cur.execute("CALL refresh_continuous_aggregate('events_1m', NULL, NULL)")
                out(f"{name}: continuous aggregate refreshed over the month in {time.perf_counter() - t:.1f} s")
                cur.execute("ANALYZE")
            for label, sql in queries(timescale, days).items():
                secs, n = timed(cur, sql)
                out(f"{name}: {label}: {secs * 1000:,.0f} ms ({n:,} rows)")
            before = size(cur, timescale)
            if timescale:
                t = time.perf_counter()
                cur.execute("SELECT count(compress_chunk(c)) FROM show_chunks('events') c")
                chunks = cur.fetchone()[0]
                after = size(cur, timescale)
                out(f"{name}: storage {before / 1e6:,.0f} MB, compressed ({chunks} chunks, "
                    f"{time.perf_counter() - t:.0f} s) {after / 1e6:,.0f} MB: {before / after:.1f}x smaller")
                for label, sql in queries(timescale, days).items():
                    if "raw" in label:
                        secs, n = timed(cur, sql)
                        out(f"{name}: {label}, compressed chunks: {secs * 1000:,.0f} ms ({n:,} rows)")
            else:
                out(f"{name}: storage {before / 1e6:,.0f} MB (no compression)")
        finally:
            conn.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plain-dsn", required=True, help="a PostgreSQL server without TimescaleDB preloaded")
    ap.add_argument("--tsdb-dsn", required=True, help="a PostgreSQL server with TimescaleDB preloaded")
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--days", type=int, default=30)
    args = ap.parse_args(argv)
    print(f"{args.series:,} gauges x {args.days} days of 10-minute readings "
          f"({args.series * args.days * 144:,} rows)", flush=True)
    with tempfile.TemporaryDirectory(prefix="fenghuo-bench-tsdb-") as tmp:
        for name, dsn in (("timescaledb", args.tsdb_dsn), ("plain", args.plain_dsn)):
            run_flavour(dsn, name, args.series, args.days, Path(tmp), lambda s: print(s, flush=True))


if __name__ == "__main__":
    main(sys.argv[1:])
