"""SKAB's evaluation rules (waico/SKAB ``core/metrics.py``), re-implemented; changepoints reuse the NAB scorer.

- Outlier detection, point-wise over the test rows of every file pooled: ``F1 = TP / (TP + (FP + FN) / 2)``,
  false-alarm rate ``FAR = 100 FP / (FP + TN)``, missed-alarm rate ``MAR = 100 FN / (FN + TP)``.
- Changepoint detection: a detector's changepoints are the edges of its alarm (``|diff(alarm)|``, the first
  test row counting as an edge when it alarms); each labelled change gets a window of 60 s to its RIGHT
  (``[t, t + 60 s]``, a later window starting where an overlapping earlier one ends); scored with
  :func:`benchmarks.nab.scorer.score_at` in its ``skab`` style under the three NAB profiles.

>>> import numpy as np
>>> pointwise(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 1]))
Pointwise(f1=0.5, far=50.0, mar=50.0, tp=1, fp=1, fn=1, tn=1)
>>> changepoint_flags(np.array([1, 1, 0, 0, 1])).tolist()
[1.0, 0.0, 1.0, 0.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks.nab.scorer import PROFILES, FileLabels, SweepResult, score_at

WINDOW_SECONDS = 60.0
DAY = 86400.0


@dataclass(frozen=True)
class Pointwise:
    """Pooled point-wise outlier-detection figures (SKAB's ``binary`` metric)."""

    f1: float
    far: float
    mar: float
    tp: int
    fp: int
    fn: int
    tn: int


def pointwise(true: np.ndarray, pred: np.ndarray) -> Pointwise:
    """F1 / FAR % / MAR % of binary predictions against binary labels (any shapes, flattened alike)."""
    t = np.asarray(true).astype(bool).ravel()
    p = np.asarray(pred).astype(bool).ravel()
    if t.shape != p.shape:
        raise ValueError(f"{t.shape} labels for {p.shape} predictions")
    tp = int(np.count_nonzero(t & p))
    fp = int(np.count_nonzero(~t & p))
    fn = int(np.count_nonzero(t & ~p))
    tn = int(np.count_nonzero(~t & ~p))
    f1 = tp / (tp + (fp + fn) / 2) if tp + fp + fn else 0.0
    far = 100.0 * fp / (fp + tn) if fp + tn else 0.0
    mar = 100.0 * fn / (fn + tp) if fn + tp else 0.0
    return Pointwise(round(f1, 4), round(far, 2), round(mar, 2), tp, fp, fn, tn)


def changepoint_flags(alarm: np.ndarray) -> np.ndarray:
    """A detector's changepoints: 1.0 where its alarm switches on or off (the first row: where it is on)."""
    a = np.asarray(alarm).astype(float)
    out = np.abs(np.diff(a, prepend=0.0))
    return out


def right_windows(timestamps: np.ndarray, change_rows: Sequence[int],
                  seconds: float = WINDOW_SECONDS) -> list[tuple[np.datetime64, np.datetime64]]:
    """``[t, t + seconds]`` after each labelled change; an overlapping later window starts where the earlier ends.

    >>> ts = np.datetime64("2020-01-01T00:00:00") + np.arange(200).astype("timedelta64[s]")
    >>> sec = "datetime64[s]"
    >>> [(str(a.astype(sec))[11:], str(b.astype(sec))[11:]) for a, b in right_windows(ts, [10, 30])]
    [('00:00:10', '00:01:10'), ('00:01:10', '00:01:30')]
    """
    ts = np.asarray(timestamps).astype("datetime64[ns]")
    width = np.timedelta64(int(seconds * 1e9), "ns")
    out: list[tuple[np.datetime64, np.datetime64]] = []
    for row in sorted(change_rows):
        lo, hi = ts[row], ts[row] + width
        if out and out[-1][1] >= lo:
            lo = out[-1][1]
        out.append((lo, hi))
    return out


def changepoint_labels(name: str, timestamps: np.ndarray, change_rows: Sequence[int],
                       seconds: float = WINDOW_SECONDS) -> FileLabels:
    """The SKAB-style NAB geometry of one file's scored rows (no probation: the training rows are cut off)."""
    return FileLabels.build(name, timestamps, right_windows(timestamps, change_rows, seconds), probation=0,
                            style="skab")


def changepoint_scores(files: Sequence[tuple[FileLabels, np.ndarray]]) -> dict[str, SweepResult]:
    """NAB standard / low FP / low FN of fixed changepoint flags (no threshold sweep)."""
    return {name: score_at(files, profile, 1.0) for name, profile in PROFILES.items()}


def train_thresholds(train_scores: np.ndarray, alpha: float = 0.05, skip: int = 60) -> np.ndarray:
    """Per-channel thresholds from training rows only: the ``1 - alpha / k`` quantile of each channel's scores
    (``k`` channels: a Bonferroni correction so that ``k`` channels together alarm on about ``alpha`` of normal
    rows), over the training rows after the first ``skip`` (the detectors' own start-up).

    >>> train_thresholds(np.tile(np.arange(101.0)[:, None], (1, 2)), alpha=0.1, skip=0).tolist()
    [95.0, 95.0]
    """
    s = np.asarray(train_scores, dtype=float)
    if s.ndim == 1:
        s = s[:, None]
    k = s.shape[1]
    return np.quantile(s[skip:], 1.0 - alpha / k, axis=0)


def combine(scores: np.ndarray, thresholds: np.ndarray | float) -> np.ndarray:
    """One alarm per row: some channel strictly above its own threshold (max of score - threshold over channels > 0).

    >>> combine(np.array([[0.1, 0.2], [0.9, 0.1]]), np.array([0.5, 0.5])).tolist()
    [False, True]
    """
    s = np.asarray(scores, dtype=float)
    if s.ndim == 1:
        s = s[:, None]
    return np.max(s - np.asarray(thresholds, dtype=float), axis=1) > 0.0


def episodes(alarm: np.ndarray) -> int:
    """Number of alarm episodes (rising edges).

    >>> episodes(np.array([1, 1, 0, 1, 0, 0, 1]))
    3
    """
    a = np.asarray(alarm).astype(bool)
    return int(np.count_nonzero(a & ~np.r_[False, a[:-1]]))


def per_day(count: float, seconds: float) -> float:
    """A count over ``seconds`` of data, per 24 h."""
    return count * DAY / seconds if seconds > 0 else 0.0


@dataclass(frozen=True)
class RuleResult:
    """The figures of one detector under one alarm rule (a threshold of the scores, or the service's levels)."""

    detector: str
    rule: str
    outlier: Pointwise
    nab: dict[str, float]
    missed: int
    false_positives: int
    n_changes: int
    free_rows_per_day: float
    free_episodes_per_day: float
    free_alarm_share: float
