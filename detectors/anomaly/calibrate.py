"""Turn any raw surprise into a calibrated, probability-like [0, 1] score per stream.

A running tail model (peaks over threshold): below the ``q`` quantile of recent raw scores the
tail probability is the empirical one; above it, an exponential tail fitted to the excesses.
The score is ``-log10(p) / decades``, capped at 1, so 1 means "rarer than 1 in 10**decades".
"""

from __future__ import annotations

import math

from fenghuo.core import state as saved
from fenghuo.detectors.anomaly._window import RollingSorted


class TailCalibrator:
    """Running peaks-over-threshold calibration of a raw score stream.

    Parameters
    ----------
    size
        How many recent raw scores the tail is fitted on.
    q
        Quantile above which the exponential tail takes over.
    decades
        ``-log10`` tail probability that maps to score 1.
    min_count
        Raw scores to see before calibrating (0 before).

    Examples
    --------
    >>> cal = TailCalibrator(size=200, min_count=20)
    >>> for i in range(200):
    ...     cal.learn(float(i % 10))
    >>> cal.score(5.0) < cal.score(9.0) < cal.score(30.0) <= 1.0
    True
    """

    def __init__(self, size: int = 2000, q: float = 0.95, decades: float = 8.0, min_count: int = 50) -> None:
        self.size = size
        self.q = q
        self.decades = decades
        self.min_count = min_count
        self._window = RollingSorted(size)

    def tail_probability(self, raw: float) -> float:
        """Estimated probability of a raw score at least this large (1.0 before ``min_count``)."""
        w = self._window
        n = len(w)
        if n < self.min_count:
            return 1.0
        u = w.quantile(self.q)
        if raw <= u:
            return max(1.0 - w.rank(raw), 1.0 - self.q)
        k = max(1, int(n * (1.0 - self.q)))
        top = w._sorted[n - k:]
        beta = sum(top) / k - u
        beta = max(beta, 1e-9 * (1.0 + abs(u)), 1e-12)
        return (1.0 - self.q) * math.exp(-(raw - u) / beta)

    def score(self, raw: float) -> float:
        """``-log10(p) / decades`` in [0, 1]."""
        p = self.tail_probability(raw)
        if p <= 0.0:
            return 1.0
        return min(1.0, max(0.0, -math.log10(p) / self.decades))

    def learn(self, raw: float) -> None:
        """Add a raw score to the running sample."""
        self._window.add(raw)


# saved state: plain data (fenghuo.core.state), under a tag that survives renaming the class
saved.register("anomaly.tail-calibrator", TailCalibrator)
