"""Capacity of a city from one worker's measured share: a scaled synthetic day through one batched detector
worker's per-batch path, then the city (docs/capacity.md) extrapolated with the per-worker figure measured on
the real broker.

The city: 50,000 grids, 1,000,000 sensors reporting every minute, 50,000 complaints and 500,000 posts a day.
The day replayed here is ``--scale`` of it (default 1/1000: 50 grids, 1,000 sensors, 1,440,000 readings,
50 complaints, 500 posts), in event-time order, through what the detector worker does per batch **without a
broker**: each record decoded from its wire bytes (``event_from_wire``), grouped by grid, the grid's state read
(``GridState.loads``), run (``GridRunner.run`` with the example configuration's rules, or with ``--models`` its
grid-stage model detectors too), written back (``GridState.dumps``, the changelog record) and the signal batch
encoded (``batch_to_wire``). Kafka's own cost (faust/aiokafka per message, the broker) is not in this path; the
extrapolation therefore uses the per-worker figure measured with the broker (``--worker-rate`` at
``--worker-cores``, docs/benchmarks-kafka.md), and prints the no-broker figure beside it.

Assumptions (printed): sensors spread evenly, 20 per grid, half river gauges (``water_level_m``), half gas
meters (``ch4_ppm``); one grid floods in the afternoon (so rules raise and state grows as it would); complaints
and posts spread over the day; each sensor reports at its own second of the minute, so the grids' events
interleave as they would arrive; storage per row from benchmarks/timescale.py (docs/store.md). Prints figures;
asserts nothing.

    python -m benchmarks.capacity [--scale 0.001] [--batch 2000] [--models] [--worker-rate 7162 --worker-cores 0.77]
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import time
from dataclasses import dataclass
from typing import Any

from fenghuo.core.models import Event
from fenghuo.runtime.kafka.bus import batch_to_wire, event_from_wire, event_to_wire
from fenghuo.runtime.kafka.grid_runner import GridRunner, GridState

DAY = 86_400
START = 1_767_225_600.0  # 2026-01-01T00:00Z
CITY = {"grids": 50_000, "sensors": 1_000_000, "complaints": 50_000, "posts": 500_000}
SENSORS_PER_GRID = 20
# measured elsewhere, quoted (see docs/capacity.md for the sources)
WORKER_RATE = 7_162.0  # events/s, one batched detector worker on the real broker, idle machine (benchmarks-kafka.md)
WORKER_CORES = 0.77  # of a core, that run
ROW_BYTES_RAW = 1_348e6 / 4_320_000  # TimescaleDB events + indexes, uncompressed (docs/store.md)
ROW_BYTES_COMPRESSED = 82e6 / 4_320_000  # after compression, segment by feed, grid (docs/store.md)
TSDB_COPY_ROWS_S = 87_826.0  # COPY into the hypertable, server share (docs/store.md)
COMPRESS_AFTER_DAYS = 7  # the store's compression policy (chunks created 7+ days ago)
RETENTION_DAYS = 400  # the store's retention policy


@dataclass(frozen=True, slots=True)
class Day:
    """A scaled synthetic day: how many of each thing, and the flooding grid."""

    grids: int
    sensors: int
    complaints: int
    posts: int

    @classmethod
    def scaled(cls, scale: float) -> Day:
        """
        >>> Day.scaled(0.001)
        Day(grids=50, sensors=1000, complaints=50, posts=500)
        """
        return cls(*(max(1, round(CITY[k] * scale)) for k in ("grids", "sensors", "complaints", "posts")))


def synthetic_day(day: Day) -> list[bytes]:
    """The day's records as the ingest puts them on the event topics (``event_to_wire``), in event-time order.
    Deterministic: values follow the clock, not a random generator."""
    grids = [f"G{g:05d}" for g in range(day.grids)]
    flood = grids[0]
    out: list[tuple[float, bytes]] = []
    for minute in range(DAY // 60):
        for s in range(day.sensors):
            ts = START + minute * 60 + (s * 7919) % 6000 / 100  # each sensor its own second: grids interleave
            grid = grids[(s // SENSORS_PER_GRID) % day.grids]
            diurnal = math.sin(2 * math.pi * minute / 1440 + s)
            if s % 2 == 0:
                level = 1.0 + 0.2 * diurnal
                if grid == flood and 840 <= minute < 1080:  # 14:00-18:00: the river rises 3 m and falls
                    level += 3.0 * math.sin(math.pi * (minute - 840) / 240)
                e = Event("sensor", f"gauge:{s}", ts, grid, f"g{s}-{minute}", metric="water_level_m", value=level)
            else:
                e = Event("sensor", f"gas:{s}", ts, grid, f"m{s}-{minute}", metric="ch4_ppm", value=20 + 5 * diurnal)
            out.append((ts, event_to_wire(e, rx=ts)))
    categories = ("Misc. Snow Complaint", "Request for Snow Plowing (Emergency Responder)", "Gas Leak", "Noise")
    for c in range(day.complaints):
        ts = START + (c + 0.5) * DAY / day.complaints
        e = Event("complaint", "hotline", ts, grids[c % day.grids], f"c{c}", category=categories[c % 4],
                  text="路面积雪未清理，车辆无法通行 snow not cleared, cars cannot pass")
        out.append((ts, event_to_wire(e, rx=ts)))
    for p in range(day.posts):
        ts = START + (p + 0.5) * DAY / day.posts
        e = Event("opinion", "weibo", ts, grids[p % day.grids], f"p{p}", text="今天雨很大，河边的路有点积水 heavy rain")
        out.append((ts, event_to_wire(e, rx=ts)))
    out.sort(key=lambda p: p[0])
    return [raw for _, raw in out]


def replay(records: list[bytes], runner: GridRunner, batch: int) -> dict[str, Any]:
    """The worker's per-batch path over ``records``; returns counts, sizes and CPU/wall seconds."""
    table: dict[bytes, bytes] = {}
    signals = signal_bytes = state_writes = state_bytes = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for start in range(0, len(records), batch):
        groups: dict[bytes, list[tuple[Event, tuple[str, int, int], float | None]]] = {}
        for off, raw in enumerate(records[start: start + batch], start):
            e, rx = event_from_wire(raw)
            groups.setdefault(e.grid.encode(), []).append((e, ("events", 0, off), rx))
        for key, items in groups.items():
            gs = GridState.loads(table.get(key))
            out = runner.run(gs, items)
            raw_state = gs.dumps()
            table[key] = raw_state
            state_writes, state_bytes = state_writes + 1, state_bytes + len(raw_state)
            if out.signals:
                signals += len(out.signals)
                signal_bytes += len(batch_to_wire(key.decode(), out.signals, out.clock, out.rx, out.positions))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    sizes = [len(v) for v in table.values()]
    return {"cpu_s": cpu, "wall_s": wall, "signals": signals, "signal_bytes": signal_bytes,
            "state_writes": state_writes, "changelog_bytes": state_bytes,
            "state_mean": sum(sizes) / len(sizes), "state_max": max(sizes), "grids": len(table)}


def make_runner(models: bool) -> GridRunner:
    from fenghuo.cli.main import EXAMPLE_CONFIG
    from fenghuo.core.config import load_config
    from fenghuo.runtime import topology

    os.environ.setdefault("FENGHUO_WEBHOOK_SECRET", "bench-only")
    config = load_config(EXAMPLE_CONFIG)
    return GridRunner(config.rules, lambda grid: [grid], config.detectors if models else None,
                      scopes=topology.GRID)


def gb(n: float) -> str:
    return f"{n / 1e9:,.1f} GB"


def extrapolate(day: Day, r: dict[str, Any], wire: dict[str, float], args: argparse.Namespace) -> list[str]:
    """The city from the scaled day's measured share (per event, per grid) and the quoted per-worker figure."""
    factor = CITY["grids"] / day.grids
    sensor_rows = CITY["sensors"] * (DAY // 60)
    rows = sensor_rows + CITY["complaints"] + CITY["posts"]
    mean_rate = rows / DAY
    workers = math.ceil(args.headroom * mean_rate / args.worker_rate)
    cores = workers * args.worker_cores
    grids_per_worker = CITY["grids"] / workers
    kafka_day = (sensor_rows * wire["sensor"] + CITY["complaints"] * wire["complaint"]
                 + CITY["posts"] * wire["opinion"])
    raw_day, comp_day = rows * ROW_BYTES_RAW, rows * ROW_BYTES_COMPRESSED
    hot, cold = raw_day * COMPRESS_AFTER_DAYS, comp_day * (RETENTION_DAYS - COMPRESS_AFTER_DAYS)
    dense = r["dense"]
    # per-event CPU on the broker (measured) plus what the city's density adds to the no-broker path (measured)
    dense_worker = 1 / (args.worker_cores / args.worker_rate + 1 / dense["rate_cpu"] - 1 / r["rate_cpu"])
    dense_workers = math.ceil(args.headroom * mean_rate / dense_worker)
    partitions = next(p for p in (6, 12, 24, 48, 96, 192, 384) if p >= 2 * dense_workers)
    return [
        f"city: {CITY['grids']:,} grids, {CITY['sensors']:,} sensors every minute, {CITY['complaints']:,} complaints "
        f"and {CITY['posts']:,} posts a day = {rows:,} events a day, {mean_rate:,.0f} events/s on average "
        "(sensor readings are steady, so the mean is also the usual peak)",
        f"detector workers at the measured per-worker figure (29 grids on that worker): "
        f"ceil({args.headroom:g} x {mean_rate:,.0f} / {args.worker_rate:,.0f} events/s per worker) = "
        f"{workers} (headroom {args.headroom:g}x: a backlog drains at {args.headroom - 1:g}x the live rate); "
        f"{cores:.1f} cores at {args.worker_cores:g} core each; {grids_per_worker:,.0f} grids each",
        f"  the no-broker path alone ({r['rate_cpu']:,.0f} events per CPU-second) would need "
        f"{math.ceil(args.headroom * mean_rate / r['rate_cpu'])} core(s): "
        "Kafka's share of the worker's cost is the rest",
        f"grid state per worker: {grids_per_worker:,.0f} grids x {r['state_mean'] / 1024:,.1f} KiB = "
        f"{grids_per_worker * r['state_mean'] / 2**20:,.0f} MiB encoded (objects in memory are larger); at "
        f"{dense_workers} workers: {CITY['grids'] / dense_workers * r['state_mean'] / 2**20:,.0f} MiB",
        f"at the city's density ({grids_per_worker:,.0f} grids per worker, a batch of {args.batch} touches "
        f"~{dense['grids_per_batch']:,.0f} grids): {dense['rate_cpu']:,.0f} events per CPU-second without the broker, "
        f"{dense['state_writes'] / dense['events']:.2f} state writes per event",
        f"  estimated broker worker at that density: 1 / (1/{args.worker_rate / args.worker_cores:,.0f} + "
        f"1/{dense['rate_cpu']:,.0f} - 1/{r['rate_cpu']:,.0f}) = {dense_worker:,.0f} events per CPU-second -> "
        f"{dense_workers} workers of one core for {args.headroom:g}x the mean rate (a worker is one Python process: "
        "one core at most); this is the sizing",
        f"event topics: {partitions} partitions (at least 2x those workers, so they can double without "
        "re-partitioning; a grid's events stay on one partition)",
        f"changelog written per day at that density: {gb(dense['changelog_bytes'] / dense['events'] * rows)} "
        f"(at the scaled day's density: {gb(r['changelog_bytes'] * factor)}); compacted, one record per grid is kept",
        f"signals per day: {r['signals'] * factor:,.0f} ({gb(r['signal_bytes'] * factor)} on the signals topic)",
        f"event topics per day: {gb(kafka_day)} before Kafka's compression, x replication factor; "
        f"7 days' retention at RF 3: {gb(kafka_day * 7 * 3)}",
        f"store rows per day: {rows:,}; COPY at {rows / DAY:,.0f} rows/s against {TSDB_COPY_ROWS_S:,.0f} rows/s "
        "measured (server share, one COPY stream)",
        f"TimescaleDB per day: {gb(raw_day)} uncompressed ({ROW_BYTES_RAW:.0f} B/row with indexes), "
        f"{gb(comp_day)} compressed ({ROW_BYTES_COMPRESSED:.1f} B/row)",
        f"hot (uncompressed, the {COMPRESS_AFTER_DAYS} days before the compression policy): {gb(hot)}; "
        f"compressed for the rest of {RETENTION_DAYS} days' retention: {gb(cold)}; total {gb(hot + cold)}",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=0.001, help="share of the city replayed (default 1/1000)")
    ap.add_argument("--batch", type=int, default=2000, help="events per batch (the worker's fetch)")
    ap.add_argument("--models", action="store_true", help="the example's grid-stage model detectors too")
    ap.add_argument("--worker-rate", type=float, default=WORKER_RATE,
                    help="events/s of one batched worker on the broker (docs/benchmarks-kafka.md)")
    ap.add_argument("--worker-cores", type=float, default=WORKER_CORES, help="the cores that worker used")
    ap.add_argument("--dense-hours", type=float, default=2.0,
                    help="hours of the day replayed again at the city's grid density (a state write per grid batch)")
    ap.add_argument("--headroom", type=float, default=2.0, help="workers for this multiple of the mean rate")
    args = ap.parse_args()
    day = Day.scaled(args.scale)
    t0 = time.perf_counter()
    records = synthetic_day(day)
    wire: dict[str, float] = {}
    for feed in ("sensor", "complaint", "opinion"):
        head = f'{{"feed":"{feed}"'.encode()
        sizes = [len(r) for r in records if r.startswith(head)]
        wire[feed] = sum(sizes) / max(1, len(sizes))
    print(f"scaled day (scale {args.scale:g}): {day.grids} grids, {day.sensors} sensors every minute "
          f"({day.sensors * 1440:,} readings), {day.complaints} complaints, {day.posts} posts: "
          f"{len(records):,} records made in {time.perf_counter() - t0:.1f} s (not measured)")
    print("  wire bytes per record: " + ", ".join(f"{k} {v:.0f}" for k, v in wire.items()))
    runner = make_runner(args.models)
    r = replay(records, runner, args.batch)
    r["rate_cpu"] = len(records) / r["cpu_s"]
    # one worker of the city owns CITY grids / workers: a batch of --batch events then holds events of far more
    # grids than the scaled day's; the same events per grid per batch here need a batch this much smaller
    workers = math.ceil(args.headroom * (CITY["sensors"] * 1440 + CITY["complaints"] + CITY["posts"]) / DAY
                        / args.worker_rate)
    dense_batch = max(1, round(args.batch * day.grids * workers / CITY["grids"]))
    head = records[: int(len(records) * args.dense_hours / 24)]
    dense = replay(head, make_runner(args.models), dense_batch)
    dense.update(events=len(head), rate_cpu=len(head) / dense["cpu_s"],
                 grids_per_batch=CITY["grids"] / workers * (1 - math.exp(-args.batch / (CITY["grids"] / workers))))
    r["dense"] = dense
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"one worker's per-batch path, no broker ({'rules + models' if args.models else 'rules'} of the "
          f"example configuration, batches of {args.batch}): {len(records):,} events in {r['wall_s']:.1f} s "
          f"wall, {r['cpu_s']:.1f} s CPU = {r['rate_cpu']:,.0f} events per CPU-second")
    print(f"  {r['signals']:,} signals, {r['state_writes']:,} state writes ({gb(r['changelog_bytes'])}), grid state "
          f"{r['state_mean'] / 1024:.1f} KiB mean, {r['state_max'] / 1024:.1f} KiB max; peak RSS of this process "
          f"{rss:,.0f} MiB (records held in memory included)")
    print(f"  the same at the city's density (batches of {dense_batch} events over the {day.grids} grids, the first "
          f"{args.dense_hours:g} h): {len(head):,} events, {dense['cpu_s']:.1f} s CPU = {dense['rate_cpu']:,.0f} "
          f"events per CPU-second, {dense['state_writes']:,} state writes")
    print(f"per-worker figure used (measured on the broker): {args.worker_rate:,.0f} events/s at "
          f"{args.worker_cores:g} core")
    for line in extrapolate(day, r, wire, args):
        print(line)


if __name__ == "__main__":
    main()
