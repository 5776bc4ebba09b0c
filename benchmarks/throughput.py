"""Throughput side by side (issue 19, item 4): the batched detector worker against the practical limit, in one run.

On ONE set of event topics (8 partitions, fresh prefix ``tp<random>``) holding the first ``--events`` real events
(Hub'Eau river levels + Boston 311, merged by event time and validated with the example configuration's grid
resolver, keyed by grid: as ``benchmarks/kafka_bench.py`` loads them), one after the other:

a. a plain kafka-python consumer (no group, this process) that reads every record, once as bytes only and once
   decoding each into an :class:`Event` (``event_from_wire``, rule marks skipped): the practical limit of a
   Python consumer of these topics;
b. ONE batched detector worker (``fenghuo worker detectors``, a process) with the example's rules, then ONE with
   its model detectors too (its own consumer group and changelog: ``benchmarks.throughput_worker --group-suffix``);
c. ONE worker with the per-event agent (``--per-event``), for ``--per-event-seconds``;
d. with ``--profile DIR``: the batched worker with the rules again, its main thread under cProfile over the measured
   window (``DIR/worker-kafka.prof``), its top functions and own time by category printed.

Then the embedded pipeline (``benchmarks/embedded.py``'s ``throughput``: validation, SQLite, detectors, alerts,
batches of 5,000, synchronous=FULL) over all the merged events, without and with the example's models.

A worker's rate is counted from the signals topic as in ``benchmarks/kafka_bench.py`` (events processed between its
first and last signal record over the time between them); CPU per process and per worker thread from /proc. Prints
the figures and the ratios against the targets (worker 50,000 events/s with the rules, 20,000 with the models;
embedded 100,000 with the models). Without ``--bootstrap`` only the embedded part runs. Asserts nothing.

    python -m benchmarks.throughput --bootstrap 127.0.0.1:59560 [--events 200000] [--profile DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.embedded import load_records
from benchmarks.embedded import throughput as embedded_throughput
from benchmarks.kafka_bench import (
    PARTITIONS,
    Workers,
    bench_config,
    listener_pid,
    make_topics,
    preload,
    run_detector,
    seed_rules,
    validated,
)
from fenghuo.runtime.kafka.bus import Topics, event_from_wire
from fenghuo.runtime.kafka.rule_marks import is_mark

WORKER_TARGET = 50_000.0  # events/s, one batched worker, the example's rules (issue 19, item 4)
MODELS_TARGET = 20_000.0  # the same with the example's models
EMBEDDED_TARGET = 100_000.0  # the embedded pipeline with the example's models


@dataclass
class Figures:
    """The measured events/s (None: not measured in this run)."""

    plain_read: float | None = None
    plain_decode: float | None = None
    aiokafka_decode: float | None = None
    worker: float | None = None
    worker_models: float | None = None
    per_event: float | None = None
    embedded: float | None = None
    embedded_models: float | None = None
    # events per CPU-second of the reader's process (the machine's 2 cores are shared: wall rates are depressed)
    plain_decode_cpu: float | None = None
    worker_cpu: float | None = None
    worker_models_cpu: float | None = None
    per_event_cpu: float | None = None


def ratio(a: float | None, b: float | None) -> str:
    """``a / b`` as "12.3x" (or "n/a" when either is missing).

    >>> ratio(8645, 180), ratio(None, 2.0), ratio(25_000, 50_000)
    ('48.0x', 'n/a', '0.50x')
    """
    if a is None or b is None or b <= 0 or a != a:
        return "n/a"
    r = a / b
    return f"{r:.2f}x" if r < 10 else f"{r:.1f}x"


def summary(f: Figures) -> list[str]:
    """The ratios the issue asks for, each with its two figures.

    >>> summary(Figures(plain_decode=40_000, worker=8_000))[:2]
    ['batched worker (rules) / plain consumer reading and decoding: 0.20x (8,000 / 40,000 events/s)', \
'batched worker (rules) / target 50,000: 0.16x (8,000 / 50,000 events/s)']
    """
    def fig(v: float | None) -> str:
        return "n/a" if v is None else f"{v:,.0f}"

    rows = [
        ("batched worker (rules) / plain consumer reading and decoding", f.worker, f.plain_decode),
        ("batched worker (rules) / target 50,000", f.worker, WORKER_TARGET),
        ("batched worker (rules) / plain aiokafka consumer reading and decoding", f.worker, f.aiokafka_decode),
        ("batched worker (rules + models) / plain consumer reading and decoding", f.worker_models, f.plain_decode),
        ("batched worker (rules + models) / target 20,000", f.worker_models, MODELS_TARGET),
        ("batched worker (rules) / per-event agent", f.worker, f.per_event),
        ("plain consumer decoding / reading bytes only", f.plain_decode, f.plain_read),
        ("embedded pipeline (rules + models) / target 100,000", f.embedded_models, EMBEDDED_TARGET),
        ("embedded pipeline (rules + models) / embedded (rules)", f.embedded_models, f.embedded),
    ]
    per_cpu = [
        ("batched worker (rules) / plain consumer reading and decoding", f.worker_cpu, f.plain_decode_cpu),
        ("batched worker (rules) / target 50,000", f.worker_cpu, WORKER_TARGET),
        ("batched worker (rules + models) / target 20,000", f.worker_models_cpu, MODELS_TARGET),
        ("batched worker (rules) / per-event agent", f.worker_cpu, f.per_event_cpu),
    ]
    return ([f"{label}: {ratio(a, b)} ({fig(a)} / {fig(b)} events/s)" for label, a, b in rows]
            + [f"per CPU-second, {label}: {ratio(a, b)} ({fig(a)} / {fig(b)} events per CPU-second)"
               for label, a, b in per_cpu if a is not None])


def plain_consumer(bootstrap: str, topics: Topics, decode: bool, timeout_s: float = 300.0) -> dict[str, float]:
    """Read every record of the event topics from the beginning with one group-less kafka-python consumer (in this
    process), decoding each into an Event with ``decode`` (rule marks skipped, as a worker passes them over).
    Returns events/s over the wall time from the first poll to the last record, and this process's CPU share."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             client_id="fenghuo-bench-plain", max_poll_records=5000,
                             max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024)
    try:
        parts = [TopicPartition(t, p) for t in topics.events for p in sorted(consumer.partitions_for_topic(t) or [])]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        begin, end = consumer.beginning_offsets(parts), consumer.end_offsets(parts)
        total = sum(end[tp] - begin[tp] for tp in parts)
        seen = events = marks = 0
        cpu0, t0 = time.process_time(), time.perf_counter()
        while seen < total and time.perf_counter() - t0 < timeout_s:
            for batch in consumer.poll(timeout_ms=500, max_records=5000).values():
                for r in batch:
                    seen += 1
                    if is_mark(r.value):
                        marks += 1
                    elif decode:
                        event_from_wire(r.value)
                        events += 1
                    else:
                        events += 1
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        consumer.close()
    return {"events": events, "marks": marks, "seconds": wall, "rate": events / wall, "cpu": cpu / wall}


def plain_aiokafka(bootstrap: str, topics: Topics, decode: bool, timeout_s: float = 300.0) -> dict[str, float]:
    """As :func:`plain_consumer` with aiokafka (the client under faust, in the worker), ``getmany`` batches of
    up to 5,000 records: what the worker's own client gives without faust's per-message stream."""
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def run() -> dict[str, float]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest", max_partition_fetch_bytes=4 * 1024 * 1024,
                                    fetch_max_bytes=64 * 1024 * 1024)
        await consumer.start()
        try:
            parts = [TopicPartition(t, p) for t in topics.events for p in range(PARTITIONS)]  # as make_topics made
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            begin, end = await consumer.beginning_offsets(parts), await consumer.end_offsets(parts)
            total = sum(end[tp] - begin[tp] for tp in parts)
            seen = events = marks = 0
            cpu0, t0 = time.process_time(), time.perf_counter()
            while seen < total and time.perf_counter() - t0 < timeout_s:
                got = await consumer.getmany(timeout_ms=500, max_records=5000)
                for batch in got.values():
                    for r in batch:
                        seen += 1
                        if is_mark(r.value):
                            marks += 1
                            continue
                        if decode:
                            event_from_wire(r.value)
                        events += 1
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        finally:
            await consumer.stop()
        return {"events": events, "marks": marks, "seconds": wall, "rate": events / wall, "cpu": cpu / wall}

    return asyncio.run(run())


def worker_line(label: str, r: dict[str, Any]) -> list[str]:
    finished = "all" if r["done"] >= r["total"] else f"stopped after {r['span']:.0f} s:"
    worker_cpu = r["cpu"].result.get("worker", 0.0)
    per_cpu = r["rate"] / worker_cpu if worker_cpu > 0 else float("nan")
    threads = ", ".join(f"{name} {share * 100:.0f}%" for name, share in r["threads"][:4])
    return [f"   {label}: {r['rate']:,.0f} events/s ({finished} {r['done']:,} of {r['total']:,} events in "
            f"{r['span']:.1f} s after its first signal batch; first batch {r['to_first']:.1f} s after spawn; "
            f"group lag after stop: {r['lag']}); {per_cpu:,.0f} events per worker CPU-second",
            f"     {r['cpu'].line()}",
            f"     worker threads (100% = one core): {threads}"]


def first_error(log: str, lines: int = 30) -> str:
    """The first traceback (or ERROR line) of a worker's log and what follows it: the cause, not the cascade.

    >>> first_error("ok\\n[x] [ERROR] boom\\nTraceback (most recent call last):\\n  a\\nValueError: v\\n", 3)
    '[x] [ERROR] boom\\nTraceback (most recent call last):\\n  a'
    """
    rows = [r for r in (re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", r).rstrip() for r in log.splitlines()) if r]
    at = next((i for i, r in enumerate(rows) if "Traceback" in r or "ERROR" in r or "CRITICAL" in r),
              max(0, len(rows) - lines))
    return "\n".join(rows[at: at + lines])


def per_cpu_second(r: dict[str, Any]) -> float | None:
    """A worker run's events per CPU-second of the worker process."""
    worker_cpu = r["cpu"].result.get("worker", 0.0)
    return r["rate"] / worker_cpu if worker_cpu > 0 else None


def attempt(label: str, workers: Workers, run: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    """One worker run: its lines printed, its figures returned; a worker that fails is reported (the first error of
    its log) and the benchmark goes on with the next run."""
    try:
        r = run()
    except RuntimeError as exc:
        names = [n for n in workers.procs] or ["?"]
        logs = sorted(workers.tmp.glob("*.log"), key=lambda q: q.stat().st_mtime)
        cause = first_error(logs[-1].read_text(errors="replace")) if logs else str(exc)
        print(f"   {label}: FAILED ({str(exc).splitlines()[0]}; worker {names[-1]}); first error of its log:")
        print("     " + cause.replace("\n", "\n     "))
        workers.stop_all()
        return None
    for line in worker_line(label, r):
        print(line)
    return r


def kafka_part(args: argparse.Namespace, records: list[dict[str, Any]], f: Figures) -> None:
    broker = listener_pid(int(args.bootstrap.rsplit(":", 1)[1]))
    with tempfile.TemporaryDirectory(prefix="fenghuo-tput-") as name:
        tmp = Path(name)
        rules_path, config = bench_config(tmp, False, "rules.yaml")
        models_path, _ = bench_config(tmp, True, "models.yaml")
        valid, bad = validated(records, config)
        events = valid[: args.events]
        topics = Topics(f"tp{uuid.uuid4().hex[:8]}")
        make_topics(args.bootstrap, topics)
        url = f"sqlite:///{tmp / 'tp.db'}"
        seed_rules(url, tmp / "tp", config)
        workers = Workers(tmp, args.bootstrap, topics.prefix, rules_path, url)
        print(f"\n1. Kafka (broker pid {broker}, {os.cpu_count()} cores): topics {topics.prefix}.*, {PARTITIONS} "
              f"partitions, {len({e.grid for e in events})} grids; {len(valid):,} valid events ({bad:,} rejected), "
              f"the first {len(events):,} used")
        loaded = preload(args.bootstrap, topics, events)
        print(f"   pre-loaded {len(events):,} events at {loaded:,.0f} events/s (kafka-python producer, acks=1)")
        for decode in (False, True):
            r = plain_consumer(args.bootstrap, topics, decode)
            what = "reading and decoding (event_from_wire)" if decode else "reading bytes only"
            print(f"   a. plain kafka-python consumer {what}: {r['rate']:,.0f} events/s ({r['events']:,.0f} events, "
                  f"{r['marks']:,.0f} rule marks skipped, {r['seconds']:.1f} s; this process {r['cpu'] * 100:.0f}% "
                  "of a core)")
            if decode:
                f.plain_decode = r["rate"]
                f.plain_decode_cpu = r["rate"] / r["cpu"] if r["cpu"] > 0 else None
            else:
                f.plain_read = r["rate"]
        for decode in (False, True):
            r = plain_aiokafka(args.bootstrap, topics, decode)
            what = "reading and decoding (event_from_wire)" if decode else "reading bytes only"
            print(f"   a. plain aiokafka consumer (getmany, the worker's client without faust) {what}: "
                  f"{r['rate']:,.0f} events/s ({r['seconds']:.1f} s; this process {r['cpu'] * 100:.0f}% of a core)")
            if decode:
                f.aiokafka_decode = r["rate"]
        try:
            r = attempt("b. batched worker, the example's rules", workers, lambda: run_detector(
                args.bootstrap, workers, topics, events, False, args.batched_seconds, broker))
            if r is not None:
                f.worker, f.worker_cpu = float(r["rate"]), per_cpu_second(r)
            r = None if "models" in args.skip else attempt(
                "b. batched worker, the example's rules + models", workers, lambda: run_detector(
                args.bootstrap, workers, topics, events, False, args.batched_seconds, broker, name="batched-models",
                group=topics.group("detectors") + "-models", wrap=["--group-suffix=-models"],
                env={"FENGHUO_CONFIG": str(models_path)}))
            if r is not None:
                f.worker_models, f.worker_models_cpu = float(r["rate"]), per_cpu_second(r)
            r = None if "per-event" in args.skip else attempt(
                "c. per-event agent, the example's rules", workers, lambda: run_detector(
                args.bootstrap, workers, topics, events, True, args.per_event_seconds, broker))
            if r is not None:
                f.per_event, f.per_event_cpu = float(r["rate"]), per_cpu_second(r)
            if args.profile is not None:
                args.profile.mkdir(parents=True, exist_ok=True)
                path = (args.profile / "worker-kafka.prof").resolve()
                path.unlink(missing_ok=True)
                models_env = {"FENGHUO_CONFIG": str(models_path)} if args.profile_models else None
                r = run_detector(args.bootstrap, workers, topics, events, False, args.profile_seconds, broker,
                                 name="batched-profiled", group=topics.group("detectors") + "-profiled",
                                 wrap=["--group-suffix=-profiled", "--profile", str(path)], profile=path,
                                 env=models_env)
                what = "rules + models" if args.profile_models else "rules"
                for line in worker_line(f"d. batched worker, the example's {what}, main thread under cProfile", r):
                    print(line)
                if path.exists():
                    import pstats

                    from benchmarks.throughput_profile import report

                    report(pstats.Stats(str(path)), "batched worker on the broker, main thread, measured window",
                           args.top, r["span"])
                else:
                    print("   the profiled worker wrote no profile")
        finally:
            workers.stop_all()


def embedded_part(args: argparse.Namespace, records: list[dict[str, Any]], f: Figures) -> None:
    print(f"\n2. embedded pipeline over {len(records):,} records, batches of {args.embedded_batch}, SQLite "
          "synchronous=FULL")
    for models in (False, True):
        r = embedded_throughput(records, args.embedded_batch, "FULL", models)
        what = "the example's rules + models" if models else "the example's rules"
        print(f"   {what}: {r['events_per_s']:,.0f} events/s ({r['events']:,} events in {r['seconds']:.2f} s; "
              f"{r['signals']} signals, {r['alerts']} alerts)")
        if models:
            f.embedded_models = r["events_per_s"]
        else:
            f.embedded = r["events_per_s"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", help="HOST:PORT of a running broker (without it: the embedded part only)")
    ap.add_argument("--events", type=int, default=200_000, help="events pre-loaded into the topics")
    ap.add_argument("--batched-seconds", type=float, default=120.0, help="cap of each batched worker's run")
    ap.add_argument("--per-event-seconds", type=float, default=20.0, help="length of the per-event run")
    ap.add_argument("--embedded-batch", type=int, default=5000)
    ap.add_argument("--profile", type=Path, help="also profile the batched worker on the broker into this folder")
    ap.add_argument("--profile-models", action="store_true", help="profile the worker with the example's models")
    ap.add_argument("--profile-seconds", type=float, default=40.0, help="cap of the profiled worker's run")
    ap.add_argument("--top", type=int, default=25, help="functions listed per profile table")
    ap.add_argument("--skip", choices=["kafka", "embedded", "models", "per-event"], action="append", default=[],
                    help="leave a part out (models, per-event: those worker runs)")
    args = ap.parse_args()
    os.environ.setdefault("FENGHUO_WEBHOOK_SECRET", "bench-only")
    t0 = time.perf_counter()
    records = load_records(None)
    print(f"records: {len(records):,} (Hub'Eau river levels + Boston 311, merged by event time)")
    f = Figures()
    if args.bootstrap and "kafka" not in args.skip:
        kafka_part(args, records, f)
    elif "kafka" not in args.skip:
        print("\n1. Kafka: skipped (no --bootstrap)")
    if "embedded" not in args.skip:
        embedded_part(args, records, f)
    print(f"\nratios (load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores):")
    for line in summary(f):
        print("   " + line)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
