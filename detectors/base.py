"""The one interface every detector has, in the style of river's anomaly detectors.

A series detector sees one univariate stream in time order. ``score_one`` never learns (no
look-ahead: score first, then learn), scores are in [0, 1] (1 = surely anomalous), and its class
is registered with :func:`fenghuo.core.state.register`, so its state is saved as plain data (faust
tables and the embedded snapshot store it). Thresholding a score into a
warning level wraps a detector (:class:`fenghuo.detectors.levels.ScoreLevels`); it is never inside one.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class SeriesDetector(Protocol):
    """Learn from a point, score a point.

    ``ts`` is epoch seconds (increasing); ``value`` a finite float. A NaN value raises
    ValueError (gaps in time are fine: detectors use ``ts``, not the row count).
    """

    name: str

    def learn_one(self, ts: float, value: float) -> None: ...

    def score_one(self, ts: float, value: float) -> float: ...


def check_value(value: float) -> float:
    """The documented rule for missing values: a NaN or infinite value is an error.

    >>> check_value(1.5)
    1.5
    >>> check_value(float("nan"))
    Traceback (most recent call last):
    ...
    ValueError: value must be a finite number, got nan
    """
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"value must be a finite number, got {value}")
    return float(value)
