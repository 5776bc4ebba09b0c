"""Fan-out of alert changes to live subscribers (the board's server-sent events).

Publishing is thread-safe and never blocks the pipeline: a subscriber that falls behind by more
than ``maxsize`` messages loses the oldest and is told to reload.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any


class Broadcaster:
    def __init__(self, maxsize: int = 1000) -> None:
        self.maxsize = maxsize
        self._subs: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]] = set()
        self._lock = threading.Lock()
        self.published = 0

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self.maxsize)
        with self._lock:
            self._subs.add((asyncio.get_running_loop(), q))
        return q

    def unsubscribe(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        with self._lock:
            self._subs = {s for s in self._subs if s[1] is not q}

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def publish(self, message: dict[str, Any]) -> None:
        self.published += 1
        with self._lock:
            subs = list(self._subs)
        for loop, q in subs:
            try:
                loop.call_soon_threadsafe(_put, q, message)
            except RuntimeError:  # loop closed
                self.unsubscribe(q)


def _put(q: asyncio.Queue[dict[str, Any]], message: dict[str, Any]) -> None:
    if q.full():
        q.get_nowait()
        q.put_nowait({"type": "overflow"})
    q.put_nowait(message)
