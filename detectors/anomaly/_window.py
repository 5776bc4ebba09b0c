"""Small streaming building blocks shared by the anomaly detectors (pure, picklable).

>>> w = RollingSorted(3)
>>> for x in [5.0, 1.0, 3.0, 10.0]:
...     w.add(x)
>>> w.median(), w.rank(4.0), len(w)
(3.0, 0.6666666666666666, 3)
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections import deque

from fenghuo.core import state as saved


class ScoreThenLearn:
    """Base of a streaming model whose ``score_one`` keeps, in ``_prepared``, what ``learn_one`` of the same reading
    reuses (every caller scores, then learns). The cache is no part of the state: a saved state leaves it out, so
    ``score_one`` still changes no state, and a restored model starts without it."""

    _prepared: object

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state.pop("_prepared", None)
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._prepared = None


class RollingSorted:
    """The last ``size`` values, kept both in arrival order and sorted (O(size) per update).

    Parameters
    ----------
    size
        How many of the most recent values to keep.

    Examples
    --------
    >>> w = RollingSorted(5)
    >>> for x in [1.0, 2.0, 3.0, 4.0, 100.0]:
    ...     w.add(x)
    >>> w.median(), w.mad()
    (3.0, 1.0)
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("size must be >= 1")
        self.size = size
        self._fifo: deque[float] = deque()
        self._sorted: list[float] = []

    def __len__(self) -> int:
        return len(self._sorted)

    def add(self, x: float) -> None:
        """Append ``x``, evicting the oldest value when full."""
        self._fifo.append(x)
        insort(self._sorted, x)
        if len(self._fifo) > self.size:
            old = self._fifo.popleft()
            del self._sorted[bisect_left(self._sorted, old)]

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (linear interpolation); NaN when empty."""
        n = len(self._sorted)
        if n == 0:
            return math.nan
        pos = q * (n - 1)
        lo = int(pos)
        hi = min(lo + 1, n - 1)
        return self._sorted[lo] + (self._sorted[hi] - self._sorted[lo]) * (pos - lo)

    def median(self) -> float:
        """The median of the window."""
        return self.quantile(0.5)

    def mad(self) -> float:
        """The median absolute deviation from the median (O(size))."""
        if not self._sorted:
            return math.nan
        m = self.median()
        devs = sorted(abs(x - m) for x in self._sorted)
        n = len(devs)
        return devs[n // 2] if n % 2 else 0.5 * (devs[n // 2 - 1] + devs[n // 2])

    def rank(self, x: float) -> float:
        """The mid-rank of ``x`` among the kept values, in [0, 1] (0.5 when empty)."""
        n = len(self._sorted)
        if n == 0:
            return 0.5
        below = bisect_left(self._sorted, x)
        upto = bisect_right(self._sorted, x)
        return (below + 0.5 * (upto - below)) / n

    def min(self) -> float:
        return self._sorted[0] if self._sorted else math.nan

    def max(self) -> float:
        return self._sorted[-1] if self._sorted else math.nan


def squash(z: float, scale: float = 3.0) -> float:
    """Map a non-negative surprise ``z`` to [0, 1) without saturating: ``z / (z + scale)``.

    >>> squash(0.0), squash(3.0)
    (0.0, 0.5)
    """
    z = z if z > 0.0 else 0.0  # max(0.0, z), without the call
    return z / (z + scale)


# saved state: plain data (fenghuo.core.state), under a tag that survives renaming the class
saved.register("anomaly.rolling-sorted", RollingSorted)
