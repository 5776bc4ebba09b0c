"""Kafka benchmark: events/s per detector worker (batched vs per-event agent) and event->alert latency.

Real Hub'Eau river levels (Storm Gloria) and Boston 311 complaints, merged in event-time order and
validated with the example configuration's grid resolver (as ``benchmarks/embedded.py`` does),
through real worker processes (``python -m fenghuo.cli.distributed worker ...``) on a real broker.
Every run uses fresh topics under its own prefix (``kb<random>``), so fresh consumer groups too.

1. Throughput: N events are pre-loaded into the event topics with a fast producer; then ONE
   detector worker with the batched agent starts from offset 0, then (same topics, same data, its
   own group) one with the per-event agent (``--per-event``, stopped after ``--per-event-seconds``).
   Progress is read from the signals topic: each record is one grid's batch and carries the latest
   event time of that grid, so the events processed by the time of each record (broker append time)
   are counted exactly (a grid's events sit on one partition in event-time order).
2. Latency: KafkaIngest (the HTTP ingest's producer: acks=all, flush per call) sends the merged
   real events, paced at ``--rate`` events/s in calls of ``rate/100`` events, to a batched detector
   worker and the alert worker. Events keep their real timestamps (``FENGHUO_CLOCK=event``: the
   detectors' windows and the escalation deadlines run on the event clock, so the month of data
   raises alerts within a minute); latency is measured on the wall clock: the broker's append time
   of each alert change on the alerts topic minus the ``rx`` stamp of its triggering event (set by
   KafkaIngest just before producing). Alert changes are matched to the signals that caused them
   per fingerprint, in order; changes made by the clock (escalations, auto-resolution) have no
   triggering event and are left out.
3. CPU seconds of the broker, the worker(s) and this process (the producer) in each measured
   window, from /proc: the 2 cores are shared by all of them.

Prints figures; asserts nothing.

    python -m benchmarks.kafka_bench --bootstrap 127.0.0.1:59392 [--events 200000]
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmarks.embedded import ROOT, load_records, pct
from fenghuo.cli.main import EXAMPLE_CONFIG
from fenghuo.core.config import Config, load_config
from fenghuo.core.grids import GridTree
from fenghuo.core.models import Event
from fenghuo.core.rulebook import RuleBook
from fenghuo.core.store import open_store
from fenghuo.ingest.events import EventError, make_resolver, parse_event
from fenghuo.runtime.kafka.bus import Topics, create_topics, event_to_wire, signal_from_dict
from fenghuo.runtime.kafka.ingest_worker import KafkaIngest

PARTITIONS = 8
SIGNAL_KINDS = {"raised", "upgraded", "downgraded", "recurred", "cleared"}  # made by a signal only
CLK = os.sysconf("SC_CLK_TCK")


# -- CPU accounting from /proc -------------------------------------------------------------------------
def cpu_seconds(pid: int | None) -> float:
    """utime + stime of a process (all its threads), 0 when unknown or gone."""
    if pid is None:
        return 0.0
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot (all cores)."""
    vals = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(vals[:8])
    return (total - vals[3] - vals[4]) / CLK, total / CLK


def listener_pid(port: int) -> int | None:
    """The process listening on a local TCP port (the broker), from /proc/net/tcp and /proc/*/fd."""
    inodes = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{parts[9]}]")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in os.listdir(f"/proc/{pid}/fd")):
                return int(pid)
        except OSError:
            continue
    return None


@dataclass
class CpuMeter:
    """CPU seconds per named process between ``start`` and ``stop``."""

    pids: dict[str, int | None]
    t0: float = 0.0
    c0: dict[str, float] = field(default_factory=dict)
    m0: tuple[float, float] = (0.0, 0.0)
    result: dict[str, float] = field(default_factory=dict)

    def start(self) -> None:
        self.t0, self.m0 = time.monotonic(), machine_busy()
        self.c0 = {k: cpu_seconds(p) for k, p in self.pids.items()}

    def stop(self) -> None:
        wall = time.monotonic() - self.t0
        busy, total = machine_busy()
        self.result = {k: (cpu_seconds(p) - self.c0[k]) / wall for k, p in self.pids.items()}
        self.result["machine"] = (busy - self.m0[0]) / max(1e-9, total - self.m0[1]) * (os.cpu_count() or 1)
        self.result["others"] = max(0.0, self.result["machine"] - sum(self.result[k] for k in self.pids))
        self.result["wall"] = wall

    def line(self) -> str:
        r = self.result
        parts = [f"{k} {v * 100:.0f}%" for k, v in r.items() if k not in ("machine", "wall", "others")]
        return (f"CPU over {r['wall']:.1f} s (100% = one core; {os.cpu_count()} cores): " + ", ".join(parts)
                + f"; other processes on the machine {r['others'] * 100:.0f}%; whole machine "
                f"{r['machine'] * 100:.0f}% of {(os.cpu_count() or 1) * 100}%")


# -- the workers as subprocesses (as tests/integration/kafka/kafka_support.py starts them) -------------------
class Workers:
    def __init__(self, tmp: Path, bootstrap: str, prefix: str, config_path: Path, store_url: str) -> None:
        self.tmp = tmp
        self.env = {**os.environ, "FENGHUO_TOPIC_PREFIX": prefix, "FENGHUO_KAFKA_BOOTSTRAP": bootstrap,
                    "FENGHUO_STORE_URL": store_url, "FENGHUO_DATA_DIR": str(tmp / "data"),
                    "FENGHUO_CONFIG": str(config_path), "FENGHUO_CLOCK": "event",
                    "FENGHUO_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str, wrap: Sequence[str] | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """A worker process; with ``wrap`` through ``benchmarks.throughput_worker`` (its options: a consumer
        group suffix, a profile), with ``env`` over the common environment (another FENGHUO_CONFIG)."""
        launcher = (["benchmarks.throughput_worker", *wrap, "--"] if wrap is not None
                    else ["fenghuo.cli.distributed"])
        with open(self.tmp / f"{name}.log", "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", *launcher, "worker", *args],
                                    cwd=ROOT, env={**self.env, **(env or {})}, stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def detector(self, name: str, per_event: bool = False, wrap: Sequence[str] | None = None,
                 env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        extra = ["--per-event"] if per_event else []
        return self.start(name, "detectors", "--partitions", str(PARTITIONS), "--worker-id", name, *extra,
                          wrap=wrap, env=env)

    def check(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = (self.tmp / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"worker {name} exited {proc.returncode}:\n{tail}")

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)


# -- setup ---------------------------------------------------------------------------------------------
def bench_config(tmp: Path, models: bool = False, name: str = "config.yaml") -> tuple[Path, Config]:
    """The example configuration with every channel a duty-log channel (the benchmark reaches nobody);
    its model detectors only with ``models`` (the rules alone compare with the embedded figure)."""
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    data["channels"] = [{"name": c["name"], "type": "log"} for c in data.get("channels", [])]
    if not models:
        data.pop("detectors", None)
    path = tmp / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path, load_config(path)


def seed_rules(url: str, data_dir: Path, config: Config) -> None:
    """The detector workers read their rules from the store: put the config's rules there."""
    data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(url, data_dir)
    try:
        RuleBook(store, GridTree(config.nodes, config.grid_match_km)).seed(config, time.time())
    finally:
        store.close()


def validated(records: list[dict[str, Any]], config: Config) -> tuple[list[Event], int]:
    """Events as ingest would accept them (grid resolved), unique ids; and how many were rejected."""
    resolve = make_resolver(GridTree(config.nodes, config.grid_match_km))
    out, bad, seen = [], 0, set()
    for rec in records:
        try:
            e = parse_event(rec, resolve, None)
        except EventError:
            bad += 1
            continue
        if (e.source, e.id) not in seen:
            seen.add((e.source, e.id))
            out.append(e)
    return out, bad


def make_topics(bootstrap: str, topics: Topics) -> None:
    """All topics, the signals and alerts topics stamped with the broker's append time."""
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="fenghuo-bench")
    try:
        stamped = {"message.timestamp.type": "LogAppendTime"}
        admin.create_topics([NewTopic(t, PARTITIONS, 1, topic_configs=stamped)
                             for t in (topics.signals, topics.alerts)])
    finally:
        admin.close()
    create_topics(bootstrap, PARTITIONS, topics)


class Reader:
    """A group-less consumer of one topic from given offsets (default: the beginning)."""

    def __init__(self, bootstrap: str, topic: str, at_end: bool = False) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                      client_id="fenghuo-bench-reader", max_poll_records=5000)
        self.parts = [TopicPartition(topic, p) for p in sorted(self.consumer.partitions_for_topic(topic) or [])]
        self.consumer.assign(self.parts)
        start = self.end() if at_end else {}
        for tp in self.parts:
            self.consumer.seek(tp, start.get(tp, 0))

    def end(self) -> dict[Any, int]:
        return dict(self.consumer.end_offsets(self.parts))

    def poll(self, timeout_ms: int = 200) -> list[Any]:
        got = self.consumer.poll(timeout_ms=timeout_ms)
        return [r for batch in got.values() for r in batch]

    def drain(self, idle_s: float = 1.0) -> Iterator[Any]:
        """Every record up to the end offsets as of now."""
        end = self.end()
        while any(self.consumer.position(tp) < end[tp] for tp in self.parts):
            yield from self.poll(int(idle_s * 1000))

    def close(self) -> None:
        self.consumer.close()


def group_lag(bootstrap: str, group: str, topics: list[str]) -> int | None:
    """Events of ``topics`` not yet committed by ``group`` (None: the group has committed nothing)."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="fenghuo-bench")
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, client_id="fenghuo-bench")
    try:
        committed = admin.list_group_offsets({group: None}).get(group, {})
        parts = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or [])]
        end = consumer.end_offsets(parts)
        if not committed:
            return None
        return sum(max(0, end[tp] - (committed[tp].offset if tp in committed else 0)) for tp in parts)
    finally:
        consumer.close()
        admin.close()


def group_ready(bootstrap: str, groups: list[str]) -> bool:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="fenghuo-bench")
    try:
        info = admin.describe_groups(groups)
    finally:
        admin.close()

    def stable(d: Any) -> bool:
        state = str(d.get("group_state") or d.get("state") or "") if isinstance(d, dict) else ""
        return state.lower().endswith("stable") and bool(d.get("members"))

    return all(stable(info.get(g)) for g in groups)


def wait_for(pred: Callable[[], Any], timeout: float, what: str, workers: Workers) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers.check()
        if pred():
            return
        time.sleep(0.5)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


# -- 1. throughput -------------------------------------------------------------------------------------
def preload(bootstrap: str, topics: Topics, events: list[Event]) -> float:
    """Produce the events keyed by grid as fast as kafka-python goes; return events/s."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, client_id="fenghuo-bench-loader", acks=1,
                             linger_ms=20, batch_size=512 * 1024)
    t = time.perf_counter()
    for e in events:
        producer.send(topics.event(e.feed), key=e.grid.encode(), value=event_to_wire(e))
    producer.flush()
    elapsed = time.perf_counter() - t
    producer.close()
    return len(events) / elapsed


class Progress:
    """Events processed, from the per-grid watermarks on the signals topic."""

    def __init__(self, events: list[Event]) -> None:
        by_grid: dict[str, list[float]] = defaultdict(list)
        for e in events:
            by_grid[e.grid].append(e.ts)
        self.ts = {g: sorted(v) for g, v in by_grid.items()}
        self.total = len(events)
        self.done_of: dict[str, int] = {}
        self.done = 0
        self.records = 0

    def add(self, raw: bytes) -> None:
        d = json.loads(raw)
        self.records += 1
        clock = d.get("clock", {}).get("")
        if clock is None:
            return
        grid = d["grid"]
        n = bisect.bisect_right(self.ts.get(grid, []), float(clock))
        if n > self.done_of.get(grid, 0):
            self.done += n - self.done_of.get(grid, 0)
            self.done_of[grid] = n


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of a process (tid -> utime + stime), from /proc/PID/task."""
    out: dict[int, float] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / CLK
    return out


def thread_shares(pid: int, before: dict[int, float], after: dict[int, float], wall: float) -> list[tuple[str, float]]:
    """Each thread's share of a core over ``wall`` seconds, busiest first; the main thread (tid = pid) named."""
    shares = [("main" if tid == pid else f"thread {tid}", (after[tid] - before.get(tid, 0.0)) / max(wall, 1e-9))
              for tid in after]
    return sorted((s for s in shares if s[1] > 0.005), key=lambda s: -s[1])


def run_detector(bootstrap: str, workers: Workers, topics: Topics, events: list[Event], per_event: bool,
                 cap_s: float, broker: int | None, startup_s: float = 120.0, *, name: str | None = None,
                 group: str | None = None, wrap: Sequence[str] | None = None, env: dict[str, str] | None = None,
                 profile: Path | None = None) -> dict[str, Any]:
    """One detector worker from offset 0 of the event topics until it has processed every event or ``cap_s``
    seconds after its first signal batch. ``group``: its consumer group when ``wrap`` gives it a suffix;
    ``profile``: the wrapper's profile file, switched on at the first signal batch and off at the end (SIGHUP)."""
    name = name or ("per-event" if per_event else "batched")
    reader = Reader(bootstrap, topics.signals, at_end=True)  # only what this worker produces
    progress = Progress(events)
    spawned = time.monotonic()
    proc = workers.detector(name, per_event, wrap=wrap, env=env)
    meter = CpuMeter({"broker": broker, "worker": proc.pid, "bench": os.getpid()})
    threads0: dict[int, float] = {}
    first: tuple[float, int] | None = None
    last: tuple[float, int] = (0.0, 0)
    first_seen = 0.0
    try:
        while True:
            workers.check()
            records = reader.poll(200)
            for r in records:
                progress.add(r.value)
                stamp = r.timestamp / 1000.0
                if first is None:
                    first = (stamp, progress.done)
                    meter.start()
                    threads0 = thread_cpu(proc.pid)
                    if profile is not None:
                        proc.send_signal(signal.SIGHUP)
                    first_seen = time.monotonic()
                last = (max(last[0], stamp), progress.done)
            if first is None:
                if time.monotonic() - spawned > startup_s:
                    raise RuntimeError(f"{name} worker produced no signals in {startup_s:.0f} s")
                continue
            if progress.done >= progress.total or time.monotonic() - first_seen > cap_s:
                break
        meter.stop()
        threads = thread_shares(proc.pid, threads0, thread_cpu(proc.pid), meter.result["wall"])
        if profile is not None:
            proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 60
            while not profile.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
        to_first = first_seen - spawned
    finally:
        reader.close()
        workers.stop(name)
    group = group or topics.group("detectors-per-event" if per_event else "detectors")
    lag = group_lag(bootstrap, group, topics.events)
    span = last[0] - first[0]
    rate = (last[1] - first[1]) / span if span > 0 else float("nan")
    return {"name": name, "rate": rate, "done": progress.done, "total": progress.total, "span": span,
            "to_first": to_first, "records": progress.records, "lag": lag, "cpu": meter, "threads": threads}


def new_run(args: argparse.Namespace, tmp: Path, config_path: Path, config: Config, name: str
            ) -> tuple[Topics, Workers]:
    """Fresh topics under a new prefix, a store ``<name>.db`` seeded with the config's rules, and their workers."""
    prefix = f"kb{uuid.uuid4().hex[:8]}"
    topics = Topics(prefix)
    make_topics(args.bootstrap, topics)
    url = f"sqlite:///{tmp / f'{name}.db'}"
    seed_rules(url, tmp / name, config)
    return topics, Workers(tmp, args.bootstrap, prefix, config_path, url)


def throughput(args: argparse.Namespace, tmp: Path, config_path: Path, config: Config, events: list[Event],
               broker: int | None) -> None:
    topics, workers = new_run(args, tmp, config_path, config, "tp")
    prefix = topics.prefix
    feeds = Counter(e.feed for e in events)
    print(f"\n1. throughput, one detector worker (topics {prefix}.*, {PARTITIONS} partitions, "
          f"{len({e.grid for e in events})} grids)")
    rate = preload(args.bootstrap, topics, events)
    print(f"   pre-loaded {len(events):,} events ({', '.join(f'{k} {v:,}' for k, v in feeds.items())}) "
          f"at {rate:,.0f} events/s (kafka-python, acks=1)")
    results = []
    try:
        for per_event, cap in ((False, args.batched_seconds), (True, args.per_event_seconds)):
            r = run_detector(args.bootstrap, workers, topics, events, per_event, cap, broker)
            results.append(r)
            label = "per-event agent" if per_event else "batched worker (batch drain, up to 2,000 records per fetch)"
            finished = "all" if r["done"] >= r["total"] else f"stopped after {r['span']:.0f} s:"
            print(f"   {label}: {r['rate']:,.0f} events/s  ({finished} {r['done']:,} of {r['total']:,} events "
                  f"in {r['span']:.1f} s after its first signal batch; first batch {r['to_first']:.1f} s after "
                  f"spawn; {r['records']:,} signal records; group lag after stop: {r['lag']})")
            print(f"     {r['cpu'].line()}")
    finally:
        workers.stop_all()
    if len(results) == 2 and results[1]["rate"] > 0:
        print(f"   ratio batched / per-event: {results[0]['rate'] / results[1]['rate']:,.1f}x")


# -- 2. latency ----------------------------------------------------------------------------------------
def paced(ingest: KafkaIngest, events: list[Event], rate: float, seconds: float, call: int) -> tuple[int, float]:
    """Send events at ``rate``/s in calls of ``call`` events for ``seconds``; return (sent, achieved rate)."""
    n = min(len(events), int(rate * seconds))
    start = time.perf_counter()
    i = 0
    while i < n:
        due = start + i / rate
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        ingest.send(events[i: i + call])
        i += call
    return min(i, n), min(i, n) / (time.perf_counter() - start)


def latency(args: argparse.Namespace, tmp: Path, config_path: Path, config: Config, events: list[Event],
            broker: int | None) -> None:
    topics, workers = new_run(args, tmp, config_path, config, "lat")
    prefix = topics.prefix
    call = max(1, int(args.rate / 100))
    print(f"\n2. event->alert latency at {args.rate:,.0f} events/s (topics {prefix}.*): KafkaIngest.send "
          f"of {call} events every {call / args.rate * 1000:.0f} ms, one batched detector worker, the alert "
          "worker (SQLite store), event clock")
    ingest = KafkaIngest(args.bootstrap, make_resolver(GridTree(config.nodes, config.grid_match_km)), topics)
    try:
        det = workers.detector("lat-detectors")
        alerts = workers.start("lat-alerts", "alerts")
        wait_for(lambda: group_ready(args.bootstrap, [topics.group("detectors"), topics.group("alerts")]), 120,
                 "the detector and alert groups", workers)
        meter = CpuMeter({"broker": broker, "detector": det.pid, "alerts": alerts.pid, "bench": os.getpid()})
        warm = int(args.rate * args.warmup)
        paced(ingest, events[:warm], args.rate, args.warmup, call)
        measured_from = time.time()
        meter.start()
        sent, achieved = paced(ingest, events[warm:], args.rate, args.latency_seconds, call)
        meter.stop()
        sent += warm
        wait_for(lambda: group_lag(args.bootstrap, topics.group("alerts"), [topics.signals]) == 0
                 and group_lag(args.bootstrap, topics.group("detectors"), topics.events) == 0, 120,
                 "the workers to catch up", workers)
    finally:
        workers.stop_all()
        ingest.close()
    samples, kinds, other, split = match(args.bootstrap, topics, measured_from)
    print(f"   sent {sent:,} events ({warm:,} in a {args.warmup:.0f} s warm-up, not measured); "
          f"measured window {args.latency_seconds:.0f} s at {achieved:,.0f} events/s achieved")
    if samples:
        det_part = [a for a, _ in split]
        alert_part = [b for _, b in split]
        print(f"   event->alert latency: p50 {statistics.median(samples) * 1000:.0f} ms, "
              f"p99 {pct(samples, 0.99) * 1000:.0f} ms, max {max(samples) * 1000:.0f} ms over {len(samples):,} "
              f"alert changes ({', '.join(f'{k} {v:,}' for k, v in kinds.most_common())})")
        print(f"     event->signal on the signals topic: p50 {statistics.median(det_part) * 1000:.0f} ms, "
              f"p99 {pct(det_part, 0.99) * 1000:.0f} ms; signal->alert change: p50 "
              f"{statistics.median(alert_part) * 1000:.0f} ms, p99 {pct(alert_part, 0.99) * 1000:.0f} ms")
    else:
        print("   no alert change in the measured window")
    print("     left out (no triggering event, or not told apart from delivery records): "
          + ", ".join(f"{k} {v:,}" for k, v in other.most_common()))
    print(f"     {meter.line()}")


class Replay:
    """fenghuo.alerts.dedup's decision for one fingerprint, replayed from its signals: which change each makes."""

    def __init__(self) -> None:
        self.open, self.cleared, self.level = False, False, 0

    def step(self, level: int | None) -> str | None:
        if not self.open:
            if level is None:
                return None
            self.open, self.cleared, self.level = True, False, level
            return "raised"
        if level is None:
            if self.cleared:
                return None
            self.cleared = True
            return "cleared"
        kind = "updated"
        if self.cleared:
            self.cleared, kind = False, "recurred"
        if level > self.level:
            kind = "upgraded"
        elif level < self.level:
            kind = "downgraded"
        self.level = level if kind != "updated" else self.level
        return kind


def match(bootstrap: str, topics: Topics, since: float) -> tuple[list[float], Counter[str], Counter[str],
                                                                 list[tuple[float, float]]]:
    """Latencies of the signal-driven alert changes whose triggering event was sent after ``since``.

    The alerts topic carries each change's kind, but the alert as it stands after the whole signal
    batch, and "updated" is also the kind of delivery outcomes; so the changes that only a signal
    makes (raised, upgraded, downgraded, recurred, cleared) are matched to their signals by replaying
    the dedup decision per fingerprint over the signals in order (nothing resolves alerts here: the
    example configuration has no auto-resolve and nobody acknowledges).
    """
    pending: dict[str, deque[tuple[int | None, float | None, float]]] = defaultdict(deque)
    reader = Reader(bootstrap, topics.signals)
    try:
        for r in sorted(reader.drain(), key=lambda r: (r.partition, r.offset)):
            d = json.loads(r.value)
            for s, rx in zip(d.get("signals", []), d.get("rx", []), strict=False):
                if s.get("kind") == "corroboration":
                    continue
                sig = signal_from_dict(s)
                pending[sig.fingerprint].append((s.get("level"), rx, r.timestamp / 1000.0))
    finally:
        reader.close()
    samples: list[float] = []
    split: list[tuple[float, float]] = []
    kinds: Counter[str] = Counter()
    other: Counter[str] = Counter()
    replays: dict[str, Replay] = defaultdict(Replay)
    reader = Reader(bootstrap, topics.alerts)
    try:
        for r in sorted(reader.drain(), key=lambda r: (r.partition, r.offset)):
            doc = json.loads(r.value)
            kind, fp = doc["type"], doc["alert"]["fingerprint"]
            if kind not in SIGNAL_KINDS:
                other[kind] += 1
                continue
            queue, replay = pending[fp], replays[fp]
            found: tuple[str, float | None, float] | None = None
            while queue:
                level, rx, sig_at = queue.popleft()
                predicted = replay.step(level)
                if predicted in SIGNAL_KINDS:
                    found = (predicted, rx, sig_at)
                    break
            if found is None:
                other["no signal found"] += 1
                continue
            predicted, rx, sig_at = found
            if predicted != kind:
                other[f"replayed {predicted}, published {kind}"] += 1
                continue
            if rx is None or rx < since:
                continue
            at = r.timestamp / 1000.0
            samples.append(at - rx)
            split.append((sig_at - rx, at - sig_at))
            kinds[kind] += 1
    finally:
        reader.close()
    return samples, kinds, other, split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", required=True, help="HOST:PORT of a running broker")
    ap.add_argument("--events", type=int, default=200_000, help="events pre-loaded for the throughput runs")
    ap.add_argument("--models", action="store_true", help="also run the example config's model detectors")
    ap.add_argument("--batched-seconds", type=float, default=120.0, help="cap of the batched run")
    ap.add_argument("--per-event-seconds", type=float, default=45.0, help="length of the per-event run")
    ap.add_argument("--rate", type=float, default=5000.0, help="events/s of the latency run")
    ap.add_argument("--latency-seconds", type=float, default=50.0, help="measured window of the latency run")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds sent before the latency window")
    ap.add_argument("--skip", choices=["throughput", "latency"], action="append", default=[])
    args = ap.parse_args()
    os.environ.setdefault("FENGHUO_WEBHOOK_SECRET", "bench-only")
    t0 = time.perf_counter()
    broker = listener_pid(int(args.bootstrap.rsplit(":", 1)[1]))
    with tempfile.TemporaryDirectory(prefix="fenghuo-kbench-") as name:
        tmp = Path(name)
        config_path, config = bench_config(tmp, args.models)
        records = load_records(None)
        events, bad = validated(records, config)
        print(f"records: {len(records):,} (Hub'Eau river levels + Boston 311, merged by event time); "
              f"{len(events):,} valid with unique ids, {bad:,} rejected; broker pid {broker}; "
              f"{os.cpu_count()} cores")
        if "throughput" not in args.skip:
            throughput(args, tmp, config_path, config, events[: args.events], broker)
        if "latency" not in args.skip:
            latency(args, tmp, config_path, config, events, broker)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
