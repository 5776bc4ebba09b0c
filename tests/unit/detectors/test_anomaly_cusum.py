"""CUSUM and the series' time base on their hot path: scoring a reading before learning it (the sums kept from
the score) learns exactly what learning alone does, saved states leave that out, and the learned interval is
the median of the recent gaps however the readings come."""

from __future__ import annotations

import random
import statistics

import pytest

from fenghuo.core import state as saved
from fenghuo.detectors.anomaly import CUSUM
from fenghuo.detectors.timebase import GAPS, Cadence


def readings(n: int = 1500, seed: int = 5) -> list[float]:
    """Noise around 1.0 with two lasting shifts and a few spikes."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        v = 1.0 + rng.gauss(0.0, 0.05) + (0.8 if 500 <= i < 900 else 0.0) - (0.5 if i >= 1200 else 0.0)
        out.append(v + (3.0 if i % 333 == 0 else 0.0))
    return out


def test_scoring_first_learns_what_learning_alone_learns() -> None:
    scored, plain = CUSUM(warmup=20), CUSUM(warmup=20)
    scores = []
    for i, v in enumerate(readings()):
        scores.append(scored.score_one(float(i), v))
        if i % 7 != 3:  # (some readings are scored and not learned, as the anomaly detector does)
            scored.learn_one(float(i), v)
            plain.learn_one(float(i), v)
        else:
            plain.score_one(float(i), v)
    assert scored.__getstate__() == plain.__getstate__()
    assert max(scores) > 0.5  # the shifts were scored


def test_a_different_value_after_the_score_is_learned_as_itself() -> None:
    scored, plain = CUSUM(warmup=5), CUSUM(warmup=5)
    for i, v in enumerate(readings(100)):
        scored.learn_one(float(i), v)
        plain.learn_one(float(i), v)
    scored.score_one(100.0, 9.0)
    scored.learn_one(100.0, 1.0)
    plain.learn_one(100.0, 1.0)
    assert scored.__getstate__() == plain.__getstate__()
    with pytest.raises(ValueError):
        scored.learn_one(101.0, float("nan"))


def test_the_saved_state_has_no_cache_and_continues() -> None:
    det = CUSUM(warmup=20)
    values = readings(400)
    for i, v in enumerate(values[:300]):
        det.score_one(float(i), v)
        det.learn_one(float(i), v)
    det.score_one(300.0, values[300])  # a score kept for the next learn_one
    plain = saved.to_plain(det)
    assert "_prepared" not in str(plain)
    back = saved.from_plain(plain)
    assert [back.score_one(float(i), v) for i, v in enumerate(values[300:], 300)] == \
        [det.score_one(float(i), v) for i, v in enumerate(values[300:], 300)]


@pytest.mark.parametrize("jitter", [0.0, 0.1, 0.5])
def test_the_interval_is_the_median_of_the_recent_gaps(jitter: float) -> None:
    rng = random.Random(2)
    c, t, gaps = Cadence(), 0.0, []
    c.observe(t)
    for _ in range(400):  # mostly 600 s, some other gaps (a regular gauge with hiccups)
        gap = 600.0 if rng.random() > jitter else rng.choice([60.0, 1200.0, 3600.0, 599.0])
        t += gap
        gaps.append(gap)
        c.observe(t)
        c.observe(t - 30.0)  # a late reading teaches nothing
        assert c.median == statistics.median(gaps[-GAPS:])
    assert c.last_ts == t
