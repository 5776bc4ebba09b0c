"""Contextual (sequence) surprise: how unexpected is this value after the last few values?

The value is discretised into ``buckets`` levels over the range seen so far; for every context
order ``k = 1..order`` the detector counts which level followed each run of ``k`` levels, with
a local decay (a context's counts are halved when they exceed ``cap``). The raw surprise is the
mean over orders of ``1 - P(level | context)`` (an unseen context counts as fully surprising),
the idea behind CAD OSE and HTM's sequence memory: it sees a changed shape or rhythm that stays
inside the normal range, which a level or range test cannot.
"""

from __future__ import annotations

from fenghuo.core import state as saved
from fenghuo.detectors.base import check_value


class ContextSurprise:
    """Mean over context orders of ``1 - P(next level | previous levels)``, in [0, 1].

    Parameters
    ----------
    buckets
        Number of value levels over the range seen so far.
    order
        Longest context (number of previous levels) that is modelled.
    cap
        A context's total count at which its counts are halved (local forgetting).
    phases
        If > 0, one more context: the phase of the day (``phases`` slots of the UTC day) with
        the previous level, so a daily shape (high at noon, low at night) is learned too.
    warmup
        Points to learn before scoring anything above 0.
    name
        Registry name.

    Examples
    --------
    >>> det = ContextSurprise(buckets=10, order=2, warmup=20)
    >>> for i in range(400):
    ...     det.learn_one(i * 60.0, float(i % 4))
    >>> det.score_one(24000.0, 0.0) < 0.1 < 0.9 < det.score_one(24000.0, 2.0)
    True
    """

    def __init__(self, buckets: int = 12, order: int = 3, cap: float = 64.0, phases: int = 0,
                 warmup: int = 50, name: str = "context") -> None:
        self.name = name
        self.buckets = buckets
        self.order = order
        self.cap = cap
        self.phases = phases
        self.warmup = warmup
        self._lo = float("inf")
        self._hi = float("-inf")
        self._hist: tuple[int, ...] = ()
        self._counts: dict[tuple[int, ...], dict[int, float]] = {}
        self._n = 0

    def level(self, value: float) -> int:
        """The discrete level of ``value`` over the range seen so far (clipped at the edges)."""
        span = self._hi - self._lo
        if not span > 0.0:
            return 0
        b = int((value - self._lo) / span * self.buckets)
        return min(max(b, 0), self.buckets - 1)

    def _contexts(self, ts: float) -> list[tuple[int, ...] | None]:
        """The context keys of the next point (None where the history is too short)."""
        hist = self._hist
        n = len(hist)
        keys: list[tuple[int, ...] | None] = [hist[-k:] if n >= k else None for k in range(1, self.order + 1)]
        if self.phases > 0:
            phase = int((ts % 86400.0) / 86400.0 * self.phases)
            keys.append((-1 - phase,) + hist[-1:])
        return keys

    def _surprise_of(self, keys: list[tuple[int, ...] | None], sym: int) -> float:
        counts = self._counts
        total = 0.0
        for ctx in keys:
            table = counts.get(ctx) if ctx is not None else None
            total += 1.0 - table.get(sym, 0.0) / table[-1] if table else 1.0
        return total / len(keys)

    def _surprise(self, ts: float, sym: int) -> float:
        return self._surprise_of(self._contexts(ts), sym)

    def surprise(self, ts: float, value: float) -> float:
        """Mean over contexts of ``1 - P(level | context)`` in [0, 1] (0 in warm-up); does not learn."""
        value = check_value(value)
        if self._n < self.warmup:
            return 0.0
        return self._surprise(ts, self.level(value))

    def score_one(self, ts: float, value: float) -> float:
        """Score in [0, 1]; does not learn.

        ``0.98 * surprise`` inside the seen range; beyond it ``0.98 + 0.02 * r / (r + 1)`` with
        ``r`` the excess as a fraction of the range (the discrete levels clip there).
        """
        s = self.surprise(ts, value)
        if self._n < self.warmup or self._lo <= value <= self._hi:
            return 0.98 * s
        span = self._hi - self._lo
        r = max(value - self._hi, self._lo - value) / span if span > 0.0 else 1.0
        return 0.98 + 0.02 * r / (r + 1.0)

    def learn_one(self, ts: float, value: float) -> None:
        """Count the level of ``value`` after every context order, then extend the range."""
        value = check_value(value)
        self._learn_keys(value, self._contexts(ts), self.level(value))

    def _learn_keys(self, value: float, keys: list[tuple[int, ...] | None], sym: int) -> None:
        """:meth:`learn_one` of a checked value whose context keys and level are already known
        (:class:`~fenghuo.detectors.anomaly.records.RecordFusion` computes them once for score and learn)."""
        counts, cap = self._counts, self.cap
        for ctx in keys:
            if ctx is None:
                continue
            table = counts.get(ctx)
            if table is None:
                table = counts[ctx] = {-1: 0.0}
            table[sym] = table.get(sym, 0.0) + 1.0
            table[-1] += 1.0
            if table[-1] > cap:
                for key in table:
                    table[key] *= 0.5
        self._lo = min(self._lo, value)
        self._hi = max(self._hi, value)
        self._hist = (self._hist + (self.level(value),))[-self.order:]
        self._n += 1


# saved state: plain data (fenghuo.core.state), under a tag that survives renaming the class
saved.register("anomaly.context-surprise", ContextSurprise)
