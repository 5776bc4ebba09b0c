"""Event clocks per grid for the distributed alert service.

Embedded, one process sees every grid's events in one order, so one event clock per domain (the
real one, each drill) is the latest event time anywhere. Over Kafka, partitions progress
independently: a replacement detector worker takes a dead one's grids after its session expires,
while the other workers' grids run on. One clock for all grids would then stamp the late grid's
signals with the other grids' time and fire its escalations early. So the alert service keeps the
clocks of each grid apart (each grid's clock is its own event-time watermark) and, while it applies
a grid's signal batch, acts in that grid's scope: signals are stamped, and escalations fire, on
that grid's clock only. On the wall clock (real operation) nothing changes: the wall is one clock.

>>> from fenghuo.core.clock import FixedClock
>>> gc = GridClocks("event", FixedClock(0.0))
>>> with gc.scoped("A"):
...     gc.now_of(None, 100.0)
100.0
>>> with gc.scoped("B"):
...     gc.now_of(None, 50.0), gc.now_of(None, None)
(50.0, 50.0)
>>> gc.now_of(None, None)  # out of any grid's scope: the latest time anywhere
100.0
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fenghuo.alerts.service import AlertService
from fenghuo.core.clock import Clock, Clocks
from fenghuo.core.models import Alert


class GridClocks:
    def __init__(self, mode: str, wall: Clock) -> None:
        self.mode, self.wall = mode, wall
        self.grids: dict[str, Clocks] = {}
        self.scope: str | None = None

    def of(self, grid: str) -> Clocks:
        c = self.grids.get(grid)
        if c is None:
            c = self.grids[grid] = Clocks(self.mode, self.wall)
        return c

    @contextmanager
    def scoped(self, grid: str | None) -> Iterator[None]:
        before, self.scope = self.scope, grid
        try:
            yield
        finally:
            self.scope = before

    def now_of(self, drill: str | None, event_ts: float | None = None) -> float:
        if self.scope is not None:
            return self.of(self.scope).now_of(drill, event_ts)
        if not drill and self.mode != "event":
            return self.wall.now()
        key = drill or ""
        times = [c.snapshot().get(key) for c in self.grids.values()]
        return max((t for t in times if t is not None), default=event_ts if event_ts is not None else 0.0)

    def wall_now(self) -> float:
        return self.wall.now()

    def domains(self, grid: str) -> list[str | None]:
        return self.of(grid).domains()

    def snapshot(self) -> dict[str, Any]:
        return {"grids": {g: c.snapshot() for g, c in self.grids.items()}}

    def restore(self, snap: dict[str, Any]) -> None:
        for grid, clocks in (snap.get("grids") or {}).items():
            self.of(grid).restore(clocks)


class ScopedAlertService(AlertService):
    """An AlertService whose escalations, in a grid's scope, look only at that grid's alerts."""

    clocks: GridClocks

    def _scoped(self, alerts: list[Alert]) -> list[Alert]:
        scope = self.clocks.scope
        return alerts if scope is None else [a for a in alerts if a.grid == scope]

    def tick_all(self) -> None:
        """Every grid on its own clocks, then (wall clock) every alert on the wall."""
        for grid in list(self.clocks.grids):
            with self.clocks.scoped(grid):
                self.tick(self.clocks.domains(grid))
        if self.clocks.mode != "event":
            self.tick([None])
