"""Clocks injected into everything stateful, so deadlines are tested without sleeping.

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
