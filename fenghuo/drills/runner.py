"""One drill run: deliver the planned records on the run's own clock, let simulated responders act, end.

The run is a small discrete-event loop over scenario time. Each step goes to the earliest of: the next planned
delivery, the next simulated responder action, the next escalation deadline of the run's open alerts, the next
time a detector could raise something on its own (a sensor gone silent), and the run's end. With a speed, the
step waits until the wall clock reaches it (scenario time = start + wall time elapsed x speed), moving the run's
clock forward meanwhile, so people taking part see it run and their acknowledgements are timed on it; with
``speed: max`` it goes straight there. The clock keeps running after the last record until the run's end.

The host (:class:`DrillHost`, the embedded pipeline) stores and processes what the run sends as it does any
drill: every record is stamped with the run's id, reaching only drill participants and channels.
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fenghuo.core.models import Alert, iso
from fenghuo.core.store import Notification
from fenghuo.drills.inject import Delivery
from fenghuo.drills.responders import Action, Tiers, next_actions
from fenghuo.drills.scenario import Kill, NoAck, PauseBroker, Responders

log = logging.getLogger("fenghuo.drills")
BATCH = 1000  # records per ingest call
MAX_CHECKPOINTS = 20_000  # (scenario time, wall time) pairs kept to place a drill notification in wall time


class DrillHost(Protocol):
    """What a run needs of the service it runs in."""

    def ingest(self, records: list[Any], drill: str | None = None, *, may_drill: bool = True,
               refused: Sequence[Any] = ()) -> Any: ...
    def advance_drill(self, drill: str, ts: float, detectors: bool = True) -> None: ...
    def settle_drill(self, drill: str) -> None: ...
    def settle_escalations(self, drill: str) -> None:
        """The run's clock passed an alert's escalation deadline: wait until the service has escalated it."""
        ...
    def drill_open_alerts(self, drill: str) -> list[Alert]: ...
    def drill_due(self, drill: str) -> float | None: ...
    def ack(self, alert_id: str, actor: str, comment: str = "") -> Alert: ...
    def resolve(self, alert_id: str, actor: str, comment: str = "") -> Alert: ...
    def notifications(self, alert_id: str) -> list[Notification]: ...
    def flush_drill_notifications(self, timeout: float) -> None: ...
    def drill_chaos(self, drill: str, fault: Kill | PauseBroker) -> str:
        """Inject a fault into the runtime itself (Kafka mode); what was done, as a note for the run."""
        ...
    def purge_drill(self, drill: str, actor: str) -> dict[str, int]: ...
    def take_warnings(self, alerts: list[Any], origin: str, drill: str | None = None) -> list[Any]:
        """CAP warnings (a scenario's ``format: cap`` files) to the intake, as the drill's (docs/warnings.md)."""
        ...


@dataclass
class Progress:
    """What the run has done so far (shown live and kept with the run)."""

    planned: int = 0
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    acks: int = 0
    resolves: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)  # the first rejections

    def to_json(self, counts: dict[str, int]) -> dict[str, Any]:
        return {"planned": self.planned, "sent": self.sent, "accepted": self.accepted,
                "duplicates": self.duplicates, "rejected": self.rejected, "acks": self.acks,
                "resolves": self.resolves, "dropped": counts.get("dropped", 0),
                "injected": counts.get("injected", 0),
                "fraction": round(self.sent / self.planned, 4) if self.planned else 1.0}


class DrillRun:
    """Run ``deliveries`` (sorted by ``at``) from ``start`` to ``end`` (scenario times) as drill ``run``."""

    def __init__(self, run: str, host: DrillHost, deliveries: list[Delivery], *, start: float, end: float,
                 speed: float | None, responders: Responders | None, no_ack: Sequence[NoAck], tiers: Tiers,
                 wall: Callable[[], float] = time.time, sleep: Callable[[float], None] | None = None,
                 chaos: Sequence[Kill | PauseBroker] = ()) -> None:
        self.run = run
        self.host = host
        self.deliveries = deliveries
        self.start, self.end = start, end
        self.speed = speed
        self.responders = responders
        self.no_ack = list(no_ack)
        self.tiers = tiers
        self.wall = wall
        self.stopped = threading.Event()
        self.sleep = sleep or (lambda s: self.stopped.wait(s))
        self.progress = Progress(planned=len(deliveries))
        self.last_record = deliveries[-1].at if deliveries else start
        self.clock = start  # the run's scenario time
        self.escalations_to = start  # escalation deadlines up to here were waited for
        self.next = 0  # the next delivery
        self.done = False
        self.error: str | None = None
        self.wall0 = 0.0
        self.scn0 = start  # the wall clock is anchored at (wall0, scn0)
        self.refused: set[tuple[str, str]] = set()  # simulated actions the service refused: not tried again
        self.chaos = sorted(((c.at.resolve(start), i, c) for i, c in enumerate(chaos)), key=lambda x: x[:2])
        self.notes: list[str] = []  # what the run did to the runtime (chaos), for the run's document
        self._points: tuple[list[float], list[float]] = ([], [])

    # -- the scenario clock --------------------------------------------------------------------------------
    def _mapped(self) -> float:
        """Scenario time the wall clock says it is (with a speed)."""
        assert self.speed is not None
        return self.scn0 + (self.wall() - self.wall0) * self.speed

    def _advance(self, t: float) -> None:
        if t > self.clock:
            self.clock = min(t, self.end)
        # after the last record the sources end, not the sensors: no detector hears their silence
        self.host.advance_drill(self.run, self.clock, detectors=self.clock <= self.last_record)
        scn, wall = self._points
        if len(scn) >= MAX_CHECKPOINTS:
            del scn[::2], wall[::2]
        scn.append(self.clock)
        wall.append(self.wall())

    def wall_of(self, ts: float) -> float:
        """The wall time at which the run's clock reached scenario time ``ts`` (for notification delays)."""
        scn, wall = self._points
        if not scn:
            return ts
        i = bisect.bisect_left(scn, ts)
        return wall[min(i, len(wall) - 1)]

    def stop(self) -> None:
        self.stopped.set()

    # -- the loop ------------------------------------------------------------------------------------------
    def _actions(self, open_alerts: list[Alert]) -> list[Action]:
        if self.responders is None or self.responders.human:
            return []
        actions = next_actions(open_alerts, self.responders, self.tiers, self.no_ack)
        return [a for a in actions if (a.alert, a.op) not in self.refused]

    def _next_time(self, actions: list[Action], open_alerts: list[Alert]) -> float:
        candidates = [self.end]
        if self.next < len(self.deliveries):
            candidates.append(self.deliveries[self.next].at)
        if actions:
            candidates.append(actions[0].at)
        if self.chaos:
            candidates.append(self.chaos[0][0])
        for a in open_alerts:
            if a.escalate_at is not None and a.escalate_at > self.clock:
                candidates.append(a.escalate_at)
        due = self.host.drill_due(self.run)
        if due is not None and self.clock < due <= self.last_record:
            candidates.append(due)
        return max(min(candidates), self.clock)

    def run_loop(self) -> None:
        """Run to the end (or until :meth:`stop`); never raises (a failure is kept in ``error``)."""
        self.wall0 = self.wall()
        try:
            self._advance(self.start)
            while not self.stopped.is_set():
                open_alerts = self.host.drill_open_alerts(self.run)  # read once a step (a query in Kafka mode)
                actions = self._actions(open_alerts)
                t = self._next_time(actions, open_alerts)
                if self.speed is not None:
                    now = self._mapped()
                    if now < t:  # wait, the run's clock moving on meanwhile (people may be acting on it)
                        self.sleep(min(0.25, (t - now) / self.speed))
                        self._advance(min(self._mapped(), t))
                        continue
                self._step(t, actions)
                if any(a.escalate_at is not None and self.escalations_to < a.escalate_at <= self.clock
                       for a in open_alerts):  # the responders must see the alerts at their new tiers
                    self.host.settle_escalations(self.run)
                self.escalations_to = self.clock
                if t >= self.end:  # records planned after the end (a duration cut short) are not sent
                    break
        except Exception as exc:  # the run fails; the service goes on
            log.exception("drill %s failed", self.run)
            self.error = f"{type(exc).__name__}: {exc}"
        self.done = True

    def _step(self, t: float, actions: list[Action]) -> None:
        """Send what is due by ``t``, one delivery moment at a time (each after the detectors settled, so a run
        gives the same alerts at any speed), move the clock, inject runtime faults, act as responders."""
        batch: list[dict[str, Any]] = []
        while self.next < len(self.deliveries) and self.deliveries[self.next].at <= t:
            at = self.deliveries[self.next].at
            while self.next < len(self.deliveries) and self.deliveries[self.next].at == at and len(batch) < BATCH:
                batch.append(self.deliveries[self.next].record)
                self.next += 1
            self.host.settle_drill(self.run)
            self._send(batch)
            batch = []
        self._advance(t)
        while self.chaos and self.chaos[0][0] <= t:
            _, _, fault = self.chaos.pop(0)
            try:
                self.notes.append(f"{iso(t)}: {self.host.drill_chaos(self.run, fault)}")
            except Exception as exc:  # the fault could not be injected: said in the run, the run goes on
                self.notes.append(f"{iso(t)}: {fault.kind} not injected: {type(exc).__name__}: {exc}")
        for action in actions:
            if action.at > t:
                break
            self._act(action)

    def _send(self, batch: list[dict[str, Any]]) -> None:
        cap = [r for r in batch if isinstance(r, dict) and r.get("feed") == "warning" and "cap" in r]
        if cap:  # CAP warnings of a `format: cap` source go to the warning intake, the rest to ingest
            self._send_warnings(cap)
            batch = [r for r in batch if not (isinstance(r, dict) and r.get("feed") == "warning" and "cap" in r)]
            if not batch:
                return
        result = self.host.ingest(batch, self.run)
        p = self.progress
        p.sent += len(batch)
        p.accepted += result.accepted
        p.duplicates += result.duplicates
        p.rejected += len(result.rejected)
        for r in result.rejected:
            if len(p.errors) < 20:
                p.errors.append({"index": p.sent - len(batch) + int(r["index"]), "error": r["error"]})

    def _send_warnings(self, records: list[dict[str, Any]]) -> None:
        from fenghuo.ingest.cap_in import CapError, parse_cap_each

        items: list[Any] = []
        for r in records:
            try:
                items += parse_cap_each(str(r["cap"]).encode("utf-8"))
            except CapError as exc:
                items.append(exc)
        results = self.host.take_warnings(items, "drill", self.run)
        p = self.progress
        p.sent += len(records)
        p.accepted += sum(r.outcome not in ("rejected", "duplicate") for r in results)
        p.duplicates += sum(r.outcome == "duplicate" for r in results)
        for r in results:
            if r.outcome == "rejected":
                p.rejected += 1
                if len(p.errors) < 20:
                    p.errors.append({"index": p.sent, "error": f"warning {r.key[1]}: {r.reason}"})

    def _act(self, action: Action) -> None:
        try:
            if action.op == "ack":
                self.host.ack(action.alert, action.actor, "drill: simulated responder")
                self.progress.acks += 1
            else:
                self.host.resolve(action.alert, action.actor, "drill: simulated responder")
                self.progress.resolves += 1
        except Exception as exc:  # the alert changed meanwhile (resolved by a person): not the run's failure
            self.refused.add((action.alert, action.op))
            log.info("drill %s: simulated %s of %s not done: %s", self.run, action.op, action.alert, exc)

    def status(self) -> dict[str, Any]:
        return {"clock": iso(self.clock), "clock_ts": self.clock,
                "behind_seconds": (max(0.0, self._mapped() - self.clock) if self.speed is not None and not self.done
                                   and math.isfinite(self.clock) else 0.0)}
