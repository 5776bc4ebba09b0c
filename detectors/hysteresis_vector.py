"""The level state machine of :mod:`fenghuo.detectors.hysteresis` over a whole series at once, with numpy.

:func:`level_changes` returns exactly the changes :meth:`LevelState.step` would return if fed the
points one by one (times sorted, ties allowed), without a loop over points. Per level it builds the
strict and the relaxed (hysteresis) condition, where each run of the condition started, and so
where each level would qualify if nothing carried over from before; for each possible current level
it lists the points where the level would change. The only Python loop walks from one level change
to the next. What a segment inherits from the one before (a level's condition that began under the
other condition type) only matters in the run that spans the segment's first point; that run is
settled exactly with a binary search (time differences grow along a run).

>>> from fenghuo.detectors.hysteresis import LevelParams
>>> p = LevelParams(thresholds=((1, 3.0), (2, 3.5), (3, 4.0), (4, 4.5)), above=True,
...                 for_seconds=600, hysteresis=0.1)
>>> level_changes(p, np.array([0.0, 600, 1200, 1800]), np.array([3.6, 3.6, 3.45, 2.85]))
[(1, 2), (3, 0)]
"""

from __future__ import annotations

from bisect import bisect_left

import numpy as np

from fenghuo.detectors.hysteresis import LevelParams


class _Block:
    """Per-level boolean matrices and run positions of several series laid end to end.

    Row ``k`` is level ``k + 1``; a level a series does not use has a NaN threshold, so it never holds
    (as if absent). Runs never cross from one series into the next.
    """

    def __init__(self, params: list[LevelParams], bounds: np.ndarray, ts: np.ndarray, values: np.ndarray) -> None:
        n = len(ts)
        sizes = np.diff(bounds)
        ths = np.full((4, len(params)), np.nan)
        for i, p in enumerate(params):
            for level, th in p.thresholds:
                ths[level - 1, i] = th
        def per_point(x: object) -> np.ndarray:
            return np.repeat(np.asarray(x), sizes, axis=0)
        th, v = per_point(ths.T).T, values[None, :]
        hyst = per_point([p.hysteresis for p in params])
        above = per_point([p.above for p in params])
        # the same float operations as LevelParams.holds: threshold -/+ slack, then compare
        if above.all() or not above.any():
            up = bool(above[0]) if n else True
            self.strict = v >= th - 0.0 if up else v <= th + 0.0
            self.relaxed = v >= th - hyst if up else v <= th + hyst
        else:
            self.strict = np.where(above, v >= th - 0.0, v <= th + 0.0)
            self.relaxed = np.where(above, v >= th - hyst, v <= th + hyst)
        idx = np.arange(n, dtype=np.int32)
        first = per_point(bounds[:-1].astype(np.int32))
        self.stop = per_point(bounds[1:].astype(np.int32))
        # where the strict run through each point began (runs never cross into the next series)
        self.rs = np.maximum(np.maximum.accumulate(np.where(self.strict, -1, idx), axis=1) + 1, first)
        started = ts[np.minimum(self.rs, n - 1)]
        self.sq = self.strict & (ts - started >= per_point([p.for_seconds for p in params]))
        self.first, self.ts, self.n = first, ts, n
        self._fails: dict[tuple[bool, int], np.ndarray] = {}
        self._changes: dict[int, np.ndarray] = {}

    def _fail(self, relaxed: bool, k: int) -> np.ndarray:
        key = (relaxed, k)
        if key not in self._fails:
            self._fails[key] = np.flatnonzero(~(self.relaxed if relaxed else self.strict)[k])
        return self._fails[key]

    def run_start(self, relaxed: bool, k: int, c: int) -> int:
        """Where the run of level ``k``'s (relaxed or strict) condition through point ``c`` began."""
        fails = self._fail(relaxed, k)
        q = int(np.searchsorted(fails, c, side="right"))
        return max(int(fails[q - 1]) + 1 if q else 0, int(self.first[c]))

    def run_end(self, k: int, a: int) -> int:
        """The first point at or after ``a`` where level ``k``'s strict condition fails (or the series ends)."""
        fails = self._fail(False, k)
        q = int(np.searchsorted(fails, a))
        return min(int(fails[q]) if q < len(fails) else self.n, int(self.stop[a]))

    def changes(self, level: int) -> np.ndarray:
        """Points where a series at ``level`` would change level if every run began in its segment."""
        if level not in self._changes:
            moved = self.sq[level:].any(axis=0) if level < 4 else np.zeros(self.n, dtype=bool)
            if level > 0:
                moved |= ~self.relaxed[level - 1]
            self._changes[level] = np.flatnonzero(moved)
        return self._changes[level]

    def walk(self, a: int, n: int, for_s: float) -> list[tuple[int, int]]:
        """The changes of the series in ``[a, n)``: a loop over level changes, not over points."""
        ts, strict = self.ts, self.strict
        carry: list[float | None] = [None] * 4  # LevelState.since after the segment's previous point
        level, out = 0, []
        while a < n:
            found = self.changes(level)
            q = int(np.searchsorted(found, a))
            c = min(int(found[q]), n) if q < len(found) else n
            spans: dict[int, tuple[float, int]] = {}
            for k in range(level, 4):  # levels above the current one whose strict run spans the segment start
                if strict[k, a]:
                    since = carry[k] if carry[k] is not None else float(ts[a])
                    end = self.run_end(k, a)
                    spans[k] = (since, end)
                    hi = min(end, c)
                    j = bisect_left(range(a, hi), True, key=lambda i, since=since: bool(ts[i] - since >= for_s))
                    if a + j < hi:
                        c = a + j
            if c >= n:
                break
            best = 0
            for k in range(4):
                if k < level:
                    ok = bool(self.relaxed[k, c])
                elif k in spans and c < spans[k][1]:
                    ok = bool(ts[c] - spans[k][0] >= for_s)
                else:
                    ok = bool(self.sq[k, c])
                if ok:
                    best = k + 1
            for k in range(4):
                relaxed = k < level
                if not (self.relaxed if relaxed else strict)[k, c]:
                    carry[k] = None
                elif (start := self.run_start(relaxed, k, c)) > a:
                    carry[k] = float(ts[start])
                elif carry[k] is None:
                    carry[k] = float(ts[a])
            out.append((c, best))
            level, a = best, c + 1
        return out


CHUNK = 1 << 19  # points per block: bounds the memory of the (4, points) matrices


def level_changes_many(params: list[LevelParams], bounds: np.ndarray, ts: np.ndarray,
                       values: np.ndarray) -> list[list[tuple[int, int]]]:
    """Changes of many series laid end to end: series ``i`` is ``[bounds[i], bounds[i + 1])``.

    Each series' indices are relative to its own start. Times must be sorted within each series.

    >>> p = LevelParams(((1, 1.0),))
    >>> level_changes_many([p, p], np.array([0, 2, 4]), np.array([0., 1, 0, 1]), np.array([0., 2, 2, 0]))
    [[(1, 1)], [(0, 1), (1, 0)]]
    """
    ts = np.asarray(ts, dtype=float)
    values = np.asarray(values, dtype=float)
    bounds = np.asarray(bounds, dtype=np.int64)
    if len(ts) > 1:
        down = np.flatnonzero(np.diff(ts) < 0) + 1
        if len(np.setdiff1d(down, bounds)):
            raise ValueError("times must be sorted within each series")
    out: list[list[tuple[int, int]]] = []
    i = 0
    while i < len(params):
        j = i + 1
        while j < len(params) and bounds[j + 1] - bounds[i] <= CHUNK:
            j += 1
        lo = int(bounds[i])
        block = _Block(params[i:j], bounds[i:j + 1] - lo, ts[lo:bounds[j]], values[lo:bounds[j]])
        for s in range(i, j):
            a, b = int(bounds[s]) - lo, int(bounds[s + 1]) - lo
            out.append([(c - a, level) for c, level in block.walk(a, b, float(params[s].for_seconds))])
        i = j
    return out


def level_changes(p: LevelParams, ts: np.ndarray, values: np.ndarray) -> list[tuple[int, int]]:
    """``(index, new level)`` for every change (0 = cleared), as :class:`LevelState` from a fresh state.

    ``ts`` must be sorted (non-decreasing); ``values`` are floats (NaN never satisfies a level).
    """
    return level_changes_many([p], np.array([0, len(ts)]), ts, values)[0]
