"""A worker's /livez and /readyz as an orchestrator calls them (a real HTTP server; the consumer's rebalance
listener is the one the workers use, told of assignments as kafka-python tells it)."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

from fenghuo.runtime.kafka.bus import rebalance_watch
from fenghuo.runtime.kafka.probes import Probes, consumer_checks

# kafka-python 3 reads its protocol schemas with importlib.resources' legacy API (warned from importlib)
pytestmark = pytest.mark.filterwarnings(r"ignore:(open|read)_text is deprecated:DeprecationWarning")


class Worker:
    def __init__(self) -> None:
        self.watch = rebalance_watch()
        self.stopping = threading.Event()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_ready_once_the_store_is_open_and_partitions_are_assigned() -> None:
    held: list[Worker] = []
    probes = Probes(*consumer_checks(lambda: held[0] if held else None), role="alerts")
    port = probes.serve("127.0.0.1", free_port())
    base = f"http://127.0.0.1:{port}"
    try:
        assert httpx.get(base + "/livez").status_code == 200  # waiting for its store is alive
        r = httpx.get(base + "/readyz")
        assert (r.status_code, r.json()["detail"]) == (503, "waiting for the store")
        held.append(Worker())
        assert httpx.get(base + "/readyz").json()["detail"] == "not in its consumer group yet"
        held[0].watch.on_partitions_assigned({("t.signals", 0), ("t.commands", 0)})
        r = httpx.get(base + "/readyz")
        assert r.status_code == 200 and r.json() == {"role": "alerts", "ok": True,
                                                     "detail": "2 partition(s) assigned"}
        held[0].watch.on_partitions_revoked(set())
        assert httpx.get(base + "/readyz").json()["detail"] == "a group rebalance is going on"
        held[0].watch.revoked_at = 0.0  # a rebalance begun long ago and never finished: stalled
        assert httpx.get(base + "/livez").status_code == 503
        assert httpx.get(base + "/metrics").status_code == 404
    finally:
        probes.close()


def test_no_port_no_server() -> None:
    assert Probes(lambda: (True, ""), lambda: (True, ""), role="x").serve("127.0.0.1", 0) == 0
