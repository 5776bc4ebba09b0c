"""An IsolationForest on windowed features, refit in batches.

``learn_one`` buffers feature vectors and refits a scikit-learn IsolationForest every
``refit_every`` points on the last ``history`` vectors. ``score_one`` only walks the trees of
the last fitted model (extracted to plain arrays: a single-row ``score_samples`` call costs
milliseconds, the walk microseconds).

Refits run in the background (``background=True``, the default): the batch is handed to one
shared worker thread and the stream goes on scoring with the previous forest; the new forest is
swapped in exactly ``swap_after`` learned points later (waiting for the fit only if it is not done
by then), so results do not depend on thread timing and stay deterministic under a seed. Its saved
state holds the rows and seed each forest was fitted on, and restoring refits them, so a restored
detector scores exactly as the one that was saved.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from sklearn.ensemble import IsolationForest

from fenghuo.core import state as saved
from fenghuo.detectors.base import check_value

_EULER = 0.5772156649
Trees = list[tuple[list[int], list[int], list[int], list[float], list[float]]]
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _refit_pool() -> ThreadPoolExecutor:
    """One worker thread shared by every forest of the process (fits queue; the hot path never fits)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fenghuo-iforest")
        return _pool


def fit_forest(x: np.ndarray, n_trees: int, max_samples: int, seed: int) -> tuple[Trees, float]:
    """Fit an IsolationForest on the rows ``x`` and extract its trees to plain lists, with c(n)."""
    n = min(max_samples, len(x))
    forest = IsolationForest(n_estimators=n_trees, max_samples=n, random_state=seed).fit(x)
    trees: Trees = []
    for est in forest.estimators_:
        t = est.tree_
        feature = t.feature.tolist()  # all features, unpermuted (max_features=1.0)
        depth_add = [_avg_path(float(k)) for k in t.n_node_samples]
        trees.append((t.children_left.tolist(), t.children_right.tolist(), feature, t.threshold.tolist(), depth_add))
    return trees, _avg_path(float(n)) or 1.0


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
    background, swap_after
        Fit on the shared worker thread and swap the new forest in ``swap_after`` learned points
        after the batch was taken (``background=False``: fit inline, at once).

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
                 n_trees: int = 40, max_samples: int = 256, seed: int = 0, background: bool = True,
                 swap_after: int = 50) -> None:
        self.lag = lag
        self.history = history
        self.refit_every = refit_every
        self.min_fit = min_fit
        self.n_trees = n_trees
        self.max_samples = max_samples
        self.seed = seed
        self.background = background
        self.swap_after = swap_after
        self._recent: deque[float] = deque(maxlen=lag)
        self._rows: deque[tuple[float, ...]] = deque(maxlen=history)
        self._trees: Trees = []
        self._norm = 1.0
        self._since_fit = 0
        self._fits = 0
        self._pending: Future[tuple[Trees, float]] | tuple[Trees, float] | None = None
        self._swap_in = 0  # learned points left before the pending forest is swapped in
        # what each forest was fitted on (rows, seed): the saved state, refit on restore
        self._trees_src: tuple[np.ndarray, int] | None = None
        self._pending_src: tuple[np.ndarray, int] | None = None

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
        """Buffer the feature vector; start a refit when the batch is due, swap a finished one in."""
        value = check_value(value)
        row = self._features(value)
        if row is not None:
            self._rows.append(row)
            self._since_fit += 1
        self._recent.append(value)
        if self._pending is not None:
            self._swap_in -= 1
            if self._swap_in <= 0:
                self._install()
            return
        due = self._since_fit >= (self.refit_every if self._trees else self.min_fit)
        if due and len(self._rows) >= 16:
            self._start_fit()

    def _start_fit(self) -> None:
        x = np.asarray(self._rows, dtype=float)
        seed = self.seed + self._fits
        self._since_fit = 0
        self._fits += 1
        if self.background:
            self._pending = _refit_pool().submit(fit_forest, x, self.n_trees, self.max_samples, seed)
            self._pending_src = (x, seed)
            self._swap_in = self.swap_after
        else:
            self._trees, self._norm = fit_forest(x, self.n_trees, self.max_samples, seed)
            self._trees_src = (x, seed)

    def _install(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            self._trees, self._norm = pending.result() if isinstance(pending, Future) else pending
            self._trees_src, self._pending_src = getattr(self, "_pending_src", None), None  # 0.1.0 had none

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if isinstance(self._pending, Future):
            state["_pending"] = self._pending.result()  # a snapshot carries the fit, not the thread
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


# -- saved state: plain data (fenghuo.core.state) -----------------------------------------------------------
# Not the forest: the rows each forest was fitted on and its seed, refit on restore (a fit is deterministic
# under its seed, so the restored forest scores exactly as the saved one did). A state converted from the
# previous release's pickle, which holds the trees but not their rows, keeps the trees as plain lists.
_PARAMS = ("lag", "history", "refit_every", "min_fit", "n_trees", "max_samples", "seed", "background",
           "swap_after", "_norm", "_since_fit", "_fits", "_swap_in")


def _forest_data(trees: tuple[Trees, float] | None, src: tuple[np.ndarray, int] | None) -> dict[str, Any] | None:
    if trees is None:
        return None
    if src is not None:
        return {"x": src[0], "seed": src[1]}
    return {"trees": trees[0], "norm": trees[1]}


def _forest_from(d: dict[str, Any] | None, det: WindowedIsolationForest) -> tuple[Trees, float] | None:
    if d is None:
        return None
    if "x" in d:
        return fit_forest(np.asarray(d["x"], dtype=float), det.n_trees, det.max_samples, int(d["seed"]))
    return [tuple(t) for t in d["trees"]], float(d["norm"])  # type: ignore[misc]


def _iforest_data(det: WindowedIsolationForest) -> dict[str, Any]:
    out = {k: getattr(det, k) for k in _PARAMS}
    rows = np.asarray(list(det._rows), dtype=float) if det._rows else np.zeros((0, 0))
    out.update(recent=list(det._recent), rows=rows,
               trees=_forest_data((det._trees, det._norm) if det._trees else None, getattr(det, "_trees_src", None)))
    pending = det._pending
    if isinstance(pending, Future):
        pending = pending.result()  # a snapshot carries the fit, not the thread
    out["pending"] = _forest_data(pending, getattr(det, "_pending_src", None))
    return out


def _iforest_from(d: dict[str, Any]) -> WindowedIsolationForest:
    det = WindowedIsolationForest.__new__(WindowedIsolationForest)
    for k in _PARAMS:
        setattr(det, k, d[k])
    det._recent = deque(d["recent"], maxlen=det.lag)
    det._rows = deque((tuple(r) for r in np.asarray(d["rows"]).tolist()), maxlen=det.history)
    trees = _forest_from(d["trees"], det)
    det._trees, det._norm = (trees[0], trees[1]) if trees is not None else ([], det._norm)
    det._trees_src = _source(d["trees"])
    det._pending = _forest_from(d["pending"], det)
    det._pending_src = _source(d["pending"])
    return det


def _source(d: dict[str, Any] | None) -> tuple[np.ndarray, int] | None:
    return (np.asarray(d["x"], dtype=float), int(d["seed"])) if d is not None and "x" in d else None


saved.register("anomaly.iforest", WindowedIsolationForest, _iforest_data, _iforest_from)
