"""Where a batched detector worker's time goes (issue 19, item 4: profile first), on the real data.

cProfile of, on the Hub'Eau river levels + Boston 311 events of ``benchmarks/embedded.py`` (validated with the
example configuration's grid resolver, as ``benchmarks/kafka_bench.py`` puts them on the topics):

1. the detector worker's per-batch path without a broker (``benchmarks.capacity.replay``: ``event_from_wire`` of each
   record, grouped by grid, ``GridState.loads``, ``GridRunner.run``, ``GridState.dumps`` (the changelog value),
   ``batch_to_wire``), with the example's rules, then with its grid-stage models too;
2. the embedded pipeline with the example's models (``Pipeline.ingest``: validation, SQLite, detectors, alerts).

Each is run once without the profiler (events per CPU-second) and once under it; printed: the top functions by
cumulative and by own time, and the own time grouped by what it is for (:func:`by_category`; a C function's time
goes to the category of its callers, e.g. ``msgpack.packb`` called by the state codec counts as state encoding).
The worker under Kafka (faust, aiokafka, the sends) is profiled by ``benchmarks.throughput --profile DIR``.

    python -m benchmarks.throughput_profile [--events 200000] [--top 25] [--save DIR]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import resource
import sysconfig
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

# What the own time of a function is for, by "path:function" substrings; the first match wins (so the state
# methods of a detector count as state, not as that detector). C functions ("~") go to their callers' category.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("grid state encode/decode (changelog value)", (
        "fenghuo/core/state.py", "grid_runner.py:dumps", "grid_runner.py:loads", "grid_runner.py:peek",
        "grid_runner.py:encode", ":live_state", ":snapshot", ":restore", "site-packages/msgpack/")),
    ("event decode (JSON, event_from_wire)", ("bus.py:event_from_wire", "json/decoder.py", "json/__init__.py:loads",
                                             "rule_marks.py:is_mark")),
    ("Event/Signal objects (dataclass __init__, models.py)", ("fenghuo/core/models.py", "<string>:__init__")),
    ("signal encode (batch_to_wire)", ("bus.py:batch_to_wire", "bus.py:signal_to_dict", "json/encoder.py",
                                       "json/__init__.py:dumps")),
    ("rules (threshold/rate/count, hysteresis)", ("detectors/rules.py", "detectors/hysteresis",
                                                  "detectors/timebase.py")),
    ("model detectors", ("detectors/anomaly/", "detectors/forecast", "detectors/bursts.py",
                         "detectors/burst_baseline.py", "detectors/text/", "detectors/risk/", "detectors/fusion.py",
                         "detectors/asset.py", "detectors/health.py", "site-packages/numpy/",
                         "site-packages/sklearn/", "site-packages/scipy/")),
    ("detector engine dispatch", ("detectors/",)),
    ("grid runner (offsets, event ids, clocks)", ("runtime/kafka/grid_runner.py",)),
    ("worker glue (batching, grouping by grid: detector_worker.py, capacity.replay)", (
        "runtime/kafka/", "benchmarks/capacity.py:replay")),
    ("validation (ingest)", ("/ingest/",)),
    ("store (SQLite)", ("fenghuo/core/store/", "sqlite3")),
    ("alerts", ("/alerts/",)),
    ("faust/mode (stream machinery)", ("site-packages/faust/", "site-packages/mode/")),
    ("aiokafka/kafka-python (client)", ("site-packages/aiokafka/", "site-packages/kafka/")),
    ("asyncio event loop", ("/asyncio/",)),
    ("logging", ("/logging/",)),
)
OTHER = "other"
Func = tuple[str, int, str]  # pstats' key: (file, line, function)


def category_of(func: Func, categories: tuple[tuple[str, tuple[str, ...]], ...] = CATEGORIES) -> str | None:
    """The category of a Python function (None for a C function: it takes its callers').

    >>> category_of(("/x/fenghuo/runtime/kafka/bus.py", 10, "event_from_wire"))
    'event decode (JSON, event_from_wire)'
    >>> category_of(("/x/detectors/forecast.py", 468, "live_state"))
    'grid state encode/decode (changelog value)'
    >>> category_of(("~", 0, "<built-in method builtins.len>")) is None
    True
    """
    if func[0] == "~":
        return None
    key = f"{func[0]}:{func[2]}"
    for name, needles in categories:
        if any(n in key for n in needles):
            return name
    return OTHER


def by_category(stats: Mapping[Func, tuple[Any, ...]],
                categories: tuple[tuple[str, tuple[str, ...]], ...] = CATEGORIES) -> dict[str, float]:
    """Own time (seconds) per category from pstats' raw ``stats`` ({func: (cc, nc, tt, ct, callers)}, callers
    {caller: (cc, nc, tt, ct)}). A C function's own time is split among its callers by the time each caller spent
    in it, and goes to their categories (a C caller's in turn to its callers'), so the total is kept.

    >>> py = ("/x/fenghuo/core/state.py", 1, "dumps")
    >>> dec = ("/x/fenghuo/runtime/kafka/bus.py", 2, "event_from_wire")
    >>> pack = ("~", 0, "<built-in method msgpack.packb>")
    >>> raw = {py: (1, 1, 0.1, 0.5, {}), dec: (1, 1, 0.2, 0.2, {}), pack: (2, 2, 0.4, 0.4, {py: (1, 1, 0.3, 0.3),
    ...        dec: (1, 1, 0.1, 0.1)})}
    >>> {k: round(v, 3) for k, v in by_category(raw).items()}
    {'grid state encode/decode (changelog value)': 0.4, 'event decode (JSON, event_from_wire)': 0.3}
    """
    memo: dict[Func, dict[str, float]] = {}

    def shares(func: Func, seen: frozenset[Func]) -> dict[str, float]:
        """How a unit of ``func``'s own time splits over categories."""
        if func in memo:
            return memo[func]
        own = category_of(func, categories)
        if own is not None:
            memo[func] = {own: 1.0}
            return memo[func]
        callers = stats[func][4] if func in stats else {}
        weights = {c: v[2] for c, v in callers.items() if c not in seen}
        total = sum(weights.values())
        if total <= 0:
            weights = {c: 1.0 for c in callers if c not in seen}
            total = sum(weights.values())
        out: dict[str, float] = {}
        if total <= 0:
            out = {OTHER: 1.0}
        else:
            for caller, w in weights.items():
                for cat, share in shares(caller, seen | {func}).items():
                    out[cat] = out.get(cat, 0.0) + share * w / total
        memo[func] = out
        return out

    result: dict[str, float] = {}
    for func, row in stats.items():
        for cat, share in shares(func, frozenset()).items():
            result[cat] = result.get(cat, 0.0) + share * row[2]
    return dict(sorted(result.items(), key=lambda kv: -kv[1]))


def category_lines(stats: pstats.Stats, wall: float | None = None) -> list[str]:
    """The own time per category with its share of the profiled total."""
    cats = by_category(stats.stats)  # type: ignore[attr-defined]
    total = sum(cats.values()) or 1.0
    head = f"own time by category (profiled total {total:.2f} s" + (f", wall {wall:.2f} s" if wall else "") + "):"
    return [head] + [f"  {secs / total * 100:5.1f}%  {secs:7.2f} s  {cat}" for cat, secs in cats.items()
                     if secs / total >= 0.002]


def top_lines(stats: pstats.Stats, key: str, top: int) -> list[str]:
    """pstats' own table of the ``top`` functions by ``key`` ("cumulative" or "tottime"), paths shortened."""
    buf = io.StringIO()
    stats.stream = buf  # type: ignore[attr-defined]
    stats.sort_stats(key).print_stats(top)
    lines = buf.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().startswith("ncalls")), 0)
    return [shorten(line) for line in lines[start:] if line.strip()]


def shorten(line: str) -> str:
    """A pstats line with the site-packages and repository prefixes cut."""
    for prefix in (str(Path(__file__).resolve().parents[1]) + "/", sysconfig.get_paths()["stdlib"] + "/"):
        line = line.replace(prefix, "")
    return re.sub(r"\.venv/lib/python3\.\d+/site-packages/", "", line)


def report(stats: pstats.Stats, title: str, top: int, wall: float | None = None) -> None:
    print(f"\n-- profile: {title}")
    for line in category_lines(stats, wall):
        print(line)
    for key in ("cumulative", "tottime"):
        print(f"top {top} by {key}:")
        for line in top_lines(stats, key, top):
            print("  " + line)


def measured(fn: Callable[[], Any]) -> dict[str, float]:
    """Run ``fn`` without the profiler: wall seconds, CPU seconds of this thread (``main``), of the whole process
    (``process``: the forecast's Prophet fits run on a thread of their own) and of child processes (``children``:
    cmdstan, if Prophet fits run and end meanwhile)."""
    def children() -> float:
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime

    w, m, c, k = time.perf_counter(), time.thread_time(), time.process_time(), children()
    fn()
    return {"wall": time.perf_counter() - w, "main": time.thread_time() - m, "process": time.process_time() - c,
            "children": children() - k}


def cpu_line(n: int, r: dict[str, float]) -> str:
    return (f"{n / r['process']:,.0f} events per CPU-second of this process ({n:,} events, wall {r['wall']:.2f} s, "
            f"CPU: main thread {r['main']:.2f} s, all threads {r['process']:.2f} s, child processes "
            f"{r['children']:.2f} s)")


def profiled(fn: Callable[[], Any], save: Path | None, name: str) -> tuple[pstats.Stats, float]:
    """Run ``fn`` under cProfile; its stats (also written to ``save/name.prof``) and wall seconds."""
    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    fn()
    prof.disable()
    wall = time.perf_counter() - t
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        prof.dump_stats(str(save / f"{name}.prof"))
    return pstats.Stats(prof), wall


def main() -> None:
    from benchmarks.capacity import make_runner, replay
    from benchmarks.embedded import load_records, make_pipeline
    from benchmarks.kafka_bench import validated
    from fenghuo.cli.main import EXAMPLE_CONFIG
    from fenghuo.core.config import load_config
    from fenghuo.runtime.kafka.bus import event_to_wire

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=200_000, help="first N merged events for the worker's path")
    ap.add_argument("--batch", type=int, default=2000, help="events per worker batch (up to 2,000 a fetch)")
    ap.add_argument("--embedded-batch", type=int, default=5000, help="records per Pipeline.ingest call")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--save", type=Path, help="write each profile as DIR/<name>.prof")
    ap.add_argument("--skip", choices=["worker", "embedded"], action="append", default=[])
    ap.add_argument("--show", type=Path, nargs="+", help="only print these saved .prof files' tables")
    args = ap.parse_args()
    if args.show:
        for path in args.show:
            report(pstats.Stats(str(path)), str(path), args.top)
        return
    os.environ.setdefault("FENGHUO_WEBHOOK_SECRET", "bench-only")
    records = load_records(None)
    if "worker" not in args.skip:
        events, _ = validated(records, load_config(EXAMPLE_CONFIG))
        wire = [event_to_wire(e, rx=e.ts) for e in events[: args.events]]
        print(f"worker batch path: {len(wire):,} real events (wire bytes as on the event topics), batches of "
              f"{args.batch}")
        for models in (False, True):
            what = "rules + grid-stage models" if models else "rules"
            runner = make_runner(models)
            got: dict[str, Any] = {}
            cpu = measured(lambda runner=runner, got=got: got.update(replay(wire, runner, args.batch)))
            print(f"\n== worker batch path, {what}, no profiler: {cpu_line(len(wire), cpu)}; "
                  f"{got['state_writes']:,} state writes, state {got['state_mean'] / 1024:.1f} KiB mean, "
                  f"{got['signals']:,} signals")
            runner = make_runner(models)
            stats, wall = profiled(lambda runner=runner: replay(wire, runner, args.batch), args.save,
                                   f"worker-path-{'models' if models else 'rules'}")
            report(stats, f"worker batch path, {what}", args.top, wall)
    if "embedded" not in args.skip:
        def ingest_all(p: Any) -> None:
            for i in range(0, len(records), args.embedded_batch):
                p.ingest(records[i: i + args.embedded_batch])

        with tempfile.TemporaryDirectory() as tmp:
            p = make_pipeline(Path(tmp), "FULL", models=True)
            cpu = measured(lambda: ingest_all(p))
            print(f"\n== embedded pipeline with the example's models, no profiler: {p.stats.events / cpu['wall']:,.0f} "
                  f"events/s wall; {cpu_line(p.stats.events, cpu)}")
            p.store.close()
        with tempfile.TemporaryDirectory() as tmp:
            p = make_pipeline(Path(tmp), "FULL", models=True)
            stats, wall = profiled(lambda: ingest_all(p), args.save, "embedded-models")
            p.store.close()
        report(stats, "embedded pipeline with the example's models", args.top, wall)


if __name__ == "__main__":
    main()
