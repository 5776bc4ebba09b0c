"""The event the forecast predicts: a burst, or a count above the seasonal expectation's upper bound."""

from __future__ import annotations

import numpy as np

from fenghuo.detectors.risk import happened, upper_bound
from fenghuo.detectors.risk.labels import dispersion


def test_a_count_above_the_bound_or_a_burst_is_the_event() -> None:
    bound = upper_bound(100.0, 0.0)
    assert 110 <= bound <= 115  # Poisson(100): about mean + 1.28 sd
    assert happened(bound + 1, 100.0, 0.0, burst=False)
    assert not happened(bound, 100.0, 0.0, burst=False)
    assert happened(0, 100.0, 0.0, burst=True)
    counts = np.array([0, 200, 50])
    assert happened(counts, np.array([100.0, 100.0, 10.0]), 0.0, np.array([True, False, False])).tolist() == [
        True, True, True]


def test_overdispersed_counts_need_a_larger_excess() -> None:
    assert upper_bound(100.0, 0.2) > upper_bound(100.0, 0.0)
    assert not happened(130, 100.0, 0.2, burst=False)


def test_about_one_ordinary_week_in_ten_is_above_its_bound() -> None:
    rng = np.random.default_rng(0)
    mu = rng.uniform(5, 200, 5000)
    alpha = 0.1
    counts = rng.negative_binomial(1 / alpha, (1 / alpha) / (1 / alpha + mu))
    est = dispersion(counts, mu)
    assert abs(est - alpha) < 0.02
    share = np.mean(happened(counts, mu, est, np.zeros(len(mu), dtype=bool)))
    assert 0.05 < share < 0.12
