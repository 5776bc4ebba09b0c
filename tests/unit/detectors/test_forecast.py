"""Forecast early warning: lead on a synthetic rise and on the real L'Agly flood, quiet on flat water,
anomalies, pickling, inline vs background refits, the fallback when Prophet is unavailable."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.forecast_gloria import DATA, crossings, load_readings, load_rule, replay, score
from fenghuo.core import state as saved
from fenghuo.core.config import Rule
from fenghuo.core.models import Event, Signal
from fenghuo.detectors.engine import DetectorEngine
from fenghuo.detectors.forecast import ForecastParams, ForecastWarner, make_forecast_extra
from fenghuo.detectors.forecast_model import HoltTrend
from fenghuo.detectors.rules import params_for

T0 = 1579651200.0  # 2020-01-22T00:00:00Z
RULE = Rule(id="river-level", metric="water_level_m", levels={"blue": 3.0, "yellow": 3.5, "orange": 4.0, "red": 4.5},
            for_seconds=600, hysteresis=0.1)
LP = params_for(RULE, ["G1"])
FALLBACK = ForecastParams(model="fallback", refit_mode="inline")
PROPHET = ForecastParams(model="prophet", refit_mode="inline", min_history_s=12 * 3600, refit_every_s=6 * 3600,
                         window_s=86400)


def state_copy(obj: Any) -> Any:
    """``obj`` written as saved-state bytes (versioned msgpack, no pickle) and read back."""
    raw = saved.dumps("test", 1, saved.to_plain(obj))
    assert saved.is_state(raw)
    return saved.from_plain(saved.loads(raw, "test", {1: lambda d: d}))


def series(n: int, rise_from: int | None = None, slope: float = 0.02, seed: int = 0) -> list[tuple[float, float]]:
    """10-minute readings around 2.0 m with a daily wave and noise; a linear rise from ``rise_from``."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        v = 2.0 + 0.03 * math.sin(2 * math.pi * i / 144) + float(rng.normal(0, 0.005))
        if rise_from is not None and i > rise_from:
            v += slope * (i - rise_from)
        out.append((T0 + 600.0 * i, v))
    return out


def event(ts: float, v: float, source: str = "s1") -> Event:
    return Event(feed="sensor", source=source, ts=ts, grid="G1", id=f"{source}:{ts:.0f}", metric="water_level_m",
                 value=v)


def run(w: ForecastWarner, data: list[tuple[float, float]], drain: bool = False) -> list[Signal]:
    out = []
    for ts, v in data:
        out += w.step(event(ts, v), [(RULE, LP)])
        if drain:
            w.drain()
    return out


def first_crossing(data: list[tuple[float, float]], level: int) -> float:
    return next(ts for s, lv, ts, _ in crossings([(ts, "s1", v) for ts, v in data], RULE) if lv == level)


def test_rising_series_warns_before_the_crossing() -> None:
    data = series(300, rise_from=200)
    sigs = [s for s in run(ForecastWarner(FALLBACK), data) if s.kind == "forecast"]
    blue = next(s for s in sigs if s.level == 1)
    lead = first_crossing(data, 1) - blue.ts
    assert lead > 0
    assert blue.detector == "forecast" and blue.rule == "river-level"
    assert set(blue.evidence) >= {"predicted_at", "predicted_level", "predicted_value", "horizon_s", "fitted_at"}
    assert blue.ts < blue.evidence["predicted_at"] <= blue.ts + FALLBACK.horizon_s
    assert "expected in" in blue.reason and "预计" in blue.reason
    assert [s.level for s in sigs] == sorted(s.level for s in sigs)  # re-emitted only when it rises


def test_flat_series_gives_no_signal() -> None:
    assert run(ForecastWarner(FALLBACK), series(400)) == []


def test_far_outside_reading_is_an_anomaly() -> None:
    data = series(200)
    w = ForecastWarner(FALLBACK)
    assert run(w, data) == []
    ts = data[-1][0] + 600
    sig = w.step(event(ts, 2.6), [(RULE, LP)])
    anomaly = [s for s in sig if s.detector == "forecast-anomaly"]
    assert len(anomaly) == 1 and anomaly[0].level is not None and anomaly[0].kind == "level"
    assert anomaly[0].rule == "forecast-anomaly" and anomaly[0].evidence["k"] > FALLBACK.anomaly_k
    back = run(w, [(ts + 600 * (i + 1), 2.0) for i in range(6)])
    assert any(s.detector == "forecast-anomaly" and s.kind == "clear" for s in back)


def test_warning_is_withdrawn_when_the_rise_stops() -> None:
    data = series(244, rise_from=200)
    data += [(T0 + 600.0 * (244 + i), data[-1][1]) for i in range(40)]  # stops just below blue
    sigs = run(ForecastWarner(replace(FALLBACK, withdraw_after_s=1800)), data)
    kinds = [(s.kind, s.level, s.evidence.get("withdrawn", False)) for s in sigs if s.detector == "forecast"]
    assert kinds[0][:2] == ("forecast", 1) and kinds[-1] == ("forecast", None, True)


def test_saved_state_mid_stream_continues_identically() -> None:
    data = series(300, rise_from=200)
    w = ForecastWarner(FALLBACK)
    run(w, data[:210])
    clone = state_copy(w)
    assert [s.reason for s in run(w, data[210:])] == [s.reason for s in run(clone, data[210:])]


def test_saved_state_drops_the_executor_and_fits_in_flight() -> None:
    w = ForecastWarner(replace(PROPHET, refit_mode="background"), use_prophet=True)
    run(w, series(80))  # 80 x 10 min: the first fit is due and in flight
    assert w._pending  # a fit is in flight
    clone = state_copy(w)
    w.drain()  # no stray fit left running after the test
    w.close()
    assert clone._executor is None and clone._pending == {}
    run(clone, series(90)[80:])
    clone.drain()
    clone.close()
    assert clone.stats()["fits"] >= 1


@pytest.mark.parametrize("mode", ["background", "process"])
def test_inline_and_drained_background_refits_give_the_same_signals(mode: str) -> None:
    data = series(170, rise_from=120, slope=0.03)
    inline = ForecastWarner(PROPHET, use_prophet=True)
    background = ForecastWarner(replace(PROPHET, refit_mode=mode), use_prophet=True)
    a, b = run(inline, data), run(background, data, drain=True)
    background.close()
    assert [s.last_error for s in inline.series.values()] == [None]
    assert inline.stats()["fits"] == background.stats()["fits"] >= 2
    assert [(s.kind, s.level, s.reason, s.evidence.get("model")) for s in a] == \
        [(s.kind, s.level, s.reason, s.evidence.get("model")) for s in b]
    assert any(s.kind == "forecast" for s in a)


def test_prophet_unavailable_uses_the_fallback() -> None:
    w = ForecastWarner(PROPHET, use_prophet=False)
    sigs = [s for s in run(w, series(170, rise_from=120, slope=0.03)) if s.kind == "forecast"]
    assert sigs and {s.evidence["model"] for s in sigs} == {"fallback"}
    assert w.stats()["fits"] == 0


def test_extra_plugs_into_the_engine() -> None:
    engine = DetectorEngine([RULE])
    extra = make_forecast_extra(lambda: [RULE], FALLBACK)
    engine.add(extra)
    out = engine.process(event(ts, v) for ts, v in series(260, rise_from=200))
    kinds = {(s.detector, s.kind) for s in out}
    assert ("forecast", "forecast") in kinds and ("threshold", "level") in kinds
    first_forecast = min(s.ts for s in out if s.kind == "forecast")
    assert first_forecast < min(s.ts for s in out if s.detector == "threshold")
    snap = saved.unpack(saved.dumps("x", 1, extra.snapshot()))["data"]  # plain data, through bytes
    again = make_forecast_extra(lambda: [RULE], FALLBACK)
    again.restore(snap)
    assert again.warners[None].series and snap["v"] == again.STATE_VERSION


@pytest.fixture(scope="module")
def agly() -> list[tuple[float, str, float]]:
    if not Path(DATA).exists():
        pytest.skip("Hub'Eau data not present")
    return load_readings(start="2020-01-18", end="2020-01-23", stations={"hubeau:Y063402001"})


@pytest.mark.parametrize("model", ["fallback", "prophet"])
def test_agly_red_crossing_is_warned_ahead(agly: list[tuple[float, str, float]], model: str) -> None:
    rule = load_rule()
    params = replace(FALLBACK if model == "fallback" else PROPHET, model=model, min_history_s=86400,
                     window_s=2 * 86400)
    result = score(crossings(agly, rule), replay(agly, rule, params).signals, params.horizon_s)
    red = [r for r in result["rows"] if r["level"] == 4]
    assert red and red[0]["crossed"] >= 1579651200.0  # 2020-01-22
    assert red[0]["lead_min"] >= 10


@pytest.mark.parametrize("off", [0.0, 120.0, -300.0])
def test_holt_path_memo_gives_the_direct_formula(off: float) -> None:
    """HoltTrend.path memoises its damped-trend factors: every value is the formula's own float."""
    h = HoltTrend()
    for i in range(20):
        h.learn_one(i * 600.0, 1.0 + 0.05 * i + 0.01 * (i % 3))
    now = h.last_ts + off
    times, ys = h.path(now, 3 * 3600.0, 600.0)
    direct = [h.level + h.slope * h.damping_s * (1.0 - math.exp(-max(off + 600.0 * i, 0.0) / h.damping_s))
              for i in range(len(times))]
    assert ys == direct and times == [now + 600.0 * i for i in range(19)]
    assert h.path(now, 3 * 3600.0, 600.0) == (times, ys)  # from the memo


@pytest.mark.parametrize("slope", [0.0, 2e-4, -2e-4, 5e-3])
def test_the_warners_holt_path_reaches_what_its_whole_path_reaches(slope: float) -> None:
    """The warner computes the Holt path's values only when a rule's level is within its reach (its extreme is
    one of its ends): the level, point and extreme are those of the whole path, for rising and falling rules."""
    from fenghuo.detectors.forecast import _HoltPath, _Hot
    from fenghuo.detectors.forecast_model import reached
    from fenghuo.detectors.hysteresis import LevelParams

    hot = _Hot.of(FALLBACK)
    assert hot.monotone
    rising = LevelParams(((1, 3.0), (2, 3.5), (3, 4.0), (4, 4.5)), True, 600.0)
    falling = LevelParams(((1, 1.0), (2, 0.5)), False, 1200.0)
    for start in np.linspace(0.2, 4.8, 47):
        path = _HoltPath(float(start), slope * 10800.0, hot.terms, True, T0, 600.0)
        whole = [float(start) + slope * 10800.0 * d for d in hot.terms]
        for lp in (rising, falling):
            assert path.reached(lp) == reached(whole, lp, math.ceil(lp.for_seconds / 600.0))
        assert path.y == whole


def test_the_fitting_process_starts_again_after_the_command_line_ended_it() -> None:
    """``fenghuo`` ends the shared fitting process before it exits; a later warner in the same process (a test
    calling the command line in-process, then a forecast) gets a new one instead of a shut-down pool."""
    from fenghuo.cli.common import end_child_processes
    from fenghuo.detectors import forecast

    first = forecast._fit_process()
    end_child_processes()
    second = forecast._fit_process()
    assert second is not first and second.submit(abs, -3).result(timeout=60) == 3


def test_a_ctrl_c_to_the_terminal_does_not_stop_the_fitting_process() -> None:
    """Ctrl-C sends SIGINT to every process of the terminal's group: the shared fitting process printed a
    KeyboardInterrupt traceback under ``fenghuo run``'s own clean stop. It ignores SIGINT and keeps serving fits;
    the command ends it."""
    import os
    import signal
    import time

    from fenghuo.detectors.forecast import _fit_process, close_fit_process

    pool = _fit_process()
    try:
        child = pool.submit(os.getpid).result(timeout=60)
        os.kill(child, signal.SIGINT)
        time.sleep(0.3)
        assert pool.submit(os.getpid).result(timeout=60) == child  # the same process, still serving
    finally:
        close_fit_process()
