"""Seasonal-profile residuals: how far is a value from the same time of day (or week) before?

NAB-style streams carry real timestamps, so the time of day and the day of week are legitimate
features. :class:`SeasonalResidual` estimates the sampling interval from the first timestamps,
cuts one period (a day, a week) into that many phase bins, keeps the last ``cycles`` values of
each bin and measures a new value's distance from their median. A changed daily shape (a flat
middle, a missing or lower daily jump) keeps the values inside the normal range but far from
the profile, which no range test can see.

A residual only means something on a stream that *has* that season, so each profile also
measures its strength online: the mean squared residual over the variance of the values seen
so far (about 2 for noise, 0.1 for a clean daily shape). :class:`SeasonalGate` reports the
profile that explains the stream best, once it has a full period of residuals and only while its
ratio is below the gate.
"""

from __future__ import annotations

from collections import deque

from fenghuo.core import state as saved
from fenghuo.detectors.base import check_value

DAY = 86400.0
WEEK = 7 * DAY


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    m = len(s) // 2
    return s[m] if len(s) % 2 else 0.5 * (s[m - 1] + s[m])


class SeasonalResidual:
    """Smoothed absolute residual from a per-phase median profile of the previous periods.

    Parameters
    ----------
    period
        Season length in seconds (``DAY``, ``WEEK``).
    cycles
        Number of previous periods (values per phase bin) the profile median is taken over.
    smooth
        Number of recent absolute residuals averaged (the current one included).
    probe
        Number of timestamp gaps whose median gives the sampling interval.
    max_bins
        The stream is not treated as seasonal when a period holds more samples than this, or
        fewer than 4.

    Examples
    --------
    >>> import math
    >>> det = SeasonalResidual(DAY)
    >>> for i in range(3 * 288):
    ...     det.learn(i * 300.0, math.sin(2 * math.pi * i / 288))
    >>> det.signal(3 * 288 * 300.0, 0.0) < 0.01, det.signal(3 * 288 * 300.0, 5.0) > 0.3
    (True, True)
    >>> det.ratio() < 0.01
    True
    """

    def __init__(self, period: float = DAY, cycles: int = 3, smooth: int = 12, probe: int = 20,
                 max_bins: int = 2100) -> None:
        self.period = period
        self.cycles = cycles
        self.smooth = smooth
        self.probe = probe
        self.max_bins = max_bins
        self.bins = 0  # 0: interval not known yet; -1: not seasonal at this sampling rate
        self._gaps: list[float] = []
        self._last_ts: float | None = None
        self._profile: dict[int, list[float]] = {}
        self._recent: deque[float] = deque()
        self._sum_r2 = 0.0
        self._n_r = 0
        self._n = 0
        self._mean = 0.0
        self._m2 = 0.0

    def _phase(self, ts: float) -> int:
        return int((ts % self.period) / self.period * self.bins)

    def residual(self, ts: float, value: float) -> float | None:
        """``value`` minus the median of its phase bin (None while the bin is empty)."""
        return self._residual_at(ts, value)[1]

    def _residual_at(self, ts: float, value: float) -> tuple[int, float | None]:
        """(phase bin of ``ts`` or -1 while the interval is unknown, :meth:`residual`)."""
        if self.bins <= 0:
            return -1, None
        phase = self._phase(ts)
        hist = self._profile.get(phase)
        if not hist:
            return phase, None
        return phase, value - _median(hist)

    def ready(self) -> bool:
        """Whether a full period of residuals has been seen."""
        return self.bins > 0 and self._n_r >= self.bins

    def ratio(self) -> float:
        """Seasonal strength so far: mean squared residual / variance of the values (inf if unknown)."""
        if self._n_r == 0 or self._m2 <= 0.0:
            return float("inf")
        return (self._sum_r2 / self._n_r) / (self._m2 / self._n)

    def signal(self, ts: float, value: float) -> float | None:
        """Mean absolute residual over the last ``smooth`` points, this one included (None
        without a profile); does not learn."""
        return self._smoothed(self.residual(ts, check_value(value)))

    def _smoothed(self, resid: float | None) -> float | None:
        """:meth:`signal` of a known residual."""
        if resid is None:
            return None
        a = abs(resid)
        n = len(self._recent)
        if n < self.smooth:
            return (sum(self._recent) + a) / (n + 1)
        return (sum(self._recent) - self._recent[0] + a) / n

    def learn(self, ts: float, value: float) -> None:
        """Update the strength statistics, the recent residuals and the phase profile."""
        value = check_value(value)
        phase, resid = self._residual_at(ts, value)
        self._learn_at(ts, value, phase, resid)

    def _learn_at(self, ts: float, value: float, phase: int, resid: float | None) -> None:
        """:meth:`learn` of a checked value whose :meth:`_residual_at` is already known
        (:class:`~fenghuo.detectors.anomaly.records.RecordFusion` computes it once for score and learn)."""
        if resid is not None:
            self._sum_r2 += resid * resid
            self._n_r += 1
            self._recent.append(abs(resid))
            if len(self._recent) > self.smooth:
                self._recent.popleft()
        self._n += 1
        d = value - self._mean
        self._mean += d / self._n
        self._m2 += d * (value - self._mean)
        if self.bins == 0 and self._last_ts is not None:
            self._gaps.append(ts - self._last_ts)
            if len(self._gaps) >= self.probe:
                dt = _median(self._gaps)
                bins = round(self.period / dt) if dt > 0.0 else 0
                self.bins = bins if 4 <= bins <= self.max_bins else -1
                self._gaps = []
        self._last_ts = ts
        if self.bins > 0:
            # the phase was computed with the same bins unless the interval became known just now
            hist = self._profile.setdefault(phase if phase >= 0 else self._phase(ts), [])
            hist.append(value)
            if len(hist) > self.cycles:
                hist.pop(0)


class SeasonalGate:
    """Several seasonal profiles (by default a day and a week); reports the one that explains
    the stream best.

    A profile is *active* when it has a full period of residuals, its strength ratio is below
    ``gate`` and no other ready profile has a lower ratio. On NAB the ratio is 0.1 on the
    artificial daily streams, 0.5-0.6 on some ad-exchange streams, 0.8 (daily) but lower weekly
    on nyc_taxi, and 1.0-1.4 on AWS, tweets and traffic.

    Examples
    --------
    >>> import math
    >>> gate = SeasonalGate()
    >>> for i in range(3 * 288):
    ...     gate.learn(i * 300.0, math.sin(2 * math.pi * i / 288))
    >>> [p.period for p in gate.active()]
    [86400.0]
    """

    def __init__(self, periods: tuple[float, ...] = (DAY, WEEK), gate: float = 0.7, cycles: int = 3,
                 smooth: int = 12) -> None:
        self.gate = gate
        self.profiles = [SeasonalResidual(p, cycles=cycles, smooth=smooth) for p in periods]

    def active(self) -> list[SeasonalResidual]:
        """The profile to report (a list of at most one)."""
        i = self.best()
        return [self.profiles[i]] if i >= 0 else []

    def best(self) -> int:
        """Index of the profile to report in :attr:`profiles`, -1 for none."""
        best = -1
        best_ratio = self.gate
        for i, p in enumerate(self.profiles):
            if p.ready():
                r = p.ratio()
                if r < best_ratio:
                    best, best_ratio = i, r
        return best

    def learn(self, ts: float, value: float) -> None:
        """Learn the value in every profile."""
        for p in self.profiles:
            p.learn(ts, value)


# saved state: plain data (fenghuo.core.state), under a tag that survives renaming the class
saved.register("anomaly.seasonal-residual", SeasonalResidual)
saved.register("anomaly.seasonal-gate", SeasonalGate)
