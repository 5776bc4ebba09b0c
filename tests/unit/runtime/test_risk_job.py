"""The risk forecast job on a real SQLite store with its clock in the test's hand: the schedule (every_hours), when
the model is retrained and recorded, an ended drill run's own forecast, watch notices once per horizon window."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from fenghuo.core.config import Config, ConfigError, parse_config
from fenghuo.core.grids import GridTree
from fenghuo.core.models import Event, Risk
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.runtime.risk_job import MODEL_KEY, RiskBusy, RiskJob
from fenghuo.runtime.risk_watch import horizon_window
from tests.contracts.store_support import alert

DAY = 86400.0
T0 = 1420070400.0  # 2015-01-01T00:00Z
DRILL_T0 = 1577836800.0  # 2020-01-01T00:00Z


def config(**risk: Any) -> Config:
    nodes: list[dict[str, Any]] = [{"id": "D", "name": "区", "kind": "district"},
                                   {"id": "S", "name": "街道", "kind": "street", "parent": "D"},
                                   {"id": "C1", "name": "一社区", "kind": "community", "parent": "S"}]
    nodes += [{"id": f"G{i}", "name": f"{i}号网格", "kind": "grid", "parent": "C1",
               "centroid": [42.3, -71.1 + 0.01 * i]} for i in range(4)]
    return parse_config({"nodes": nodes, "channels": [{"name": "office", "type": "log"}],
                         "responders": [{"id": "office", "name": "社区办", "node": "C1", "channels": ["office"]}],
                         "risk_forecast": {"watch_level": 0.01, **risk}})


def events(days: int, start: float, drill: str | None = None, seed: int = 1, extra: int = 5) -> list[Event]:
    rnd = random.Random(seed)
    out = []
    for d in range(days):
        for g in range(4):
            burst = extra if g == 3 and (d // 7) % 3 == 2 else 0
            for _ in range(sum(rnd.random() < 0.5 for _ in range(2 + 2 * g + burst))):
                ts = start + d * DAY + rnd.random() * DAY
                out.append(Event(feed="complaint", source="311", id=f"{drill or 'r'}-{len(out)}", ts=ts, grid=f"G{g}",
                                 category="Noise", text="noise", drill=drill,
                                 attrs={"closed": ts + 3 * DAY, "target": ts + 2 * DAY}))
    return out


class Clock:
    def __init__(self, at: float) -> None:
        self.at = at
        self.wall = 1_000_000.0

    def __call__(self, drill: str | None) -> float | None:
        return self.at if drill is None else None


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(tmp_path / "fenghuo.db")
    s.add_events(events(90, T0), 0.0)
    return s


def job_on(store: SqliteStore, clock: Clock, **risk: Any) -> tuple[RiskJob, list[tuple[str, str]]]:
    cfg = config(**risk)
    audited: list[tuple[str, str]] = []
    job = RiskJob(store, cfg, GridTree(cfg.nodes), clock, lambda: clock.wall,
                  audit=lambda actor, action, detail: audited.append((action, detail)))
    return job, audited


def test_the_schedule_forecasts_every_every_hours_and_retrains_every_retrain_hours(store: SqliteStore) -> None:
    clock = Clock(T0 + 90 * DAY)
    job, audited = job_on(store, clock, every_hours=6, retrain_hours=24)
    assert job.tick() == 1
    first = store.risk_forecasts()[0]
    assert first["made_at_ts"] == clock.at and first["model_version"].startswith("risk-")
    assert [a for a, _ in audited] == ["risk.retrain"]
    detail = json.loads(audited[0][1])
    assert detail["version"] == first["model_version"] and detail["window"][1] == "2015-04-01T00:00:00Z"
    assert store.get_state(MODEL_KEY)  # the model is kept for the next start
    clock.at += 5 * 3600
    assert job.tick() == 0  # not due yet
    clock.at += 3600
    assert job.tick() == 1 and len(audited) == 1  # due; the model is 6 h old: reused
    clock.at += 24 * 3600
    assert job.tick() == 1 and len(audited) == 2  # a day later: retrained
    again, _ = job_on(store, clock)  # a restarted service reads the saved model
    assert again.model_for(None, clock.at, [], []).version == json.loads(audited[1][1])["version"]


def test_no_history_or_too_little_says_why(tmp_path: Path) -> None:
    empty = SqliteStore(tmp_path / "empty.db")
    job, _ = job_on(empty, Clock(0.0))
    doc = job.make()
    assert doc["rows"] == [] and "no complaints" in doc["reason"] and job.tick() == 0
    empty.add_events(events(5, T0), 0.0)
    doc = job.make(at=T0 + 5 * DAY)
    assert doc["rows"] == [] and doc["reason"] and doc["model_version"] is None
    assert job.latest(None, 14)["reason"].startswith("no 14-day forecast")


def test_an_ended_drill_run_gets_one_forecast_from_its_own_history(store: SqliteStore) -> None:
    store.add_events(events(70, DRILL_T0, drill="flood-r1", seed=2), 0.0)
    clock = Clock(T0 + 90 * DAY)
    job, _ = job_on(store, clock)
    job.tick()
    run = store.create_drill_run("flood", {"status": "running"}, 0.0)
    assert store.risk_forecasts("flood-r1") == []
    assert job.tick() == 0  # running: not yet
    run["status"] = "ended"
    store.update_drill_run(run, 1.0)
    assert job.tick() == 1 and job.tick() == 0  # once
    (drill,) = store.risk_forecasts("flood-r1")
    assert drill["drill"] == "flood-r1" and drill["made_at"].startswith("2020-03-10")
    assert drill["model_version"] and drill["window_ts"][0] >= DRILL_T0  # trained on its own history only
    real = {r["node"]: r["recent"] for r in store.risk_forecasts()[0]["rows"] if r["group"] == "all"}
    assert {r["node"]: r["recent"] for r in drill["rows"] if r["group"] == "all"} != real


def test_watch_notices_go_once_per_horizon_window(store: SqliteStore) -> None:
    clock = Clock(T0 + 90 * DAY)
    job, _ = job_on(store, clock, every_hours=6)
    first = job.make()
    watched = [r for r in first["rows"] if r["watch"]]
    assert watched and all(r["kind"] == "grid" for r in watched)
    notices = store.risk_watches()
    assert len(notices) == len(watched) and {n["node"] for n in notices} == {"C1"}
    queued = store.due_notifications(1e12, 1000)
    assert {n.kind for n in queued} == {"watch"} and {n.responder for n in queued} == {"office"}
    assert store.all_alerts() == []
    window = horizon_window(clock.at, 7)
    clock.at = min(clock.at + 6 * 3600, window[1] - 1)
    job.make()
    assert len(store.risk_watches()) == len(notices)  # the same window: nobody told twice
    clock.at = window[1] + 3600
    job.make()
    assert len(store.risk_watches()) > len(notices)  # the next window: told again


def test_on_demand_forecasts_are_rate_limited_per_domain(store: SqliteStore) -> None:
    clock = Clock(T0 + 90 * DAY)
    job, _ = job_on(store, clock)
    job.demand(None, 7)
    with pytest.raises(RiskBusy) as busy:
        job.demand(None, 14)
    assert 0 < busy.value.retry_after <= 30
    clock.wall += 31
    assert job.demand(None, 14)["horizon_days"] == 14


def test_a_bad_risk_forecast_section_is_a_config_error_naming_the_field(store: SqliteStore) -> None:
    cfg = config()
    bad = cfg.model_copy(update={"risk_forecast": {"watch_level": 2, "every_hours": "often"}})
    with pytest.raises(ConfigError) as err:
        RiskJob(store, bad, GridTree(cfg.nodes), Clock(0.0), lambda: 0.0)
    assert sorted(e.split(":")[0] for e in err.value.errors) == ["risk_forecast.every_hours",
                                                                  "risk_forecast.watch_level"]


def test_the_track_record_scores_past_forecasts_whose_horizon_has_passed(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "bursts.db")
    store.add_events(events(90, T0, extra=16), 0.0)  # G3 bursts every third week
    burst = replace(alert("b1", grid="G3", risk=Risk.CONTRADICTION), rule="complaint-burst", series="G3/Noise",
                    feed="complaint", created_at=T0 + 78 * DAY, updated_at=T0 + 78 * DAY)
    store.save_alerts([burst], [])  # the burst detector raised an episode in G3 on day 78
    clock = Clock(T0 + 90 * DAY)
    job, _ = job_on(store, clock)
    for day in (60, 61, 67, 74, 85):  # 61: the same week as 60; 85: its horizon has not passed by day 90
        job.make(at=T0 + day * DAY, notify=False)
    record = job.track_record(None, 12)
    assert [w["made_at"][:10] for w in record["weeks"]] == ["2015-03-02", "2015-03-09", "2015-03-16"]
    for week in record["weeks"]:
        probs = [t["probability"] for t in week["top"]]
        assert len(week["top"]) == 4 and probs == sorted(probs, reverse=True)  # 4 grids: all of them
        assert week["precision_at_5"] == sum(t["happened"] for t in week["top"]) / 4 == week["base_rate"]
    happened = {(w["made_at"][:10], t["node"]) for w in record["weeks"] for t in w["top"] if t["happened"]}
    assert ("2015-03-16", "G3") in happened  # the burst episode on day 78, in the week forecast on day 74
    assert record["precision_at_5"] == round(sum(w["precision_at_5"] for w in record["weeks"]) / 3, 4)
    assert [w["made_at"][:10] for w in job.track_record(None, 1)["weeks"]] == ["2015-03-16"]
