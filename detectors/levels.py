"""Map a detector's [0, 1] score to a four-colour warning level (a wrapper, like river's ThresholdFilter).

The thresholding is not inside any detector: :class:`ScoreLevels` wraps one and passes
``learn_one`` through, so the same detector can feed differently tuned level maps.
"""

from __future__ import annotations

from collections.abc import Mapping

from fenghuo.detectors.base import SeriesDetector, check_value

from fenghuo.core.levels import Level

DEFAULT_THRESHOLDS: dict[Level, float] = {Level.BLUE: 0.5, Level.YELLOW: 0.7, Level.ORANGE: 0.85, Level.RED: 0.95}


class ScoreLevels:
    """A detector plus per-level score thresholds (score >= threshold reaches the level).

    Parameters
    ----------
    detector
        The wrapped :class:`~fenghuo.detectors.base.SeriesDetector`.
    thresholds
        Minimum score of each level, keyed by :class:`~fenghuo.core.levels.Level` or any name
        ``Level.parse`` accepts; must rise with the level. Levels left out are skipped.

    Examples
    --------
    >>> from fenghuo.detectors.anomaly import RobustZScore
    >>> import random
    >>> rng = random.Random(0)
    >>> sl = ScoreLevels(RobustZScore(window=200, warmup=10), {"blue": 0.5, "yellow": 0.7, "red": 0.9})
    >>> for i in range(300):
    ...     sl.learn_one(i * 60.0, rng.gauss(10.0, 1.0))
    >>> sl.level_one(18000.0, 10.0) is None
    True
    >>> sl.level_one(18000.0, 1000.0)
    <Level.RED: 4>
    >>> sl.level_for(0.75)
    <Level.YELLOW: 2>
    """

    def __init__(self, detector: SeriesDetector, thresholds: Mapping[Level | str | int, float] | None = None) -> None:
        parsed = {Level.parse(k): float(v) for k, v in (thresholds or DEFAULT_THRESHOLDS).items()}
        if not parsed:
            raise ValueError("at least one level threshold is needed")
        ordered = sorted(parsed.items())
        for (lo_level, lo), (hi_level, hi) in zip(ordered, ordered[1:], strict=False):
            if hi < lo:
                raise ValueError(f"threshold of {hi_level.name_en} ({hi}) is below {lo_level.name_en} ({lo})")
        for level, t in ordered:
            if not 0.0 <= t <= 1.0:
                raise ValueError(f"threshold of {level.name_en} must be in [0, 1], got {t}")
        self.detector = detector
        self.thresholds = dict(ordered)
        self.name = f"levels({detector.name})"

    def level_for(self, score: float) -> Level | None:
        """The highest level whose threshold ``score`` reaches, or None below all of them."""
        score = check_value(score)
        reached = None
        for level, t in self.thresholds.items():
            if score >= t:
                reached = level
        return reached

    def score_one(self, ts: float, value: float) -> float:
        """The wrapped detector's score (does not learn)."""
        return self.detector.score_one(ts, value)

    def level_one(self, ts: float, value: float) -> Level | None:
        """The warning level of a point (does not learn)."""
        return self.level_for(self.detector.score_one(ts, value))

    def learn_one(self, ts: float, value: float) -> None:
        """Pass the point to the wrapped detector."""
        self.detector.learn_one(ts, value)
