"""Events on PostgreSQL: COPY serialisation, monthly partitions on demand, idempotent bulk ingest.

``add_events`` in one transaction, under an advisory lock (so ``seq`` commits in order):

1. claim the batch's distinct (source, id) keys in ``event_ids`` (ids are unique per source, so
   another source cannot squat a gauge's ids). Optimistically by a plain COPY into
   ``event_ids`` (under a savepoint): when every id is new, as in a normal stream, that is all.
   When one id is already there the COPY fails as a whole; after rolling back to the savepoint the
   keys are COPYed into a temp staging table and ``INSERT INTO event_ids SELECT ... FROM staging
   ON CONFLICT DO NOTHING RETURNING source, id`` says which were new (concurrent writers wait on the
   advisory lock, so no id is claimed twice);
2. COPY only the claimed rows, in input order, into ``events`` (the same COPY a raw loader would
   do); ``seq`` is left to its default, ``nextval('event_seq')``.

Step 2 sends rows the server has not parsed yet, so the bulk of the data crosses the wire and the
parser once, and ``events`` gets COPY's multi-row insert path rather than INSERT ... SELECT's.
"""

from __future__ import annotations

import io
import json
import math
import re
from datetime import UTC, datetime
from typing import Any

import psycopg2.errors
from psycopg2.extensions import cursor as Cursor

from fenghuo.core.models import Event
from fenghuo.core.store.pg_migrations import LOCK_EVENTS, LOCK_NS

EVENT_COLS = "id, feed, source, ts, grid, lat, lon, metric, value, category, text, attrs, drill"
_ESC = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_SPECIAL = re.compile(r"[\\\t\n\r]")
# monthly partitions for times in [1970, 2200); anything else goes to the DEFAULT partition
_PARTITIONED = (0.0, datetime(2200, 1, 1, tzinfo=UTC).timestamp())


def _t(s: str | None) -> str:
    return "\\N" if s is None else s.translate(_ESC)


def _f(x: float | None) -> str:
    return "\\N" if x is None else repr(x if type(x) is float else float(x))


def copy_line(e: Event, received: str, timescale: bool = False) -> str:
    r"""One event in COPY text format, columns ``EVENT_COLS, received_at`` (``, at`` on TimescaleDB),
    without the trailing newline.

    >>> copy_line(Event(feed="sensor", source="s", ts=1.5, grid="G", id="k", metric="m", value=2), "9.0").split("\t")
    ['k', 'sensor', 's', '1.5', 'G', '\\N', '\\N', 'm', '2.0', '\\N', '\\N', '\\N', '\\N', '9.0']
    >>> copy_line(Event(feed="complaint", source="s", ts=1, grid="G", id="k", text="a\tb\\"), "9.0").split("\t")[10]
    'a\\tb\\\\'
    """
    attrs = json.dumps(e.attrs, ensure_ascii=False) if e.attrs else None
    strs = (e.id, e.feed, e.source, e.grid, e.metric, e.category, e.text, attrs, e.drill)
    if _SPECIAL.search("".join(filter(None, strs))):  # rare: escape field by field
        i, f, s, g, m, c, t, a, d = map(_t, strs)
    else:
        i, f, s, g, m, c, t, a, d = (x if x is not None else "\\N" for x in strs)
    line = "\t".join((i, f, s, _f(e.ts), g, _f(e.lat), _f(e.lon), m, _f(e.value), c, t, a, d, received))
    if timescale:
        line += "\t" + at_text(e.ts)
    return line


_CYCLE = 146097 * 86400.0  # seconds in 400 Gregorian years, after which the calendar repeats itself


def at_text(ts: float) -> str:
    """Epoch seconds as a timestamptz in COPY text, for every year PostgreSQL stores (4713 BC to 294276 AD),
    not only Python's 1 to 9999: a reading stamped 1e12 (year 33658) must not fail the batch. Outside Python's
    years the time is shifted by whole 400-year cycles into them and the year shifted back.

    >>> at_text(1579687200.5)
    '2020-01-22T10:00:00.500000+00:00'
    >>> at_text(1e12), at_text(-62135596800.0 - 86400)  # one day before 0001-01-01
    ('33658-09-27T01:46:40+00:00', '0001-12-31T00:00:00+00:00 BC')
    """
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat()
    except (ValueError, OverflowError, OSError):
        pass
    cycles = math.floor(ts / _CYCLE)
    shifted = datetime.fromtimestamp(ts - cycles * _CYCLE, UTC).isoformat()  # a time in 1970-2369
    year = int(shifted[:4]) + 400 * cycles
    if year >= 1:
        return f"{year:04d}{shifted[4:]}"
    return f"{1 - year:04d}{shifted[4:]} BC"  # astronomical year 0 is 1 BC


def copy_columns(timescale: bool) -> str:
    return f"{EVENT_COLS}, received_at" + (", at" if timescale else "")


def row_event(r: tuple[Any, ...]) -> Event:
    return Event(id=r[0], feed=r[1], source=r[2], ts=r[3], grid=r[4], lat=r[5], lon=r[6], metric=r[7], value=r[8],
                 category=r[9], text=r[10], attrs=json.loads(r[11]) if r[11] else {}, drill=r[12])


# -- partitions ------------------------------------------------------------------------------------
def _month_bounds(key: int) -> tuple[float, float]:
    y, m = divmod(key, 12)
    lo = datetime(y, m + 1, 1, tzinfo=UTC)
    hi = datetime(y + (m + 1) // 12, (m + 1) % 12 + 1, 1, tzinfo=UTC)
    return lo.timestamp(), hi.timestamp()


def months_of(events: list[Event]) -> set[int]:
    """Month keys (year * 12 + month - 1) of the events' times inside the partitioned years."""
    lo, hi = _PARTITIONED
    first, last = min(e.ts for e in events), max(e.ts for e in events)
    if int(first // 86400) == int(last // 86400):  # the usual batch: one day
        events = events[:1]
    days = {int(e.ts // 86400) for e in events if lo <= e.ts < hi}
    months = {datetime.fromtimestamp(d * 86400, UTC) for d in days}
    return {dt.year * 12 + dt.month - 1 for dt in months}


def existing_months(cur: Cursor) -> set[int]:
    cur.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'events'::regclass")
    out = set()
    for (name,) in cur.fetchall():
        if name.startswith("events_p") and name[8:].isdigit():
            out.add(int(name[8:12]) * 12 + int(name[12:14]) - 1)
    return out


def ensure_partitions(cur: Cursor, months: set[int], known: set[int]) -> None:
    """Create the missing monthly partitions. A month whose rows already sit in the DEFAULT partition
    (written around the store) cannot get its own partition; it stays in DEFAULT and is remembered."""
    for key in sorted(months - known):
        lo, hi = _month_bounds(key)
        name = f"events_p{key // 12:04d}{key % 12 + 1:02d}"
        cur.execute("SAVEPOINT fh_partition")
        try:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF events FOR VALUES FROM ({lo!r}) TO ({hi!r})")
        except Exception as exc:  # psycopg2.errors.CheckViolation: DEFAULT holds rows of that month
            if getattr(exc, "pgcode", None) != "23514":
                raise
            cur.execute("ROLLBACK TO SAVEPOINT fh_partition")
        else:
            cur.execute("RELEASE SAVEPOINT fh_partition")
        known.add(key)


# -- ingest ----------------------------------------------------------------------------------------
def add_events(cur: Cursor, events: list[Event], received_at: float, *, timescale: bool,
               known_months: set[int]) -> list[Event]:
    """Store the events never seen before (by source and id: ids are unique per source; the first of
    repeats within the batch wins) and return them in input order. Runs inside the caller's transaction."""
    first: dict[tuple[str, str], int] = {}
    for i, e in enumerate(events):
        first.setdefault((e.source, e.id), i)
    cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_NS, LOCK_EVENTS))
    if not timescale:
        ensure_partitions(cur, months_of(events), known_months)
    if _SPECIAL.search("".join([source + eid for source, eid in first])):  # rare: escape field by field
        lines = [f"{_t(source)}\t{_t(eid)}" for source, eid in first]
    else:
        lines = [f"{source}\t{eid}" for source, eid in first]
    new = _claim(cur, "\n".join(lines) + "\n")
    if new is None:
        out = [events[i] for i in first.values()]
    elif not new:
        return []
    else:
        out = [e for i, e in enumerate(events) if (key := (e.source, e.id)) in new and first[key] == i]
    received = repr(float(received_at))
    # no seq column: its default (nextval) numbers the rows in the order COPY reads them, i.e. input order
    buf = io.StringIO("".join([copy_line(e, received, timescale) + "\n" for e in out]))
    cur.copy_expert(f"COPY events ({copy_columns(timescale)}) FROM STDIN", buf)
    return events if len(out) == len(events) else out


def _claim(cur: Cursor, keys: str) -> set[tuple[str, str]] | None:
    """Claim the keys (COPY text, ``source<TAB>id`` a line, distinct) in ``event_ids``; return those that
    were new, or None when all were. Optimistic first: a plain COPY into ``event_ids``, which fails as a
    whole on the first key already there; then (after rolling that back) COPY into a staging table and
    ``INSERT ... ON CONFLICT DO NOTHING RETURNING``."""
    cur.execute("SAVEPOINT fh_claim")
    try:
        cur.copy_expert("COPY event_ids (source, id) FROM STDIN", io.StringIO(keys))
    except psycopg2.errors.UniqueViolation:
        cur.execute("ROLLBACK TO SAVEPOINT fh_claim")
    else:
        cur.execute("RELEASE SAVEPOINT fh_claim")
        return None
    cur.execute('CREATE TEMP TABLE IF NOT EXISTS fh_stage_keys (source text COLLATE "C" NOT NULL, '
                'id text COLLATE "C" NOT NULL) ON COMMIT DELETE ROWS')
    cur.copy_expert("COPY fh_stage_keys (source, id) FROM STDIN", io.StringIO(keys))
    cur.execute("INSERT INTO event_ids (source, id) SELECT source, id FROM fh_stage_keys "
                "ON CONFLICT (source, id) DO NOTHING RETURNING source, id")
    return {(r[0], r[1]) for r in cur.fetchall()}
