"""The NAB scoring algorithm, re-implemented from its published rules (numenta/NAB ``sweeper.py``).

Per file, every row after the probation period gets a *sweep score*: inside a label window it is
the scaled-sigmoid reward of detecting there (earlier is worth more), outside it is the cost of a
false positive (larger when far from the last window). One threshold ``T`` for the whole corpus
flags rows with ``score >= T``; a window counts once, at its best flagged row, and costs ``-A_FN``
when nothing in it is flagged. The threshold sweep tries every distinct score (and 1.1 = no
flags) and keeps the best total; the total is normalised between the null and perfect detectors.
:func:`score_at` scores one fixed threshold instead (no sweep: a threshold chosen elsewhere).

``style="skab"`` gives the variant of the Skoltech Anomaly Benchmark (waico/SKAB ``core/metrics.py``,
"improved" scale): a detection at relative position ``f`` in its window earns
``A_tp (1 - u) - A_fp u`` with ``u = (1 + tanh(x)/tanh(pi/2)) / 2``, ``x = -pi/2 + pi f`` (so ``A_tp``
at the window start, ``-A_fp`` at its end), and every flag outside a window costs ``A_fp``.

>>> import numpy as np
>>> ts = np.arange(20).astype("datetime64[m]")
>>> f = FileLabels.build("demo", ts, [(ts[10], ts[13])])
>>> perfect = np.zeros(20); perfect[10] = 1.0
>>> r = sweep([(f, perfect)], PROFILES["standard"], n_windows=1)
>>> round(r.normalised, 3), r.threshold
(100.0, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PROBATION_PERCENT = 0.15


@dataclass(frozen=True)
class Profile:
    """The weights of one NAB scoring profile."""

    name: str
    tp: float
    fp: float
    fn: float


PROFILES: dict[str, Profile] = {
    "standard": Profile("standard", 1.0, 0.11, 1.0),
    "reward_low_FP_rate": Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    "reward_low_FN_rate": Profile("reward_low_FN_rate", 1.0, 0.11, 2.0),
}


def scaled_sigmoid(x: float) -> float:
    """NAB's sigma: ``2/(1+exp(5x)) - 1``, and -1 beyond 3.

    >>> scaled_sigmoid(0.0), scaled_sigmoid(4.0)
    (0.0, -1.0)
    """
    if x > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * x)) - 1.0


def probation_length(n_rows: int) -> int:
    """Rows at the start of a file that are never scored: ``min(floor(0.15 n), 750)``.

    >>> probation_length(1000), probation_length(100000)
    (150, 750)
    """
    return int(min(math.floor(PROBATION_PERCENT * n_rows), PROBATION_PERCENT * 5000))


@dataclass(frozen=True)
class FileLabels:
    """Profile-independent scoring geometry of one file.

    ``window`` is the window index of each scored row (-1 outside), ``tp_unit`` the unweighted
    reward ``sigma(pos)/sigma(-1)`` of flagging a row inside its window, ``fp_unit`` the unweighted
    cost ``v`` of flagging a row outside (negative). Rows before the probation end are dropped.
    """

    name: str
    n_rows: int
    n_windows: int
    start: int
    window: np.ndarray
    tp_unit: np.ndarray
    fp_unit: np.ndarray
    tp_fp_unit: np.ndarray | None = None  # style "skab": the A_fp-weighted part of a detection inside a window

    @classmethod
    def build(cls, name: str, timestamps: np.ndarray, windows: Sequence[tuple[object, object]],
              probation: int | None = None, style: str = "nab") -> FileLabels:
        """Compute the sweep geometry from row timestamps and ``[start, end]`` windows.

        ``probation``: rows never scored (default NAB's :func:`probation_length`); ``style``: ``"nab"``
        or ``"skab"`` (see the module docstring).
        """
        if style not in ("nab", "skab"):
            raise ValueError(f"unknown style {style!r}; choose nab or skab")
        ts = np.asarray(timestamps).astype("datetime64[ns]")
        n = len(ts)
        bounds = [(np.datetime64(a).astype("datetime64[ns]"), np.datetime64(b).astype("datetime64[ns]"))
                  for a, b in windows]
        if style == "skab":
            return cls._build_skab(name, ts, bounds, 0 if probation is None else probation)
        window = np.full(n, -1, dtype=np.int64)
        tp_unit = np.zeros(n)
        fp_unit = np.zeros(n)
        ends: list[tuple[int, int]] = []  # (right index, width) of each window
        for k, (lo, hi) in enumerate(bounds):
            inside = np.flatnonzero((ts >= lo) & (ts <= hi))
            if len(inside) == 0:
                ends.append((-1, 0))
                continue
            width = len(inside)
            right = int(inside[-1])
            window[inside] = k
            pos = -(right - inside + 1) / width
            tp_unit[inside] = [scaled_sigmoid(p) for p in pos]
            ends.append((right, width))
        tp_unit /= scaled_sigmoid(-1.0)
        prev_right: int | None = None
        prev_width = 0
        ends_by_row = {right: width for right, width in ends if right >= 0}
        for i in range(n):
            if window[i] < 0:
                if prev_right is None:
                    fp_unit[i] = -1.0
                else:
                    fp_unit[i] = scaled_sigmoid(abs(prev_right - i) / float(prev_width - 1))
            if i in ends_by_row:
                prev_right, prev_width = i, ends_by_row[i]
        start = probation_length(n) if probation is None else probation
        return cls(name, n, len(bounds), start, window[start:], tp_unit[start:], fp_unit[start:])

    @classmethod
    def _build_skab(cls, name: str, ts: np.ndarray, bounds: list[tuple[np.datetime64, np.datetime64]],
                    start: int) -> FileLabels:
        n = len(ts)
        window = np.full(n, -1, dtype=np.int64)
        tp_unit = np.zeros(n)
        tp_fp_unit = np.zeros(n)
        grid = np.linspace(-math.pi / 2, math.pi / 2, 1000)
        for k, (lo, hi) in enumerate(bounds):
            inside = np.flatnonzero((ts >= lo) & (ts <= hi))
            if len(inside) == 0:
                continue
            span = float((hi - lo) / np.timedelta64(1, "ns"))
            frac = (ts[inside] - lo) / np.timedelta64(1, "ns") / span if span > 0 else np.zeros(len(inside))
            x = grid[np.minimum((frac * 1000).astype(np.int64), 999)]
            u = (1.0 + np.tanh(x) / math.tanh(math.pi / 2)) / 2.0
            window[inside] = k
            tp_unit[inside] = 1.0 - u
            tp_fp_unit[inside] = -u
        fp_unit = np.full(n, -1.0)
        return cls(name, n, len(bounds), start, window[start:], tp_unit[start:], fp_unit[start:],
                   tp_fp_unit[start:])


@dataclass(frozen=True)
class SweepResult:
    """The best threshold of a sweep, its raw score and the normalised NAB score."""

    profile: str
    threshold: float
    raw: float
    normalised: float
    tp: int
    fp: int
    fn: int


@dataclass(frozen=True)
class _Totals:
    """Running totals over rows sorted by descending score (flagging the first ``i + 1`` rows)."""

    scores: np.ndarray
    total: np.ndarray
    n_tp: np.ndarray
    n_fp: np.ndarray
    s_null: float
    s_perfect: float
    n_win: int

    def result(self, profile: Profile, threshold: float, best_i: int) -> SweepResult:
        raw = float(self.total[best_i]) if best_i >= 0 else self.s_null
        tp = int(self.n_tp[best_i]) if best_i >= 0 else 0
        fp = int(self.n_fp[best_i]) if best_i >= 0 else 0
        span = self.s_perfect - self.s_null
        norm = 100.0 * (raw - self.s_null) / span if span != 0 else 0.0
        return SweepResult(profile.name, threshold, raw, norm, tp, fp, self.n_win - tp)


def sweep(files: Sequence[tuple[FileLabels, np.ndarray]], profile: Profile,
          n_windows: int | None = None) -> SweepResult:
    """Sweep one corpus-wide threshold over ``(labels, scores)`` pairs and return the best.

    ``scores`` are the detector's scores for every row of the file (probation rows included; they
    are ignored). ``n_windows`` defaults to the number of windows over all files.
    """
    t = _totals(files, profile, n_windows)
    # A threshold equal to scores[i] flags every row up to the last row with that same score.
    scores = t.scores
    last_of_group = np.flatnonzero(np.r_[scores[1:] != scores[:-1], True]) if len(scores) else np.zeros(0, int)
    best_t, best_s, best_i = 1.1, t.s_null, -1
    for i in last_of_group:  # descending thresholds: strict '>' keeps the higher one on ties
        if t.total[i] > best_s:
            best_t, best_s, best_i = float(scores[i]), float(t.total[i]), int(i)
    return t.result(profile, best_t, best_i)


def score_at(files: Sequence[tuple[FileLabels, np.ndarray]], profile: Profile, threshold: float,
             n_windows: int | None = None) -> SweepResult:
    """Score the rows with ``score >= threshold`` (a threshold fixed beforehand: no sweep).

    >>> import numpy as np
    >>> ts = np.arange(20).astype("datetime64[m]")
    >>> f = FileLabels.build("demo", ts, [(ts[10], ts[13])])
    >>> flags = np.zeros(20); flags[[10, 17]] = 1.0
    >>> r = score_at([(f, flags)], PROFILES["standard"], 1.0)
    >>> r.tp, r.fp, r.fn
    (1, 1, 0)
    """
    t = _totals(files, profile, n_windows)
    count = int(np.count_nonzero(t.scores >= threshold))
    return t.result(profile, float(threshold), count - 1)


def _totals(files: Sequence[tuple[FileLabels, np.ndarray]], profile: Profile, n_windows: int | None) -> _Totals:
    scores_l, sweep_l, win_l, is_tp_l = [], [], [], []
    offset = 0
    total_windows = 0
    for labels, scores in files:
        s = np.asarray(scores, dtype=float)
        if len(s) != labels.n_rows:
            raise ValueError(f"{labels.name}: {len(s)} scores for {labels.n_rows} rows")
        s = s[labels.start:]
        inside = labels.window >= 0
        scores_l.append(s)
        reward = labels.tp_unit * profile.tp
        if labels.tp_fp_unit is not None:
            reward = reward + labels.tp_fp_unit * profile.fp
        sweep_l.append(np.where(inside, reward, labels.fp_unit * profile.fp))
        win_l.append(np.where(inside, labels.window + offset, -1))
        is_tp_l.append(inside)
        offset += labels.n_windows
        total_windows += labels.n_windows
    n_win = total_windows if n_windows is None else n_windows
    s_null = -profile.fn * n_win
    s_perfect = profile.tp * n_win
    scores = np.concatenate(scores_l) if scores_l else np.zeros(0)
    sweep_scores = np.concatenate(sweep_l) if sweep_l else np.zeros(0)
    wins = np.concatenate(win_l) if win_l else np.zeros(0, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    scores, sweep_scores, wins = scores[order], sweep_scores[order], wins[order]
    delta = np.where(wins < 0, sweep_scores, 0.0)
    # Windows: the running best reward per window, counted as increments over -A_FN.
    tp_flag = np.zeros(len(scores), dtype=np.int64)
    in_win = np.flatnonzero(wins >= 0)
    best: dict[int, float] = {}
    for idx in in_win:
        w = int(wins[idx])
        old = best.get(w)
        val = float(sweep_scores[idx])
        if old is None:
            best[w] = val
            delta[idx] = val + profile.fn
            tp_flag[idx] = 1
        elif val > old:
            best[w] = val
            delta[idx] = val - old
    total = s_null + np.cumsum(delta)
    n_tp = np.cumsum(tp_flag)
    n_fp = np.cumsum(wins < 0)
    return _Totals(scores, total, n_tp, n_fp, float(s_null), float(s_perfect), n_win)
