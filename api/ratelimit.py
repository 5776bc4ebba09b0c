"""Failed sign-ins: a limit per subject (a client address, a key prefix) and an audit trail that cannot flood.

Both take the clock as an argument, so tests step time instead of sleeping.

>>> t = [0.0]
>>> lim = FailureLimiter(limit=2, window=60.0, clock=lambda: t[0])
>>> lim.failed("addr:1.2.3.4"); lim.retry_after("addr:1.2.3.4") is None
True
>>> lim.failed("addr:1.2.3.4"); lim.retry_after("addr:1.2.3.4")
60.0
>>> t[0] = 45.0; lim.retry_after("addr:1.2.3.4")
15.0
>>> t[0] = 60.0; lim.retry_after("addr:1.2.3.4") is None
True
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_SUBJECTS = 100_000


class FailureLimiter:
    """At most ``limit`` failures per subject in a fixed window of ``window`` seconds; then refuse until the
    window ends. Memory is bounded: past ``max_subjects``, expired windows go, then the oldest."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic,
                 max_subjects: int = MAX_SUBJECTS) -> None:
        self.limit, self.window, self.clock, self.max_subjects = limit, window, clock, max_subjects
        self._windows: dict[str, tuple[float, int]] = {}  # subject -> (window start, failures)

    def retry_after(self, subject: str) -> float | None:
        """Seconds until ``subject`` may try again, or None when it may try now."""
        got = self._windows.get(subject)
        if got is None:
            return None
        start, count = got
        now = self.clock()
        if now - start >= self.window:
            del self._windows[subject]
            return None
        return start + self.window - now if count >= self.limit else None

    def failed(self, subject: str) -> None:
        now = self.clock()
        start, count = self._windows.get(subject, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        self._windows.pop(subject, None)  # re-insert: the dict stays in order of last failure
        self._windows[subject] = (start, count + 1)
        if len(self._windows) > self.max_subjects:
            self._trim(now)

    def _trim(self, now: float) -> None:
        for s in [s for s, (start, _) in self._windows.items() if now - start >= self.window]:
            del self._windows[s]
        while len(self._windows) > self.max_subjects:
            del self._windows[next(iter(self._windows))]


@dataclass(slots=True)
class FailureAudit:
    """Which failed sign-ins to write to the audit log: the first one of each address in a period, at most
    ``max_rows`` a period, and one summary row counting the rest when the period is over.

    >>> t = [0.0]
    >>> fa = FailureAudit(period=60.0, max_rows=1, clock=lambda: t[0])
    >>> [r[0] for r in fa.failed("1.2.3.4", "invalid API key", "abcd", "/v1/alerts")]
    ['auth.failed']
    >>> fa.failed("1.2.3.4", "invalid API key", "abce", "/v1/alerts"), fa.failed("5.6.7.8", "x", "q", "/")
    ([], [])
    >>> t[0] = 61.0; [(r[0], r[1]) for r in fa.flush()]
    [('auth.failed.summary', '*')]
    """

    period: float = 60.0
    max_rows: int = 30
    clock: Callable[[], float] = time.monotonic
    started: float = float("-inf")
    written: set[str] = field(default_factory=set)
    suppressed: int = 0
    suppressed_addresses: set[str] = field(default_factory=set)

    def flush(self) -> list[tuple[str, str, str]]:
        """The summary of a finished period (if anything was held back); starts a new period."""
        now = self.clock()
        if now - self.started < self.period:
            return []
        rows = []
        if self.suppressed:
            rows.append(("auth.failed.summary", "*", json.dumps(
                {"failures": self.suppressed, "addresses": len(self.suppressed_addresses),
                 "period_seconds": self.period}, ensure_ascii=False)))
        self.started, self.suppressed = now, 0
        self.written.clear()
        self.suppressed_addresses.clear()
        return rows

    def failed(self, address: str, reason: str, key_prefix: str, path: str) -> list[tuple[str, str, str]]:
        """``(action, target, detail)`` rows to write now for one failed sign-in."""
        rows = self.flush()
        if address not in self.written and len(self.written) < self.max_rows:
            self.written.add(address)
            rows.append(("auth.failed", address, json.dumps(
                {"reason": reason, "key_prefix": key_prefix, "path": path[:200]}, ensure_ascii=False)))
        else:
            self.suppressed += 1
            if len(self.suppressed_addresses) < 10_000:
                self.suppressed_addresses.add(address)
        return rows
