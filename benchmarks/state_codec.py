"""The Kafka detector worker's per-batch state write: GridState read + write per grid batch, as the worker
does it (``GridState.loads(table[key])``, run, ``table[key] = gs.dumps()``), on real data.

Hub'Eau river levels (January 2020) through the grid stage (the rules of the example configuration, the
forecasts in their fallback model, the example's anomaly model, then an IsolationForest instead), and
Boston 311 complaints through the district stage (complaint bursts, whose state is the largest), in
batches of ``--batch`` events grouped by key as the worker takes them. The table keeps the bytes written
(as faust's table does), so each read gets the very bytes of the previous write.

The same script runs against the previous release (pickled state), for the before/after comparison:

    python -m benchmarks.state_codec                                     # this release
    cd /tmp/fenghuo-old && PYTHONPATH=/tmp/fenghuo-old python /work/main/benchmarks/state_codec.py

Prints figures (time in the state codec per grid batch, its share of the batch, the bytes written, a cold
read: decoding the bytes, as a replacement worker does, and what the largest state holds: its recent ids,
the rules' state and each model detector's, in KiB as written); asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any

try:  # this release
    from fenghuo.cli.main import EXAMPLE_CONFIG, demo_config
    from fenghuo.core.config import Detectors, load_config
    from fenghuo.core.grids import GridTree
    from fenghuo.ingest.adapters import read_records
    from fenghuo.ingest.events import make_resolver, parse_event
    from fenghuo.runtime.kafka.district_runner import DistrictRunner
    from fenghuo.runtime.kafka.grid_runner import GridRunner, GridState

    RELEASE = "this release (versioned msgpack state)"
except ImportError:  # the previous release (0.1.0), run with PYTHONPATH=/tmp/fenghuo-old
    from detectors.district_runner import DistrictRunner  # type: ignore[no-redef]
    from detectors.grid_runner import GridRunner, GridState  # type: ignore[no-redef]

    from fenghuo.cli import EXAMPLE_CONFIG, demo_config  # type: ignore[no-redef,attr-defined]
    from fenghuo.config import Detectors, load_config  # type: ignore[no-redef]
    from fenghuo.events import make_resolver, parse_event  # type: ignore[no-redef]
    from fenghuo.grids import GridTree  # type: ignore[no-redef]
    from ingest.adapters import read_records  # type: ignore[no-redef]

    RELEASE = "previous release 0.1.0 (pickle)"

DATA = Path(os.environ.get("FENGHUO_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data"
GRID_MODELS = {
    "example (forecast fallback + anomaly records_local)": {
        "forecast": {"model": "fallback", "refit_mode": "inline"},
        "anomaly": {"detector": "records_local", "metrics": ["water_level_m"]}},
    "iforest": {"anomaly": {"detector": "iforest"}},
}
DISTRICT_MODELS = {"bursts": {}}


def load(limit: int) -> tuple[list[Any], list[Any], Any, Any]:
    os.environ.setdefault("FENGHUO_WEBHOOK_SECRET", "bench-only")
    config = demo_config(load_config(EXAMPLE_CONFIG))
    tree = GridTree(config.nodes, config.grid_match_km)
    resolve = make_resolver(tree)
    hub = DATA / "hubeau-river-levels-2020" / "hubeau_water_level_10min_2020-01-07_2020-02-07.csv.gz"
    bos = DATA / "boston311-2015" / "boston_311_2015.csv.gz"
    sensors = sorted((parse_event(r, resolve) for r in islice(read_records(hub, fmt="hubeau"), limit)),
                     key=lambda e: e.ts)
    complaints = sorted((parse_event(r, resolve) for r in islice(read_records(bos, fmt="boston311"), limit // 4)),
                        key=lambda e: e.ts)

    def chain(grid: str) -> list[str]:
        return [n.id for n in tree.chain(grid)] or [grid]

    return sensors, complaints, config, chain


def measure(events: list[Any], batch: int, key: Callable[[Any], str], run: Callable[[Any, list[Any], int], None]
            ) -> dict[str, float]:
    """Batches of ``batch`` events, grouped by key; per group: read the state, run, write it back."""
    table: dict[str, bytes] = {}
    read_s = write_s = run_s = 0.0
    writes = 0
    sizes: list[int] = []
    offset = 0
    for i in range(0, len(events), batch):
        groups: dict[str, list[Any]] = {}
        for e in events[i: i + batch]:
            groups.setdefault(key(e), []).append(e)
        for k, evs in groups.items():
            t0 = time.perf_counter()
            gs = GridState.loads(table.get(k))
            t1 = time.perf_counter()
            run(gs, evs, offset)
            offset += len(evs)
            t2 = time.perf_counter()
            raw = gs.dumps()
            t3 = time.perf_counter()
            table[k] = raw
            read_s, run_s, write_s = read_s + t1 - t0, run_s + t2 - t1, write_s + t3 - t2
            writes += 1
            sizes.append(len(raw))
    cold = []  # a replacement worker: every state decoded from its bytes (none kept beside them)
    getattr(sys.modules[GridState.__module__], "_live", {}).clear()
    for raw in table.values():
        t0 = time.perf_counter()
        GridState.loads(raw)
        cold.append(time.perf_counter() - t0)
    return {"batches": writes, "read_us": read_s / writes * 1e6, "write_us": write_s / writes * 1e6,
            "codec_us": (read_s + write_s) / writes * 1e6, "run_us": run_s / writes * 1e6,
            "share": (read_s + write_s) / (read_s + write_s + run_s),
            "events_per_s": len(events) / (read_s + write_s + run_s),
            "bytes_mean": statistics.mean(sizes), "bytes_max": max(sizes),
            "cold_read_ms": statistics.mean(cold) * 1e3, "states": len(table),
            "largest": parts(max(table.values(), key=len))}


def parts(raw: bytes) -> str:
    """What a state written as ``raw`` holds, in KiB as written: its recent ids, the rules' state, each model's."""
    try:
        import msgpack

        from fenghuo.core import state as saved
    except ImportError:  # the previous release: no breakdown
        return "n/a"

    def kib(x: Any) -> str:
        return f"{len(msgpack.packb(x, use_bin_type=True, strict_types=True, default=saved._default)) / 1024:.1f}"

    data = saved.unpack(raw, objects=True)["data"]
    engine = data["engine"].get("data", {})
    out = [f"ids {kib(data['ids'])}", f"rules {kib(engine.get('rules', []))}"]
    out += [f"{name} {kib(m)}" for name, m in engine.get("models", {}).items()]
    return f"{len(raw) / 1024:.1f} KiB: " + ", ".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=60000, help="river readings (complaints: a quarter of it)")
    ap.add_argument("--batch", type=int, default=500, help="events per batch taken from Kafka")
    ap.add_argument("--repeat", type=int, default=3, help="runs per case; the best is shown")
    args = ap.parse_args()
    sensors, complaints, config, chain = load(args.rows)
    print(f"== GridState read + write per grid batch, {RELEASE}")
    print(f"{len(sensors)} river readings, {len(complaints)} complaints, batches of {args.batch}")
    cases: list[tuple[str, list[Any], Callable[[Any], str], Callable[[], Callable[[Any, list[Any], int], None]]]] = []
    for name, models in GRID_MODELS.items():
        def grid_case(models: dict[str, Any] = models) -> Callable[[Any, list[Any], int], None]:
            runner = GridRunner(config.rules, chain, Detectors(**models))
            return lambda gs, evs, off: runner.run(
                gs, [(e, ("ev", 0, off + j), None) for j, e in enumerate(evs)]) and None
        cases.append((f"grid stage, {name}", sensors, lambda e: e.grid, grid_case))

    def district_case() -> Callable[[Any, list[Any], int], None]:
        runner = DistrictRunner(Detectors(**DISTRICT_MODELS), chain)
        return lambda ds, evs, off: runner.run(
            ds, [(e, ("ev", 0, off + j), ("hop", 0, off + j), None) for j, e in enumerate(evs)]) and None
    top = DistrictRunner(Detectors(**DISTRICT_MODELS), chain).top
    cases.append(("district stage, bursts", complaints, lambda e: top(e.grid), district_case))
    for name, events, key, make in cases:
        best: dict[str, float] | None = None
        for _ in range(args.repeat):
            r = measure(events, args.batch, key, make())
            if best is None or r["codec_us"] < best["codec_us"]:
                best = r
        assert best is not None
        print(f"{name}: {best['states']} states, {best['batches']} state writes; "
              f"read {best['read_us']:.0f} us + write {best['write_us']:.0f} us = {best['codec_us']:.0f} us per batch "
              f"({best['share']:.1%} of the batch; run {best['run_us']:.0f} us); {best['events_per_s']:.0f} events/s; "
              f"{best['bytes_mean'] / 1024:.1f} KiB mean, {best['bytes_max'] / 1024:.1f} KiB max; "
              f"cold read {best['cold_read_ms']:.2f} ms")
        print(f"   largest state {best['largest']}")


if __name__ == "__main__":
    main()
