"""docker-compose.yml for real: the whole stack in containers on a private Docker engine, with images built here
from Debian's packages (scripts/docker/, docs/deploy.md "Docker Compose").

In order, on one stack: it comes up in the health-gated order and every health check passes (Grafana, in its
profile, left out); the Storm Gloria flood posted through the API gives the embedded runtime's alert story
while a detector-worker container is SIGKILLed mid-replay (the engine restarts it: nothing lost, nothing twice);
the TimescaleDB container stopped and started again: events posted meanwhile and after are all stored; and
`docker compose down -v` leaves no container, network or volume behind.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from fenghuo.core.models import Alert
from tests.compose.compose_support import API_PORT, GATEWAY, KEYS, Engine, Stack
from tests.flood_support import RULE, station_rows
from tests.integration.kafka.kafka_support import embedded_flood, wait_until
from tests.integration.kafka.test_kafka_faults import GRID_B, by_grid, two_grid_config, two_grid_rows
from tests.support import Receiver, free_port

pytestmark = [pytest.mark.compose, pytest.mark.timeout(3600),  # a fresh machine builds the images first
              pytest.mark.filterwarnings(r"ignore:(open|read)_text is deprecated:DeprecationWarning")]

SERVICES = {"kafka", "db", "topics", "api", "detectors", "alerts", "store-writer"}


def receiver_on(host: str, port: int) -> Receiver:
    """tests.support.Receiver listening on ``host``:``port`` (the stack's gateway, which the containers reach)."""
    rx = Receiver()
    handler = rx.server.RequestHandlerClass
    rx.server.shutdown()
    rx.server.server_close()
    rx.server = ThreadingHTTPServer((host, port), handler)
    rx.port, rx.url = port, f"http://{host}:{port}"
    threading.Thread(target=rx.server.serve_forever, daemon=True).start()
    return rx


def client(role: str = "admin") -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{API_PORT}", headers={"Authorization": f"Bearer {KEYS[role]}"},
                        timeout=60)


def post(c: httpx.Client, batch: list[dict[str, Any]]) -> httpx.Response:
    return c.post("/v1/events", content="\n".join(json.dumps(r) for r in batch))


def post_until_accepted(c: httpx.Client, batch: list[dict[str, Any]], within: float) -> int:
    """Post, and post again while the API answers 503 with Retry-After (as a sender should); the accepted count."""
    deadline = time.monotonic() + within
    while (r := post(c, batch)).status_code == 503:
        assert int(r.headers["retry-after"]) > 0, r.headers
        assert time.monotonic() < deadline, f"still 503 after {within} s: {r.text}"
        time.sleep(1)
    assert r.status_code == 200, r.text
    return int(r.json()["accepted"])


@pytest.fixture(scope="module")
def readings(shared_data: Path) -> list[dict[str, Any]]:
    rows = station_rows()
    assert len(rows) > 4000
    return rows


@pytest.fixture(scope="module")
def two_grids(readings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two gauges of Storm Gloria, as test_kafka_faults.py replays them: one grid per partition, so each detector
    worker owns one and the one killed was working."""
    return two_grid_rows(readings)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory, two_grids: list[dict[str, Any]]
             ) -> tuple[list[Alert], list[tuple[str, str]]]:
    """The embedded runtime's alerts on the two gauges, and its notifications (path, event), sorted."""
    rx = Receiver()
    try:
        alerts = embedded_flood(tmp_path_factory.mktemp("embedded"), two_grid_config(rx.url), two_grids, rx)
        return alerts, sorted((g["path"], g["json"]["event"]) for g in rx.requests)
    finally:
        rx.close()


@pytest.fixture(scope="module")
def stack(engine: Engine, compose_tmp: Path) -> Iterator[tuple[Stack, Receiver]]:
    """The stack up, every health check passed; the webhook receiver of its configuration on the gateway."""
    port = free_port()
    s = Stack(engine, compose_tmp, two_grid_config(f"http://{GATEWAY}:{port}"))
    s.compose("down", "-v", "--remove-orphans")  # a run killed before its teardown
    t0 = time.monotonic()
    rx: Receiver | None = None
    try:
        s.compose("up", "-d", timeout=900)
        rx = receiver_on(GATEWAY, port)  # the gateway's address exists once the network does
        wait_until(lambda: all_healthy(s), 300, "every service healthy")
        engine.figures["up_s"] = time.monotonic() - t0
        yield s, rx
    except BaseException:
        print(s.logs())
        raise
    finally:
        s.compose("down", "-v", "--remove-orphans", check=False)
        if rx is not None:
            rx.close()
        print("compose test figures (s):", {k: round(v, 1) for k, v in engine.figures.items()})


def all_healthy(s: Stack) -> bool:
    """Every long-running container running and healthy, the topics one-shot exited 0."""
    rows = s.ps()
    if {r["Service"] for r in rows} != SERVICES:
        return False
    for r in rows:
        if r["Service"] == "topics":
            if r["State"] != "exited":
                return False
            assert r["ExitCode"] == 0, s.logs()
        elif r["State"] != "running" or r.get("Health") != "healthy":
            return False
    return True


def test_the_stack_comes_up_in_order_and_healthy(stack: tuple[Stack, Receiver]) -> None:
    s, _ = stack
    rows = s.ps()
    assert sorted(r["Service"] for r in rows) == sorted([*SERVICES, "detectors"])  # two detector workers
    assert "grafana" not in {r["Service"] for r in rows}  # its profile is not asked for
    # health-gated order: the topics one-shot began after Kafka was healthy, the API after topics had ended
    started = {r["Service"]: s.inspect(s.container(r["Service"]), "{{.State.StartedAt}}") for r in rows}
    finished_topics = s.inspect(s.container("topics"), "{{.State.FinishedAt}}")
    assert started["topics"] > started["kafka"] and started["api"] > finished_topics
    assert started["detectors"] > started["api"]  # the API seeds the rules first
    with client() as c:
        assert c.get("/healthz").status_code == 200


def test_flood_through_the_api_with_a_detector_killed_matches_embedded(
        stack: tuple[Stack, Receiver], two_grids: list[dict[str, Any]],
        embedded: tuple[list[Alert], list[tuple[str, str]]], compose_tmp: Path) -> None:
    from fenghuo.core.store import open_store

    s, rx = stack
    readings = two_grids
    emb_alerts, emb_paths = embedded
    assert sorted(a.grid for a in emb_alerts) == [GRID_B, "G-AGLY"]
    store = open_store(s.store_url, compose_tmp / "store")
    victim = s.container("detectors", 1)
    try:
        with client("analyst") as c:
            assert c.put("/v1/rules/thresholds/river-level", json=RULE).status_code == 200
        flood = next(i for i, r in enumerate(readings) if r["value"] >= 7.5) + 50  # the flood has begun
        with client() as c:
            accepted = sum(post_until_accepted(c, readings[i: min(i + 500, flood)], 60)
                           for i in range(0, flood, 500))
            wait_until(lambda: c.get("/v1/alerts").json()["alerts"], 120, "the first alert over GET /v1/alerts")
            restarts = int(s.inspect(victim, "{{.RestartCount}}"))
            sent: list[int] = []

            def send_rest() -> None:
                with client() as c2:
                    sent.extend(post_until_accepted(c2, readings[i: i + 50], 60)
                                for i in range(flood, len(readings), 50))

            sending = threading.Thread(target=send_rest)
            sending.start()
            time.sleep(1.0)
            # SIGKILL of the worker process (the container's PID 1), as a crash would: the engine restarts it
            os.kill(int(s.inspect(victim, "{{.State.Pid}}")), signal.SIGKILL)
            sending.join(120)
            assert not sending.is_alive()
            accepted += sum(sent)
        assert accepted == len(readings)
        wait_until(lambda: store.event_count() == len(readings), 240, "every event stored")

        def same() -> list[Alert] | None:
            alerts = store.all_alerts()
            return alerts if by_grid(alerts) == by_grid(emb_alerts) else None

        try:
            alerts = wait_until(same, 240, "the embedded alert story")
        except AssertionError:
            assert by_grid(store.all_alerts()) == by_grid(emb_alerts)  # show the difference
            raise
        assert len({a.fingerprint for a in alerts}) == len(alerts) == 2  # no alert raised twice
        assert store.event_count() == len(readings)  # nothing stored twice
        assert all(a.max_level.name_en == "red" and a.cleared for a in alerts)
        # the killed worker came back (restart policy) and is healthy again
        assert int(s.inspect(victim, "{{.RestartCount}}")) == restarts + 1
        wait_until(lambda: all_healthy(s), 120, "every service healthy after the kill")
        wait_until(lambda: store.pending_notification_count() == 0 and len(rx.requests) >= len(emb_paths), 120,
                   "the deliveries")
        # the same notifications (the two grids' interleaving depends on timing: compared sorted)
        assert sorted((g["path"], g["json"]["event"]) for g in rx.requests) == emb_paths
    finally:
        store.close()


def after_flood(readings: list[dict[str, Any]], start: int, n: int) -> list[dict[str, Any]]:
    """``n`` calm readings after the flood (the river back at its last level), 10 minutes apart."""
    last = readings[-1]
    t0 = datetime.fromisoformat(last["ts"].replace("Z", "+00:00"))
    rows = []
    for k in range(start, start + n):
        ts = (t0 + timedelta(minutes=10 * (k + 1))).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append({**last, "ts": ts, "id": f"{last['source']}:{ts}"})
    return rows


def test_ingest_recovers_after_the_database_restarts(stack: tuple[Stack, Receiver], readings: list[dict[str, Any]],
                                                     compose_tmp: Path) -> None:
    from fenghuo.core.store import open_store

    s, _ = stack
    store = open_store(s.store_url, compose_tmp / "store")
    before = store.event_count()
    store.close()
    s.compose("stop", "db")
    with client() as c:
        # the API takes events into Kafka while the database is down (or says 503 with Retry-After: sent again)
        during = post_until_accepted(c, after_flood(readings, 0, 60), 60)
        s.compose("start", "db")
        after = post_until_accepted(c, after_flood(readings, 60, 60), 120)
    assert during == after == 60
    wait_until(lambda: s.inspect(s.container("db"), "{{.State.Health.Status}}") == "healthy", 120, "the database")
    store = open_store(s.store_url, compose_tmp / "store")
    try:
        wait_until(lambda: store.event_count() == before + 120, 240, "the events of the outage and after stored")
        wait_until(lambda: all_healthy(s), 180, "every service healthy after the restart")
        assert store.event_count() == before + 120
    finally:
        store.close()


def test_down_leaves_nothing_behind(stack: tuple[Stack, Receiver]) -> None:
    s, _ = stack
    s.compose("down", "-v", "--remove-orphans")
    assert s.leftovers() == {"containers": [], "networks": [], "volumes": []}
