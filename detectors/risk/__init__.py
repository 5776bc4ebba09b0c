"""The per-grid risk forecast (issue 17): the chance that a grid has a complaint burst or an unusually high count
over the next days, per category group, rolled up the grid tree, with the factors behind it.

Pure logic, the clock injected: :func:`train` a model on the cases and alerts before ``until``, :func:`forecast`
at ``at``; :func:`backtest` replays a city's complaints with a rolling origin. The store, the scheduled job and
the API are elsewhere (H2); see docs/benchmarks-risk.md for the figures.

The names are loaded on first use (``fenghuo.core.config`` imports :mod:`.params`, and the rest imports the
config: an eager import here would be circular).
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "AlertMark": "cases", "Case": "cases", "cases_from_events": "cases", "flagged_text": "cases",
    "marks_from_signals": "cases", "Factor": "explain", "Forecast": "forecasting", "NodeRisk": "forecasting",
    "forecast": "forecasting", "rollup": "forecasting", "happened": "labels", "upper_bound": "labels",
    "RiskModel": "model", "train": "model", "why_not": "model", "RiskForecastParams": "params",
    "backtest": "backtesting", "Backtest": "backtesting", "burst_marks": "backtesting",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value
