"""Threshold backtests: a month of 10-minute readings for 1,000 series, and the real Hub'Eau month.

``python -m benchmarks.backtest_bench [--series 1000] [--days 30] [--no-store]`` prints:

* synthetic: ``series x days`` of 10-minute water levels (a per-gauge datum, a slow random walk, a
  daily tide, noise, and a few flood pulses per month), stored in a fresh SQLite store through
  ``add_events``; then the fetch (``Store.history_rows``), the vectorised run of a rule with
  hysteresis and ``for_seconds`` (:func:`fenghuo.detectors.backtest.simulate`), and, for scale, the streaming
  detector point by point on a tenth of the series;
* real: the 47 Hub'Eau stations of Storm Gloria (185k readings) under the example config's
  ``river-level`` rule (per-station levels), vectorised and streamed, with the episode counts equal.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from fenghuo.core.config import Rule, load_config
from fenghuo.core.grids import GridTree
from fenghuo.core.models import Event
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.detectors.backtest import paused_gc, simulate
from fenghuo.detectors.engine import DetectorEngine
from fenghuo.ingest.events import make_resolver, parse_event

ROOT = Path(__file__).resolve().parents[1]
HUBEAU = ROOT.parent / "shared" / "data" / "hubeau-river-levels-2020" / \
    "hubeau_water_level_10min_2020-01-07_2020-02-07.csv.gz"
T0 = 1577836800.0  # 2020-01-01
RULE = Rule(id="river-level", metric="water_level_m", levels={"blue": 3.0, "yellow": 3.5, "orange": 4.0, "red": 4.5},
            for_seconds=1200, hysteresis=0.1)


def synthetic(series: int, days: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """(ts, values) of shape (series, points): realistic-looking river gauges in metres."""
    rng = np.random.default_rng(seed)
    n = days * 144
    t = np.arange(n)
    datum = rng.uniform(1.0, 2.5, (series, 1))
    walk = np.cumsum(rng.normal(0, 0.004, (series, n)), axis=1)
    tide = 0.08 * np.sin(2 * np.pi * t / 144 + rng.uniform(0, 6.3, (series, 1)))
    floods = np.zeros((series, n))
    for i in range(series):
        for _ in range(rng.poisson(2)):
            at, height, width = rng.integers(n), rng.gamma(2.0, 0.9), rng.uniform(30, 300)
            floods[i] += height * np.exp(-0.5 * ((t - at) / width) ** 2)
    values = np.round(datum + walk + tide + floods + rng.normal(0, 0.02, (series, n)), 3)
    return np.broadcast_to(T0 + t * 600.0, values.shape), values


def fill(store: SqliteStore, ts: np.ndarray, values: np.ndarray) -> None:
    for i in range(ts.shape[0]):
        src = f"gauge:{i:04d}"
        events = [Event("sensor", src, t, f"G-{i % 50:02d}", f"{src}:{j}", metric="water_level_m", value=v)
                  for j, (t, v) in enumerate(zip(ts[i].tolist(), values[i].tolist(), strict=True))]
        store.add_events(events, T0)


def streamed_episodes(rule: Rule, events: list[Event], chain: object = None) -> int:
    engine = DetectorEngine([rule], chain) if chain else DetectorEngine([rule])
    raised, level = 0, {}
    for s in engine.process(events):
        if s.level is not None and not level.get(s.series):
            raised += 1
        level[s.series] = int(s.level or 0)
    return raised


def bench_synthetic(series: int, days: int, use_store: bool) -> None:
    ts, values = synthetic(series, days)
    print(f"synthetic: {series} series x {days} days of 10-minute readings = {values.size:,} points")
    if use_store:
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStore(Path(tmp) / "bench.db", synchronous="OFF")
            clock = time.perf_counter()
            fill(store, ts, values)
            print(f"  store fill (add_events, not part of a backtest): {time.perf_counter() - clock:.1f} s")
            clock = time.perf_counter()
            with paused_gc():  # as the route does
                rows = store.history_rows(feed="sensor", metric="water_level_m", category=None, source=None,
                                          start=T0, end=T0 + days * 86400)
            fetched = time.perf_counter() - clock
            store.close()
    else:
        rows, fetched = [(f"gauge:{i:04d}", f"G-{i % 50:02d}", None, t, v) for j in range(ts.shape[1])
                         for i, (t, v) in enumerate(zip(ts[:, j].tolist(), values[:, j].tolist(), strict=True))], 0.0
    clock, cpu = time.perf_counter(), time.process_time()
    result = simulate(RULE, rows)
    took, cpu = time.perf_counter() - clock, time.process_time() - cpu
    print(f"  fetch from SQLite (history_rows): {fetched:.2f} s for {len(rows):,} rows")
    print(f"  vectorised backtest: {took:.2f} s wall, {cpu:.2f} s CPU -> {len(result.episodes)} episodes in "
          f"{len(result.series)} series ({result.points / took / 1e6:.1f} M points/s)")
    print(f"  fetch + backtest: {fetched + took:.2f} s")
    tenth = max(1, series // 10)
    events = sorted((Event("sensor", f"gauge:{i:04d}", t, "G", "", metric="water_level_m", value=v)
                     for i in range(tenth) for t, v in zip(ts[i].tolist(), values[i].tolist(), strict=True)),
                    key=lambda e: e.ts)
    clock = time.perf_counter()
    streamed_episodes(RULE, events)
    per = (time.perf_counter() - clock) / len(events)
    print(f"  streaming engine for comparison: {per * 1e6:.2f} us/point -> {per * values.size:.1f} s for all")


def bench_hubeau() -> None:
    os.environ.setdefault("FENGHUO_WEBHOOK_SECRET", "benchmark-only-secret")  # the example config's channels
    config = load_config(ROOT / "fenghuo" / "demo" / "fenghuo.example.yaml")
    from fenghuo.ingest.adapters import read_records

    tree = GridTree(config.nodes, config.grid_match_km)
    resolve = make_resolver(tree)
    events = sorted((parse_event(r, resolve) for r in read_records(HUBEAU, fmt="hubeau")), key=lambda e: e.ts)
    rule = next(r for r in config.rules if r.id == "river-level")
    rows = [(e.source, e.grid, e.category, e.ts, e.value) for e in events]

    def chain(grid: str) -> list[str]:
        return [n.id for n in tree.chain(grid)] or [grid]

    clock = time.perf_counter()
    result = simulate(rule, rows, chain)
    took = time.perf_counter() - clock
    clock = time.perf_counter()
    streamed = streamed_episodes(rule, events, chain)
    slow = time.perf_counter() - clock
    print(f"Hub'Eau Jan-Feb 2020: {len(result.series)} stations, {result.points:,} readings, example rule river-level")
    print(f"  vectorised: {took * 1000:.0f} ms, {len(result.episodes)} episodes; "
          f"streaming engine: {slow * 1000:.0f} ms, {streamed} episodes "
          f"({'equal' if streamed == len(result.episodes) else 'DIFFERENT'})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--no-store", action="store_true", help="skip SQLite: time the backtest on rows in memory")
    args = ap.parse_args()
    bench_synthetic(args.series, args.days, not args.no_store)
    if HUBEAU.exists():
        bench_hubeau()


if __name__ == "__main__":
    main()
