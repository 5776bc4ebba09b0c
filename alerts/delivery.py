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

What is not sent (:class:`SendPolicy`). A replay of history into a data directory is a *backfill*: the
notifications of the alerts it raised are recorded in the outbox as ``not_sent`` ("not sent: backfill")
instead of reaching responders about the past, and a backfill sends nothing else either (older queued
ones wait for the service). A service starting on a directory whose outbox holds notifications queued
longer than a bound (one hour by default) records those as ``expired`` and says how many, rather than
page responders about what is long over. :meth:`Delivery.sweep` applies the policy to the whole queue
at once (at the service's start, at the end of a backfill).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from fenghuo.alerts.notifiers.base import DeliveryError, Notifier
from fenghuo.core.store import Notification, Store

log = logging.getLogger("fenghuo.delivery")
IN_HAND = 8  # notifications sent and waiting for their outcome to be recorded: at most this many windows
Outcome = tuple[Notification, bool, str, bool]  # (notification, ok, receipt or error, final)
RecordOne = Callable[[Notification, bool, str, bool], None]
RecordMany = Callable[[list[Outcome]], None]


DEFER = ("pending", "")  # a decision: leave the notification queued, untouched by this deliverer
EVERY = 1e300  # "due by" this time: every queued notification, those waiting for a retry too


def age_text(seconds: float) -> str:
    """A duration as an operator reads it.

    >>> age_text(90), age_text(3600), age_text(86400 * 3 + 5)
    ('90 s', '1 h', '3 d')
    """
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size * (2 if unit == "min" else 1):
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


@dataclass
class SendPolicy:
    """Which due notifications are recorded instead of sent (see the module's doc).

    >>> from fenghuo.core.store import Notification
    >>> n = Notification("n1", "a1", "ops", "r1", "raised", 1, {}, created_at=1000.0)
    >>> SendPolicy(max_age=3600).decide(n, 1000.0 + 7200, at_start=True)
    ('expired', 'expired: queued 2 h ago or more, longer than the 1 h bound; not sent')
    >>> SendPolicy(max_age=3600).decide(n, 1000.0 + 7200) is None  # only what a start finds queued
    True
    >>> SendPolicy(max_age=3600, queued_by=1000.0 + 7000).decide(n, 1000.0 + 7200, at_start=True) is None
    True
    >>> SendPolicy(backfill=lambda alert_id: alert_id == "a1").decide(n, 0.0)
    ('not_sent', 'not sent: backfill')
    >>> SendPolicy(backfill=lambda alert_id: False).decide(n, 0.0) == DEFER
    True
    >>> old = Notification("n0", "a1", "ops", "r1", "raised", 0, {}, 0.0, status="not_sent")
    >>> up = Notification("n2", "a1", "ops", "r1", "escalated", 2, {}, created_at=1000.0)
    >>> SendPolicy(history=lambda alert_id: [old]).decide(up, 1000.0)
    ('not_sent', 'not sent: backfill (an escalation of an alert only a backfill notified about)')
    """

    max_age: float | None = None  # seconds a notification found queued at start may have waited and be sent
    # the wall time by which every notification found queued at start had been queued (the last time the
    # previous process was seen); None: unknown, each one's created_at is its queue time
    queued_by: float | None = None
    backfill: Callable[[str], bool] | None = None  # a backfill run: alert id -> changed by this run
    # an alert's outbox rows: an escalation (time passing, not new data) of an alert whose every notification
    # so far was a backfill's is not sent either; a new signal (upgraded, cleared) is, and from then on all is
    history: Callable[[str], list[Notification]] | None = None

    def decide(self, n: Notification, now: float, at_start: bool = False) -> tuple[str, str] | None:
        """``(status, reason)`` to record instead of sending, :data:`DEFER`, or None (send it). ``at_start``:
        ``n`` was found queued when the service started (only those can be stale: a running service's
        created_at may be an event clock's time, a drill's in 2020)."""
        if self.backfill is not None:
            return ("not_sent", "not sent: backfill") if self.backfill(n.alert_id) else DEFER
        if at_start and self.max_age is not None:
            age = now - (self.queued_by if self.queued_by is not None else n.created_at)
            if age > self.max_age:
                return ("expired", f"expired: queued {age_text(age)} ago or more, longer than the "
                                   f"{age_text(self.max_age)} bound; not sent")
        if self.history is not None and n.kind == "escalated":
            statuses = {r.status for r in self.history(n.alert_id) if r.id != n.id}
            if "not_sent" in statuses and not statuses & {"delivered", "failed"}:
                return "not_sent", "not sent: backfill (an escalation of an alert only a backfill notified about)"
        return None


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
                 *, outcomes: RecordMany | None = None, window: int | None = None,
                 policy: SendPolicy | None = None) -> None:
        self.store = store
        self.policy = policy
        self.deferred: set[str] = set()  # left queued by the policy (a backfill's older notifications)
        self.withheld = 0  # recorded as not sent (backfill)
        self.expired = 0  # recorded as expired (queued too long)
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
        self.faults: Callable[[Notification], str | None] | None = None  # a drill's injected channel failures

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
            rows = self.store.due_notifications(self.now(), free, exclude=held | self.deferred)
            rows = self._apply_policy(rows)
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

    def _apply_policy(self, rows: list[Notification], at_start: bool = False) -> list[Notification]:
        """The rows to send; the others are recorded as the policy decides (through ``outcomes`` when given:
        the alert's timeline then says "notify_withheld" and why) or left queued. A fill that recorded some asks
        for another fill."""
        if self.policy is None or not rows:
            return rows
        now = self.now()
        send: list[Notification] = []
        held: list[Notification] = []
        for n in rows:
            decision = self.policy.decide(n, now, at_start)
            if decision is None:
                send.append(n)
            elif decision == DEFER:
                self.deferred.add(n.id)
            else:
                n.status, n.last_error = decision
                held.append(n)
        if held:
            if self.outcomes is not None:  # the outbox rows and a "notify_withheld" entry in each alert's timeline
                self.outcomes([(n, False, n.last_error or n.status, True) for n in held])
            else:
                self.store.update_notifications(held)
            counts = Counter(n.status for n in held)
            with self.lock:
                self.withheld += counts["not_sent"]
                self.expired += counts["expired"]
                self._fill_again = True
        return send

    def sweep(self, page: int = 1000, at_start: bool = False) -> dict[str, int]:
        """Apply the policy to every queued notification now (due or waiting for a retry), sending none: how
        many were recorded, by status (``not_sent``, ``expired``). Those it would send stay queued for
        :meth:`run_due`. ``at_start``: the queue a service found when it started (stale ones expire)."""
        counts: Counter[str] = Counter()
        if self.policy is None:
            return {}
        keep: set[str] = set()
        while True:
            with self._fetch_lock:
                with self.lock:
                    held = frozenset(self.inflight)
                rows = self.store.due_notifications(EVERY, page, exclude=held | keep)
                if not rows:
                    break
                before = (self.withheld, self.expired)
                send = self._apply_policy(rows, at_start)
                keep.update(n.id for n in send)
                keep.update(n.id for n in rows if n.id in self.deferred)
                counts["not_sent"] += self.withheld - before[0]
                counts["expired"] += self.expired - before[1]
        return {k: v for k, v in counts.items() if v}

    def flush(self, timeout: float, sleep: Callable[[float], None] | None = None,
              monotonic: Callable[[], float] | None = None) -> int:
        """Send what is due now and wait (``timeout`` seconds at most) until nothing due is left in the outbox
        or in hand (a command that exits after its work, e.g. ``replay --notify``); what failed and waits for
        a retry stays queued. How many are still pending."""
        import time

        sleep = sleep or time.sleep
        monotonic = monotonic or time.monotonic
        deadline = monotonic() + timeout
        while monotonic() < deadline:
            self.run_due()
            with self.lock:
                busy = bool(self.inflight) or self._recording
            if not busy and not self.store.due_notifications(self.now(), 1, exclude=self.deferred):
                break
            sleep(0.05)
        return self.store.pending_notification_count()

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
            fault = self.faults(n) if self.faults is not None else None
            if fault is not None:
                raise DeliveryError(fault, retryable=True)
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
