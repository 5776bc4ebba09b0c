"""Retention of complaint and opinion texts: what the daily purge removes, and when it runs (pure).

A text is kept ``privacy.text_retention_days`` days after fenghuo **received** it (``received_at``,
not the event's own ``ts``: a replay of last year's complaints keeps its texts for the full period,
and the period is the time fenghuo has held them). Then the store's ``purge_texts`` sets the event's
``text`` to NULL — category, grid, source, ts and attrs stay, so counts, bursts and backtests work as
before — and replaces the text of rejected records (dead letters) received before the same cutoff with
:data:`PURGED`. Alert evidence never holds a text (only lexicon terms, topic words and event ids), and
notification payloads carry titles and details, not texts; so there is nothing else to purge.

>>> cutoff(now=100 * DAY, retention_days=30) / DAY
70.0
>>> cutoff(now=100 * DAY, retention_days=None), cutoff(now=100 * DAY, retention_days=0)
(None, None)
>>> purge_record({"feed": "complaint", "text": "张三 13812345678 投诉", "category": "噪音"})
{'feed': 'complaint', 'text': '[purged]', 'category': '噪音'}
>>> purge_record({"feed": "sensor", "value": 1.0}) is None  # nothing to purge
True
>>> purge_record('{"feed": "complaint", "text": "a line that did not parse')
'[purged]'
>>> s = Schedule(every=DAY)
>>> s.due(now=5.0), s.ran(5.0), s.due(now=5.0 + DAY - 1), s.due(now=5.0 + DAY)
(True, None, False, True)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fenghuo.core.store import Store

log = logging.getLogger("fenghuo.core.retention")

DAY = 86400.0
RETRY_AFTER = 3600.0
TEXT_FEEDS = ("complaint", "opinion")
PURGED = "[purged]"  # what a purged dead letter's text (or a whole unparsed line) becomes
STATE_KEY = "retention.last_purge"  # the store's state: when the purge last ran (wall time)


def cutoff(now: float, retention_days: int | None) -> float | None:
    """Texts received before this time are due for purging; None keeps every text (0 or no period)."""
    if not retention_days:
        return None
    return now - retention_days * DAY


def purge_record(record: Any) -> Any | None:
    """A dead letter's record with its text replaced by :data:`PURGED`, or None when there is nothing to purge.

    A rejected record may be anything a client sent: an object (its ``text`` goes, whatever its feed:
    the feed may be the very thing that was wrong), a list of them, or a raw line that did not parse
    (the whole line goes: it may be a complaint's text).
    """
    if isinstance(record, str):
        return PURGED if record != PURGED else None
    if isinstance(record, dict):
        text = record.get("text")
        if text is None or text == PURGED:
            return None
        return {**record, "text": PURGED}
    if isinstance(record, list):
        items = [purge_record(r) for r in record]
        if all(i is None for i in items):
            return None
        return [r if i is None else i for r, i in zip(record, items, strict=True)]
    return None


@dataclass(slots=True)
class Schedule:
    """Once every ``every`` seconds of wall time, the first time at once; a clock set back runs it again."""

    every: float = DAY
    last: float | None = None

    def due(self, now: float) -> bool:
        return self.last is None or now - self.last >= self.every or now < self.last

    def ran(self, now: float) -> None:
        self.last = now


@dataclass(frozen=True, slots=True)
class PurgeResult:
    cutoff: float | None
    events: int = 0
    dead_letters: int = 0
    dry_run: bool = False

    def summary(self) -> str:
        if self.cutoff is None:
            return "texts are kept forever (privacy.text_retention_days is 0 or null): nothing purged"
        verb = "would purge" if self.dry_run else "purged"
        return (f"{verb} the texts of {self.events} complaint/opinion event(s) and {self.dead_letters} "
                f"dead letter(s) received before {_iso(self.cutoff)}")


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PurgeJob:
    """The purge against a store, with the clock injected; :meth:`tick` runs it when the schedule says so."""

    def __init__(self, store: Store, retention_days: int | None, now: Callable[[], float],
                 every: float = DAY) -> None:
        self.store = store
        self.retention_days = retention_days
        self.now = now
        self.schedule = Schedule(every)
        self._thread: threading.Thread | None = None
        raw = store.get_state(STATE_KEY)
        if raw:
            try:
                self.schedule.last = float(raw.decode())
            except ValueError:
                self.schedule.last = None

    def run(self, dry_run: bool = False) -> PurgeResult:
        now = self.now()
        before = cutoff(now, self.retention_days)
        if before is None:
            return PurgeResult(None, dry_run=dry_run)
        counts = self.store.purge_texts(before, TEXT_FEEDS, dry_run=dry_run)
        result = PurgeResult(before, counts.get("events", 0), counts.get("dead_letters", 0), dry_run)
        if not dry_run:
            self.store.put_state(STATE_KEY, repr(now).encode())
            self.schedule.ran(now)
            if result.events or result.dead_letters:
                log.info("retention: %s", result.summary())  # counts and a time only, never a text
        return result

    def tick(self, background: bool = True) -> bool:
        """Start the purge when due (once a day), on its own thread so the caller's loop (escalations,
        deliveries) never waits for it; True when started. A failed purge is tried again an hour later."""
        now = self.now()
        if not self.retention_days or self.running() or not self.schedule.due(now):
            return False
        self.schedule.ran(now)  # marked now: a slow purge is not started twice
        if background:
            self._thread = threading.Thread(target=self._run_logged, name="fenghuo-purge", daemon=True)
            self._thread.start()
        else:
            self._run_logged()
        return True

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a purge in progress (before the store closes)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run_logged(self) -> None:
        try:
            self.run()
        except Exception:
            log.exception("retention purge failed; it is tried again in an hour")
            if self.schedule.last is not None:
                self.schedule.last = self.now() - self.schedule.every + RETRY_AFTER
