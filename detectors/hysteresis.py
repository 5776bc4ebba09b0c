"""The level state machine shared by every rule: thresholds, ``for_seconds`` and hysteresis.

A level is entered when its condition has held for ``for_seconds``; once in a level, its
condition relaxes by ``hysteresis`` so a value hovering at a boundary does not flap.

>>> p = LevelParams(thresholds=((1, 3.0), (2, 3.5), (3, 4.0), (4, 4.5)), above=True,
...                 for_seconds=600, hysteresis=0.1)
>>> s = LevelState()
>>> [s.step(p, t, v) for t, v in [(0, 3.6), (600, 3.6), (1200, 3.45), (1800, 2.85)]]
[None, 2, None, 0]

The first reading starts the clock, the second (600 s on) raises yellow (2); 3.45 is inside the
hysteresis band of yellow (3.5 - 0.1), so nothing changes; 2.85 is below blue - 0.1: cleared (0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from fenghuo.core import state as saved


@dataclass(frozen=True, slots=True)
class LevelParams:
    thresholds: tuple[tuple[int, float], ...]  # (level 1..4, threshold), levels ascending
    above: bool = True
    for_seconds: float = 0.0
    hysteresis: float = 0.0

    def holds(self, level: int, threshold: float, value: float, current: int) -> bool:
        slack = self.hysteresis if level <= current else 0.0
        return value >= threshold - slack if self.above else value <= threshold + slack


@dataclass(slots=True)
class LevelState:
    level: int = 0
    since: dict[int, float] = field(default_factory=dict)  # level -> when its condition began to hold
    last_value: float | None = None
    last_ts: float | None = None

    def step(self, p: LevelParams, ts: float, value: float) -> int | None:
        """Feed one value; return the new level (0 = cleared) when it changes, else None."""
        self.last_value = value
        self.last_ts = ts
        current, since = self.level, self.since
        if not current and not since:  # at rest: a value short of every threshold changes nothing
            kept = _EDGES.get(id(p))
            edge = kept[1] if kept is not None and kept[0] is p else _edge(p)
            if value < edge if p.above else value > edge:
                return None
        best = 0
        above, hysteresis = p.above, p.hysteresis
        for level, threshold in p.thresholds:  # LevelParams.holds, inline (it runs for every value of every rule)
            slack = hysteresis if level <= current else 0.0
            if value >= threshold - slack if above else value <= threshold + slack:
                start = since.setdefault(level, ts)
                if ts - start >= p.for_seconds or level <= current:
                    best = level
            elif since:
                since.pop(level, None)
        if best != current:
            self.level = best
            return best
        return None


_EDGES: dict[int, tuple[LevelParams, float]] = {}  # id(params) -> (params, the threshold nearest at rest)


def _edge(p: LevelParams) -> float:
    """The lowest threshold (``above``; the highest otherwise): at rest, only a value beyond it can hold a level
    (no hysteresis applies below the current level). NaN (holds nothing) without thresholds."""
    kept = _EDGES.get(id(p))
    if kept is not None and kept[0] is p:
        return kept[1]
    values = [t for _, t in p.thresholds]
    edge = (min(values) if p.above else max(values)) if values else math.nan
    if len(_EDGES) >= 4096:
        _EDGES.clear()
    _EDGES[id(p)] = (p, edge)
    return edge


# -- saved state: plain data (fenghuo.core.state), compact since every rule and model series has one ----------
def level_state_data(s: LevelState) -> dict[str, Any]:
    """``{"l": level, "s": [[level, since], ...], "v": last value, "t": last time}``."""
    return {"l": s.level, "s": [[k, v] for k, v in s.since.items()], "v": s.last_value, "t": s.last_ts}


def level_state_from(d: dict[str, Any]) -> LevelState:
    return LevelState(d["l"], {int(k): v for k, v in d["s"]}, d["v"], d["t"])


saved.register("level-state", LevelState, level_state_data, level_state_from)
saved.register("level-params", LevelParams)
