"""Robust median/IQR z-score over a rolling window, for levels and for first differences.

Flagged values are winsorised before they are learned, so an incident does not poison the
baseline it is measured against.
"""

from __future__ import annotations

from fenghuo.core import state as saved
from fenghuo.detectors.anomaly._window import RollingSorted, squash
from fenghuo.detectors.base import check_value

_IQR_TO_SIGMA = 1.349


def robust_scale(window: RollingSorted) -> float:
    """A robust sigma that never collapses to zero on quantised or flat data, in O(1).

    The larger of the interquartile-range sigma (``IQR / 1.349``, which equals the MAD sigma for
    normal data but reads straight off the sorted window) and a quarter of the central 95% range
    (as a sigma), floored by a tiny fraction of the level.

    >>> w = RollingSorted(10)
    >>> for x in [1.0] * 9 + [2.0]:
    ...     w.add(x)
    >>> robust_scale(w) > 0
    True
    """
    iqr_sigma = (window.quantile(0.75) - window.quantile(0.25)) / _IQR_TO_SIGMA
    range_sigma = 0.25 * (window.quantile(0.975) - window.quantile(0.025)) / 3.92
    floor = 1e-6 * (1.0 + abs(window.median()))
    return max(iqr_sigma, range_sigma, floor)


class RobustZScore:
    """Rolling median/IQR z-score of the value and of its change.

    Parameters
    ----------
    window
        Number of recent (winsorised) values the baseline is computed over.
    clip
        Values further than ``clip`` robust sigmas from the median are learned as if they were
        exactly ``clip`` sigmas away (winsorising), so outliers do not drag the baseline.
    warmup
        Points to learn before scoring anything above 0.
    scale
        The z at which the score reaches 0.5 (``score = z / (z + scale)``).

    Examples
    --------
    >>> import random
    >>> rng = random.Random(0)
    >>> det = RobustZScore(window=200, warmup=10)
    >>> for i in range(300):
    ...     det.learn_one(i * 60.0, rng.gauss(10.0, 1.0))
    >>> det.score_one(18000.0, 10.0) < 0.5
    True
    >>> det.score_one(6000.0, 50.0) > 0.9
    True
    """

    name = "robust_z"

    def __init__(self, window: int = 500, clip: float = 4.0, warmup: int = 30, scale: float = 3.0) -> None:
        self.window = window
        self.clip = clip
        self.warmup = warmup
        self.scale = scale
        self._values = RollingSorted(window)
        self._diffs = RollingSorted(window)
        self._last: float | None = None
        self._n = 0

    def surprise(self, value: float) -> float:
        """The larger robust z of ``value`` and of ``value - last`` (0 during warm-up)."""
        value = check_value(value)
        if self._n < self.warmup or self._last is None:
            return 0.0
        z_level = abs(value - self._values.median()) / robust_scale(self._values)
        z_diff = abs(value - self._last - self._diffs.median()) / robust_scale(self._diffs)
        return max(z_level, z_diff)

    def score_one(self, ts: float, value: float) -> float:
        """Score ``value`` against the current baseline, in [0, 1]; does not learn."""
        return squash(self.surprise(value), self.scale)

    def learn_one(self, ts: float, value: float) -> None:
        """Learn ``value`` (winsorised against the current baseline)."""
        value = check_value(value)
        learned = value
        if self._n >= self.warmup:
            med, sig = self._values.median(), robust_scale(self._values)
            learned = min(max(value, med - self.clip * sig), med + self.clip * sig)
        if self._last is not None:  # a spike adds only two outlying changes: the median/IQR shrug them off
            self._diffs.add(value - self._last)
        self._values.add(learned)
        self._last = value
        self._n += 1


# saved state: plain data (fenghuo.core.state), under a tag that survives renaming the class
saved.register("anomaly.robust-z-score", RobustZScore)
