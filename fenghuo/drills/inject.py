"""A drill's delivery plan: the scenario's records with its faults injected, re-keyed for one run.

:func:`plan` is pure: given the records of a scenario's sources (in any order), its injections, its
start (scenario time zero, epoch seconds) and the run id, it says which record is sent at which
scenario time. The runner only paces and sends the deliveries (and stamps ``drill``).

- Every record is re-keyed ``{run}~{original id}`` (the content id of its original values when it has
  none), so a scenario can be run any number of times while a duplicate within a run stays a duplicate.
- ``drop`` removes records; ``stuck`` and ``spike`` change values; ``delay``, ``reorder`` and
  ``duplicate`` change when (and how often) a record is sent, never its ``ts``; ``complaints``
  synthesises records. Injections apply in the order listed, each to the records still planned
  (a record dropped is not also delayed; complaints synthesised by an earlier injection take part).
- ``ts`` is sent as ISO 8601 text: as it came when it came as text, else in UTC.
- A record whose ``ts`` the service cannot take (unreadable, or outside 1970-9999) is sent unchanged at
  ``start``: the service rejects it and dead-letters it, and the drill shows that rather than hiding it.

``len(plan.deliveries) == planned + injected + duplicated - dropped`` (dropped counts the deliveries lost,
so a record duplicated and then dropped counts twice).

>>> p = plan([{"feed": "sensor", "source": "s", "ts": 60, "grid": "G", "metric": "m", "value": 1, "id": "a"},
...           {"feed": "sensor", "source": "s", "ts": 0, "grid": "G", "metric": "m", "value": 2, "id": "b"}],
...          [Delay(kind="delay", at="+30s", by="10m")], start=0.0, run="flood-r1")
>>> [(d.at, d.record["id"], d.record["ts"]) for d in p.deliveries]
[(0.0, 'flood-r1~b', '1970-01-01T00:00:00Z'), (660.0, 'flood-r1~a', '1970-01-01T00:01:00Z')]
>>> p.counts["planned"], p.counts["delayed"], p.first, p.last
(2, 1, 0.0, 660.0)
"""

from __future__ import annotations

import hashlib
import math
import random
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from fenghuo.core.models import parse_ts
from fenghuo.drills.scenario import (
    MAX_RECORDS,
    Complaints,
    Delay,
    Drop,
    Duplicate,
    Injection,
    Reorder,
    Spike,
    Stuck,
)
from fenghuo.ingest.events import DEFAULT_LIMITS, MAX_TS_CHARS, content_id

COUNT_KEYS = ("planned", "dropped", "stuck", "spiked", "delayed", "reordered", "duplicated", "injected", "unreadable")
LAST_TS = 253_402_300_800.0  # 10000-01-01: ISO 8601 text ends before it (the service's bound too)
HASH_CHARS = 24  # a hashed original id: blake2b of 12 bytes, as hex (the length of a content id)
DUPLICATE_GAP = 1.0  # scenario seconds between the copies of a duplicated record


@dataclass(slots=True)
class Delivery:
    """One record as the drill delivers it."""

    at: float  # scenario time (epoch s) at which it is sent: its ts, or later when delayed or reordered
    record: dict[str, Any]  # the record to POST: ts as ISO text, "id" re-keyed, no "drill" key (the runner stamps it)


@dataclass(slots=True)
class Plan:
    """What a run sends: ``deliveries`` sorted by ``at`` (stable), the ``counts`` of every kind of change
    (every key of :data:`COUNT_KEYS` present), and the first and last delivery time of the records whose
    ts could be read (None when there are none)."""

    deliveries: list[Delivery]
    counts: dict[str, int]
    first: float | None
    last: float | None


class _Entry:
    """One planned record while injections apply to it."""

    __slots__ = ("ts", "at", "record", "alive", "born", "copies")

    def __init__(self, ts: float, record: dict[str, Any], born: int) -> None:
        self.ts = ts
        self.at = ts
        self.record = record
        self.alive = True
        self.born = born  # the index of the injection that synthesised it; -1 for a source's record
        self.copies = 1


def _readable_ts(raw: Any) -> float | None:
    """The record's time as the service reads it, or None when the service would refuse it (unreadable,
    not finite, before 1970 or beyond year 9999)."""
    if type(raw) is str and len(raw) > MAX_TS_CHARS:
        return None
    try:
        ts = parse_ts(raw)
    except (ValueError, TypeError, OverflowError):
        return None
    return ts if 0.0 <= ts < LAST_TS else None  # NaN fails too


def iso(ts: float) -> str:
    """Epoch seconds as ISO 8601 UTC text.

    >>> iso(1579687200.0), iso(0.5)
    ('2020-01-22T10:00:00Z', '1970-01-01T00:00:00.500000Z')
    """
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _text(value: Any) -> Any:
    return None if value is None or value == "" else value


def original_id(record: dict[str, Any], ts: float) -> str | None:
    """The record's own id, or the content id the service gives a record without one (of its original
    values); None when its id is not a string (the service rejects the record for that).

    >>> original_id({"id": "x1"}, 0.0)
    'x1'
    >>> same = content_id("sensor", "s", 0.0, "m", 2.0, None, None)
    >>> original_id({"feed": "sensor", "source": "s", "metric": "m", "value": 2, "text": ""}, 0.0) == same
    True
    """
    eid = record.get("id")
    if type(eid) is str and eid:
        return eid
    if eid is not None and eid != "":
        return None
    value = record.get("value")
    if type(value) is int:
        try:
            value = float(value)
        except OverflowError:
            pass
    return content_id(record.get("feed"), record.get("source"), ts, _text(record.get("metric")), value,  # type: ignore[arg-type]
                      _text(record.get("category")), _text(record.get("text")))


def rekey(run: str, original: str, max_id_chars: int = DEFAULT_LIMITS.max_id_chars) -> str:
    """``{run}~{original}``, or ``{run}~{hash of original}`` when that would be longer than ids may be.

    >>> rekey("flood-r2", "Y0474010:2020-01-22T10:00:00Z")
    'flood-r2~Y0474010:2020-01-22T10:00:00Z'
    >>> len(rekey("flood-r2", "x" * 200))
    33
    """
    out = f"{run}~{original}"
    if len(out) <= max_id_chars:
        return out
    digest = hashlib.blake2b(original.encode("utf-8", "surrogatepass"), digest_size=HASH_CHARS // 2).hexdigest()
    return f"{run}~{digest}"


def _is_reading(value: Any) -> bool:
    return (type(value) is float or type(value) is int) and math.isfinite(value)


class _Planned:
    """The planned records in ts order, indexed by source, for windows found by bisection."""

    def __init__(self, entries: list[_Entry]) -> None:
        entries.sort(key=attrgetter("ts"))  # stable: ties keep the sources' order
        self.all = entries
        self.all_ts = [e.ts for e in entries]
        self.by_source: dict[str, list[_Entry]] = {}
        for e in entries:
            src = e.record.get("source")
            if type(src) is str:
                self.by_source.setdefault(src, []).append(e)
        self.by_source_ts = {src: [e.ts for e in es] for src, es in self.by_source.items()}

    def window(self, j: int, lo: float, hi: float, source: str | None) -> Iterator[_Entry]:
        """The records still planned for injection ``j`` with ts in [lo, hi), of ``source`` when given."""
        if source is None:
            entries, times = self.all, self.all_ts
        else:
            entries, times = self.by_source.get(source, []), self.by_source_ts.get(source, [])
        for i in range(bisect_left(times, lo), len(times)):
            e = entries[i]
            if e.ts >= hi:
                return
            if e.alive and e.born < j:
                yield e

    def before(self, j: int, lo: float, source: str) -> Iterator[_Entry]:
        """The source's records still planned for injection ``j`` with ts before ``lo``, latest first."""
        entries = self.by_source.get(source, [])
        for i in range(bisect_left(self.by_source_ts.get(source, []), lo) - 1, -1, -1):
            e = entries[i]
            if e.alive and e.born < j:
                yield e


def plan(records: Iterable[dict[str, Any]], injections: Sequence[Injection], *, start: float, run: str,
         max_records: int = MAX_RECORDS, max_id_chars: int = DEFAULT_LIMITS.max_id_chars) -> Plan:
    """The deliveries of one run of a scenario: its source ``records`` with ``injections`` applied.

    ``start`` resolves the injections' times; ``run`` re-keys every id; more than ``max_records``
    deliveries in all is a ValueError (raised before the lists grow beyond it).
    """
    if len(run) + 1 + HASH_CHARS > max_id_chars:
        raise ValueError(f"the run id {run[:60]!r} is too long: re-keyed ids must fit in {max_id_chars} characters")
    counts = dict.fromkeys(COUNT_KEYS, 0)
    unreadable: list[Delivery] = []
    entries: list[_Entry] = []
    for rec in records:
        counts["planned"] += 1
        if counts["planned"] > max_records:
            raise ValueError(f"the scenario's sources hold more than {max_records:,} records (the most one run "
                             "may plan): narrow them with from/to, feed, grids or sources")
        ts = _readable_ts(rec.get("ts")) if isinstance(rec, dict) else None
        if ts is None:
            counts["unreadable"] += 1
            kept = {k: v for k, v in rec.items() if k != "drill"} if isinstance(rec, dict) else rec
            unreadable.append(Delivery(start, kept))
            continue
        out = {k: v for k, v in rec.items() if k != "drill"}
        if type(out["ts"]) is not str:  # ISO text is sent as it came (the same time, and cheaper)
            out["ts"] = iso(ts)
        original = original_id(rec, ts)
        if original is not None and len(original) <= max_id_chars:  # else the service refuses it, as it would
            out["id"] = rekey(run, original, max_id_chars)
        entries.append(_Entry(ts, out, -1))
    total = counts["planned"]
    for i, inj in enumerate(injections):
        if isinstance(inj, Complaints):
            total += inj.count
            if total > max_records:
                raise ValueError(f"injections[{i}] (complaints) takes the plan beyond {max_records:,} records")
            entries.extend(_complaints(i, inj, start, run))
            counts["injected"] += inj.count
    planned = _Planned(entries)
    for j, inj in enumerate(injections):
        if isinstance(inj, Drop):
            _drop(planned, j, inj, start, counts)
        elif isinstance(inj, Stuck):
            _stuck(planned, j, inj, start, counts)
        elif isinstance(inj, Spike):
            _spike(planned, j, inj, start, counts)
        elif isinstance(inj, Delay):
            lo, hi = inj.bounds(start)
            for e in planned.window(j, lo, hi, inj.source):
                e.at += inj.by
                counts["delayed"] += 1
        elif isinstance(inj, Reorder):
            _reorder(planned, j, inj, start, counts)
        elif isinstance(inj, Duplicate):
            lo, hi = inj.bounds(start)
            window = list(planned.window(j, lo, hi, inj.source))
            extra = sum(e.copies for e in window)
            if total - counts["dropped"] + extra > max_records:
                raise ValueError(f"injections[{j}] (duplicate) takes the plan beyond {max_records:,} deliveries")
            total += extra
            counts["duplicated"] += extra
            for e in window:
                e.copies *= 2
    deliveries = list(unreadable)
    times: list[float] = []
    for e in planned.all:
        if not e.alive:
            continue
        deliveries.append(Delivery(e.at, e.record))
        times.append(e.at)
        for k in range(1, e.copies):
            deliveries.append(Delivery(e.at + k * DUPLICATE_GAP, dict(e.record)))
            times.append(e.at + k * DUPLICATE_GAP)
    deliveries.sort(key=attrgetter("at"))
    return Plan(deliveries, counts, min(times) if times else None, max(times) if times else None)


def _complaints(i: int, inj: Complaints, start: float, run: str) -> Iterator[_Entry]:
    lo = inj.at.resolve(start)
    for n in range(inj.count):
        ts = lo + inj.over * n / inj.count
        yield _Entry(ts, {"feed": "complaint", "source": inj.source, "grid": inj.grid, "category": inj.category,
                          "text": inj.text, "ts": iso(ts), "id": f"{run}~inj{i}-{n}"}, i)


def _drop(planned: _Planned, j: int, inj: Drop, start: float, counts: dict[str, int]) -> None:
    lo, hi = inj.bounds(start)
    for e in planned.window(j, lo, hi, inj.source):
        r = e.record
        if (inj.grid is None or r.get("grid") == inj.grid) and (inj.metric is None or r.get("metric") == inj.metric):
            e.alive = False
            counts["dropped"] += e.copies


def _stuck(planned: _Planned, j: int, inj: Stuck, start: float, counts: dict[str, int]) -> None:
    lo, hi = inj.bounds(start)
    held: dict[Any, list[_Entry]] = {}  # metric -> its readings in the window
    for e in planned.window(j, lo, hi, inj.source):
        metric = e.record.get("metric")
        if _is_reading(e.record.get("value")) and (inj.metric is None or metric == inj.metric) \
                and type(metric) is str:
            held.setdefault(metric, []).append(e)
    if not held:
        return
    last: dict[Any, Any] = {}
    for e in planned.before(j, lo, inj.source):
        metric = e.record.get("metric")
        if metric in held and metric not in last and _is_reading(e.record.get("value")):
            last[metric] = e.record["value"]
            if len(last) == len(held):
                break
    for metric, window in held.items():
        value = last.get(metric, window[0].record["value"])
        for e in window:
            e.record["value"] = value
            counts["stuck"] += 1


def _spike(planned: _Planned, j: int, inj: Spike, start: float, counts: dict[str, int]) -> None:
    lo, hi = inj.bounds(start)
    for e in planned.window(j, lo, hi, inj.source):
        value = e.record.get("value")
        if not _is_reading(value) or (inj.metric is not None and e.record.get("metric") != inj.metric):
            continue
        e.record["value"] = inj.value if inj.value is not None else value * inj.factor  # type: ignore[operator]
        counts["spiked"] += 1
        if inj.for_ is None:  # one reading: the first at or after `at`
            return


def _reorder(planned: _Planned, j: int, inj: Reorder, start: float, counts: dict[str, int]) -> None:
    """Permute the delivery times of the records within each ``window``-long bucket of the span (seeded)."""
    if inj.window <= 0:
        return
    lo, hi = inj.bounds(start)
    rng = random.Random(inj.seed)
    bucket: list[_Entry] = []
    index = None
    for e in [*planned.window(j, lo, hi, inj.source), None]:
        k = math.floor((e.ts - lo) / inj.window) if e is not None else None
        if k != index and bucket:
            times = [b.at for b in bucket]
            rng.shuffle(times)
            for b, at in zip(bucket, times, strict=True):
                counts["reordered"] += at != b.at
                b.at = at
            bucket = []
        index = k
        if e is not None:
            bucket.append(e)
