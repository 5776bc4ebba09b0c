"""COPY ingest: PostgresStore.add_events against a raw COPY of the same rows into the same table.

Real rows: the Hub'Eau river levels of January 2020 (``shared/data/hubeau-river-levels-2020``),
one sensor event per reading. Everything runs in a fresh database created on the server of
``--dsn`` (dropped at the end) so ``events`` starts empty; ``events`` and ``event_ids`` are
truncated between runs. For each run:

* ``store``: ``PostgresStore.add_events`` per batch: serialise, COPY ids to staging, claim them in
  ``event_ids`` (``ON CONFLICT DO NOTHING RETURNING``), COPY the new rows into ``events``;
* ``raw``: the same rows, serialised by the same function, COPYed straight into ``events``;
* ``raw (copy only)``: the raw COPY of buffers serialised before the clock starts;
* a redelivery of every batch (all ids known: the staging + ``ON CONFLICT`` path).

SQLite's ``add_events`` on the same batches is printed for comparison. Target (DESIGN.md):
store >= 80% of raw. Usage::

    python -m benchmarks.store_copy --dsn postgresql://postgres@127.0.0.1:55433/fenghuo [--rows N]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fenghuo.core.models import Event
from fenghuo.core.store.pg_events import copy_columns, copy_line
from fenghuo.core.store.postgres import PostgresStore
from fenghuo.core.store.sqlite import SqliteStore

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "hubeau-river-levels-2020"


def load_events(data: Path, limit: int) -> list[Event]:
    """Hub'Eau readings as sensor events: source hubeau:<station>, water level in metres, grid "G"."""
    out: list[Event] = []
    seen: set[str] = set()
    for path in sorted(data.glob("*.csv.gz")):
        with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                if not row["resultat_obs"]:
                    continue
                source = f"hubeau:{row['code_station']}"
                ts = datetime.fromisoformat(row["date_obs"]).timestamp()
                eid = f"{source}@{row['date_obs']}"
                if eid in seen:
                    continue
                seen.add(eid)
                out.append(Event(feed="sensor", source=source, ts=ts, grid="G", id=eid,
                                 lat=float(row["latitude"]) if row["latitude"] else None,
                                 lon=float(row["longitude"]) if row["longitude"] else None,
                                 metric="water_level_m", value=float(row["resultat_obs"]) / 1000))
                if len(out) >= limit:
                    return out
    return out


def batches(events: list[Event], size: int) -> list[list[Event]]:
    return [events[i:i + size] for i in range(0, len(events), size)]


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dsn", help="a PostgreSQL server to use (a fresh database is created on it and dropped)")
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--batch", type=int, default=10_000, help="events per add_events call / per raw COPY")
    p.add_argument("--repeat", type=int, default=3, help="runs of each; the median is reported")
    p.add_argument("--data", type=Path, default=DATA)
    args = p.parse_args(argv)
    if not args.dsn:
        print("no --dsn given, nothing started. Start a PostgreSQL, e.g.\n"
              "  scripts/services/postgres.sh start .services/pg-bench 55439\n"
              "and pass the DSN it prints: python -m benchmarks.store_copy --dsn postgresql://...", file=sys.stderr)
        return 2

    import psycopg2
    from psycopg2.extensions import make_dsn

    events = load_events(args.data, args.rows)
    parts = batches(events, args.batch)
    received = time.time()
    print(f"{len(events)} Hub'Eau events from {args.data}, {len(parts)} batches of {args.batch}, "
          f"median of {args.repeat} runs")

    name = f"fh_bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(args.dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    dsn = make_dsn(args.dsn, dbname=name)
    store = PostgresStore(dsn)
    raw = psycopg2.connect(dsn)
    try:
        with raw.cursor() as cur:
            cur.execute("SELECT version()")
            print(cur.fetchone()[0].split(",")[0], "| events layout:",
                  "TimescaleDB hypertable" if store.timescale else "monthly range partitions + BRIN")
        cols = copy_columns(store.timescale)
        rcv = repr(received)

        def truncate() -> None:
            with raw, raw.cursor() as cur:
                cur.execute("TRUNCATE events, event_ids")
                cur.execute("CHECKPOINT")

        def run_store() -> None:
            for b in parts:
                assert len(store.add_events(b, received)) == len(b)

        def copy_buffers(bufs: list[str]) -> None:
            for text in bufs:
                with raw, raw.cursor() as cur:
                    cur.copy_expert(f"COPY events ({cols}) FROM STDIN", io.StringIO(text))

        def serialise() -> list[str]:
            return ["".join(copy_line(e, rcv, store.timescale) + "\n" for e in b) for b in parts]

        run_store()  # creates the partitions and warms caches; not timed
        prebuilt = serialise()
        times: dict[str, list[float]] = {"store": [], "raw": [], "raw_copy_only": []}
        for _ in range(args.repeat):
            truncate()
            times["store"].append(timed(run_store))
            truncate()
            times["raw"].append(timed(lambda: copy_buffers(serialise())))
            truncate()
            times["raw_copy_only"].append(timed(lambda: copy_buffers(prebuilt)))
        run_store()
        t_dup = timed(lambda: [store.add_events(b, received) for b in parts])  # a full redelivery: all known
        with tempfile.TemporaryDirectory() as tmp:
            lite = SqliteStore(Path(tmp) / "bench.db")
            t_lite = timed(lambda: [lite.add_events(b, received) for b in parts])
            lite.close()
    finally:
        raw.close()
        store.close()
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    n = len(events)
    rate = {k: n / statistics.median(v) for k, v in times.items()}
    print(f"PostgresStore.add_events (COPY, idempotent): {rate['store']:>10,.0f} rows/s")
    print(f"raw COPY, same serialiser:                   {rate['raw']:>10,.0f} rows/s")
    print(f"raw COPY, buffers prebuilt (copy only):      {rate['raw_copy_only']:>10,.0f} rows/s")
    print(f"PostgresStore.add_events, all duplicates:    {n / t_dup:>10,.0f} rows/s  (redelivery: slow path)")
    print(f"SqliteStore.add_events (WAL, sync=FULL):     {n / t_lite:>10,.0f} rows/s")
    print(f"ratio store / raw COPY:                      {rate['store'] / rate['raw']:>10.1%}  (target >= 80%)")
    print(f"ratio store / raw COPY (copy only):          {rate['store'] / rate['raw_copy_only']:>10.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
