"""Risk features are causal: what happens after the origin never changes them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from fenghuo.detectors.risk import AlertMark, Case, RiskForecastParams
from fenghuo.detectors.risk.features import NAMES, frame, prepare
from tests.unit.detectors.risk import synth

P = RiskForecastParams(groups={"noise": ["noise"]})


def _frame(cases: list[Case], alerts: list[AlertMark], at: float) -> np.ndarray:
    d = prepare(cases, alerts, synth.tree(), P, "UTC")
    f = frame(d, at, 7, P.history_days)
    rows = [d.grids.index(f"G{i}") * len(d.groups) + k for i in range(10) for k in range(len(d.groups))]
    return np.hstack([f.X[rows], f.expected[rows, None], f.recent[rows, None]])


def test_a_feature_at_the_origin_is_unchanged_when_later_events_are_added() -> None:
    at = synth.T0 + 60 * synth.DAY
    past = [c for c in synth.log(60, np.full(10, 5.0), seed=1) if c.ts < at]
    # what was open at the origin: closed later in the full log, not yet closed in the log as it was then
    then = [replace(c, closed=None) if c.closed is not None and c.closed >= at else c for c in past]
    later = [c for c in synth.log(120, np.full(10, 50.0), seed=2) if c.ts >= at]
    alerts_then = [AlertMark(at - 3600, "G1", 2, "contradiction", True, "noise")]
    alerts_all = alerts_then + [AlertMark(at + 3600, "G2", 4, "contradiction", True, "noise")]
    before = _frame(then, alerts_then, at)
    after = _frame(past + later, alerts_all, at)
    np.testing.assert_allclose(before, after)
    assert before[:, NAMES.index("open_share")].max() > 0  # cases opened before and closed after count as open


def test_recent_counts_and_overdue_cases_are_counted_from_the_window_before_the_origin() -> None:
    at = synth.T0 + 40 * synth.DAY
    cases = [Case(at - 3600 * (i + 1), "G3", "noise", None, at - 60, "here", False) for i in range(4)]
    cases += [Case(at - 86400, "G3", "noise", at - 3600, None, None, False),
              Case(synth.T0, "G0", "noise", synth.T0 + 60, None, None, False),
              Case(at + 10, "G3", "noise", None, None, None, False)]
    d = prepare(cases, [], synth.tree(), P, "UTC")
    f = frame(d, at, 7, P.history_days)
    row = d.grids.index("G3") * len(d.groups)
    shown = dict(zip(NAMES, f.shown[row], strict=True))
    assert shown["recent_count"] == 5
    assert shown["open_share"] == 0.8 and shown["overdue_share"] == 0.8  # one of five was closed before t
    assert shown["repeat_share"] == 0.8  # four reports from one place
