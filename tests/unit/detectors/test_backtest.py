"""Backtests: the vectorised level machine and rule runs against the streaming detectors, and the endpoint.

The property tests feed the same random series to :class:`LevelState` / :class:`DetectorEngine` point
by point and to :mod:`fenghuo.detectors.hysteresis_vector` / :func:`fenghuo.detectors.backtest.simulate`
at once, and want
the very same changes. The endpoint is exercised on the service as a subprocess with real Hub'Eau
readings of one station posted through the API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fenghuo.core.config import Rule
from fenghuo.core.models import Event
from fenghuo.detectors.backtest import simulate
from fenghuo.detectors.engine import DetectorEngine
from fenghuo.detectors.hysteresis import LevelParams, LevelState
from fenghuo.detectors.hysteresis_vector import level_changes, level_changes_many
from tests.flood_support import CURRENT, STATION, station_rows
from tests.support import Service

T0 = 1579000000.0
CHAINS = {"G1": ["G1", "C1", "D"], "G2": ["G2", "C1", "D"], "G3": ["G3", "C2", "D"]}


def random_params(rng: np.random.Generator) -> LevelParams:
    m = int(rng.integers(1, 5))
    levels = sorted(rng.choice([1, 2, 3, 4], size=m, replace=False).tolist())
    ths = np.sort(rng.choice(np.round(np.arange(1.0, 6.0, 0.1), 1), size=m, replace=False))
    above = bool(rng.integers(2))
    return LevelParams(tuple(zip(levels, map(float, ths if above else ths[::-1]), strict=True)), above,
                       float(rng.choice([0, 0, 300, 600, 1200, 3600])), float(rng.choice([0, 0, 0.1, 0.25, 0.5, 1.0])))


def random_series(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    ts = T0 + np.cumsum(rng.choice([0, 60, 300, 600, 600, 900], size=n)).astype(float)  # ties too
    shape = int(rng.integers(3))
    if shape == 0:
        v = np.cumsum(rng.normal(0, 0.3, n)) + 3
    elif shape == 1:
        v = rng.uniform(0, 6, n)
    else:
        v = 3 + 1.5 * np.sin(np.arange(n) / rng.uniform(2, 30)) + rng.normal(0, 0.2, n)
    return ts, np.round(v, 1)  # rounding puts values right on thresholds and hysteresis bands


def streamed(p: LevelParams, ts: np.ndarray, v: np.ndarray) -> list[tuple[int, int]]:
    state = LevelState()
    return [(i, c) for i, (t, x) in enumerate(zip(ts.tolist(), v.tolist(), strict=True))
            if (c := state.step(p, t, x)) is not None]


@pytest.mark.parametrize("seed", range(4))
def test_level_machine_equals_streaming_on_random_series(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(600):
        p = random_params(rng)
        ts, v = random_series(rng, int(rng.integers(1, 300)))
        assert level_changes(p, ts, v) == streamed(p, ts, v), (p, ts.tolist(), v.tolist())


def test_many_series_at_once_across_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    import fenghuo.detectors.hysteresis_vector as lv

    monkeypatch.setattr(lv, "CHUNK", 700)  # several blocks, series cut at block edges
    rng = np.random.default_rng(42)
    params, parts = [], []
    for _ in range(60):
        params.append(random_params(rng))
        parts.append(random_series(rng, int(rng.integers(1, 400))))
    bounds = np.cumsum([0] + [len(t) for t, _ in parts])
    got = level_changes_many(params, bounds, np.concatenate([t for t, _ in parts]),
                             np.concatenate([v for _, v in parts]))
    assert got == [streamed(p, t, v) for p, (t, v) in zip(params, parts, strict=True)]


def test_real_station_equals_streaming(shared_data: Path) -> None:
    ts, v = station_series()
    for hyst in (0.0, 0.1, 0.3):
        for for_s in (0, 600, 1800):
            p = LevelParams(((1, 6.5), (2, 7.0), (3, 9.0), (4, 12.0)), True, for_s, hyst)
            assert level_changes(p, ts, v) == streamed(p, ts, v)


# ---- whole rules against the engine -------------------------------------------------------------

def random_events(rng: np.random.Generator, feed: str) -> list[Event]:
    out = []
    for s in range(6):
        ts, v = random_series(rng, int(rng.integers(20, 250)))
        home = ["G1", "G2", "G3"][s % 3]
        for i, (t, x) in enumerate(zip(ts.tolist(), v.tolist(), strict=True)):
            moved = s == 5 and i % 40 > 30  # one gauge wanders into another grid (other overrides)
            grid = "G3" if moved else home
            if feed == "sensor":
                out.append(Event("sensor", f"gauge:{s}", t, grid, f"{s}-{i}", metric="level", value=x))
            else:
                out.append(Event(feed, "hotline", t, grid, f"{s}-{i}", category=["noise", "wages"][i % 2], text="x"))
    out.sort(key=lambda e: e.ts)
    return out


def random_rule(rng: np.random.Generator, kind: str) -> Rule:
    p = random_params(rng)
    names = {1: "blue", 2: "yellow", 3: "orange", 4: "red"}
    levels = {names[k]: th for k, th in p.thresholds}
    scale = 3.0 if kind == "count" else 1.0
    body: dict[str, Any] = {"id": f"r-{kind}", "kind": kind, "direction": "above" if p.above else "below",
                            "levels": {k: v * scale for k, v in levels.items()}, "for_seconds": p.for_seconds,
                            "hysteresis": p.hysteresis, "window_seconds": float(rng.choice([1800, 3600, 7200]))}
    if kind == "count":
        body |= {"feed": "complaint", "direction": "above", "category": str(rng.choice(["*", "wages"])),
                 "levels": {k: float(i + 2) for i, k in enumerate(sorted(levels, key=lambda n: "byor".index(n[0])))}}
    else:
        body |= {"feed": "sensor", "metric": "level"}
        shifted = {k: round(v + (0.3 if p.above else -0.3), 1) for k, v in levels.items()}
        body["overrides"] = {"C2": {"levels": shifted, "hysteresis": 0.2}}
        if rng.integers(2):
            body["sources"] = {"gauge:1": {"for_seconds": 0.0}}
        if rng.integers(3) == 0:
            body["grid"] = "C1"
    return Rule.model_validate(body)


def engine_changes(rule: Rule, events: list[Event]) -> list[tuple[str, float, int]]:
    engine = DetectorEngine([rule], lambda g: CHAINS.get(g, [g]))
    return sorted((s.series, s.ts, int(s.level or 0)) for s in engine.process(events))


def backtest_changes(rule: Rule, events: list[Event]) -> list[tuple[str, float, int]]:
    rows = [(e.source, e.grid, e.category, e.ts, e.value) for e in events]
    out = []
    for ep in simulate(rule, rows, lambda g: CHAINS.get(g, [g])).episodes:
        out += [(ep.series, t, level) for t, level in ep.changes]
        if ep.cleared_at is not None:
            out.append((ep.series, ep.cleared_at, 0))
    return sorted(out)


@pytest.mark.parametrize("kind", ["threshold", "rate", "count"])
def test_rules_equal_the_engine(kind: str) -> None:
    rng = np.random.default_rng(["threshold", "rate", "count"].index(kind))
    for _ in range(40):
        rule = random_rule(rng, kind)
        events = random_events(rng, "complaint" if kind == "count" else "sensor")
        assert backtest_changes(rule, events) == engine_changes(rule, events), rule


# ---- the endpoint on the service ----------------------------------------------------------------
# (the station: L'Agly through Storm Gloria, see tests/flood_support.py)


def station_series() -> tuple[np.ndarray, np.ndarray]:
    from fenghuo.core.models import parse_ts

    rows = station_rows()
    return np.array([parse_ts(r["ts"]) for r in rows]), np.array([r["value"] for r in rows], dtype=float)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    svc = Service(tmp_path_factory.mktemp("backtest") / "data", {"rules": [CURRENT]},
                  env={"FENGHUO_CLOCK": "event"}).start()
    try:
        admin = svc.client("admin")
        rows = [{**r, "grid": "G-AGLY"} for r in station_rows()]
        for i in range(0, len(rows), 1000):
            assert admin.post("/v1/events", content="\n".join(map(json.dumps, rows[i:i + 1000]))).status_code == 200
        yield svc
    finally:
        svc.stop()


def backtest(svc: Service, rule: dict[str, Any], role: str = "analyst", **extra: Any) -> Any:
    body = {"rule": rule, "start": "2020-01-07T00:00:00Z", "end": "2020-02-08T00:00:00Z", **extra}
    return svc.client(role).post("/v1/rules/thresholds/backtest", json=body)


def first_raise(side: dict[str, Any]) -> str:
    return min(e["raised_at"] for e in side["episodes"])


def test_current_rule_matches_what_the_service_raised(service: Service, shared_data: Path) -> None:
    r = backtest(service, CURRENT)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["proposed"]["episodes"] == out["current"]["episodes"]
    recorded = out["recorded"]
    assert recorded["alerts"] >= 1  # the service folds a raise after clearing into the open alert: a recurrence
    assert recorded["raises"] == [e["raised_at"] for e in out["current"]["episodes"]], (recorded, out["current"])
    assert out["points"] > 4000 and out["series"][0]["series"] == f"{STATION}/water_level_m"
    chart = out["charts"][0]
    assert chart["thresholds"]["current"]["red"] == 12.0 and 0 < len(chart["points"]) <= 1000


def test_stricter_rule_raises_fewer_and_later(service: Service, shared_data: Path) -> None:
    stricter = {**CURRENT, "levels": {"blue": 8.0, "yellow": 10.0, "orange": 12.0, "red": 14.0}, "for_seconds": 3600}
    out = backtest(service, stricter).json()
    prop, cur = out["proposed"], out["current"]
    assert 0 < prop["summary"]["episodes"] <= cur["summary"]["episodes"]
    assert first_raise(prop) > first_raise(cur)
    assert sum(prop["summary"]["by_level"].values()) == prop["summary"]["episodes"]
    assert prop["summary"]["by_level"]["red"] <= cur["summary"]["by_level"]["red"]


def test_looser_rule_raises_more_and_earlier(service: Service, shared_data: Path) -> None:
    looser = {**CURRENT, "levels": {"blue": 6.0, "yellow": 7.0, "orange": 9.0, "red": 11.0}, "for_seconds": 0,
              "hysteresis": 0.0}
    out = backtest(service, looser).json()
    prop, cur = out["proposed"], out["current"]
    assert prop["summary"]["episodes"] > cur["summary"]["episodes"]
    assert first_raise(prop) < first_raise(cur)


def test_new_rule_has_no_current_and_series_filter(service: Service, shared_data: Path) -> None:
    out = backtest(service, {**CURRENT, "id": "river-new"}, series=f"{STATION}/water_level_m").json()
    assert out["current"] is None and out["proposed"]["summary"]["episodes"] >= 1
    assert backtest(service, CURRENT, source="hubeau:nowhere").json()["points"] == 0


def test_a_drills_events_are_backtested_only_when_the_drill_is_named(service: Service, shared_data: Path) -> None:
    """The demo's events are all a drill's: a backtest of real history finds nothing there, one naming the drill
    replays its events (issue 14: the board's backtests reported 0 points on the demo)."""
    rows = [{**r, "grid": "G-AGLY", "source": "drill-gauge", "id": f"d{i}"} for i, r in enumerate(station_rows()[:600])]
    r = service.client("admin").post("/v1/events", params={"drill": "exercise-1"},
                                      content="\n".join(map(json.dumps, rows)))
    assert r.status_code == 200 and r.json()["accepted"] == len(rows), r.text
    real = backtest(service, CURRENT, source="drill-gauge").json()
    drill = backtest(service, CURRENT, source="drill-gauge", drill="exercise-1").json()
    assert real["points"] == 0 and real["drill"] is None
    assert drill["points"] == len(rows) and drill["drill"] == "exercise-1"
    assert backtest(service, CURRENT, source="drill-gauge", drill="another").json()["points"] == 0


def test_roles_and_validation(service: Service) -> None:
    assert backtest(service, CURRENT, role="responder").status_code == 403
    bad = {**CURRENT, "levels": {"blue": 9.0, "red": 3.0, "purple": 1.0}, "for_seconds": -5}
    r = backtest(service, bad)
    assert r.status_code == 422
    errors = r.json()["detail"]["errors"]
    assert any("purple" in e for e in errors) and any("for_seconds" in e for e in errors), errors
    r = backtest(service, {**CURRENT, "levels": {"blue": 9.0, "red": 3.0}})
    assert r.status_code == 422 and "must rise" in r.json()["detail"]["errors"][0]
    r = service.client("analyst").post("/v1/rules/thresholds/backtest",
                                       json={"rule": CURRENT, "start": "yesterday", "end": "2020-02-01T00:00:00Z"})
    assert r.status_code == 422 and "start" in json.dumps(r.json()["detail"])
