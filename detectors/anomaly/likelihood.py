"""HTM-style anomaly likelihood: turn a noisy raw surprise into sparse, confident detections.

The raw scores of a member detector are modelled as a Gaussian over a long rolling window; the
short-term average of the most recent raw scores is compared with it, and the upper tail
probability ``p`` of that average becomes the likelihood ``1 - p``. Reported on a log scale
(``-log10(p) / decades``), so only a *sustained* rise of the raw surprise reaches near 1
(Ahmad et al. 2017, "Unsupervised real-time anomaly detection for streaming data").
"""

from __future__ import annotations

import math
from collections import deque

from fenghuo.core import state as saved
from fenghuo.detectors.base import SeriesDetector, check_value

_SQRT2 = math.sqrt(2.0)


def log_tail(z: float, decades: float) -> float:
    """``-log10`` of the Gaussian upper tail beyond ``z`` sigmas, divided by ``decades``, in [0, 1].

    >>> log_tail(0.0, 10.0) == math.log10(2.0) / 10.0
    True
    >>> log_tail(-3.0, 10.0) < log_tail(3.0, 10.0) < log_tail(9.0, 10.0) == 1.0
    True
    """
    p = 0.5 * math.erfc(z / _SQRT2)
    if p <= 0.0:
        return 1.0
    return min(1.0, -math.log10(p) / decades)


class RollingMoments:
    """Mean and variance of the last ``size`` values in O(1) per update (running sums).

    >>> m = RollingMoments(3)
    >>> for x in [1.0, 2.0, 3.0, 4.0]:
    ...     m.add(x)
    >>> m.mean(), round(m.var(), 9)
    (3.0, 0.666666667)
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._q: deque[float] = deque()
        self._s = 0.0
        self._s2 = 0.0
        self._since_refresh = 0

    def __len__(self) -> int:
        return len(self._q)

    def add(self, x: float) -> None:
        """Append ``x``, evicting the oldest when full (sums refreshed now and then for accuracy)."""
        self._q.append(x)
        self._s += x
        self._s2 += x * x
        if len(self._q) > self.size:
            old = self._q.popleft()
            self._s -= old
            self._s2 -= old * old
        self._since_refresh += 1
        if self._since_refresh >= 4 * self.size:
            self._s = math.fsum(self._q)
            self._s2 = math.fsum(v * v for v in self._q)
            self._since_refresh = 0

    def mean(self) -> float:
        return self._s / len(self._q) if self._q else 0.0

    def var(self) -> float:
        n = len(self._q)
        if n == 0:
            return 0.0
        m = self._s / n
        return max(0.0, self._s2 / n - m * m)


class AnomalyLikelihood:
    """Wrap a raw-surprise detector into a log anomaly likelihood in [0, 1].

    Parameters
    ----------
    member
        Any :class:`~fenghuo.detectors.base.SeriesDetector`; its score is the raw surprise.
    short
        How many recent raw scores (the current one included) are averaged.
    history
        How many averaged raw scores the Gaussian is fitted on.
    learning
        Points to learn before any score above 0 (the Gaussian is meaningless earlier).
    decades
        ``-log10`` tail probability that maps to 1 (10 = HTM's log-likelihood scale).
    min_std
        Floor of the fitted standard deviation (HTM uses sqrt(0.0003)).
    min_mean
        Floor of the fitted mean (HTM uses 0.03).
    spatial_tolerance
        If not None, a value beyond the range seen so far by more than this fraction of it
        scores 1 (the "spatial anomaly" rule of NAB's HTM detector, tolerance 0.05).
    name
        Registry name.

    Examples
    --------
    >>> from fenghuo.detectors.anomaly.ewma import EWMAZScore
    >>> det = AnomalyLikelihood(EWMAZScore(warmup=5), short=5, history=200, learning=50)
    >>> for i in range(300):
    ...     det.learn_one(i * 60.0, float(i % 5))
    >>> det.score_one(18000.0, 2.0) < 0.2 < det.score_one(18000.0, 500.0)
    True
    """

    def __init__(self, member: SeriesDetector, short: int = 10, history: int = 3000, learning: int = 300,
                 decades: float = 10.0, min_std: float = 0.0173, min_mean: float = 0.03,
                 spatial_tolerance: float | None = 0.05, name: str = "likelihood") -> None:
        self.name = name
        self.member = member
        self.short = short
        self.history = history
        self.learning = learning
        self.decades = decades
        self.min_std = min_std
        self.min_mean = min_mean
        self.spatial_tolerance = spatial_tolerance
        self._lo = float("inf")
        self._hi = float("-inf")
        self._recent: deque[float] = deque(maxlen=max(1, short - 1))
        self._moments = RollingMoments(history)
        self._n = 0

    def _avg(self, raw: float) -> float:
        return (sum(self._recent) + raw) / (len(self._recent) + 1)

    def likelihood(self, raw: float) -> float:
        """Log likelihood of the current raw score given the recent ones (does not learn)."""
        if self._n < self.learning or len(self._moments) < 2:
            return 0.0
        mean = max(self._moments.mean(), self.min_mean)
        std = max(math.sqrt(self._moments.var()), self.min_std)
        return log_tail((self._avg(raw) - mean) / std, self.decades)

    def score_one(self, ts: float, value: float) -> float:
        """Log anomaly likelihood of ``value`` in [0, 1]; does not learn."""
        value = check_value(value)
        score = self.likelihood(self.member.score_one(ts, value))
        if self.spatial_tolerance is not None and self._n >= self.learning:
            tol = self.spatial_tolerance * (self._hi - self._lo)
            if value > self._hi + tol or value < self._lo - tol:
                return 1.0
        return score

    def learn_from(self, raw: float) -> None:
        """Learn one raw score (for callers that already computed it)."""
        self._moments.add(self._avg(raw))
        self._recent.append(raw)
        self._n += 1

    def learn_one(self, ts: float, value: float) -> None:
        """Learn the raw score of ``value``, then let the member learn ``value``."""
        value = check_value(value)
        self.learn_from(self.member.score_one(ts, value))
        self.member.learn_one(ts, value)
        self._lo = min(self._lo, value)
        self._hi = max(self._hi, value)


# saved state: plain data (fenghuo.core.state), under a tag that survives renaming the class
saved.register("anomaly.rolling-moments", RollingMoments)
saved.register("anomaly.anomaly-likelihood", AnomalyLikelihood)
