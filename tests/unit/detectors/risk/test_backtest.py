"""The rolling-origin backtest scores the model and both baselines on the same weeks, never with the future."""

from __future__ import annotations

import math

import numpy as np

from fenghuo.detectors.risk import RiskForecastParams, backtest
from tests.unit.detectors.risk import synth

P = RiskForecastParams(groups={})


def test_every_method_is_scored_on_the_same_grid_weeks() -> None:
    cases = synth.log(100, np.linspace(2.0, 12.0, 10), seed=7, hot=3.0)
    bt = backtest(cases, [], synth.tree(), P, "UTC", kinds=("logistic",), start_weeks=6, in_sample=False)
    assert bt.methods == ["logistic", "last_week", "seasonal"]
    # origins from week 6 while the 7-day horizon is inside the data: days 42, 49, ... 91; the first two have
    # fewer than 3 training weeks (features need 28 days, each week's horizon must have passed): no model
    assert [round((w.origin - synth.T0) / synth.DAY) for w in bt.weeks] == list(range(56, 93, 7))
    assert bt.skipped == 2
    for w in bt.weeks:
        assert w.grids == 10 and set(w.probability) == set(bt.methods)
        assert w.base_rate == np.mean(w.happened)
        for m in bt.methods:
            assert all(0.0 <= p <= 1.0 for p in w.probability[m])
    for m in bt.methods:
        o = bt.overall[m]
        assert 0 <= o["p5"] <= 1 and 0 <= o["brier"] <= 1 and (math.isnan(o["auc"]) or 0 <= o["auc"] <= 1)


def test_the_figures_of_a_week_do_not_change_when_later_weeks_are_added() -> None:
    cases = synth.log(100, np.linspace(2.0, 12.0, 10), seed=8, hot=3.0)
    short = [c for c in cases if c.ts < synth.T0 + 70 * synth.DAY]
    a = backtest(short, [], synth.tree(), P, "UTC", kinds=("logistic",), start_weeks=6, in_sample=False)
    b = backtest(cases, [], synth.tree(), P, "UTC", kinds=("logistic",), start_weeks=6, in_sample=False)
    assert a.weeks and a.weeks[0].origin == b.weeks[0].origin
    assert a.weeks[0].probability == b.weeks[0].probability and a.weeks[0].happened == b.weeks[0].happened
