"""Glitches and the forecast (issue 11, item 3): one implausible in-range reading raises nothing above blue and
never lets a forecast bypass the rule's ``for_seconds``; a real rise still warns before red; a warning that
normal readings contradict is withdrawn within a few readings; state saved before these fields still loads."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import pytest

from benchmarks.forecast_gloria import DATA, crossings, load_readings, load_rule, replay, score
from fenghuo.core.config import Rule
from fenghuo.core.models import Event, Signal
from fenghuo.detectors.engine import DetectorEngine
from fenghuo.detectors.forecast import ForecastParams, ForecastWarner, _RuleState, make_forecast_extra
from fenghuo.detectors.forecast_model import HoltTrend, reached
from fenghuo.detectors.rules import params_for

T0 = 1767225600.0  # 2026-01-01T00:00:00Z
# the rule of the report: red 4.5 m, held for 10 minutes
RULE = Rule(id="river-level", metric="water_level_m", levels={"blue": 3.0, "yellow": 3.5, "orange": 4.0, "red": 4.5},
            for_seconds=600, hysteresis=0.1)
LP = params_for(RULE, ["G1"])
FALLBACK = ForecastParams(model="fallback", refit_mode="inline")


def event(i: int, v: float, every_s: float) -> Event:
    ts = T0 + every_s * i
    return Event(feed="sensor", source="gauge", ts=ts, grid="G1", id=f"gauge:{ts:.0f}", metric="water_level_m",
                 value=v)


def run(w: ForecastWarner, values: list[float], every_s: float) -> list[tuple[int, Signal]]:
    return [(i, s) for i, v in enumerate(values) for s in w.step(event(i, v, every_s), [(RULE, LP)])]


def glitch(every_s: float) -> list[float]:
    """Readings of 1.0 m for 3 hours (at least 20 readings), one of 6.0 m, then 1.0 m for 3 more hours."""
    n = max(20, int(3 * 3600 / every_s))
    return [1.0] * n + [6.0] + [1.0] * n


@pytest.mark.parametrize("every_s", [60.0, 600.0])
def test_one_glitch_reading_raises_no_forecast_and_nothing_above_blue(every_s: float) -> None:
    sigs = [s for _, s in run(ForecastWarner(FALLBACK), glitch(every_s), every_s)]
    assert [s for s in sigs if s.kind == "forecast"] == []  # no "red expected in 10 min"
    assert max(int(s.level or 0) for s in sigs) <= 1
    anomaly = [s for s in sigs if s.detector == "forecast-anomaly"]
    assert anomaly and anomaly[-1].kind == "clear"  # the blue anomaly clears when the readings are normal again


@pytest.mark.parametrize("every_s", [60.0, 600.0])
def test_the_glitch_through_the_engine_raises_nothing_red(every_s: float) -> None:
    engine = DetectorEngine([RULE])
    engine.add(make_forecast_extra(lambda: [RULE], FALLBACK))
    out = engine.process(event(i, v, every_s) for i, v in enumerate(glitch(every_s)))
    assert max((int(s.level or 0) for s in out), default=0) <= 1
    assert not any(s.kind == "forecast" for s in out)


def test_a_glitch_within_the_interval_of_the_prophet_path_needs_the_next_reading_to_agree() -> None:
    """Without the robust Holt update (robust_k 0) the spike enters the trend; the confirmation alone then
    needs the path to reach red at consecutive readings. Three readings (the spike and the two after it)
    outvote it; this pins what ``confirm_readings`` buys by itself."""
    params = replace(FALLBACK, robust_k=0.0, confirm_readings=3)
    sigs = [s for _, s in run(ForecastWarner(params), glitch(600.0), 600.0)]
    assert not any(s.kind == "forecast" for s in sigs)
    unconfirmed = [s for _, s in run(ForecastWarner(replace(params, confirm_readings=1)), glitch(600.0), 600.0)]
    assert any(s.kind == "forecast" and s.level == 4 for s in unconfirmed)  # the report's "red expected"


def test_a_sustained_jump_is_learned_and_escalates() -> None:
    """Two readings far off agree: the Holt trend learns them, the anomaly goes above blue."""
    values = [1.0] * 30 + [2.0] * 10
    w = ForecastWarner(FALLBACK)
    sigs = run(w, values, 600.0)
    anomaly = [(i, s) for i, s in sigs if s.detector == "forecast-anomaly" and s.level]
    assert anomaly[0][0] == 30 and anomaly[0][1].level == 1  # the first reading alone: blue
    assert any(i == 31 and s.level is not None and s.level > 1 for i, s in anomaly)  # confirmed: higher
    assert abs(w.series[event(0, 1.0, 600.0).series].holt.level - 2.0) < 0.2


@pytest.mark.parametrize("every_s", [60.0, 600.0])
def test_a_warning_contradicted_by_normal_readings_is_withdrawn_within_the_configured_readings(every_s: float) -> None:
    rise = [1.0] * 30 + [1.3, 1.6, 1.9, 2.2, 2.5]
    back = [1.0] * 10
    sigs = run(ForecastWarner(FALLBACK), rise + back, every_s)
    warned = [(i, s) for i, s in sigs if s.kind == "forecast" and not s.evidence.get("withdrawn")]
    withdrawn = [i for i, s in sigs if s.kind == "forecast" and s.evidence.get("withdrawn")]
    assert warned and max(int(s.level or 0) for _, s in warned) >= 3
    assert withdrawn, "the warning stays after normal readings"
    # the first normal reading is held until the next confirms it, then withdraw_readings readings out of reach
    assert withdrawn[0] - len(rise) + 1 <= FALLBACK.withdraw_readings + 1


def test_the_forecast_level_must_last_the_rules_for_seconds() -> None:
    """A path that touches red for one 10-minute point does not claim red (the rule would not raise it)."""
    path = [1.0, 2.0, 4.6, 3.2, 3.1]
    assert reached(path, LP, hold=0)[0] == 4
    assert reached(path, LP, hold=1)[:2] == (1, 3)  # blue: at or above 3.0 from 4.6 on, entered 10 min later


@pytest.fixture(scope="module")
def agly() -> list[tuple[float, str, float]]:
    if not Path(DATA).exists():
        pytest.skip("Hub'Eau data not present")
    return load_readings(start="2020-01-18", end="2020-01-23", stations={"hubeau:Y063402001"})


def test_the_real_rise_of_l_agly_still_warns_red_well_ahead(agly: list[tuple[float, str, float]]) -> None:
    rule = load_rule()
    params = replace(FALLBACK, min_history_s=86400, window_s=2 * 86400)
    result = score(crossings(agly, rule), replay(agly, rule, params).signals, params.horizon_s)
    red = [r for r in result["rows"] if r["level"] == 4]
    assert red and red[0]["lead_min"] >= 30  # "red expected" at least half an hour before the rule's red


def test_the_real_rise_with_a_glitch_in_it_still_warns_and_the_glitch_raises_no_red(
        agly: list[tuple[float, str, float]]) -> None:
    rule = load_rule()
    lp = params_for(rule, ["hubeau:Y063402001"], "hubeau:Y063402001")
    assert lp is not None
    red = lp.thresholds[-1][1]
    quiet = [r for r in agly if r[0] < 1579478400.0]  # before 2020-01-20: the river is low
    k = len(quiet) // 2
    spiked = [*agly[:k], (agly[k][0], agly[k][1], red + 1.0), *agly[k + 1:]]
    params = replace(FALLBACK, min_history_s=86400, window_s=2 * 86400)
    signals = replay(spiked, rule, params).signals
    assert not [g for g in signals if g["ts"] < 1579478400.0 and g["level"] >= 2]
    result = score(crossings(spiked, rule), signals, params.horizon_s)
    assert [r for r in result["rows"] if r["level"] == 4][0]["lead_min"] >= 30


def test_state_saved_before_the_glitch_fields_still_loads() -> None:
    """A previous release's pickle of the slotted classes lacks the new fields: they take their defaults."""
    h = HoltTrend()
    for i in range(5):
        h.learn_one(600.0 * i, 1.0)
    old = {f.name: getattr(h, f.name) for f in fields(h) if f.name not in {"pending_ts", "pending_v"}}
    again = HoltTrend.__new__(HoltTrend)
    again.__setstate__((None, old))
    assert again.pending_ts is None and not again.held
    again.learn_one(3000.0, 1.0, robust_k=4.0)
    assert again.n == 6
    rs = _RuleState.__new__(_RuleState)
    rs.__setstate__((None, {"level": _RuleState().level, "warned": 2, "out_of_reach_since": None}))
    assert rs.warned == 2 and rs.recent == [] and rs.out_of_reach == 0
    p = ForecastParams.__new__(ForecastParams)
    n_old = [f.name for f in fields(ForecastParams)].index("confirm_readings")
    p.__setstate__([getattr(FALLBACK, f.name) for f in fields(ForecastParams)][:n_old])  # frozen: a list
    assert p.model == "fallback" and p.confirm_readings == ForecastParams().confirm_readings


def test_a_sensor_that_turns_noisier_is_learned_not_held_for_ever() -> None:
    """Alternating readings far outside the quiet interval contradict each other; each dropped one still
    widens the scale, so after a few readings they are learned again."""
    h = HoltTrend()
    for i in range(50):
        h.learn_one(60.0 * i, 1.0, robust_k=4.0)
    held = []
    for i in range(50, 150):
        h.learn_one(60.0 * i, 1.3 if i % 2 else 0.7, robust_k=4.0)
        held.append(h.held)
    assert sum(held) < 20 and not any(held[-50:])
