"""Alert changes are atomic: computed, written, and only then kept in memory.

Fault injection at each write point of the alert service (a signal batch, an escalation tick, ack,
resolve, a delivery outcome): a failed write changes nothing, and fails nothing else — later alerts
are still raised, stored and notified, also after a restart. One fault is the real one that was
found: a lone UTF-16 surrogate, which the store cannot encode.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fenghuo.core.clock import FixedClock
from fenghuo.core.config import parse_config
from fenghuo.core.levels import Level
from fenghuo.core.models import Alert, Risk, Signal, Status
from fenghuo.core.settings import Settings
from fenghuo.core.store import Notification
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.runtime.embedded import Pipeline

T0 = 1_579_651_200.0  # 2020-01-22T00:00:00Z
CONFIG = {
    "nodes": [
        {"id": "D", "name": "区应急办", "kind": "district"},
        {"id": "S", "name": "街道", "kind": "street", "parent": "D"},
        {"id": "C", "name": "社区", "kind": "community", "parent": "S"},
        {"id": "G1", "name": "一号网格", "kind": "grid", "parent": "C", "centroid": [42.0, 2.0]},
        {"id": "G2", "name": "二号网格", "kind": "grid", "parent": "C", "centroid": [43.0, 2.0]},
    ],
    "channels": [{"name": n, "type": "log"} for n in ("grid", "community", "street", "district")],
    "responders": [
        {"id": "g1", "name": "网格员一", "node": "G1", "channels": ["grid"]},
        {"id": "g2", "name": "网格员二", "node": "G2", "channels": ["grid"]},
        {"id": "c", "name": "社区", "node": "C", "channels": ["community"]},
        {"id": "s", "name": "街道", "node": "S", "channels": ["street"]},
        {"id": "d", "name": "区", "node": "D", "channels": ["district"]},
    ],
    "rules": [{"id": "river", "metric": "water_level_m", "levels": {"blue": 3, "yellow": 4, "orange": 5, "red": 6}}],
}
SURROGATE = "\ud800"


class FaultyStore(SqliteStore):
    """A real SQLite store whose alert writes can be made to fail (``fail`` decides per call)."""

    fail: Callable[[list[Alert]], bool] | None = None
    fail_outcomes = False

    def save_alerts(self, alerts: list[Alert], notifications: list[Notification],
                    state: dict[str, bytes] | None = None) -> None:
        if self.fail is not None and self.fail(alerts):
            raise sqlite3.OperationalError("disk I/O error (injected)")
        super().save_alerts(alerts, notifications, state)

    def update_notification(self, n: Notification) -> None:
        if self.fail_outcomes:
            raise sqlite3.OperationalError("disk I/O error (injected)")
        super().update_notification(n)


class Service:
    def __init__(self, tmp: Path) -> None:
        self.tmp, self.clock = tmp, FixedClock(T0)
        self.ids = iter(f"A{i}" for i in range(1000))
        self.open()

    def open(self) -> None:
        self.store = FaultyStore(self.tmp / "db.sqlite")
        self.p = Pipeline(Settings(data_dir=self.tmp), parse_config(CONFIG), self.store,  # type: ignore[arg-type]
                          clock=self.clock, new_id=lambda: next(self.ids))
        self.p.recover()

    def restart(self) -> None:
        self.p.stop()
        self.open()

    def reading(self, value: float, at: float, grid: str = "G1") -> dict[str, Any]:
        self.clock.set(T0 + at)
        rec = {"feed": "sensor", "source": f"st-{grid}", "ts": T0 + at, "grid": grid, "metric": "water_level_m",
               "value": value}
        return self.p.ingest([rec]).to_json()

    def tick(self, at: float) -> None:
        self.clock.set(T0 + at)
        with self.p.lock:
            self.p.alerts.tick(self.p.clocks.domains())

    def stored(self, alert_id: str) -> Alert:
        a = self.store.get_alert(alert_id)
        assert a is not None
        return a

    def in_memory(self, grid: str = "G1") -> Alert | None:
        return next((a for a in self.p.alerts.dedup.open.values() if a.grid == grid), None)

    def kinds(self, alert_id: str) -> list[str]:
        return [e.kind for e in self.stored(alert_id).timeline]

    def notified(self, alert_id: str) -> list[tuple[str, str]]:
        return [(n.kind, n.channel) for n in self.store.notifications_for(alert_id)]


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Service]:
    s = Service(tmp_path)
    yield s
    s.p.stop()


def signal(grid: str, level: Level | None, ts: float, reason: str = "over the line") -> Signal:
    return Signal(detector="threshold", rule="river", risk=Risk.SAFETY, feed="sensor", grid=grid,
                  series=f"st-{grid}/water_level_m", source=f"st-{grid}", ts=T0 + ts, level=level, score=1.0,
                  reason=reason)


def test_an_ack_the_store_refuses_changes_nothing_and_escalation_goes_on(svc: Service) -> None:
    svc.reading(6.5, 0)  # red: 5 min to acknowledge
    with pytest.raises(Exception, match="surrogate|utf-8|UTF-8"):
        svc.p.alerts.ack("A0", "responder:g1", SURROGATE)
    mem = svc.in_memory()
    assert mem is not None and mem.status == Status.OPEN and mem.escalate_at is not None
    assert svc.stored("A0").status == Status.OPEN
    svc.tick(301)  # nobody acknowledged: the alert goes up a tier, in memory and in the store
    assert "escalated" in svc.kinds("A0")
    assert ("escalated", "community") in svc.notified("A0")
    acked = svc.p.alerts.ack("A0", "responder:g1", "on my way")  # a second ack works: no 409
    assert acked.status == Status.ACKNOWLEDGED and svc.stored("A0").status == Status.ACKNOWLEDGED


def test_a_resolve_the_store_refuses_leaves_the_alert_open_and_rising_again_upgrades_it(svc: Service) -> None:
    svc.reading(3.5, 0)
    with pytest.raises(Exception, match="surrogate|utf-8|UTF-8"):
        svc.p.alerts.resolve("A0", "responder:g1", SURROGATE)
    assert svc.stored("A0").status == Status.OPEN and svc.in_memory() is not None
    out = svc.reading(6.5, 60)  # the series rises: the same alert is upgraded (no UNIQUE violation)
    assert out["accepted"] == 1
    a = svc.stored("A0")
    assert a.level == Level.RED and a.status == Status.OPEN and svc.kinds("A0")[-1] == "upgraded"
    assert svc.store.get_alert("A1") is None


def test_one_refused_change_does_not_hold_back_a_red_alert_in_the_same_batch(svc: Service) -> None:
    batch = [signal("G1", Level.YELLOW, 0, reason="bad text " + SURROGATE), signal("G2", Level.RED, 1)]
    changes = svc.p.alerts.apply(batch)
    assert [(c.kind, c.alert.grid) for c in changes] == [("raised", "G2")]
    red = svc.in_memory("G2")
    assert red is not None and svc.stored(red.id).level == Level.RED
    assert ("raised", "grid") in svc.notified(red.id)
    assert svc.in_memory("G1") is None  # the refused one is not half-applied in memory
    assert svc.p.alerts.set_aside == 1
    kept = svc.store.dead_letters(10, 0)
    assert any("alert change could not be stored" in d["error"] for d in kept)
    svc.restart()  # the red alert survives a restart; the refused one never existed
    assert {a.grid for a in svc.p.alerts.dedup.open.values()} == {"G2"}
    svc.tick(301)
    assert "escalated" in svc.kinds(red.id)


@pytest.mark.parametrize("recovery", ["tick", "restart"])
def test_a_store_that_fails_for_a_while_loses_nothing_and_duplicates_nothing(svc: Service, recovery: str) -> None:
    svc.store.fail = lambda alerts: True
    out = svc.reading(6.5, 0)
    assert out["accepted"] == 1  # the event is stored: the ingest succeeds; its alert waits
    assert svc.p.alerts.dedup.open == {}  # nothing in memory that the store does not have
    assert svc.store.dead_letters(10, 0) == []  # a failing store sets nothing aside
    svc.clock.set(T0 + 10)
    svc.p.tick()  # the service's tick tries again: still failing, still waiting
    assert svc.p.alerts.dedup.open == {}
    svc.store.fail = None
    if recovery == "tick":
        svc.clock.set(T0 + 20)
        svc.p.tick()
    else:
        svc.restart()  # the event is applied on restart, once
    alerts = list(svc.p.alerts.dedup.open.values())
    assert [(a.grid, a.level) for a in alerts] == [("G1", Level.RED)]
    assert svc.notified(alerts[0].id) == [("raised", "grid")]
    svc.restart()
    assert [a.id for a in svc.p.alerts.dedup.open.values()] == [alerts[0].id]


def test_an_escalation_the_store_refuses_fires_once_when_it_can(svc: Service) -> None:
    svc.reading(6.5, 0)
    svc.store.fail = lambda alerts: True
    with pytest.raises(sqlite3.OperationalError):
        svc.tick(301)
    mem = svc.in_memory()
    assert mem is not None and mem.escalation_tier == 0 and mem.escalate_at == T0 + 300
    svc.store.fail = None
    svc.tick(302)
    assert svc.kinds("A0").count("escalated") == 1
    assert svc.notified("A0").count(("escalated", "community")) == 1


def test_a_delivery_outcome_the_store_refuses_leaves_the_timeline_as_stored(svc: Service) -> None:
    svc.reading(6.5, 0)
    n = svc.store.notifications_for("A0")[0]
    before = len(svc.stored("A0").timeline)
    svc.store.fail = lambda alerts: any(a.id == "A0" for a in alerts)
    n.attempts, n.status, n.delivered_at = 1, "delivered", T0 + 1
    with pytest.raises(sqlite3.OperationalError):
        svc.p.alerts.record_delivery(n, True, "200 OK", True)
    mem = svc.in_memory()
    assert mem is not None and len(mem.timeline) == before == len(svc.stored("A0").timeline)
    svc.store.fail = None
    svc.p.alerts.record_delivery(n, True, "200 OK", True)
    assert svc.kinds("A0")[-1] == "notified"


def test_the_distributed_alert_service_answers_a_refused_ack_and_changes_nothing(tmp_path: Path) -> None:
    import json

    from fenghuo.core.store import open_store
    from fenghuo.runtime.kafka.alert_service.worker import AlertWorker
    from fenghuo.runtime.kafka.bus import Topics, batch_to_wire

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    settings = Settings(data_dir=tmp_path, clock="event", store_url=url)  # type: ignore[arg-type]
    w = AlertWorker(settings, parse_config(CONFIG), open_store(url, tmp_path), Topics("x"), notifiers={})
    red = signal("G1", Level.RED, 0)
    w.apply_record(batch_to_wire("G1", [red], {"": red.ts}, [None], [[("x.events.sensor", 0, 1)]]))
    [alert] = w.store.open_alerts()
    replies: list[dict[str, Any]] = []

    class Producer:  # the reply goes to the alerts topic: keep it here
        def send(self, topic: str, key: bytes, value: bytes) -> None:
            replies.append(json.loads(value))

    w.producer = Producer()
    w.apply_command(json.dumps({"id": "c1", "op": "ack", "alert": alert.id, "grid": "G1", "actor": "r",
                                "comment": SURROGATE}).encode())
    assert replies[-1]["ok"] is False and replies[-1]["status"] in (400, 503)  # the API shows it as a 4xx
    assert w.store.get_alert(alert.id).status == Status.OPEN  # type: ignore[union-attr]
    assert w.alerts.dedup.open[alert.fingerprint].status == Status.OPEN
    w.apply_command(json.dumps({"id": "c2", "op": "ack", "alert": alert.id, "grid": "G1", "actor": "r"}).encode())
    assert replies[-1]["ok"] is True
    assert w.store.get_alert(alert.id).status == Status.ACKNOWLEDGED  # type: ignore[union-attr]


def test_past_the_bound_of_waiting_signals_new_events_are_refused_not_signals_dropped(
        svc: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    from fenghuo.runtime import embedded as pipeline

    monkeypatch.setattr(pipeline, "MAX_UNAPPLIED", 1)
    svc.store.fail = lambda alerts: True
    assert svc.reading(6.5, 0)["accepted"] == 1  # stored; its red signal waits
    before = svc.store.event_count()
    with pytest.raises(pipeline.AlertsBehind):
        svc.reading(3.5, 60, grid="G2")
    assert svc.store.event_count() == before  # refused whole: nothing of it stored
    svc.store.fail = None
    svc.clock.set(T0 + 120)
    svc.p.tick()  # the waiting signal is applied: nothing was dropped
    assert [(a.grid, a.level) for a in svc.p.alerts.dedup.open.values()] == [("G1", Level.RED)]
    assert svc.reading(3.5, 180, grid="G2")["accepted"] == 1
