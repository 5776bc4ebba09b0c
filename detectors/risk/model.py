"""Train the risk model: one classifier over every (grid, category group, weekly origin) of the training window.

Rows: at weekly origins going back from ``until - horizon`` (so every row's horizon has passed by ``until``) to
28 days after the window's start, the features of each grid with complaints in the window (:mod:`.features`)
and the label of :func:`fenghuo.detectors.risk.labels.happened` (its dispersion learned per group from these
same rows). The design is the features plus one indicator per group (groups differ in base rate).

Two kinds: ``logistic`` (standardised features, L2, C=1) and ``boosting`` (HistGradientBoosting, depth 3, 150
trees at 0.05, leaves of 20+, L2 1). Hyperparameters are fixed, not tuned on any city. Probabilities are
calibrated by Platt scaling on out-of-fold scores from time-respecting folds: the origins are cut into
``FOLDS`` consecutive blocks, each block scored by a model fitted on the blocks before it, and a logistic curve
fitted on those scores (one for every group: per-group curves did worse on Boston) maps the final model's
score to a probability (so the linear terms stay terms:
calibrated log-odds = slope x raw log-odds + intercept). Too little out-of-fold evidence (under 100 rows or 10
events): the raw score's own logistic (identity calibration). A score that ranks no better than chance out of
fold (slope below 0.01) gives every row about the out-of-fold base rate (slope 0.01, so the ranking keeps the
model's order): a model that cannot tell says so.

The model is pickled for the store (``to_bytes``); it holds numbers and a fitted scikit-learn estimator, a few
hundred kilobytes at most. Train once a day: a year of a city's complaints takes about a second (benchmark).
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

from fenghuo.core.grids import GridTree
from fenghuo.detectors.risk.cases import AlertMark, Case
from fenghuo.detectors.risk.features import DAY, NAMES, WEEK, Data, Frame, frame, outcome, prepare
from fenghuo.detectors.risk.labels import dispersion, happened
from fenghuo.detectors.risk.params import RiskForecastParams

LOGISTIC_C = 1.0  # L2 strength of the logistic model (standardised features)
FOLDS = 4  # consecutive blocks of origins for the out-of-fold calibration scores
MIN_ORIGINS = 3  # fewer training weeks than this: no model
FEATURE_DAYS = 28  # the first origin is this long after the window's start (features read 28 days back)
VERSION = 1
MIN_OOF_ROWS, MIN_OOF_EVENTS = 100, 10  # less out-of-fold evidence than this: no recalibration (identity)
MIN_SLOPE = 0.01  # a calibration slope below this (the score ranks no better out of fold) flattens to the base rate
THREADS = 1  # a few thousand rows: OpenMP threads only add contention (20x slower on a busy 2-core box)


@dataclass
class RiskModel:
    """A trained risk model (picklable, small)."""

    version: str
    kind: str  # logistic | boosting
    trained_at: float
    window: tuple[float, float]
    groups: list[str]
    horizon_days: int
    history_days: int
    quantile: float
    alpha: dict[str, float]  # label dispersion per group
    estimator: Any
    mean: np.ndarray  # standardisation of the design (logistic)
    scale: np.ndarray
    medians: np.ndarray  # training medians of the features (permutation contributions)
    platt: tuple[float, float] = (1.0, 0.0)  # calibration (slope, intercept), pooled over the groups
    rows: int = 0
    base_rate: float = 0.0
    names: tuple[str, ...] = field(default_factory=lambda: NAMES)

    def design(self, X: np.ndarray, group_index: np.ndarray) -> np.ndarray:
        """Features plus group indicators, standardised (the logistic model's input; boosting ignores scale)."""
        dummies = np.zeros((len(X), len(self.groups)))
        dummies[np.arange(len(X)), group_index] = 1.0
        Z = np.hstack([X, dummies])
        return (Z - self.mean) / self.scale

    def raw(self, Z: np.ndarray) -> np.ndarray:
        """The uncalibrated score (log-odds) of design rows."""
        with threadpool_limits(THREADS):
            return np.asarray(self.estimator.decision_function(Z), dtype=float)

    def logit(self, Z: np.ndarray) -> np.ndarray:
        """Calibrated log-odds of design rows."""
        a, b = self.platt
        return a * self.raw(Z) + b

    def probability(self, X: np.ndarray, group_index: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of feature rows."""
        return 1.0 / (1.0 + np.exp(-self.logit(self.design(X, group_index))))

    def to_bytes(self) -> bytes:
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def from_bytes(b: bytes) -> RiskModel:
        """The model saved by ``to_bytes`` (bytes from fenghuo's own store only: this unpickles)."""
        obj = pickle.loads(b)  # noqa: S301 - the store's own bytes
        if not isinstance(obj, RiskModel):
            raise ValueError("not a RiskModel")
        return obj


def why_not(first_ts: float | None, until: float, params: RiskForecastParams) -> str | None:
    """Why there can be no model or forecast at ``until`` (too little history), else None.

    >>> why_not(None, 0.0, RiskForecastParams())
    '还没有诉求记录 (no complaints yet)'
    >>> why_not(0.0, 10 * 86400.0, RiskForecastParams())
    '历史不足：只有 10 天的诉求，至少需要 28 天 (only 10 days of complaints; at least 28 needed)'
    """
    if first_ts is None or first_ts >= until:
        return "还没有诉求记录 (no complaints yet)"
    days = (until - first_ts) / DAY
    if days < params.min_history_days:
        n, m = int(days), params.min_history_days
        return f"历史不足：只有 {n} 天的诉求，至少需要 {m} 天 (only {n} days of complaints; at least {m} needed)"
    return None


@dataclass
class Examples:
    X: np.ndarray
    group: np.ndarray
    origin: np.ndarray
    count: np.ndarray
    expected: np.ndarray
    burst: np.ndarray


def origins(d: Data, until: float, horizon_days: int, history_days: int) -> list[float]:
    """The training origins, oldest first: weekly back from ``until - horizon``."""
    if d.first_ts is None:
        return []
    start = max(d.first_ts, until - history_days * DAY) + FEATURE_DAYS * DAY
    out, o = [], until - horizon_days * DAY
    while o >= start:
        out.append(o)
        o -= WEEK
    return out[::-1]


def examples(d: Data, at: Sequence[float], horizon_days: int, history_days: int,
             cache: dict[float, tuple[Frame, np.ndarray, np.ndarray]] | None = None) -> Examples:
    """Feature rows, counts, expectations and bursts of the active (grid, group) rows at each origin."""
    parts: list[tuple[np.ndarray, ...]] = []
    n_k = len(d.groups)
    for o in at:
        hit = cache.get(o) if cache is not None else None
        if hit is None:
            f = frame(d, o, horizon_days, history_days)
            count, burst = outcome(d, o, horizon_days)
            hit = (f, count, burst)
            if cache is not None:
                cache[o] = hit
        f, count, burst = hit
        keep = f.active
        gidx = np.tile(np.arange(n_k), len(d.grids))[keep]
        parts.append((f.X[keep], gidx, np.full(int(keep.sum()), o), count[keep], f.expected[keep], burst[keep]))
    if not parts:
        z = np.zeros(0)
        return Examples(np.zeros((0, len(NAMES))), z.astype(int), z, z, z, z.astype(bool))
    cols = list(zip(*parts, strict=True))
    return Examples(*(np.concatenate(c) for c in cols))


def labels(ex: Examples, groups: list[str], quantile: float) -> tuple[np.ndarray, dict[str, float]]:
    """The label of every row, with the dispersion per group learned from these rows."""
    alpha = {g: dispersion(ex.count[ex.group == k], ex.expected[ex.group == k]) for k, g in enumerate(groups)}
    y = np.zeros(len(ex.count), dtype=bool)
    for k, g in enumerate(groups):
        m = ex.group == k
        if m.any():
            y[m] = happened(ex.count[m], ex.expected[m], alpha[g], ex.burst[m], quantile)
    return y, alpha


def _estimator(kind: str) -> Any:
    if kind == "logistic":
        return LogisticRegression(C=LOGISTIC_C, max_iter=2000)
    if kind == "boosting":
        return HistGradientBoostingClassifier(max_depth=3, learning_rate=0.05, max_iter=150, min_samples_leaf=20,
                                              l2_regularization=1.0, early_stopping=False, random_state=0)
    raise ValueError(f"unknown model kind {kind!r}")


def _platt(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if len(scores) < MIN_OOF_ROWS or y.sum() < MIN_OOF_EVENTS or y.all():
        return (1.0, 0.0)  # too little out-of-fold evidence to recalibrate: the model's own probabilities
    lr = LogisticRegression(C=1e4, max_iter=1000).fit(scores.reshape(-1, 1), y)
    a, b = float(lr.coef_[0, 0]), float(lr.intercept_[0])
    if a >= MIN_SLOPE:
        return (a, b)
    # out of fold the score tells (almost) nothing: say the base rate, keeping the model's order for the ranking
    rate = float(np.clip(y.mean(), 1e-3, 1 - 1e-3))
    return (MIN_SLOPE, math.log(rate / (1 - rate)) - MIN_SLOPE * float(np.mean(scores)))


def _version(kind: str, params: RiskForecastParams, window: tuple[float, float]) -> str:
    spec = {"kind": kind, "horizon": params.horizon_days, "history": params.history_days,
            "quantile": params.quantile, "groups": params.groups, "neighbour_km": params.neighbour_km,
            "window": [round(window[0]), round(window[1])], "v": VERSION}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:10]
    return f"risk-{kind}-{VERSION}:{digest}"


def fit(ex: Examples, y: np.ndarray, groups: list[str], kind: str) -> tuple[
        Any, np.ndarray, np.ndarray, tuple[float, float]]:
    """Fit the estimator on every row; Platt-calibrate it on out-of-fold scores of consecutive origin blocks."""
    dummies = np.zeros((len(ex.X), len(groups)))
    dummies[np.arange(len(ex.X)), ex.group] = 1.0
    Z = np.hstack([ex.X, dummies])
    mean = Z.mean(axis=0)
    scale = Z.std(axis=0)
    scale[scale < 1e-9] = 1.0
    Zs = (Z - mean) / scale
    with threadpool_limits(THREADS):
        return _fit(Zs, y, ex.origin, kind, mean, scale)


def _fit(Zs: np.ndarray, y: np.ndarray, origin: np.ndarray, kind: str, mean: np.ndarray,
         scale: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray, tuple[float, float]]:
    est = _estimator(kind).fit(Zs, y)
    uniq = np.unique(origin)
    blocks = np.array_split(uniq, min(FOLDS, len(uniq)))
    scores, truth = [], []
    for i in range(1, len(blocks)):
        tr = origin < blocks[i][0]
        te = np.isin(origin, blocks[i])
        if y[tr].all() or not y[tr].any():
            continue
        m = _estimator(kind).fit(Zs[tr], y[tr])
        scores.append(m.decision_function(Zs[te]))
        truth.append(y[te])
    platt = _platt(np.concatenate(scores), np.concatenate(truth)) if scores else (1.0, 0.0)
    return est, mean, scale, platt


def train(cases: Sequence[Case], alerts: Sequence[AlertMark], tree: GridTree, params: RiskForecastParams,
          until: float, tz: str, kind: str | None = None, data: Data | None = None,
          cache: dict[float, tuple[Frame, np.ndarray, np.ndarray]] | None = None) -> RiskModel | None:
    """Train on the window ``[until - history_days, until)``; None when there is too little history
    (:func:`why_not`), too few training weeks or no event in them. ``kind`` overrides ``params.model``;
    ``data`` (from :func:`~fenghuo.detectors.risk.features.prepare`) and ``cache`` let a backtest reuse work."""
    d = data if data is not None else prepare(cases, alerts, tree, params, tz)
    if why_not(d.first_ts, until, params) is not None:
        return None
    at = origins(d, until, params.horizon_days, params.history_days)
    if len(at) < MIN_ORIGINS:
        return None
    ex = examples(d, at, params.horizon_days, params.history_days, cache)
    y, alpha = labels(ex, d.groups, params.quantile)
    if len(y) == 0 or y.all() or not y.any():
        return None
    kind = kind or params.model
    est, mean, scale, platt = fit(ex, y, d.groups, kind)
    assert d.first_ts is not None
    window = (max(d.first_ts, until - params.history_days * DAY), until)
    return RiskModel(version=_version(kind, params, window), kind=kind, trained_at=until, window=window,
                     groups=list(d.groups), horizon_days=params.horizon_days, history_days=params.history_days,
                     quantile=params.quantile, alpha=alpha, estimator=est, mean=mean, scale=scale,
                     medians=np.median(ex.X, axis=0), platt=platt, rows=len(y),
                     base_rate=float(y.mean()))


def horizon_probability(p: np.ndarray, model_days: int, days: int) -> np.ndarray:
    """A probability for another horizon than the model's: independent slices, ``1 - (1 - p)^(days/model_days)``.

    >>> horizon_probability(np.array([0.5]), 7, 14).round(2).tolist()
    [0.75]
    """
    if days == model_days:
        return p
    return 1.0 - np.power(1.0 - np.clip(p, 0.0, 1.0), days / model_days)


__all__ = ["RiskModel", "train", "why_not", "horizon_probability"]
