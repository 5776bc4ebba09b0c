"""Delivery benchmark: deliveries/s from the outbox to a local webhook receiver, and how long a red
notification takes to arrive when 10,000 blue ones are pending ahead of it.

The whole embedded path: readings go through ``Pipeline.ingest`` (alerts raised, outbox rows written
with their priority), the pipeline's own tick loop and :class:`fenghuo.alerts.delivery.Delivery` send them to
two webhook channels (signed JSON POSTs over kept-alive connections), and every outcome is recorded
(outbox row + the alert's timeline). The receiver is a minimal HTTP/1.1 server on asyncio in its own
process (started and stopped here), far faster than the delivery path, so it is not the bottleneck.
Prints figures; asserts nothing. Bounded: a few thousand alerts per run and a time limit per phase.

    python -m benchmarks.delivery [--alerts 3000] [--rounds 3] [--record one|batch|both] [--timeout 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from fenghuo.core.config import parse_config
from fenghuo.core.settings import Settings
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.runtime.embedded import Pipeline

GRIDS = 50
CHANNELS = ("hook-a", "hook-b")  # every responder has both: two notifications per alert and change


# -- the receiver (its own process) ----------------------------------------------------------------
class _Http(asyncio.Protocol):
    """HTTP/1.1 with keep-alive: POSTs are counted (reds timed), GET answers the counts as JSON."""

    def __init__(self, stats: dict[str, Any]) -> None:
        self.stats = stats
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buf) < end + 4 + length:
                return
            body, self.buf = self.buf[end + 4: end + 4 + length], self.buf[end + 4 + length:]
            self._answer(head.split(" ", 1)[0], body)

    def _answer(self, method: str, body: bytes) -> None:
        assert self.transport is not None
        out = b""
        if method == "POST":
            self.stats["count"] += 1
            if b'"level":"red"' in body:
                self.stats["reds"].append(time.time())
        else:
            out = json.dumps(self.stats).encode()
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(out)).encode() + b"\r\n\r\n" + out)


async def _serve(port: int) -> None:
    stats: dict[str, Any] = {"count": 0, "reds": []}
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Http(stats), "127.0.0.1", port, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()  # until the benchmark kills the process


class ReceiverProcess:
    """The receiver in a child process; ``stats()`` reads its counts."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "benchmarks.delivery", "--serve"],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}"
        self.client = httpx.Client(timeout=10)

    def stats(self) -> dict[str, Any]:
        return dict(self.client.get(self.url + "/stats").json())

    def close(self) -> None:
        self.client.close()
        self.proc.kill()
        self.proc.wait(10)


# -- the service side ------------------------------------------------------------------------------
def config(url: str) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [{"id": "D", "name": "district", "kind": "district"}]
    nodes += [{"id": f"G{i}", "name": f"grid {i}", "kind": "grid", "parent": "D", "centroid": [30 + i / 100, 114]}
              for i in range(GRIDS)]
    return {
        "nodes": nodes,
        "channels": [{"name": c, "type": "webhook", "url": f"{url}/{c}", "secret": "bench-secret-0000",
                      "max_attempts": 3} for c in CHANNELS],
        "responders": [{"id": f"duty-{i}", "name": f"duty {i}", "node": f"G{i}", "channels": list(CHANNELS)}
                       for i in range(GRIDS)],
        "rules": [{"id": "level", "metric": "level_m", "levels": {"blue": 1.0, "red": 10.0}}],
    }


def make_pipeline(tmp: Path, url: str, workers: int, batch: bool) -> Pipeline:
    settings = Settings(data_dir=tmp, delivery_workers=workers)
    p = Pipeline(settings, parse_config(config(url)), SqliteStore(tmp / "bench.db"))
    # in batches: AlertService.record_deliveries (as wired); one by one: record_delivery for each outcome
    p.delivery.outcomes = p.alerts.record_deliveries if batch else None
    return p


def raise_blues(p: Pipeline, n: int, tag: str) -> None:
    """``n`` blue alerts (one reading each, from its own gauge): ``n * len(CHANNELS)`` notifications."""
    now = time.time()
    records = [{"feed": "sensor", "source": f"{tag}-{i}", "ts": now, "grid": f"G{i % GRIDS}", "metric": "level_m",
                "value": 2.0} for i in range(n)]
    for i in range(0, n, 1000):
        p.ingest(records[i: i + 1000])


def raise_red(p: Pipeline, tag: str) -> float:
    """One red alert; returns the time its reading was handed to ``ingest`` (the alert is decided and its
    notifications stored in that call)."""
    t0 = time.time()
    p.ingest([{"feed": "sensor", "source": f"red-{tag}", "ts": t0, "grid": "G0", "metric": "level_m",
               "value": 20.0}])
    return t0


def wait_for(receiver: ReceiverProcess, done: Any, timeout: float) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while True:
        s = receiver.stats()
        if done(s) or time.monotonic() > end:
            return s
        time.sleep(0.02)


def throughput(n_alerts: int, workers: int, timeout: float, batch: bool) -> tuple[float, int, int]:
    """Deliveries/s draining ``n_alerts * 2`` pending notifications; (rate, delivered, expected)."""
    receiver = ReceiverProcess()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            p = make_pipeline(Path(tmp), receiver.url, workers, batch)
            raise_blues(p, n_alerts, "tp")
            expected = n_alerts * len(CHANNELS)
            t0 = time.perf_counter()
            p.start()
            s = wait_for(receiver, lambda s: s["count"] >= expected, timeout)
            elapsed = time.perf_counter() - t0
            p.stop()
            return s["count"] / elapsed, s["count"], expected
    finally:
        receiver.close()


def red_under_backlog(n_blue: int, workers: int, timeout: float, batch: bool) -> tuple[float, int]:
    """Seconds from a red reading's ingest (``n_blue`` blue notifications pending, delivery running) to
    the first of the red alert's notifications arriving; and how many had arrived by then."""
    receiver = ReceiverProcess()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            p = make_pipeline(Path(tmp), receiver.url, workers, batch)
            raise_blues(p, n_blue // len(CHANNELS), "bl")
            p.start()
            wait_for(receiver, lambda s: s["count"] >= 50, timeout)  # delivery in full swing
            stored = raise_red(p, "1")
            s = wait_for(receiver, lambda s: bool(s["reds"]), timeout)
            p.stop()
            if not s["reds"]:
                return float("inf"), s["count"]
            return s["reds"][0] - stored, s["count"]
    finally:
        receiver.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--alerts", type=int, default=3000, help="blue alerts drained in the throughput run (x2)")
    ap.add_argument("--backlog", type=int, default=10_000, help="blue notifications pending ahead of the red")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=Settings().delivery_workers)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per phase at most")
    ap.add_argument("--record", choices=("one", "batch", "both"), default="both",
                    help="outcomes recorded one by one (AlertService.record_delivery), in batches "
                         "(record_deliveries, as the service is wired), or both")
    args = ap.parse_args()
    if args.serve:
        asyncio.run(_serve(0))
        return
    for batch in {"one": (False,), "batch": (True,), "both": (False, True)}[args.record]:
        how = "outcomes recorded in batches (as wired)" if batch else "outcomes recorded one by one"
        print(f"-- {how}")
        rates = []
        for _ in range(args.rounds):
            rate, got, expected = throughput(args.alerts, args.workers, args.timeout, batch)
            rates.append(rate)
            print(f"throughput: {got:,}/{expected:,} notifications to 2 webhook channels, {rate:,.0f} deliveries/s")
        print(f"deliveries/s (median of {args.rounds}): {statistics.median(rates):,.0f}")
        lat = []
        for _ in range(args.rounds):
            seconds, before = red_under_backlog(args.backlog, args.workers, args.timeout, batch)
            lat.append(seconds)
            print(f"red behind {args.backlog:,} pending blues: arrived after {seconds * 1000:,.0f} ms "
                  f"({before:,} notifications had arrived)")
        print(f"red-under-backlog latency (median of {args.rounds}): {statistics.median(lat) * 1000:,.0f} ms")


if __name__ == "__main__":
    main()
