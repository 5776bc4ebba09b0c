"""A replay of history into a data directory never notifies real responders about the past, and a service
starting on an outbox of stale notifications does not send them: the real commands, a real webhook receiver.

* ``fenghuo replay FILE --data-dir D`` is a backfill: its alerts are recorded, their notifications are
  recorded as "not sent: backfill"; the next ``fenghuo run`` on D sends none of them (but does send a new
  alert's). ``--notify`` sends them.
* ``fenghuo run`` on a directory whose outbox holds notifications queued longer than the bound (1 h by
  default) records them as expired, says how many, and sends them not.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from fenghuo.core.clock import FixedClock
from fenghuo.core.config import parse_config
from fenghuo.core.models import iso
from fenghuo.core.settings import Settings
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.runtime.embedded import Pipeline
from tests.cli.cli_support import fenghuo
from tests.support import Receiver, Service

NODES = [
    {"id": "D", "name": "区应急办", "kind": "district"},
    {"id": "S", "name": "街道", "kind": "street", "parent": "D"},
    {"id": "C", "name": "社区", "kind": "community", "parent": "S"},
    {"id": "G1", "name": "一号网格", "kind": "grid", "parent": "C", "centroid": [42.0, 2.0]},
    {"id": "G2", "name": "二号网格", "kind": "grid", "parent": "C", "centroid": [43.0, 2.0]},
]


def config(url: str) -> dict[str, Any]:
    return {
        "nodes": NODES,
        "channels": [{"name": "hook", "type": "webhook", "url": f"{url}/hook", "secret": "test-webhook-secret-1234",
                      "max_attempts": 2}],
        "responders": [{"id": "g1", "name": "网格员一", "node": "G1", "channels": ["hook"]},
                       {"id": "g2", "name": "网格员二", "node": "G2", "channels": ["hook"]}],
        "rules": [{"id": "river", "metric": "water_level_m",
                   "levels": {"blue": 3, "yellow": 4, "orange": 5, "red": 6}}],
    }


def reading(grid: str, ts: float, value: float) -> dict[str, Any]:
    return {"feed": "sensor", "source": f"st-{grid}", "ts": iso(ts), "grid": grid, "metric": "water_level_m",
            "value": value}


HISTORY = [reading("G1", 1_579_651_200.0 + 600 * i, v) for i, v in enumerate((2.0, 3.5, 4.5, 6.5, 6.8, 2.0))]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _write(tmp: Path, receiver: Receiver) -> tuple[Path, Path]:
    conf = tmp / "config.yaml"
    conf.write_text(yaml.safe_dump(config(receiver.url), allow_unicode=True), encoding="utf-8")
    history = tmp / "history.jsonl"
    history.write_text("".join(json.dumps(r) + "\n" for r in HISTORY))
    return conf, history


def _outbox(data: Path) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(data / "fenghuo.db") as db:
        return [tuple(r) for r in db.execute("SELECT kind, status, last_error FROM outbox ORDER BY created_at")]


def _live_red(service: Service, receiver: Receiver) -> list[dict[str, Any]]:
    """A live red reading in G2; the notifications received once G2's alert arrived."""
    with service.client("admin") as c:
        assert c.post("/v1/events", json=[reading("G2", time.time(), 6.5)]).status_code == 200
    return receiver.wait_for(lambda got: any(r["json"]["alert"]["grid"] == "G2" for r in got), timeout=60)


def test_a_replay_is_a_backfill_whose_notifications_are_recorded_not_sent(tmp_path: Path,
                                                                          receiver: Receiver) -> None:
    conf, history = _write(tmp_path, receiver)
    data = tmp_path / "data"
    done = fenghuo("replay", str(history), "--format", "json", "--data-dir", str(data), "--config", str(conf),
                   FENGHUO_TICK_SECONDS="0.1")
    assert done.returncode == 0, done.stderr
    assert 'notification(s) recorded as "not sent: backfill"' in done.stderr
    rows = _outbox(data)
    assert rows and {(s, e) for _, s, e in rows} == {("not_sent", "not sent: backfill")}
    assert {k for k, _, _ in rows} >= {"raised", "upgraded"}
    assert receiver.requests == []
    service = Service(data, config(receiver.url)).start()  # the next start on the directory ...
    try:
        got = _live_red(service, receiver)  # ... sends a new alert's notification (delivery works) ...
    finally:
        assert service.stop() == 0
    assert {r["json"]["alert"]["grid"] for r in got} == {"G2"}  # ... and none of the history's
    assert {(s, e) for k, s, e in _outbox(data) if s != "delivered"} == {("not_sent", "not sent: backfill")}


def test_replay_with_notify_sends_the_history_notifications(tmp_path: Path, receiver: Receiver) -> None:
    conf, history = _write(tmp_path, receiver)
    data = tmp_path / "data"
    done = fenghuo("replay", str(history), "--format", "json", "--data-dir", str(data), "--config", str(conf),
                   "--notify", FENGHUO_TICK_SECONDS="0.1")
    assert done.returncode == 0, done.stderr
    sent = {r["json"]["event"] for r in receiver.requests if r["json"]["alert"]["grid"] == "G1"}
    assert {"raised", "upgraded"} <= sent
    assert "not sent" not in done.stderr


def test_run_expires_notifications_queued_longer_than_the_bound(tmp_path: Path, receiver: Receiver) -> None:
    data = tmp_path / "data"
    data.mkdir()
    two_hours_ago = time.time() - 7200  # a service that stopped two hours ago with its outbox full
    p = Pipeline(Settings(data_dir=data), parse_config(config(receiver.url)), SqliteStore(data / "fenghuo.db"),
                 clock=FixedClock(two_hours_ago))
    assert p.ingest([reading("G1", two_hours_ago - 60, 2.0), reading("G1", two_hours_ago, 6.5)]).accepted == 2
    p.stop()  # never started: nothing was delivered
    queued = _outbox(data)
    assert queued and {s for _, s, _ in queued} == {"pending"}
    service = Service(data, config(receiver.url)).start()
    try:
        got = _live_red(service, receiver)
    finally:
        assert service.stop() == 0
    assert {r["json"]["alert"]["grid"] for r in got} == {"G2"}  # the stale one was not sent
    log = service.log.read_text()
    assert f"{len(queued)} queued notification(s) waited longer than 3600 s: recorded as expired" in log
    stale = [(s, e) for _, s, e in _outbox(data)][:len(queued)]
    assert all(s == "expired" and e.startswith("expired: queued 2 h") for s, e in stale), stale


def test_the_bound_is_configurable(tmp_path: Path, receiver: Receiver) -> None:
    data = tmp_path / "data"
    data.mkdir()
    two_hours_ago = time.time() - 7200
    p = Pipeline(Settings(data_dir=data), parse_config(config(receiver.url)), SqliteStore(data / "fenghuo.db"),
                 clock=FixedClock(two_hours_ago))
    p.ingest([reading("G1", two_hours_ago, 6.5)])
    p.stop()
    service = Service(data, config(receiver.url), env={"FENGHUO_NOTIFY_MAX_AGE": "3h"}).start()
    try:  # within a 3 h bound the queued notification is still sent
        receiver.wait_for(lambda got: any(r["json"]["alert"]["grid"] == "G1" for r in got), timeout=60)
    finally:
        assert service.stop() == 0
