"""Polling of CAP feeds (``warnings.sources``): Atom or RSS whose entries embed a CAP alert or link to one.

Each source is asked every ``every`` seconds, with ``If-None-Match`` / ``If-Modified-Since`` from the last
answer (304: nothing to do). A new entry (one not seen in the feed before, by its id and updated time) either
embeds the CAP ``<alert>`` or links to it (fenghuo's own ``/v1/cap/feed.atom`` links each entry to
``/v1/cap/alerts/{id}.xml``); linked messages are fetched, at most ``max_links`` per poll, each at most
``max_bytes``, from the feed's own host unless ``hosts`` names others. Messages this instance sent, or whose
references or origin chain hold one it sent, are refused as ``ignored_loop`` (:mod:`fenghuo.alerts.federation`);
the rest go to the host's ``take_warnings`` with the source's name as their origin.

On an error (network, HTTP status, an unreadable feed) the next poll backs off exponentially with jitter
(:func:`backoff_delay`); the health of each source (last ok, last error and reason, consecutive failures,
next poll, items taken, the ETag) is what ``GET /v1/warnings/sources`` shows. The scheduling is pure: the
clock, the random source, the fetch function and the host are injected (:class:`CapPoller`).

>>> backoff_delay(1, 60.0, lambda: 1.0), backoff_delay(3, 60.0, lambda: 1.0), backoff_delay(3, 60.0, lambda: 0.0)
(60.0, 240.0, 120.0)
>>> backoff_delay(30, 10.0, lambda: 1.0)  # capped at an hour (or the source's own period if longer)
3600.0
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fenghuo.alerts.federation import echo_reason
from fenghuo.ingest.cap_poll_feed import MAX_REASON, Fetch, FetchError, HttpFetch, allowed_link, feed_entries

log = logging.getLogger("fenghuo.ingest.cap_poll")

RETRY_BASE_S = 60.0  # the first retry after an error comes after at most this long (or the period if shorter)
BACKOFF_CAP_S = 3600.0  # retries back off up to an hour (or the source's period if longer)
MAX_SEEN = 5_000  # entry keys remembered per source (a feed longer than this is fetched again in part)


@dataclass(frozen=True, slots=True)
class PollSource:
    """One polled feed (from a ``warnings.sources`` entry)."""

    name: str
    url: str
    every_s: float = 60.0
    timeout_s: float = 10.0
    key_env: str | None = None  # the name of the environment variable holding a bearer key (fenghuo to fenghuo)
    max_bytes: int = 2_000_000
    max_links: int = 50
    hosts: tuple[str, ...] = ()  # other hosts linked CAP messages may come from

    @classmethod
    def of(cls, src: Any) -> PollSource:
        """From the config model's entry (fields it lacks keep their defaults)."""
        def get(name: str, default: Any) -> Any:
            value = getattr(src, name, None)
            return default if value is None else value
        return cls(src.name, str(src.url), seconds(get("every", 60.0)), seconds(get("timeout", 10.0)),
                   get("key_env", None) or None, int(get("max_bytes", 2_000_000)), int(get("max_links", 50)),
                   tuple(get("hosts", ())))

    def key(self) -> str | None:
        return os.environ.get(self.key_env) if self.key_env else None


def seconds(value: float | int | str) -> float:
    """Seconds from a number or a text like ``"90"``, ``"30s"``, ``"5m"``, ``"2h"``, ``"1d"``.

    >>> seconds("5m"), seconds(12), seconds("1d")
    (300.0, 12.0, 86400.0)
    """
    if isinstance(value, int | float):
        return float(value)
    text = value.strip().lower()
    unit = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}.get(text[-1:], None)
    return float(text[:-1]) * unit if unit else float(text)


def backoff_delay(failures: int, every_s: float, rand: Callable[[], float]) -> float:
    """Seconds until the next try after ``failures`` consecutive errors: doubling from ``min(every,
    RETRY_BASE_S)`` up to ``max(every, BACKOFF_CAP_S)``, with "equal jitter" (half fixed, half random), so
    sources that failed together do not all come back at once."""
    cap = max(every_s, BACKOFF_CAP_S)
    delay = min(cap, min(every_s, RETRY_BASE_S) * 2.0 ** min(max(failures, 1) - 1, 30))
    return delay / 2.0 + delay / 2.0 * rand()


@dataclass(slots=True)
class SourceHealth:
    """What is known of a source: shown by ``GET /v1/warnings/sources``."""

    name: str
    url: str
    every_s: float
    next_poll: float
    last_poll: float | None = None
    last_ok: float | None = None
    last_error: float | None = None
    error: str | None = None  # the last error's reason (kept after a later success, with its time)
    failures: int = 0  # consecutive
    items_taken: int = 0  # messages handed over (all outcomes)
    outcomes: dict[str, int] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    seen: dict[str, None] = field(default_factory=dict)  # entry keys handled (ordered, bounded)

    def view(self) -> dict[str, Any]:
        """The health as the API lists it."""
        return {"name": self.name, "url": self.url, "every_s": self.every_s,
                "status": "ok" if self.failures == 0 and self.last_ok is not None else
                ("failing" if self.failures else "pending"),
                "last_poll": self.last_poll, "last_ok": self.last_ok, "last_error": self.last_error,
                "error": self.error, "failures": self.failures, "next_poll": self.next_poll,
                "items_taken": self.items_taken, "outcomes": dict(self.outcomes), "etag": self.etag}


class CapPoller:
    """Polls its sources on schedule and hands what they publish to the host (see the module's doc)."""

    def __init__(self, sources: Sequence[PollSource], take: Callable[[list[Any], str], list[Any]],
                 own_sender: str | Sequence[str], fetch: Fetch | None = None, clock: Callable[[], float] = time.time,
                 rand: Callable[[], float] = random.random) -> None:
        from fenghuo.ingest import cap_in  # H4's parser (imported here: only a poller with sources needs it)

        self.cap_in = cap_in
        self.sources = {s.name: s for s in sources}
        self.take, self.own_sender = take, own_sender
        self.fetch: Fetch = fetch or HttpFetch()
        self.clock, self.rand = clock, rand
        now = clock()
        self.health_of = {s.name: SourceHealth(s.name, s.url, s.every_s, now) for s in sources}
        self.lock = threading.Lock()  # guards health_of (read by the API's threads)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- scheduling (pure but for the fetch and the host) ---------------------------------------
    def run_due(self) -> float:
        """Poll every source that is due; the time the next one is due."""
        for name, src in self.sources.items():
            if self.health_of[name].next_poll <= self.clock():
                self.poll(src)
        with self.lock:
            return min((h.next_poll for h in self.health_of.values()), default=self.clock() + 60.0)

    def poll(self, src: PollSource) -> None:
        """One poll of one source: fetch, take what is new, record the health and the next time."""
        with self.lock:
            h = self.health_of[src.name]
            etag, modified, seen = h.etag, h.last_modified, dict(h.seen)
        started = self.clock()
        outcomes: dict[str, int] = {}  # filled as messages are taken: a poll cut short keeps what it took
        try:
            complete, etag, modified = self._poll(src, etag, modified, seen, outcomes)
            error = None
        except Exception as e:  # a source's failure is its health, never the poller's end
            complete, error = False, (str(e) or type(e).__name__)[:MAX_REASON]
            if not isinstance(e, FetchError | ValueError):
                log.warning("CAP source %s: poll failed", src.name, exc_info=True)
        now = self.clock()
        with self.lock:
            h.last_poll = started
            h.seen = _bounded(seen)
            h.items_taken += sum(outcomes.values())
            for k, v in outcomes.items():
                h.outcomes[k] = h.outcomes.get(k, 0) + v
            if error is None:
                h.last_ok, h.failures = now, 0
                h.etag, h.last_modified = (etag, modified) if complete else (None, None)
                h.next_poll = now + (src.every_s if complete else min(src.every_s, 1.0))
            else:
                h.last_error, h.error, h.failures = now, error, h.failures + 1
                h.next_poll = now + backoff_delay(h.failures, src.every_s, self.rand)
                log.info("CAP source %s: %s (failure %d; next try in %.0f s)", src.name, error, h.failures,
                         h.next_poll - now)

    def _poll(self, src: PollSource, etag: str | None, modified: str | None, seen: dict[str, None],
              outcomes: dict[str, int]) -> tuple[bool, str | None, str | None]:
        """Fetch and take; ``seen`` (entry keys handled) and ``outcomes`` change in place as entries are taken.
        Returns whether everything new was taken, and the validators (ETag, Last-Modified) to send next."""
        headers = {"Accept": "application/atom+xml, application/rss+xml, application/cap+xml, application/xml"}
        if etag:
            headers["If-None-Match"] = etag
        if modified:
            headers["If-Modified-Since"] = modified
        key = src.key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        answer = self.fetch(src.url, headers, src.timeout_s, src.max_bytes)
        if answer.status == 304:
            return True, etag, modified
        if answer.status != 200:
            raise FetchError(f"HTTP {answer.status} from the feed")
        entries = feed_entries(answer.body, src.url)
        new_etag, new_modified = answer.headers.get("etag"), answer.headers.get("last-modified")
        if entries is None:  # the document is CAP itself
            self._take(self._parse(answer.body), src, outcomes)
            return True, new_etag, new_modified
        current = {e.key for e in entries}
        for gone in [k for k in seen if k not in current]:  # what left the feed is forgotten
            del seen[gone]
        fresh = [e for e in entries if e.key not in seen]
        complete, links = True, 0
        for entry in fresh:
            if entry.embedded is not None:
                parsed = self._parse(entry.embedded)
            elif entry.link and allowed_link(entry.link, src.url, src.hosts):
                if links >= src.max_links:
                    complete = False  # the rest on the next poll (soon: the ETag is not kept)
                    continue
                links += 1
                own_host = allowed_link(entry.link, src.url)  # the key goes to the feed's own host only
                parsed = self._linked(entry.link, src, headers.get("Authorization") if own_host else None)
            else:
                outcomes["skipped"] = outcomes.get("skipped", 0) + 1  # no CAP there, or a host not allowed
                seen[entry.key] = None
                continue
            self._take(parsed, src, outcomes)
            seen[entry.key] = None
        return complete, new_etag, new_modified

    def _linked(self, link: str, src: PollSource, auth: str | None) -> list[Any]:
        headers = {"Accept": "application/cap+xml, application/xml"}
        if auth:
            headers["Authorization"] = auth
        answer = self.fetch(link, headers, src.timeout_s, src.max_bytes)
        if answer.status != 200:
            raise FetchError(f"HTTP {answer.status} from a linked CAP message ({link[:200]})")
        return self._parse(answer.body)

    def _parse(self, body: bytes) -> list[Any]:
        try:
            return list(self.cap_in.parse_cap_each(body))
        except self.cap_in.CapError as e:  # the whole document: one dead letter with the reason
            return [e]

    def _take(self, parsed: list[Any], src: PollSource, outcomes: dict[str, int]) -> None:
        fresh: list[Any] = []
        for item in parsed:
            reason = None if isinstance(item, Exception) else echo_reason(item, self.own_sender)
            if reason is None:
                fresh.append(item)
            else:
                outcomes["ignored_loop"] = outcomes.get("ignored_loop", 0) + 1
                log.info("CAP source %s: %s,%s refused: %s", src.name, item.sender, item.identifier, reason)
        if fresh:
            for result in self.take(fresh, src.name):
                outcome = str(getattr(result, "outcome", "taken"))
                outcomes[outcome] = outcomes.get(outcome, 0) + 1

    # -- what the API shows ---------------------------------------------------------------------
    def health(self) -> list[dict[str, Any]]:
        with self.lock:
            return [h.view() for h in self.health_of.values()]

    # -- the thread -----------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                due = self.run_due()
            except Exception:  # keep polling; the error is logged with its trace
                log.exception("CAP poller round failed")
                due = self.clock() + 5.0
            self._stop.wait(min(max(due - self.clock(), 0.05), 5.0))

    def start(self) -> None:
        if self.sources and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="fenghuo-cap-poll", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        close = getattr(self.fetch, "close", None)
        if callable(close):
            close()


def _bounded(seen: dict[str, None]) -> dict[str, None]:
    return seen if len(seen) <= MAX_SEEN else dict.fromkeys(list(seen)[-MAX_SEEN:])


def cap_poller_for(config: Any, settings: Any, take: Callable[[list[Any], str], list[Any]]) -> CapPoller | None:
    """The poller of ``warnings.sources`` (``None`` when none are configured); this instance sends as
    ``warnings.sender`` and as the ``cap_sender`` setting (its CAP exports): messages from either are echoes."""
    warnings = getattr(config, "warnings", None)
    sources = [PollSource.of(s) for s in (getattr(warnings, "sources", None) or [])]
    if not sources:
        return None
    own = [getattr(warnings, "sender", None) or "", getattr(settings, "cap_sender", "") or ""]
    return CapPoller(sources, take, [n for n in own if n])
