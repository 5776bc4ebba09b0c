"""A drill run's clock on its way to the alert service: coalesced, and always sent before it matters.

The run (fenghuo/drills/runner.py) moves its clock at every step, many times a second when it catches up.
Each move the alert service must see is one command on every partition of the commands topic
(:func:`fenghuo.runtime.kafka.alert_service.commands.drill_clock_command`), so moves are coalesced: one is sent
when ``every`` wall seconds passed since the last one sent, or the clock moved more than ``step`` scenario
seconds past it; :meth:`DrillClocks.flush` sends the latest at once (before a simulated ack, so the ack is
stamped on the run's clock, and when the run ends). A send that fails (the broker away) is kept and tried
again at the next move or flush: the clock only moves forward, so the latest is all that matters.

>>> sent, now = [], [0.0]
>>> dc = DrillClocks(lambda d, ts: sent.append((d, ts)), wall=lambda: now[0])
>>> dc.advance("r1", 100.0); dc.advance("r1", 130.0); dc.advance("r1", 200.0)
>>> sent  # the first at once; 130 is within 0.2 s and 60 s of it; 200 is more than 60 s past it
[('r1', 100.0), ('r1', 200.0)]
>>> dc.advance("r1", 210.0); now[0] = 0.3; dc.advance("r1", 215.0); sent[-1]
('r1', 215.0)
>>> dc.advance("r1", 216.0); dc.flush("r1"); dc.flush("r1"); sent[-2:]
[('r1', 215.0), ('r1', 216.0)]
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("fenghuo.runtime.kafka.drill_clock")
EVERY_S = 0.2  # wall seconds between two sends of one drill's clock
STEP_S = 60.0  # scenario seconds the clock may move before it is sent anyway


class DrillClocks:
    def __init__(self, send: Callable[[str, float], None], *, wall: Callable[[], float] = time.monotonic,
                 every: float = EVERY_S, step: float = STEP_S) -> None:
        self.send, self.wall, self.every, self.step = send, wall, every, step
        self.latest: dict[str, float] = {}  # drill -> the run's clock
        self.sent: dict[str, tuple[float, float]] = {}  # drill -> (clock sent, wall time sent)
        self.lock = threading.Lock()

    def advance(self, drill: str, ts: float) -> None:
        """The run's clock is at ``ts``: send it now if the last one sent is old enough or far enough behind."""
        with self.lock:
            if ts > self.latest.get(drill, float("-inf")):
                self.latest[drill] = ts
            last = self.sent.get(drill)
            if last is not None and not (self.wall() - last[1] >= self.every or ts - last[0] > self.step):
                return
        self.flush(drill)

    def flush(self, drill: str) -> None:
        """Send the drill's latest clock if it was not sent yet."""
        with self.lock:
            ts = self.latest.get(drill)
            last = self.sent.get(drill)
            if ts is None or (last is not None and last[0] >= ts):
                return
            try:
                self.send(drill, ts)
            except Exception as exc:  # the broker is away: kept, sent with the next move or flush
                log.warning("drill %s: its clock (%.0f) did not reach Kafka: %s", drill, ts, exc)
                return
            self.sent[drill] = (ts, self.wall())

    def flush_all(self) -> None:
        for drill in list(self.latest):
            self.flush(drill)

    def forget(self, drill: str) -> None:
        with self.lock:
            self.latest.pop(drill, None)
            self.sent.pop(drill, None)
