"""Combine detectors by the max of their calibrated scores, with alarm suppression.

Each member's raw score goes through its own :class:`TailCalibrator`, so "1 in a million for
this stream" means the same for every member and every stream; the ensemble takes the max.
Two tricks known to work on streaming benchmarks are built in:

* new extremes: a value beyond the range seen so far (by a margin) is surprising on its own;
* suppression: after an alarm, scores are damped for ``hold`` points, so one incident raises
  one early alarm instead of a train of late ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from fenghuo.core import state as saved
from fenghuo.detectors.anomaly.calibrate import TailCalibrator
from fenghuo.detectors.base import SeriesDetector, check_value


class Ensemble:
    """Max of calibrated member scores, plus the new-extreme signal, with suppression.

    Parameters
    ----------
    members
        The detectors to combine (each a :class:`~fenghuo.detectors.base.SeriesDetector`).
    alarm
        Combined score at which an alarm starts the suppression hold.
    hold
        Learned points during which scores are damped after an alarm.
    damp
        Factor applied to scores during the hold.
    extreme_margin
        Fraction of the seen range a value must exceed the seen max (or undercut the min) by
        to count as a new extreme; None turns the signal off.
    warmup
        Points before any score above 0.
    calibration
        Keyword arguments of every member's :class:`TailCalibrator`.

    Examples
    --------
    >>> from fenghuo.detectors.anomaly.robust import RobustZScore
    >>> det = Ensemble([RobustZScore(window=100, warmup=10)], warmup=20)
    >>> for i in range(300):
    ...     det.learn_one(i * 60.0, float(i % 7))
    >>> det.score_one(18000.0, 3.0) < det.score_one(18000.0, 40.0)
    True
    """

    def __init__(self, members: Sequence[SeriesDetector], name: str = "ensemble", alarm: float = 0.7,
                 hold: int = 200, damp: float = 0.5, extreme_margin: float | None = 0.0, extreme_tau: float = 10.0,
                 member_weight: float = 1.0, warmup: int = 50, calibration: dict[str, float] | None = None) -> None:
        self.name = name
        self.members = list(members)
        self.alarm = alarm
        self.hold = hold
        self.damp = damp
        self.extreme_margin = extreme_margin
        self.extreme_tau = extreme_tau
        self.member_weight = member_weight
        self.warmup = warmup
        self.calibrators = [TailCalibrator(**(calibration or {})) for _ in self.members]  # type: ignore[arg-type]
        self._lo = float("inf")
        self._hi = float("-inf")
        self._hold_left = 0
        self._since_extreme = 0
        self._n = 0

    def _excess(self, value: float) -> float:
        """How far ``value`` leaves the seen range, as a fraction of that range (<= 0 inside)."""
        span = self._hi - self._lo
        excess = max(value - self._hi, self._lo - value)
        if span <= 0.0:
            return 1.0 if excess > 0.0 else -1.0
        return excess / span

    def _extreme(self, value: float) -> float:
        if self.extreme_margin is None or self._n < self.warmup:
            return 0.0
        r = self._excess(value)
        if r <= self.extreme_margin:
            return 0.0
        rarity = 1.0 - math.exp(-self._since_extreme / self.extreme_tau)
        return 0.5 + 0.5 * rarity * r / (r + 0.1)

    def _combined(self, ts: float, value: float) -> tuple[float, list[float]]:
        raws = [m.score_one(ts, value) for m in self.members]
        if self._n < self.warmup:
            return 0.0, raws
        parts = [cal.score(r) for cal, r in zip(self.calibrators, raws, strict=True)]
        return max(self.member_weight * max(parts, default=0.0), self._extreme(value)), raws

    def score_one(self, ts: float, value: float) -> float:
        """Calibrated combined score in [0, 1] (damped during a hold); does not learn."""
        value = check_value(value)
        score, _ = self._combined(ts, value)
        return score * self.damp if self._hold_left > 0 else score

    def learn_one(self, ts: float, value: float) -> None:
        """Learn the point in every member and calibrator; start a hold on an alarm."""
        value = check_value(value)
        score, raws = self._combined(ts, value)
        if self._hold_left > 0:
            self._hold_left -= 1
        elif score >= self.alarm:
            self._hold_left = self.hold
        for member, cal, raw in zip(self.members, self.calibrators, raws, strict=True):
            cal.learn(raw)
            member.learn_one(ts, value)
        self._since_extreme = 0 if self._excess(value) > 0.0 else self._since_extreme + 1
        self._lo = min(self._lo, value)
        self._hi = max(self._hi, value)
        self._n += 1


# saved state: plain data (fenghuo.core.state), under a tag that survives renaming the class
saved.register("anomaly.ensemble", Ensemble)
