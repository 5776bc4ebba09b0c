"""Delivery from the outbox: each due notification goes to its channel's notifier on a pool of
threads, so a slow or failing receiver does not hold up the others. Failures are retried with
exponential backoff until the channel's ``max_attempts``; every outcome is recorded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from alerts.notifiers.base import DeliveryError, Notifier
from fenghuo.store import Notification, Store

log = logging.getLogger("fenghuo.delivery")
Outcome = Callable[[Notification, bool, str, bool], None]


def backoff(attempts: int, base: float = 1.0, cap: float = 300.0) -> float:
    """Seconds to wait after ``attempts`` failures.

    >>> [backoff(n) for n in (1, 2, 3, 10)]
    [1.0, 2.0, 4.0, 300.0]
    """
    return min(cap, base * 2 ** (attempts - 1))


class Delivery:
    def __init__(self, store: Store, notifiers: dict[str, Notifier], max_attempts: dict[str, int],
                 outcome: Outcome, now: Callable[[], float], workers: int = 8, base_backoff: float = 1.0) -> None:
        self.store = store
        self.notifiers = notifiers
        self.max_attempts = max_attempts
        self.outcome = outcome
        self.now = now
        self.base_backoff = base_backoff
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deliver")
        self.inflight: set[str] = set()
        self.busy: set[str] = set()  # alerts whose delivery task is running
        self.lock = threading.Lock()
        self.delivered = 0
        self.failed = 0

    def run_due(self, limit: int = 200) -> int:
        """Start delivering what is due; return how many were started.

        One task per alert delivers that alert's notifications in the order they were decided
        (raised, then each escalation); different alerts go in parallel. While an alert's task
        runs, its newer notifications wait for the next call, so they never overtake it.
        """
        by_alert: dict[str, list[Notification]] = {}
        for n in self.store.due_notifications(self.now(), limit):
            with self.lock:
                if n.id in self.inflight or (n.alert_id in self.busy and n.alert_id not in by_alert):
                    continue
                self.inflight.add(n.id)
                self.busy.add(n.alert_id)
            by_alert.setdefault(n.alert_id, []).append(n)
        for alert_id, batch in by_alert.items():
            self.pool.submit(self._deliver_all, alert_id, batch)
        return sum(len(b) for b in by_alert.values())

    def _deliver_all(self, alert_id: str, batch: list[Notification]) -> None:
        try:
            for n in batch:
                self._deliver(n)
        finally:
            with self.lock:
                self.busy.discard(alert_id)

    def _deliver(self, n: Notification) -> None:
        try:
            notifier = self.notifiers.get(n.channel)
            n.attempts += 1
            try:
                if notifier is None:
                    raise DeliveryError(f"no channel named {n.channel!r} is configured", retryable=False)
                receipt = notifier.send(n.id, n.payload)
            except DeliveryError as exc:
                self._failed(n, str(exc), exc.retryable)
            except Exception as exc:  # a notifier bug is a failed delivery, recorded, never swallowed
                log.exception("notifier %s raised", n.channel)
                self._failed(n, f"{type(exc).__name__}: {exc}", True)
            else:
                n.status, n.delivered_at, n.last_error = "delivered", self.now(), None
                self.delivered += 1
                self.outcome(n, True, receipt, True)
        finally:
            with self.lock:
                self.inflight.discard(n.id)

    def _failed(self, n: Notification, error: str, retryable: bool) -> None:
        final = not retryable or n.attempts >= self.max_attempts.get(n.channel, 8)
        n.last_error = error
        if final:
            n.status = "failed"
            self.failed += 1
        else:
            n.next_attempt_at = self.now() + backoff(n.attempts, self.base_backoff)
        log.warning("delivery %s to %s failed (attempt %d%s): %s", n.id, n.channel, n.attempts,
                    ", final" if final else "", error)
        self.outcome(n, False, error, final)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=False)
