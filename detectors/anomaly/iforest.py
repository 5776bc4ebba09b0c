"""An IsolationForest on windowed features, refit in batches.

``learn_one`` buffers feature vectors and refits a scikit-learn IsolationForest every
``refit_every`` points on the last ``history`` vectors. ``score_one`` only walks the trees of
the last fitted model (extracted to plain arrays: a single-row ``score_samples`` call costs
milliseconds, the walk microseconds), so refitting is off the scoring path.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from sklearn.ensemble import IsolationForest

from detectors.base import check_value

_EULER = 0.5772156649


def _avg_path(n: float) -> float:
    """Average unsuccessful-search path length c(n) of a BST with n points."""
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    return 2.0 * (math.log(n - 1.0) + _EULER) - 2.0 * (n - 1.0) / n


class WindowedIsolationForest:
    """Isolation-forest score of (value, change, deviation from recent mean, recent spread).

    Parameters
    ----------
    lag
        Length of the recent window the features summarise.
    history
        Feature vectors kept for refitting.
    refit_every
        Refit after this many learned points (the first fit at ``min_fit``).
    n_trees, max_samples
        Forest size and subsample size.
    seed
        Random state of the forest (deterministic under a seed).

    Examples
    --------
    >>> det = WindowedIsolationForest(min_fit=50, refit_every=100, n_trees=20, seed=1)
    >>> for i in range(300):
    ...     det.learn_one(i * 60.0, math.sin(i / 5.0))
    >>> det.score_one(18000.0, 8.0) > det.score_one(18000.0, math.sin(60.0))
    True
    """

    name = "iforest"

    def __init__(self, lag: int = 8, history: int = 1000, refit_every: int = 500, min_fit: int = 150,
                 n_trees: int = 40, max_samples: int = 256, seed: int = 0) -> None:
        self.lag = lag
        self.history = history
        self.refit_every = refit_every
        self.min_fit = min_fit
        self.n_trees = n_trees
        self.max_samples = max_samples
        self.seed = seed
        self._recent: deque[float] = deque(maxlen=lag)
        self._rows: deque[tuple[float, ...]] = deque(maxlen=history)
        self._trees: list[tuple[list[int], list[int], list[int], list[float], list[float]]] = []
        self._norm = 1.0
        self._since_fit = 0
        self._fits = 0

    def _features(self, value: float) -> tuple[float, ...] | None:
        if len(self._recent) < 2:
            return None
        mean = sum(self._recent) / len(self._recent)
        spread = max(self._recent) - min(self._recent)
        return (value, value - self._recent[-1], value - mean, spread)

    def _path(self, row: tuple[float, ...]) -> float:
        total = 0.0
        for left, right, feat, thr, depth_add in self._trees:
            node, depth = 0, 0
            while left[node] != -1:
                node = left[node] if row[feat[node]] <= thr[node] else right[node]
                depth += 1
            total += depth + depth_add[node]
        return total / len(self._trees)

    def score_one(self, ts: float, value: float) -> float:
        """``2 ** (-E[h] / c(n))`` from the last fitted forest, in [0, 1]; 0 before the first fit."""
        value = check_value(value)
        row = self._features(value)
        if row is None or not self._trees:
            return 0.0
        return float(2.0 ** (-self._path(row) / self._norm))

    def learn_one(self, ts: float, value: float) -> None:
        """Buffer the feature vector; refit when the batch is due."""
        value = check_value(value)
        row = self._features(value)
        if row is not None:
            self._rows.append(row)
            self._since_fit += 1
        self._recent.append(value)
        due = self._since_fit >= (self.refit_every if self._trees else self.min_fit)
        if due and len(self._rows) >= 16:
            self._fit()

    def _fit(self) -> None:
        x = np.asarray(self._rows, dtype=float)
        n = min(self.max_samples, len(x))
        forest = IsolationForest(n_estimators=self.n_trees, max_samples=n,
                                 random_state=self.seed + self._fits).fit(x)
        trees = []
        for est in forest.estimators_:
            t = est.tree_
            feature = t.feature.tolist()  # all features, unpermuted (max_features=1.0)
            depth_add = [_avg_path(float(k)) for k in t.n_node_samples]
            trees.append((t.children_left.tolist(), t.children_right.tolist(), feature, t.threshold.tolist(),
                          depth_add))
        self._trees = trees
        self._norm = _avg_path(float(n)) or 1.0
        self._since_fit = 0
        self._fits += 1
