"""Delivery from the outbox: due notifications go to their channel's notifier on a pool of threads,
so a slow or failing receiver does not hold up the others. Failures are retried with exponential
backoff until the channel's ``max_attempts``; every outcome is recorded.

Order. The store hands out due notifications by priority (red first, see
:func:`fenghuo.alerts.notify.priority`), then age. Delivery holds only a small window of them at a time
(``window``: a few per worker, fetched and not yet sent) and never gives the pool (a
first-in-first-out queue) more than that, so a red notification decided behind thousands of blue ones
waits for that window, not for the backlog. The window refills itself as deliveries finish (and on
every :meth:`Delivery.run_due`, the service's tick), so throughput does not wait for the tick.

One alert's notifications are sent in the order they were decided (raised, then each escalation):
one task sends them one after the other, and while it runs the alert's newer notifications wait for
the next fill, so they never overtake it. Different alerts (and so channels) go in parallel.

Outcomes are recorded in batches (group commit): a recorder task on the pool takes every outcome
that finished meanwhile and records them at once (``outcomes``: one transaction for all; else
``outcome`` one by one), while the workers go on sending. A notification stays in hand until its
outcome is recorded, so it is not fetched and sent again meanwhile; counters and the log report an
outcome only once it is recorded. If recording fails the rows stay pending and are sent again later
(receivers drop repeats by the idempotency key).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from fenghuo.alerts.notifiers.base import DeliveryError, Notifier
from fenghuo.core.store import Notification, Store

log = logging.getLogger("fenghuo.delivery")
IN_HAND = 8  # notifications sent and waiting for their outcome to be recorded: at most this many windows
Outcome = tuple[Notification, bool, str, bool]  # (notification, ok, receipt or error, final)
RecordOne = Callable[[Notification, bool, str, bool], None]
RecordMany = Callable[[list[Outcome]], None]


def backoff(attempts: int, base: float = 1.0, cap: float = 300.0) -> float:
    """Seconds to wait after ``attempts`` failures.

    >>> [backoff(n) for n in (1, 2, 3, 10)]
    [1.0, 2.0, 4.0, 300.0]
    """
    return min(cap, base * 2 ** (attempts - 1))


class Delivery:
    """``outcome`` records one outcome (``AlertService.record_delivery``); ``outcomes``, when given,
    records a batch of them in one go and is used instead."""

    def __init__(self, store: Store, notifiers: dict[str, Notifier], max_attempts: dict[str, int],
                 outcome: RecordOne, now: Callable[[], float], workers: int = 8, base_backoff: float = 1.0,
                 *, outcomes: RecordMany | None = None, window: int | None = None) -> None:
        self.store = store
        self.notifiers = notifiers
        self.max_attempts = max_attempts
        self.outcome = outcome
        self.outcomes = outcomes
        self.now = now
        self.base_backoff = base_backoff
        self.window = window or 4 * workers  # notifications fetched and not yet sent, at most
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deliver")
        self.inflight: set[str] = set()  # notifications in hand: fetched, outcome not yet recorded
        self.unsent = 0  # of those, not yet sent (queued in the pool, or on the wire)
        self.busy: set[str] = set()  # alerts whose delivery task is running
        self.lock = threading.Lock()
        self.delivered = 0
        self.failed = 0
        self._fill_lock = threading.Lock()  # one filler at a time; others leave a request
        self._fill_again = False
        self._fetch_lock = threading.Lock()  # a fill's read vs. releasing recorded notifications
        self._done: list[Outcome] = []  # outcomes waiting to be recorded
        self._recording = False
        self._closed = False

    # -- fetching --------------------------------------------------------------------------------
    def run_due(self, limit: int | None = None) -> int:
        """Start delivering what is due, as far as the window allows (at most ``limit`` more);
        return how many were started. Never blocks on deliveries; safe from any thread."""
        with self.lock:
            self._fill_again = True
        started = 0
        while self._fill_lock.acquire(blocking=False):
            try:
                while True:
                    with self.lock:
                        if not self._fill_again or self._closed:
                            break
                        self._fill_again = False
                    started += self._fill(limit)
            finally:
                self._fill_lock.release()
            with self.lock:  # a request that came while we were releasing
                if not self._fill_again or self._closed:
                    break
        return started

    def _fill(self, limit: int | None) -> int:
        with self.lock:
            free = self.window - self.unsent
            if len(self.inflight) >= self.window * IN_HAND:  # recording lags behind sending: let it catch up
                return 0
        if free < self.window // 2:  # refill by halves: fewer reads, and the window stays short
            return 0
        if limit is not None:
            free = min(free, limit)
        if free <= 0:
            return 0
        by_alert: dict[str, list[Notification]] = {}
        count = 0
        with self._fetch_lock:
            with self.lock:
                held = frozenset(self.inflight)
            rows = self.store.due_notifications(self.now(), free, exclude=held)
            with self.lock:
                for n in rows:
                    if n.alert_id in self.busy and n.alert_id not in by_alert:
                        continue
                    self.inflight.add(n.id)
                    self.busy.add(n.alert_id)
                    by_alert.setdefault(n.alert_id, []).append(n)
                    count += 1
                self.unsent += count
        for alert_id, batch in by_alert.items():
            self.pool.submit(self._deliver_all, alert_id, batch)
        return count

    # -- sending ---------------------------------------------------------------------------------
    def _deliver_all(self, alert_id: str, batch: list[Notification]) -> None:
        sent = 0
        try:
            for n in batch:
                outcome = self._send(n)
                sent += 1
                with self.lock:
                    self.unsent -= 1
                self._report(outcome)
        finally:
            with self.lock:
                self.busy.discard(alert_id)
                self.unsent -= len(batch) - sent
                for n in batch[sent:]:  # not sent (an unexpected error): back to the outbox's hands
                    self.inflight.discard(n.id)
        try:
            self.run_due()  # the next of the window
        except Exception:  # the tick tries again
            log.exception("fetching due notifications failed")

    def _send(self, n: Notification) -> Outcome:
        notifier = self.notifiers.get(n.channel)
        n.attempts += 1
        try:
            if notifier is None:
                raise DeliveryError(f"no channel named {n.channel!r} is configured", retryable=False)
            receipt = notifier.send(n.id, n.payload)
        except DeliveryError as exc:
            return self._failed(n, str(exc), exc.retryable)
        except Exception as exc:  # a notifier bug is a failed delivery, recorded, never swallowed
            log.exception("notifier %s raised", n.channel)
            return self._failed(n, f"{type(exc).__name__}: {exc}", True)
        n.status, n.delivered_at, n.last_error = "delivered", self.now(), None
        return n, True, receipt, True

    def _failed(self, n: Notification, error: str, retryable: bool) -> Outcome:
        final = not retryable or n.attempts >= self.max_attempts.get(n.channel, 8)
        n.last_error = error
        if final:
            n.status = "failed"
        else:
            n.next_attempt_at = self.now() + backoff(n.attempts, self.base_backoff)
        return n, False, error, final

    # -- recording -------------------------------------------------------------------------------
    def _report(self, outcome: Outcome) -> None:
        """Queue an outcome for the recorder: a pool task that records everything queued, batch after
        batch, until none is left (the senders go on meanwhile, each alert's task with its next one)."""
        with self.lock:
            self._done.append(outcome)
            if self._recording:
                return
            self._recording = True
        try:
            self.pool.submit(self._record_queued)
        except RuntimeError:  # the pool is shutting down: record here
            self._record_queued()

    def _record_queued(self) -> None:
        while True:
            with self.lock:
                batch, self._done = self._done, []
                if not batch:
                    self._recording = False
                    return
            self._record(batch)
            try:
                self.run_due()  # room in hand again
            except Exception:
                log.exception("fetching due notifications failed")

    def _record(self, batch: list[Outcome]) -> None:
        recorded: list[Outcome] = []
        try:
            if self.outcomes is not None:
                self.outcomes(batch)
                recorded = batch
            else:
                for o in batch:
                    try:
                        self.outcome(*o)
                    except Exception:
                        log.exception("recording the outcome of %s failed: it stays pending", o[0].id)
                    else:
                        recorded.append(o)
        except Exception:
            log.exception("recording %d delivery outcome(s) failed: they stay pending", len(batch))
        finally:
            with self._fetch_lock, self.lock:
                for n, *_ in batch:
                    self.inflight.discard(n.id)
        for n, ok, detail, final in recorded:
            if ok:
                self.delivered += 1
                continue
            self.failed += int(final)
            log.warning("delivery %s to %s failed (attempt %d%s): %s", n.id, n.channel, n.attempts,
                        ", final" if final else "", detail)

    def close(self) -> None:
        """Finish what is in hand (a window at most), then close the notifiers' connections."""
        with self.lock:
            self._closed = True
        with self._fill_lock:  # a fill under way submits before the pool shuts
            pass
        self.pool.shutdown(wait=True, cancel_futures=False)
        for notifier in self.notifiers.values():
            close = getattr(notifier, "close", None)
            if callable(close):
                close()
