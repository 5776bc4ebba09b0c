"""The IsolationForest refits in the background yet scores exactly as a deterministic schedule says."""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest

from fenghuo.core import state as saved
from fenghuo.detectors.anomaly import iforest
from fenghuo.detectors.anomaly.iforest import WindowedIsolationForest


def state_copy(obj: Any) -> Any:
    """``obj`` written as saved-state bytes (versioned msgpack, no pickle) and read back."""
    raw = saved.dumps("test", 1, saved.to_plain(obj))
    assert saved.is_state(raw)
    return saved.from_plain(saved.loads(raw, "test", {1: lambda d: d}))


def _stream(n: int) -> list[tuple[float, float]]:
    return [(i * 60.0, math.sin(i / 7.0) + (6.0 if i % 97 == 0 else 0.0)) for i in range(n)]


def _scores(det: WindowedIsolationForest, points: list[tuple[float, float]]) -> list[float]:
    out = []
    for ts, v in points:
        out.append(det.score_one(ts, v))
        det.learn_one(ts, v)
    return out


def test_background_refit_runs_off_the_caller_thread_and_swaps_in_after_the_stated_delay(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real = iforest.fit_forest

    def spy(*args: Any) -> Any:
        seen.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(iforest, "fit_forest", spy)
    bg = WindowedIsolationForest(min_fit=100, refit_every=200, n_trees=10, seed=3, swap_after=30)
    s_bg = _scores(bg, _stream(700))
    monkeypatch.undo()
    assert seen and all(name.startswith("fenghuo-iforest") for name in seen)
    # inline, the first forest scores from point 101; in the background 30 learned points later
    inline = WindowedIsolationForest(min_fit=100, refit_every=200, n_trees=10, seed=3, background=False)
    s_in = _scores(inline, _stream(700))
    first_in = next(i for i, s in enumerate(s_in) if s > 0)
    first_bg = next(i for i, s in enumerate(s_bg) if s > 0)
    assert first_bg - first_in == 30
    again = WindowedIsolationForest(min_fit=100, refit_every=200, n_trees=10, seed=3, swap_after=30)
    assert _scores(again, _stream(700)) == s_bg  # deterministic whatever the thread timing


def test_a_detector_saved_with_a_fit_in_flight_resumes_identically() -> None:
    points = _stream(600)
    a = WindowedIsolationForest(min_fit=100, refit_every=200, n_trees=10, seed=5, swap_after=40)
    _scores(a, points[:110])  # the first fit was started at point 102 and is still pending
    assert a._pending is not None
    doc = saved.to_plain(a)
    assert "_trees" not in doc["f"] and doc["f"]["pending"]["seed"] == 5  # the rows and seed, not the forest
    b = state_copy(a)  # the forest is refit from its rows, deterministically
    assert _scores(b, points[110:]) == _scores(a, points[110:])


def test_a_saved_detector_with_fitted_forests_scores_as_the_original() -> None:
    points = _stream(600)
    a = WindowedIsolationForest(min_fit=100, refit_every=200, n_trees=10, seed=7, swap_after=20,
                                background=False)
    _scores(a, points[:450])  # fitted twice, inline
    assert a._trees and a._pending is None
    b = state_copy(a)
    assert b._trees == a._trees and b._norm == a._norm
    assert _scores(b, points[450:]) == _scores(a, points[450:])
