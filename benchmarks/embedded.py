"""Embedded pipeline benchmark: events/s and event-to-alert latency on a mixed replay of real data.

Real Hub'Eau river levels (Storm Gloria) and Boston 311 complaints, merged in event-time order,
through the whole embedded path (validate, store in SQLite with WAL, detect, alert stages, outbox)
with the example configuration. Prints figures; asserts nothing.

    python -m benchmarks.embedded [--limit N] [--batch 5000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from fenghuo.cli.main import EXAMPLE_CONFIG, demo_config
from fenghuo.core.config import Detectors, load_config
from fenghuo.core.settings import Settings
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.ingest.adapters import read_records
from fenghuo.runtime.embedded import Pipeline
from fenghuo.runtime.gc_tuning import tune_gc

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FENGHUO_SHARED", ROOT.parent / "shared")) / "data"


def load_records(limit: int | None) -> list[dict[str, Any]]:
    hub = DATA / "hubeau-river-levels-2020" / "hubeau_water_level_10min_2020-01-07_2020-02-07.csv.gz"
    bos = DATA / "boston311-2015" / "boston_311_2015.csv.gz"
    records = list(read_records(hub, fmt="hubeau")) + list(read_records(bos, fmt="boston311"))
    records.sort(key=lambda r: r["ts"])
    return records[:limit] if limit else records


def make_pipeline(tmp: Path, synchronous: str = "FULL", models: bool = False) -> Pipeline:
    """The example configuration; without ``models`` its model detectors are left out (rules only). The garbage
    collector is tuned as ``fenghuo run`` tunes it after its start (:func:`tune_gc`), which here also freezes the
    records loaded before: a service holds no such input, and scanning them cost ~0.5 s per full collection."""
    os.environ.setdefault("FENGHUO_WEBHOOK_SECRET", "bench-only")
    config = demo_config(load_config(EXAMPLE_CONFIG))
    if not models:
        config = config.model_copy(update={"detectors": Detectors()})
    settings = Settings(data_dir=tmp, clock="event")
    pipeline = Pipeline(settings, config, SqliteStore(tmp / "bench.db", synchronous=synchronous))
    tune_gc()
    return pipeline


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")


def throughput(records: list[dict[str, Any]], batch: int, synchronous: str, models: bool = False) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        p = make_pipeline(Path(tmp), synchronous, models)
        t0 = time.perf_counter()
        for i in range(0, len(records), batch):
            p.ingest(records[i: i + batch])
        elapsed = time.perf_counter() - t0
        out = {"events": p.stats.events, "seconds": elapsed, "events_per_s": p.stats.events / elapsed,
               "signals": p.stats.signals, "alerts": len(p.store.all_alerts())}
        p.store.close()
        return out


def stage_split(records: list[dict[str, Any]], batch: int) -> dict[str, float]:
    """Events/s of each stage alone: validation, store, detectors."""
    with tempfile.TemporaryDirectory() as tmp:
        p = make_pipeline(Path(tmp))
        t = time.perf_counter()
        parsed = [p.parse(records[i: i + batch])[0] for i in range(0, len(records), batch)]
        t_parse = time.perf_counter() - t
        t = time.perf_counter()
        for evs in parsed:
            p.store.add_events(evs, 0.0)
        t_store = time.perf_counter() - t
        t = time.perf_counter()
        for evs in parsed:
            p.engine.process(evs)
        t_detect = time.perf_counter() - t
        p.store.close()
    n = len(records)
    return {"validate": n / t_parse, "store": n / t_store, "detect": n / t_detect}


def latency(records: list[dict[str, Any]], batch: int, rate: float) -> list[float]:
    """Event-to-alert latency: replay at ``rate`` events/s in batches; for each event that changed an
    alert, the time from its arrival (its place in the paced stream) to the alert being persisted."""
    with tempfile.TemporaryDirectory() as tmp:
        p = make_pipeline(Path(tmp))
        out: list[float] = []
        start = time.perf_counter()
        for i in range(0, len(records), batch):
            chunk = records[i: i + batch]
            due = start + (i + len(chunk)) / rate  # the last event of the batch arrives then
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            before = p.stats.alerts_changed
            arrived = [start + (i + k) / rate for k in range(len(chunk))]
            p.ingest(chunk)
            done = time.perf_counter()
            if p.stats.alerts_changed > before:
                out.append(done - min(arrived[0], done))
        p.store.close()
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--batch", type=int, default=5000)
    args = ap.parse_args()
    t = time.perf_counter()
    records = load_records(args.limit)
    print(f"records: {len(records):,} (Hub'Eau river levels + Boston 311), read in {time.perf_counter() - t:.1f} s")
    for sync, models in (("FULL", False), ("NORMAL", False), ("FULL", True)):
        r = throughput(records, args.batch, sync, models)
        what = "rules + the example's model detectors" if models else "rules"
        print(f"embedded pipeline ({what}), batches of {args.batch}, SQLite synchronous={sync}: "
              f"{r['events_per_s']:,.0f} events/s ({r['events']:,} events in {r['seconds']:.2f} s; "
              f"{r['signals']} signals, {r['alerts']} alerts)")
    split = stage_split(records, args.batch)
    print("stages alone (events/s): " + ", ".join(f"{k} {v:,.0f}" for k, v in split.items()))
    sample = records[: min(len(records), 60_000)]
    for rate, batch in ((5_000, 50), (20_000, 200)):
        lat = latency(sample, batch, rate)
        print(f"event->alert latency at {rate:,} events/s (batches of {batch}): "
              f"p50 {statistics.median(lat) * 1000:.1f} ms, p99 {pct(lat, 0.99) * 1000:.1f} ms "
              f"over {len(lat)} alert-changing batches")


if __name__ == "__main__":
    main()
