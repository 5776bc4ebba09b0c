"""The streaming multivariate model of an asset (fenghuo.detectors.anomaly.multivariate)."""

from __future__ import annotations

import numpy as np
import pytest

from fenghuo.core import state as saved
from fenghuo.detectors.anomaly.multivariate import MultivariateModel, simes

BLUE = 0.6


def _noise(n: int, k: int, seed: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, k))


def _pump(n: int, seed: int = 7) -> np.ndarray:
    """Four channels of one pump: flow and current follow one drive, temperature drifts up, vibration is noise."""
    rng = np.random.default_rng(seed)
    drive = rng.normal(size=n)
    flow = 30.0 + drive + 0.2 * rng.normal(size=n)
    current = 2.0 + 0.5 * drive + 0.1 * rng.normal(size=n)
    temp = 70.0 + 0.004 * np.arange(n) + 0.05 * rng.normal(size=n)  # 24 of its own sigmas over 300 s
    vib = 0.2 + 0.001 * rng.normal(size=n)
    return np.column_stack([flow, current, temp, vib])


def _scores(m: MultivariateModel, x: np.ndarray, start: int = 0) -> np.ndarray:
    return np.array([m.step(float(start + i), row) for i, row in enumerate(x)])


def test_simes_never_exceeds_bonferroni_and_keeps_a_lone_signal() -> None:
    ps = [0.001, 0.2, 0.5, 0.9]
    assert simes(ps) == pytest.approx(0.004)  # one small p among four: Bonferroni's 4 x 0.001
    assert simes([0.01] * 8) == pytest.approx(0.01)  # all eight agree: no penalty
    assert simes(ps) <= 4 * min(ps)


def test_eight_channels_of_noise_score_like_one() -> None:
    """The correction: eight independent channels do not push the normal scores up (without it, the 99th
    percentile of the score would rise by about a decade's worth, 0.11)."""
    one = _scores(MultivariateModel(model="channels"), _noise(5000, 1))[400:]
    eight = _scores(MultivariateModel(model="channels"), _noise(5000, 8))[400:]
    assert abs(float(np.quantile(eight, 0.99)) - float(np.quantile(one, 0.99))) < 0.05
    assert (eight >= BLUE).mean() < 0.001


def test_a_broken_correlation_is_seen_by_pca_though_each_channel_is_within_its_range() -> None:
    x = _pump(1400)
    normal = x[:1200]
    broken = x[1200:].copy()
    broken[:, 1] = 2.0 - 0.5 * (broken[:, 0] - 30.0)  # current now falls when flow rises: each still in range
    m = MultivariateModel(model="pca")
    quiet = _scores(m, normal)
    loud = _scores(m, broken, start=1200)
    assert (quiet[400:] >= BLUE).mean() < 0.01
    assert (loud[20:] >= BLUE).mean() > 0.9


def test_a_slow_drift_is_followed_and_a_step_stays_raised_until_it_ends() -> None:
    x = _pump(2000)
    x[1200:1500, 0] -= 3.0  # a valve half-closed for 300 rows: the flow drops by 3 of its sigmas
    x[1200:1500, 1] -= 1.5  # and the current with it (the drive's correlation holds)
    s = _scores(MultivariateModel(), x)
    assert (s[400:1200] >= BLUE).mean() < 0.01  # the temperature drifts 3 degrees: no alarm
    during = s[1200:1500]
    assert (during >= BLUE).mean() > 0.85 and (during[-50:] >= BLUE).all()  # not learned as the new normal
    assert (s[1560:] >= BLUE).mean() < 0.02  # back to normal when the flow is


def test_a_change_lasting_longer_than_max_skip_becomes_the_new_normal() -> None:
    x = _pump(3000)
    x[1200:, 0] += 5.0
    m = MultivariateModel(max_skip=300)
    s = _scores(m, x)
    assert s[1250] >= BLUE
    assert (s[2200:] < BLUE).all()  # it started afresh on the new level and learned it


def test_memory_is_bounded_and_the_state_round_trips() -> None:
    x = _pump(1500)
    m = MultivariateModel(window=300)
    _scores(m, x[:1000])
    assert len(m.rows) == 300
    copy = saved.from_plain(saved.loads(saved.dumps("t", 1, saved.to_plain(m)), "t", {1: lambda d: d}))
    assert isinstance(copy, MultivariateModel)
    np.testing.assert_array_equal(_scores(copy, x[1000:], 1000), _scores(m, x[1000:], 1000))


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        MultivariateModel(model="lstm")
    m = MultivariateModel()
    with pytest.raises(ValueError):
        m.step(0.0, [1.0, float("nan")])
    m.step(0.0, [1.0, 2.0])
    m.step(1.0, [1.0, 2.0, 3.0])  # a channel more: the model starts afresh on three
    assert m.dim == 3 and m.learned == 1
