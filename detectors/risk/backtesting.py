"""Rolling-origin backtest of the risk forecast, beside two baselines scored the same way.

From ``start_weeks`` weeks after the first complaint (at local midnight), at each weekly origin ``t`` whose
horizon has passed in the data: train on what was known before ``t`` (:func:`~.model.train`, the live code), make
the forecast at ``t`` (:func:`~.forecast.forecast`) and score its grid rows of one category group against what
happened in ``[t, t + horizon)`` (:func:`~.labels.happened`, the dispersion of the model trained at ``t``). Only
grids with complaints in the training window are scored (a grid that never had one is a trivial negative).

The alerts: in a backtest, :func:`burst_marks` (the burst detector run over the same events) gives the label's
burst half and the recent-alert features; without them the label is the count half alone.

Baselines, each a one-feature logistic curve (monotone) fitted on the same training rows as the model:
``last_week`` on last week's count, ``seasonal`` on the seasonal expectation over the horizon.

Figures per week: precision of the top 5 and top 10 grids, ROC AUC (weeks with both outcomes), Brier score.
Overall: the mean of the weekly precisions, the AUC and Brier score pooled over every scored (grid, week), and
the mean of the weekly AUCs. ``in_sample``: the same figures of a model trained on every week and scored on its
own training rows (how far the rolling-origin figures fall below the fit).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from fenghuo.core.grids import GridTree
from fenghuo.core.models import Event
from fenghuo.detectors.bursts import BurstParams
from fenghuo.detectors.risk.cases import AlertMark, Case, marks_from_signals
from fenghuo.detectors.risk.features import DAY, NAMES, Data, Frame, prepare
from fenghuo.detectors.risk.forecasting import forecast
from fenghuo.detectors.risk.labels import happened
from fenghuo.detectors.risk.model import examples, labels, origins, train
from fenghuo.detectors.risk.params import RiskForecastParams

RECENT, EXPECTED = NAMES.index("recent_count"), NAMES.index("expected")


@dataclass
class Scores:
    p5: float
    p10: float
    auc: float  # nan when one outcome only
    brier: float


@dataclass
class Week:
    origin: float
    grids: int
    base_rate: float
    scores: dict[str, Scores]  # method -> scores
    grid_ids: list[str] = field(default_factory=list)  # the scored grids
    probability: dict[str, list[float]] = field(default_factory=dict)  # method -> per grid
    happened: list[bool] = field(default_factory=list)  # per grid


@dataclass
class Backtest:
    group: str
    horizon_days: int
    methods: list[str]
    weeks: list[Week] = field(default_factory=list)
    overall: dict[str, dict[str, float]] = field(default_factory=dict)  # method -> p5, p10, auc, auc_weekly, brier
    in_sample: dict[str, dict[str, float]] = field(default_factory=dict)
    train_s: dict[str, list[float]] = field(default_factory=dict)  # method -> seconds per origin
    forecast_s: dict[str, list[float]] = field(default_factory=dict)
    skipped: int = 0  # origins with no model (too little history or no event)


def precision_at(p: np.ndarray, y: np.ndarray, k: int) -> float:
    """Share of events among the ``k`` highest probabilities (ties: the first in order).

    >>> precision_at(np.array([0.9, 0.1, 0.8]), np.array([True, False, False]), 2)
    0.5
    """
    k = min(k, len(p))
    if k == 0:
        return math.nan
    top = np.argsort(-p, kind="stable")[:k]
    return float(np.mean(y[top]))


def score(p: np.ndarray, y: np.ndarray) -> Scores:
    auc = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else math.nan
    return Scores(precision_at(p, y, 5), precision_at(p, y, 10), auc, float(np.mean((p - y) ** 2)))


def monotone(x_train: np.ndarray, y_train: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A baseline's probability: a logistic curve of ``x`` fitted on the training rows (increasing, or flat)."""
    if y_train.all() or not y_train.any():
        return np.full(len(x), float(y_train.mean()) if len(y_train) else 0.5)
    lr = LogisticRegression(C=1e4, max_iter=1000).fit(x_train.reshape(-1, 1), y_train)
    if lr.coef_[0, 0] <= 0:
        return np.full(len(x), float(y_train.mean()))
    return lr.predict_proba(x.reshape(-1, 1))[:, 1]


def burst_marks(events: Iterable[Event], params: BurstParams | None = None) -> list[AlertMark]:
    """The label's burst half for a backtest: run :class:`~fenghuo.detectors.bursts.ComplaintBurst` (grids only,
    ``params`` or its defaults) over the events in time order and keep its raised episodes as marks."""
    from fenghuo.detectors.bursts import ComplaintBurst

    det = ComplaintBurst(params)
    signals = []
    for e in sorted(events, key=lambda e: (e.ts, e.id)):
        signals.extend(det.process(e))
    return marks_from_signals(signals)


def local_midnight(ts: float, tz: str) -> float:
    dt = datetime.fromtimestamp(ts, ZoneInfo(tz))
    return dt.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def test_origins(d: Data, horizon_days: int, start_weeks: int, tz: str) -> list[float]:
    """Weekly origins from ``start_weeks`` after the first complaint's local midnight, horizon inside the data."""
    if d.first_ts is None:
        return []
    last = float(d.ts[-1])
    zone = ZoneInfo(tz)
    first = datetime.fromtimestamp(local_midnight(d.first_ts, tz), zone)
    out = []
    i = start_weeks
    while True:
        o = (first + timedelta(weeks=i)).replace(tzinfo=zone).timestamp()  # local midnight across DST
        if o + horizon_days * DAY > last:
            return out
        out.append(o)
        i += 1


def _summary(ws: Sequence[Week], pooled: dict[str, tuple[list[np.ndarray], list[np.ndarray]]],
             m: str) -> dict[str, float]:
    ps, ys = pooled[m]
    p, y = np.concatenate(ps), np.concatenate(ys)
    aucs = [w.scores[m].auc for w in ws if not math.isnan(w.scores[m].auc)]
    return {"p5": float(np.nanmean([w.scores[m].p5 for w in ws])),
            "p10": float(np.nanmean([w.scores[m].p10 for w in ws])),
            "auc": float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else math.nan,
            "auc_weekly": float(np.mean(aucs)) if aucs else math.nan,
            "brier": float(np.mean((p - y) ** 2)), "base_rate": float(y.mean())}


def backtest(cases: Sequence[Case], alerts: Sequence[AlertMark], tree: GridTree, params: RiskForecastParams,
             tz: str, kinds: Sequence[str] = ("logistic", "boosting"), group: str = "all", start_weeks: int = 8,
             in_sample: bool = True) -> Backtest:
    """Rolling-origin evaluation of each model kind and the two baselines on one category group."""
    d = prepare(cases, alerts, tree, params, tz)
    if group not in d.groups:
        raise ValueError(f"unknown category group {group!r}")
    k_group = d.groups.index(group)
    h = params.horizon_days
    methods = [*kinds, "last_week", "seasonal"]
    out = Backtest(group, h, methods, train_s={k: [] for k in kinds}, forecast_s={k: [] for k in kinds})
    cache: dict[float, tuple[Frame, np.ndarray, np.ndarray]] = {}
    pooled: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {m: ([], []) for m in methods}
    for t in test_origins(d, h, start_weeks, tz):
        models = {}
        for kind in kinds:
            t0 = time.perf_counter()
            models[kind] = train(cases, alerts, tree, params, t, tz, kind=kind, data=d, cache=cache)
            out.train_s[kind].append(time.perf_counter() - t0)
        if any(m is None for m in models.values()):
            out.skipped += 1
            continue
        first = next(iter(models.values()))
        assert first is not None
        ex = examples(d, origins(d, t, h, params.history_days), h, params.history_days, cache)
        y_train, _ = labels(ex, d.groups, params.quantile)
        tr = ex.group == k_group
        f, count, burst = examples_at(d, t, h, params.history_days, cache)
        rows = np.arange(len(d.grids)) * len(d.groups) + k_group
        rows = rows[f.active[rows]]
        if len(rows) == 0:
            continue
        y = np.asarray(happened(count[rows], f.expected[rows], first.alpha[group], burst[rows], params.quantile))
        probs: dict[str, np.ndarray] = {}
        for kind, model in models.items():
            t0 = time.perf_counter()
            fc = forecast(model, cases, alerts, tree, params, t, h, tz, data=d)
            out.forecast_s[kind].append(time.perf_counter() - t0)
            by_grid = {r.node: r.probability for r in fc.grid_rows(group)}
            probs[kind] = np.array([by_grid[d.grids[r // len(d.groups)]] for r in rows])
        probs["last_week"] = monotone(ex.X[tr, RECENT], y_train[tr], f.X[rows, RECENT])
        probs["seasonal"] = monotone(ex.X[tr, EXPECTED], y_train[tr], f.X[rows, EXPECTED])
        week = Week(t, len(rows), float(y.mean()), {m: score(probs[m], y) for m in methods},
                    [d.grids[r // len(d.groups)] for r in rows], {m: probs[m].tolist() for m in methods},
                    y.tolist())
        out.weeks.append(week)
        for m in methods:
            pooled[m][0].append(probs[m])
            pooled[m][1].append(y)
    if out.weeks:
        out.overall = {m: _summary(out.weeks, pooled, m) for m in methods}
    if in_sample and d.first_ts is not None:
        out.in_sample = _in_sample(cases, alerts, tree, params, tz, d, cache, kinds, k_group, group)
    return out


def examples_at(d: Data, t: float, h: int, history_days: int,
                cache: dict[float, tuple[Frame, np.ndarray, np.ndarray]]) -> tuple[Frame, np.ndarray, np.ndarray]:
    """The frame at ``t`` and its outcome (cached)."""
    examples(d, [t], h, history_days, cache)
    return cache[t]


def _in_sample(cases: Sequence[Case], alerts: Sequence[AlertMark], tree: GridTree, params: RiskForecastParams,
               tz: str, d: Data, cache: dict[float, tuple[Frame, np.ndarray, np.ndarray]], kinds: Sequence[str],
               k_group: int, group: str) -> dict[str, dict[str, float]]:
    """Each kind trained on every week and scored on its own training rows of the group (per-origin weeks)."""
    until = float(d.ts[-1]) + 1.0
    at = origins(d, until, params.horizon_days, params.history_days)
    ex = examples(d, at, params.horizon_days, params.history_days, cache)
    y, _ = labels(ex, d.groups, params.quantile)
    keep = ex.group == k_group
    out = {}
    for kind in kinds:
        model = train(cases, alerts, tree, params, until, tz, kind=kind, data=d, cache=cache)
        if model is None:
            continue
        p = model.probability(ex.X[keep], ex.group[keep])
        weeks = []
        for o in np.unique(ex.origin[keep]):
            m = ex.origin[keep] == o
            weeks.append(Week(float(o), int(m.sum()), float(y[keep][m].mean()), {kind: score(p[m], y[keep][m])}))
        pooled = {kind: ([p], [y[keep]])}
        out[kind] = _summary(weeks, pooled, kind)
    return out


__all__ = ["Backtest", "Scores", "Week", "backtest", "precision_at"]
