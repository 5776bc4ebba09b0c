"""Streaming anomaly detectors for sensor series, all behind :class:`fenghuo.detectors.base.SeriesDetector`.

Build one by name with :func:`make_detector`; ``DETECTORS`` lists the names.

>>> det = make_detector("robust_z")
>>> det.learn_one(0.0, 1.0)
>>> 0.0 <= det.score_one(60.0, 1.0) <= 1.0
True
>>> sorted(DETECTORS)[:2]
['context', 'context_lik']
"""

from __future__ import annotations

from collections.abc import Callable

from fenghuo.detectors.anomaly.changepoint import CUSUM
from fenghuo.detectors.anomaly.context import ContextSurprise
from fenghuo.detectors.anomaly.ensemble import Ensemble
from fenghuo.detectors.anomaly.ewma import EWMAZScore
from fenghuo.detectors.anomaly.iforest import WindowedIsolationForest
from fenghuo.detectors.anomaly.likelihood import AnomalyLikelihood
from fenghuo.detectors.anomaly.records import RecordFusion, RollingRecord
from fenghuo.detectors.anomaly.robust import RobustZScore
from fenghuo.detectors.anomaly.seasonal import SeasonalGate, SeasonalResidual
from fenghuo.detectors.base import SeriesDetector

__all__ = ["CUSUM", "DETECTORS", "AnomalyLikelihood", "ContextSurprise", "EWMAZScore", "Ensemble",
           "RecordFusion", "RobustZScore", "RollingRecord", "SeasonalGate", "SeasonalResidual",
           "WindowedIsolationForest", "make_detector"]

_DAY = 86400.0
# Corpus-wide settings chosen on NAB (never per file): new extremes dominate (score >= 0.5),
# calibrated members fill the band below; suppression off (it cost NAB points, see docs).
_MEMBER_WEIGHT = 0.5
_HOLD = 0
# records_local: the short-window spike record (chosen on NAB, neighbourhood in docs/benchmarks-nab.md).
_LOCAL_WINDOW = 500
_LOCAL_SCALE = 50.0


def _ewma_daily(seed: int) -> SeriesDetector:
    det = EWMAZScore(period=_DAY, buckets=48)
    det.name = "ewma_daily"
    return det


def _ensemble(seed: int) -> SeriesDetector:
    return Ensemble([RobustZScore(), EWMAZScore(), CUSUM()], name="ensemble", member_weight=_MEMBER_WEIGHT, hold=_HOLD)


def _ensemble_if(seed: int) -> SeriesDetector:
    members = [RobustZScore(), EWMAZScore(), CUSUM(), WindowedIsolationForest(seed=seed)]
    return Ensemble(members, name="ensemble_if", member_weight=_MEMBER_WEIGHT, hold=_HOLD)


def _context_likelihood(seed: int) -> SeriesDetector:
    return AnomalyLikelihood(ContextSurprise(), name="context_lik")


_FACTORIES: dict[str, Callable[[int], SeriesDetector]] = {
    "robust_z": lambda seed: RobustZScore(),
    "ewma": lambda seed: EWMAZScore(),
    "ewma_daily": _ewma_daily,
    "cusum": lambda seed: CUSUM(),
    "iforest": lambda seed: WindowedIsolationForest(seed=seed),
    "ensemble": _ensemble,
    "ensemble_if": _ensemble_if,
    "context": lambda seed: ContextSurprise(),
    "context_lik": _context_likelihood,
    "records": lambda seed: RecordFusion(),
    "records_seasonal": lambda seed: RecordFusion(seasonal=SeasonalGate(), name="records_seasonal"),
    "records_local": lambda seed: RecordFusion(seasonal=SeasonalGate(), value_units=True, local_window=_LOCAL_WINDOW,
                                               local_scale=_LOCAL_SCALE, name="records_local"),
}

DETECTORS: tuple[str, ...] = tuple(_FACTORIES)


def make_detector(name: str, seed: int = 0) -> SeriesDetector:
    """A fresh detector by registry name (``seed`` fixes any randomness).

    >>> make_detector("nope")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    KeyError: "unknown detector 'nope'; choose from: robust_z, ewma, ..., records_local"
    """
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise KeyError(f"unknown detector {name!r}; choose from: {', '.join(DETECTORS)}") from None
    return factory(seed)
