"""Replay recorded events into fenghuo in event-time order, at a chosen speed.

``replay`` sorts the records by ``ts`` (stable: ties keep file order), then sends them to a sink
in batches. With ``speed`` N, event time runs N times faster than wall time: a record is sent
once ``(ts - first ts) / N`` wall seconds have passed since the start, and the records due
together go in one batch. The clock and sleep are injected, so tests run without sleeping.

>>> clock = [0.0]
>>> seen = []
>>> def sink(batch):
...     seen.append((clock[0], [r["value"] for r in batch]))
...     return {"accepted": len(batch), "duplicates": 0, "rejected": []}
>>> recs = [{"ts": "2020-01-01T01:00:00Z", "value": 2}, {"ts": "2020-01-01T00:00:00Z", "value": 1}]
>>> stats = replay(recs, sink, speed=60, sleep=lambda s: clock.__setitem__(0, clock[0] + s),
...                monotonic=lambda: clock[0], progress=False)
>>> seen, stats.accepted
([(0.0, [1]), (60.0, [2])], 2)
"""

from __future__ import annotations

import email.utils
import math
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from tqdm import tqdm

from fenghuo.core.models import parse_ts

Sink = Callable[[list[dict[str, Any]]], dict[str, Any]]
MAX_ERRORS_KEPT = 100


@dataclass
class ReplayStats:
    """Totals of a replay, summed from the sink's answers."""

    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0
    event_seconds: float = 0.0  # event time covered (last ts - first ts)
    wall_seconds: float = 0.0
    errors: list[dict[str, Any]] = field(default_factory=list)  # the first rejections, global index

    def summary(self) -> str:
        return (f"sent {self.sent}, accepted {self.accepted}, duplicates {self.duplicates}, "
                f"rejected {self.rejected} in {self.batches} batches "
                f"({self.event_seconds:.0f} s of event time in {self.wall_seconds:.1f} s)")


def _key(record: Any) -> float:
    """Event time for sorting; records without a readable ts go first (the service rejects them)."""
    try:
        return parse_ts(record.get("ts"))
    except (ValueError, TypeError, OverflowError, AttributeError):
        return -math.inf


def replay(records: Iterable[dict[str, Any]], sink: Sink, speed: float | None = None,
           batch_size: int = 1000, drill: str | None = None,
           sleep: Callable[[float], None] = time.sleep, monotonic: Callable[[], float] = time.monotonic,
           progress: bool = True) -> ReplayStats:
    """Send ``records`` to ``sink`` in event-time order; ``speed`` None sends as fast as possible."""
    if speed is not None and not speed > 0:
        raise ValueError("speed must be positive (or None for as fast as possible)")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    keyed = sorted(((_key(r), i, r) for i, r in enumerate(records)), key=lambda x: (x[0], x[1]))
    stats = ReplayStats()
    if not keyed:
        return stats
    times = [k for k, _, _ in keyed]
    finite = [t for t in times if math.isfinite(t)]
    t0 = finite[0] if finite else 0.0
    stats.event_seconds = (finite[-1] - t0) if finite else 0.0
    start = monotonic()
    bar = tqdm(total=len(keyed), unit="ev", file=sys.stderr, dynamic_ncols=True,
               disable=not progress or not sys.stderr.isatty())
    try:
        pos = 0
        while pos < len(keyed):
            end = min(pos + batch_size, len(keyed))
            if speed is not None:
                due = start + (max(times[pos], t0) - t0) / speed
                now = monotonic()
                if due > now:
                    sleep(due - now)
                    now = monotonic()
                horizon = t0 + (now - start) * speed  # event time reached on the wall clock
                cut = pos + 1
                while cut < end and times[cut] <= horizon:
                    cut += 1
                end = cut
            batch = [r for _, _, r in keyed[pos:end]]
            if drill is not None:
                batch = [{**r, "drill": drill} if isinstance(r, dict) else r for r in batch]
            _add(stats, sink(batch), pos, len(batch))
            bar.update(len(batch))
            pos = end
    finally:
        bar.close()
        stats.wall_seconds = monotonic() - start
    return stats


def _add(stats: ReplayStats, answer: dict[str, Any], offset: int, sent: int) -> None:
    """Sum one v1 answer ``{"accepted", "duplicates", "rejected": [{"index", "error"}]}``."""
    if not isinstance(answer, dict):
        raise SinkError(f"the sink answered {type(answer).__name__}, not the v1 ingest answer object")
    rejected = answer.get("rejected") or []
    stats.sent += sent
    stats.batches += 1
    stats.accepted += int(answer.get("accepted", 0))
    stats.duplicates += int(answer.get("duplicates", 0))
    stats.rejected += len(rejected)
    for item in rejected:
        if len(stats.errors) >= MAX_ERRORS_KEPT:
            break
        index = item.get("index") if isinstance(item, dict) else None
        stats.errors.append({"index": offset + index if isinstance(index, int) else None,
                             "error": item.get("error") if isinstance(item, dict) else str(item)})


class SinkError(RuntimeError):
    """A batch could not be delivered; the message says what was wrong and what to do."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


RETRYABLE = frozenset((429, 502, 503, 504))


class HttpSink:
    """POSTs batches as a JSON array to ``<url>/v1/events``; see :func:`http_sink`."""

    def __init__(self, url: str, api_key: str | None, timeout: float = 30.0, retries: int = 6,
                 sleep: Callable[[float], None] = time.sleep, backoff: float = 0.5, max_wait: float = 60.0,
                 client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self.endpoint = self.url + "/v1/events"
        self.retries, self.sleep, self.backoff, self.max_wait = retries, sleep, backoff, max_wait
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = client or httpx.Client(timeout=timeout, headers=headers)

    def __call__(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        problem = ""
        for attempt in range(self.retries + 1):
            wait = min(self.backoff * 2**attempt, self.max_wait)
            try:
                resp = self.client.post(self.endpoint, json=batch)
            except httpx.TransportError as exc:  # connection refused, reset, timeout: retry (ids dedup)
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if 200 <= resp.status_code < 300:
                    try:
                        return resp.json()
                    except ValueError:
                        raise SinkError(f"{self.endpoint} answered {resp.status_code} without JSON: "
                                        "is this a fenghuo server?", resp.status_code) from None
                if resp.status_code not in RETRYABLE:
                    raise SinkError(self._explain(resp), resp.status_code)
                problem = f"HTTP {resp.status_code} {_detail(resp)}".strip()
                wait = _retry_after(resp, wait, self.max_wait)
            if attempt < self.retries:
                self.sleep(wait)
        raise SinkError(f"could not deliver a batch to {self.endpoint} after {self.retries + 1} attempts "
                        f"(last: {problem}); check that the server is running (fenghuo run) and --url is right")

    def _explain(self, resp: httpx.Response) -> str:
        code, detail = resp.status_code, _detail(resp)
        if code == 401:
            return f"the API key was refused (401): pass --api-key or set FENGHUO_API_KEY. {detail}".strip()
        if code == 403:
            return ("the API key may not ingest events (403): use a key whose role allows it "
                    f"(see FENGHUO_API_KEYS). {detail}").strip()
        if code in (404, 405):
            return f"{self.endpoint} does not take events ({code}): check --url points at a fenghuo server"
        if code == 413:
            return "the batch was too large for the server (413): lower --batch-size"
        if code in (400, 422):
            return f"the server refused the batch as malformed ({code}): {detail}"
        return f"the server refused the batch ({code}): {detail or 'no detail'}; see the server log"

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> HttpSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()[:300]
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:300]
    return str(body)[:300]


def _retry_after(resp: httpx.Response, default: float, cap: float) -> float:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), else ``default``."""
    value = resp.headers.get("Retry-After")
    if not value:
        return default
    try:
        return min(max(float(value), 0.0), cap)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return min(max(when.timestamp() - time.time(), 0.0), cap)


def http_sink(url: str, api_key: str | None, timeout: float = 30.0, retries: int = 6,
              sleep: Callable[[float], None] = time.sleep) -> HttpSink:
    """A sink posting to a fenghuo server; retries 429/502/503/504 and connection errors with
    exponential backoff (honouring Retry-After), raises :class:`SinkError` on other errors."""
    return HttpSink(url, api_key, timeout=timeout, retries=retries, sleep=sleep)


__all__ = ["HttpSink", "ReplayStats", "SinkError", "http_sink", "replay"]
