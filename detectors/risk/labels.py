"""The event a risk forecast predicts, in one place (the training, the backtest and the track record use it).

A grid "has the event" for a category group over a horizon when the burst detector raised an episode there (of a
category in the group) or the group's count over the horizon is above ``upper_bound``: the ``quantile`` (0.9) of
a negative binomial with the seasonal expectation as mean and the dispersion ``alpha`` learned from the training
weeks (variance ``mu + alpha mu^2``; ``alpha`` 0 is Poisson). Why a quantile of the expectation's own
distribution: a count is "above its seasonal expectation" only when chance alone would rarely give it, so on an
ordinary week about one grid in ten has the event whatever its size, and the rest are bursts.

>>> upper_bound(10.0, 0.0, 0.9)  # Poisson(10): P(X <= 14) >= 0.9
14
>>> happened(15, 10.0, 0.0, burst=False), happened(14, 10.0, 0.0, burst=False), happened(0, 10.0, 0.0, burst=True)
(True, False, True)
>>> round(dispersion([10, 30, 20, 20], [20, 20, 20, 20]), 3)
0.075
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

MAX_ALPHA = 2.0


def dispersion(counts: Sequence[float] | np.ndarray, expected: Sequence[float] | np.ndarray) -> float:
    """Negative binomial dispersion by moments, pooled: ``sum((x - mu)^2 - mu) / sum(mu^2)``, in [0, 2]."""
    x, mu = np.asarray(counts, dtype=float), np.asarray(expected, dtype=float)
    keep = mu > 0
    if not keep.any():
        return 0.0
    x, mu = x[keep], mu[keep]
    return float(min(MAX_ALPHA, max(0.0, ((x - mu) ** 2 - mu).sum() / (mu ** 2).sum())))


def upper_bound(expected: float | np.ndarray, alpha: float, quantile: float = 0.9) -> np.ndarray | int:
    """The ``quantile`` of the count given its seasonal expectation (negative binomial, Poisson if alpha 0)."""
    mu = np.maximum(np.asarray(expected, dtype=float), 1e-9)
    if alpha <= 1e-9:
        q = stats.poisson.ppf(quantile, mu)
    else:
        n = 1.0 / alpha
        q = stats.nbinom.ppf(quantile, n, n / (n + mu))
    out = np.asarray(q).astype(int)
    return int(out) if out.ndim == 0 else out


def happened(count: float | np.ndarray, expected: float | np.ndarray, alpha: float, burst: bool | np.ndarray,
             quantile: float = 0.9) -> bool | np.ndarray:
    """The label: a burst episode in the horizon, or the count above its seasonal expectation's upper bound."""
    above = np.asarray(count) > upper_bound(expected, alpha, quantile)
    out = np.logical_or(np.asarray(burst, dtype=bool), above)
    return bool(out) if out.ndim == 0 else out
