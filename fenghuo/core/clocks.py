"""The service's clocks: the real one (wall or event time) and one event clock per drill."""

from __future__ import annotations

from fenghuo.core.clock import Clock, EventClock


class Clocks:
    """``now_of(drill, event_ts)``: the time an alert in that domain sees.

    >>> from fenghuo.core.clock import FixedClock
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
