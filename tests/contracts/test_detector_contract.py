"""One contract test over every registered anomaly detector (river ``test_estimators`` style)."""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest

from fenghuo.detectors.anomaly import DETECTORS, make_detector
from fenghuo.detectors.base import SeriesDetector

N = 700


def _stream(seed: int = 7) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(seed)
    ts = (1_600_000_000 + 300.0 * np.arange(N)).tolist()
    values = (10.0 + 2.0 * np.sin(np.arange(N) / 20.0) + rng.normal(0.0, 0.3, N)).tolist()
    return ts, values


def _run(det: SeriesDetector, ts: list[float], values: list[float]) -> list[float]:
    scores = []
    for t, v in zip(ts, values, strict=True):
        scores.append(det.score_one(t, v))
        det.learn_one(t, v)
    return scores


@pytest.fixture(params=DETECTORS)
def name(request: pytest.FixtureRequest) -> str:
    return request.param


def test_protocol_and_range(name: str) -> None:
    det = make_detector(name, seed=1)
    assert isinstance(det, SeriesDetector)
    assert det.name == name
    ts, values = _stream()
    scores = _run(det, ts, values)
    assert all(0.0 <= s <= 1.0 and not math.isnan(s) for s in scores)


def test_score_does_not_learn(name: str) -> None:
    det = make_detector(name, seed=1)
    ts, values = _stream()
    _run(det, ts[:400], values[:400])
    before = pickle.dumps(det)
    first = [det.score_one(ts[400], v) for v in (values[400], 50.0, -50.0)]
    second = [det.score_one(ts[400], v) for v in (values[400], 50.0, -50.0)]
    assert first == second
    assert pickle.dumps(det) == before


def test_deterministic_under_seed(name: str) -> None:
    ts, values = _stream()
    assert _run(make_detector(name, seed=3), ts, values) == _run(make_detector(name, seed=3), ts, values)


def test_pickle_round_trip_mid_stream(name: str) -> None:
    ts, values = _stream()
    det = make_detector(name, seed=2)
    _run(det, ts[:350], values[:350])
    clone = pickle.loads(pickle.dumps(det))
    deep = copy.deepcopy(det)
    rest = _run(det, ts[350:], values[350:])
    assert _run(clone, ts[350:], values[350:]) == rest
    assert _run(deep, ts[350:], values[350:]) == rest


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_raises(name: str, bad: float) -> None:
    det = make_detector(name)
    det.learn_one(0.0, 1.0)
    with pytest.raises(ValueError):
        det.score_one(60.0, bad)
    with pytest.raises(ValueError):
        det.learn_one(60.0, bad)


def test_gaps_in_time_are_fine(name: str) -> None:
    ts, values = _stream()
    gappy = [t + (86_400.0 * 30 if i > N // 2 else 0.0) for i, t in enumerate(ts)]
    scores = _run(make_detector(name), gappy, values)
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_flagrant_spike_scores_higher(name: str) -> None:
    ts, values = _stream()
    det = make_detector(name, seed=0)
    normal = _run(det, ts[:600], values[:600])[300:]
    spike = det.score_one(ts[600], 60.0)
    assert spike > max(normal)
