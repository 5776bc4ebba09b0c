"""Exponentially weighted mean/variance z-score, with optional seasonal profile."""

from __future__ import annotations

import math

from fenghuo.core import state as saved
from fenghuo.detectors.anomaly._window import squash
from fenghuo.detectors.base import check_value


class EWMAZScore:
    """z-score of the value against an EWMA mean and variance (optionally per seasonal phase).

    With ``period`` (seconds) set, a per-phase EWMA profile (``buckets`` phases) is subtracted
    first, so a daily cycle is not mistaken for an anomaly. Values beyond ``clip`` sigmas are
    learned winsorised.

    Parameters
    ----------
    alpha
        Smoothing weight of the newest point for the mean and variance.
    period
        Seasonal period in seconds, or None for no seasonality.
    buckets
        Number of phases the period is cut into.
    clip
        Winsorising limit in sigmas for learning.
    warmup
        Points to learn before scoring.

    Examples
    --------
    >>> det = EWMAZScore(alpha=0.05, warmup=10)
    >>> for i in range(200):
    ...     det.learn_one(i * 60.0, 5.0 + (i % 3) * 0.1)
    >>> det.score_one(12000.0, 5.1) < 0.3, det.score_one(12000.0, 9.0) > 0.9
    (True, True)
    """

    name = "ewma"

    def __init__(self, alpha: float = 0.02, period: float | None = None, buckets: int = 24, clip: float = 4.0,
                 warmup: int = 30, scale: float = 3.0) -> None:
        self.alpha = alpha
        self.period = period
        self.buckets = buckets
        self.clip = clip
        self.warmup = warmup
        self.scale = scale
        self._mean = 0.0
        self._var = 0.0
        self._season: dict[int, float] = {}
        self._n = 0

    def _phase(self, ts: float) -> int:
        assert self.period is not None
        return int((ts % self.period) / self.period * self.buckets)

    def _residual(self, ts: float, value: float) -> float:
        if self.period is None:
            return value
        return value - self._season.get(self._phase(ts), self._mean)

    def _z(self, ts: float, value: float) -> float:
        sd = math.sqrt(self._var) + 1e-9 * (1.0 + abs(self._mean))
        return (self._residual(ts, value) - self._mean) / sd

    def score_one(self, ts: float, value: float) -> float:
        """Score in [0, 1]; does not learn."""
        value = check_value(value)
        if self._n < self.warmup:
            return 0.0
        return squash(abs(self._z(ts, value)), self.scale)

    def learn_one(self, ts: float, value: float) -> None:
        """Update the profile, mean and variance with the winsorised value."""
        value = check_value(value)
        if self._n == 0:
            self._mean = value if self.period is None else 0.0
            if self.period is not None:
                self._season[self._phase(ts)] = value
        if self.period is not None:
            phase = self._phase(ts)
            base = self._season.get(phase, value)
            self._season[phase] = base + 0.1 * (value - base)
        resid = self._residual(ts, value)
        if self._n >= self.warmup:
            sd = math.sqrt(self._var)
            resid = min(max(resid, self._mean - self.clip * sd), self._mean + self.clip * sd)
        a = self.alpha if self._n >= self.warmup else max(self.alpha, 1.0 / (self._n + 1))
        delta = resid - self._mean
        self._mean += a * delta
        self._var = (1 - a) * (self._var + a * delta * delta)
        self._n += 1


# saved state: plain data (fenghuo.core.state), under a tag that survives renaming the class
saved.register("anomaly.e-w-m-a-z-score", EWMAZScore)
