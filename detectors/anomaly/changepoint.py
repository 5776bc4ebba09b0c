"""Two-sided CUSUM change-point detector on standardised residuals."""

from __future__ import annotations

import math

from fenghuo.core import state as saved
from fenghuo.detectors.anomaly._window import ScoreThenLearn, squash
from fenghuo.detectors.base import check_value


class CUSUM(ScoreThenLearn):
    """Page's two-sided CUSUM on the z-score against a slow EWMA baseline.

    ``g+ = max(0, g+ + z - drift)`` (and symmetric ``g-``); the score is ``squash(g / threshold)``.
    When ``g`` passes ``threshold`` the change is accepted: the sums restart and the baseline
    jumps to the recent level, so a lasting shift alarms once, not forever.

    Parameters
    ----------
    alpha
        Smoothing weight of the baseline mean and variance.
    drift
        Allowed slack per point, in sigmas.
    threshold
        Decision height ``h`` in sigmas.
    warmup
        Points to learn before scoring.
    z_cap
        Largest |z| one point may add to the sums.

    Examples
    --------
    >>> det = CUSUM(warmup=20)
    >>> for i in range(200):
    ...     det.learn_one(float(i), 1.0 + 0.1 * ((i * 7) % 5 - 2))
    >>> det.score_one(200.0, 1.0) < det.score_one(200.0, 3.0)
    True
    """

    name = "cusum"

    def __init__(self, alpha: float = 0.01, drift: float = 0.5, threshold: float = 8.0, warmup: int = 30,
                 z_cap: float = 30.0) -> None:
        self.alpha = alpha
        self.drift = drift
        self.threshold = threshold
        self.warmup = warmup
        self.z_cap = z_cap
        self._mean = 0.0
        self._var = 0.0
        self._fast = 0.0
        self._pos = 0.0
        self._neg = 0.0
        self._n = 0
        self._prepared: tuple[float, float, float] | None = None

    # score_one and learn_one of the same reading (the order every caller uses: score, then learn) need the same
    # sums; score_one keeps them (with the value) and learn_one reuses them when it gets the same value: nothing
    # changes in between, since only learn_one changes the state (and forgets them). The cache is no part of the
    # state: saved states leave it out.

    def _sums(self, value: float) -> tuple[float, float]:
        # min()/max() of two floats written out (the same result: the first unless the second is beyond it)
        sd = math.sqrt(self._var) + 1e-9 * (1.0 + abs(self._mean))
        z = (value - self._mean) / sd
        cap = self.z_cap
        z = -cap if -cap > z else z
        z = cap if cap < z else z
        pos, neg = self._pos + z - self.drift, self._neg - z - self.drift
        return (pos if pos > 0.0 else 0.0), (neg if neg > 0.0 else 0.0)

    def score_one(self, ts: float, value: float) -> float:
        """Score in [0, 1]; does not learn."""
        value = _finite(value)
        if self._n < self.warmup:
            return 0.0
        pos, neg = self._sums(value)
        self._prepared = (value, pos, neg)
        return squash((neg if neg > pos else pos) / self.threshold, 1.0)

    def learn_one(self, ts: float, value: float) -> None:
        """Update the sums and the baseline; restart after an accepted change."""
        prepared = self._prepared
        if prepared is not None:
            self._prepared = None
            if prepared[0] == value:  # the reading score_one has just seen (checked there)
                value = prepared[0]
            else:
                value, prepared = _finite(value), None
        else:
            value = _finite(value)
        a = self.alpha if self._n >= self.warmup else 1.0 / (self._n + 1)
        if self._n >= self.warmup:
            self._pos, self._neg = prepared[1:] if prepared is not None else self._sums(value)
        self._fast += (0.2 if self._n else 1.0) * (value - self._fast)
        if max(self._pos, self._neg) > self.threshold:
            self._pos = self._neg = 0.0
            self._mean = self._fast
        else:
            delta = value - self._mean
            self._mean += a * delta
            self._var = (1 - a) * (self._var + a * delta * delta)
        self._n += 1


def _finite(value: float) -> float:
    """:func:`check_value` (the float, or its ValueError), its common case first: a finite float."""
    v = float(value)
    return v if v - v == 0.0 else check_value(value)


# saved state: plain data (fenghuo.core.state), under a tag that survives renaming the class
saved.register("anomaly.c-u-s-u-m", CUSUM)
