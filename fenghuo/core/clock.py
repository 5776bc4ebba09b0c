"""Clocks injected into everything stateful, so deadlines are tested without sleeping.

The one clock module: a :class:`Clock` is anything with ``now()`` (:class:`WallClock`, :class:`FixedClock`,
:class:`EventClock`), and :class:`Clocks` is the service's set of them: the real domain (wall or event time)
and one event clock per drill. The distributed alert service keeps such a set per grid
(:mod:`fenghuo.runtime.kafka.alert_service.grid_clocks`).

>>> c = EventClock()
>>> c.advance(100.0); c.advance(50.0); c.now()
100.0
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (UTC)."""
        ...


class WallClock:
    """The real time."""

    def now(self) -> float:
        return time.time()


class EventClock:
    """Time as the event stream tells it: the latest event time seen (never goes back).

    Drills run on their own event clock, so a replay at 600x escalates at 600x.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def advance(self, ts: float) -> None:
        with self._lock:
            if ts > self._now:
                self._now = ts

    def now(self) -> float:
        return self._now


class FixedClock(EventClock):
    """A clock the caller moves by hand (tests)."""

    def set(self, ts: float) -> None:
        self._now = ts

    def tick(self, seconds: float) -> None:
        self._now += seconds


class Clocks:
    """``now_of(drill, event_ts)``: the time an alert in that domain sees.

    >>> c = Clocks("wall", FixedClock(1000.0))
    >>> c.now_of(None, 5.0), c.now_of("flood", 5.0), c.now_of("flood", None)
    (1000.0, 5.0, 5.0)
    """

    def __init__(self, mode: str, wall: Clock) -> None:
        self.mode = mode
        self.wall = wall
        self.real = EventClock()
        self.drills: dict[str, EventClock] = {}

    def now_of(self, drill: str | None, event_ts: float | None = None) -> float:
        if drill:
            c = self.drills.get(drill)
            if c is None:
                c = self.drills[drill] = EventClock()
        elif self.mode == "event":
            c = self.real
        else:
            return self.wall.now()
        if event_ts is not None:
            c.advance(event_ts)
        return c.now()

    def wall_now(self) -> float:
        return self.wall.now()

    def domains(self) -> list[str | None]:
        return [None, *self.drills]

    def snapshot(self) -> dict[str, float]:
        out = {name: c.now() for name, c in self.drills.items()}
        out[""] = self.real.now()
        return out

    def restore(self, snap: dict[str, float]) -> None:
        for name, ts in snap.items():
            if name == "":
                self.real.advance(ts)
            else:
                self.now_of(name, ts)
