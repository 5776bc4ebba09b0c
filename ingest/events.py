"""The v1 event schema: validation of one JSON object into an :class:`Event`.

A record that fails is rejected with a clear reason (and kept in the dead-letter store by the
caller). Missing ids are derived from the content, so the same reading sent twice is stored once.
Every field is bounded (``limits:`` in the config, docs/limits.md): string lengths, valid Unicode,
the size and depth of ``attrs``, a time window around ``now`` and a plausible range per metric.
A reason never quotes more than about 60 characters of the record.

>>> NOW = 1_600_000_000.0  # 2020-09-13
>>> e = parse_event({"feed": "sensor", "source": "s1", "ts": "2020-01-22T10:00:00Z",
...                  "grid": "G1", "metric": "water_level_m", "value": 5.2}, now=NOW)
>>> e.value, e.grid
(5.2, 'G1')
>>> parse_event({"feed": "sensor", "source": "s1", "ts": "2020-01-22T10:00:00Z", "grid": "G1"}, now=NOW)
Traceback (most recent call last):
...
fenghuo.ingest.events.EventError: a sensor event needs metric and value
>>> parse_event({"feed": "sensor", "source": "s1", "ts": 1e18, "grid": "G1", "metric": "m", "value": 1}, now=NOW)
Traceback (most recent call last):
...
fenghuo.ingest.events.EventError: ts 1e+18 is more than 86400 s after now (limits.max_future_seconds)
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from fenghuo.core.config import Limits
from fenghuo.core.models import FEEDS, Event, parse_ts

_FIELDS = frozenset(
    ("feed", "source", "ts", "grid", "lat", "lon", "metric", "value", "category", "text", "id", "attrs", "drill")
)
MAX_TEXT = 20_000
DEFAULT_LIMITS = Limits()
MAX_TS_CHARS = 64  # an ISO 8601 time is at most about 35 characters
SHOWN_CHARS = 60  # of the offending input, in a reason
DRILL_NEEDS_PERMISSION = "marking events as a drill needs a key allowed to run drills"
_INVALID = re.compile("[\x00\ud800-\udfff]")  # NUL or a lone UTF-16 surrogate (never valid in UTF-8)
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # integers JSON encoders and databases take


class EventError(ValueError):
    """Why a record was rejected."""


GridResolver = Callable[[str | None, float | None, float | None], str]


class Bounds:
    """The limits of one parse call, with the time window worked out from ``now``.

    >>> b = Bounds(Limits(max_future_seconds=60, max_age_days=1), now=86_400.0 * 2)
    >>> (b.ts_lo, b.ts_lo_drill, b.ts_hi)
    (86400.0, 0.0, 172860.0)
    """

    __slots__ = ("limits", "now", "id", "name", "text", "keys", "depth", "bytes", "ts_lo", "ts_lo_drill", "ts_hi",
                 "value", "metrics", "may_drill")

    def __init__(self, limits: Limits | None = None, now: float | None = None, may_drill: bool = True) -> None:
        lim = limits or DEFAULT_LIMITS
        self.limits = lim
        self.now = time.time() if now is None else float(now)
        self.id, self.name, self.text = lim.max_id_chars, lim.max_name_chars, lim.max_text_chars
        self.keys, self.depth, self.bytes = lim.max_attrs_keys, lim.max_attrs_depth, lim.max_attrs_bytes
        self.ts_hi = self.now + lim.max_future_seconds
        self.ts_lo = max(0.0, self.now - lim.max_age_days * 86_400.0)
        self.ts_lo_drill = 0.0  # a drill replays its own past, from 1970 on
        self.value = lim.max_abs_value
        self.metrics = lim.metrics
        self.may_drill = may_drill


def show(value: Any) -> str:
    """A value as a reason quotes it: never more than about 60 characters of it.

    >>> show("x" * 1000)[-4:], show(10**5000), show([1, 2])
    ("xx'…", 'an integer of about 5001 digits', 'a list')
    """
    t = type(value)
    if t is str:
        return repr(value[:SHOWN_CHARS]) + ("…" if len(value) > SHOWN_CHARS else "")
    if t is int and value.bit_length() > 180:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"  # str() of it may raise
    if value is None or t in (int, float, bool):
        return repr(value)[:SHOWN_CHARS]
    return f"a {t.__name__}"


def _num(obj: dict[str, Any], key: str) -> float | None:
    v = obj.get(key)
    if v is None:
        return None
    t = type(v)
    if t is not float and t is not int:
        if t is bool or not isinstance(v, int | float):
            raise EventError(f"{key} must be a number, got {type(v).__name__}")
    try:
        f = float(v)
    except OverflowError:  # an int beyond any float
        raise EventError(f"{key} must be finite") from None
    if f - f != 0.0:  # inf or nan
        raise EventError(f"{key} must be finite")
    return f


def _str(obj: dict[str, Any], key: str, limit: int, required: bool = False) -> str | None:
    v = obj.get(key)
    if type(v) is str and v:
        if len(v) > limit:
            raise EventError(f"{key} longer than {limit} characters")
        if _INVALID.search(v):
            raise EventError(f"{key} is not valid Unicode (a NUL character or a lone surrogate)")
        return v
    if v is None or v == "":
        if required:
            raise EventError(f"{key} is required")
        return None
    raise EventError(f"{key} must be a string, got {type(v).__name__}")


def attrs_problem(attrs: dict[str, Any], b: Bounds) -> str | None:
    """Why ``attrs`` is refused (too many keys, too deep, too large, not JSON, not valid Unicode), or None.

    Iterative and bounded: it stops at the first level beyond the depth limit, so an ``attrs`` nested
    thousands deep costs no more than one within the limit.

    >>> b = Bounds()
    >>> attrs_problem({"river": "Aude", "n": [1, 2.5, None]}, b) is None
    True
    >>> deep: dict = {}
    >>> node = deep
    >>> for _ in range(300):
    ...     node["a"] = node = {}
    >>> attrs_problem(deep, b)
    'attrs nested deeper than 8 levels'
    """
    budget = b.bytes  # every key or item takes at least 2 bytes encoded ("0," or "{}")
    stack: list[tuple[Any, int]] = [(attrs, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > b.depth:
            return f"attrs nested deeper than {b.depth} levels"
        budget -= 2 * len(node) + 2
        if budget < 0:
            return f"attrs larger than {b.bytes} bytes encoded as JSON"
        if type(node) is dict:
            if len(node) > b.keys:
                return f"attrs has an object with more than {b.keys} keys"
            for k in node:
                if type(k) is not str:
                    return f"attrs keys must be strings, got {type(k).__name__}"
                if not k.isprintable() and _INVALID.search(k):
                    return "attrs holds a key that is not valid Unicode (a NUL character or a lone surrogate)"
            values: Any = node.values()
        else:
            values = node
        for v in values:
            t = type(v)
            if t is str:
                if not v.isprintable() and _INVALID.search(v):
                    return "attrs holds a string that is not valid Unicode (a NUL character or a lone surrogate)"
            elif t is dict or t is list or t is tuple:
                stack.append((v, depth + 1))
            elif t is float:
                if v - v != 0.0:
                    return "attrs numbers must be finite"
            elif t is int:
                if not _INT_MIN <= v <= _INT_MAX:
                    return "attrs holds an integer beyond 64 bits"
            elif v is not None and t is not bool:
                return f"attrs values must be JSON (object, array, string, number, true, false, null), got {t.__name__}"
    size = len(orjson.dumps(attrs))
    if size > b.bytes:
        return f"attrs larger than {b.bytes} bytes encoded as JSON ({size})"
    return None


# The fast path's quick yes for the usual flat attrs (strings, integers, booleans, nulls): orjson refuses lone
# surrogates, integers beyond 64 bits and keys that are not strings, and writes a NUL as \u0000; when it
# encodes them within the size, attrs_problem would find nothing. Anything else asks attrs_problem.
_FLAT = frozenset((str, int, bool, type(None)))
_dumps, JSONEncodeError = orjson.dumps, orjson.JSONEncodeError
_BACKSLASH = ord("\\")  # a byte value: `in` finds it with memchr, far faster than a bytes needle


def _ts_problem(ts: float, drill: str | None, b: Bounds) -> str:
    when = datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z") if 0 <= ts < 253402300800 else None
    shown = f"{ts:g}" if when is None else when
    if ts > b.ts_hi:
        return f"ts {shown} is more than {b.limits.max_future_seconds:g} s after now (limits.max_future_seconds)"
    if drill:
        return f"ts {shown} is before 1970"
    return (f"ts {shown} is older than {b.limits.max_age_days:g} days (limits.max_age_days; a drill may replay "
            "any time since 1970)")


def value_problem(value: float, metric: str | None, b: Bounds) -> str | None:
    """Why a value is implausible for its metric (a sensor fault, never an alert), or None.

    >>> value_problem(1e308, "water_level_m", Bounds())
    "implausible value 1e+308 for metric 'water_level_m' (sensor fault?): outside [-20, 60]"
    """
    rng = b.metrics.get(metric) if metric is not None else None
    lo, hi = rng if rng is not None else (-b.value, b.value)
    if lo <= value <= hi:
        return None
    return f"implausible value {value:g} for metric {show(metric)} (sensor fault?): outside [{lo:g}, {hi:g}]"


CLOSURE_KEYS = ("closed", "target", "on_time", "outcome", "satisfaction", "responder")
SATISFACTION_WORDS = ("satisfied", "unsatisfied")
LATEST_TARGET = 4_102_444_800.0  # 2100-01-01: a due date may lie ahead, not beyond this


def _attr_time(v: Any) -> float | None:
    if type(v) is str and len(v) <= MAX_TS_CHARS:
        try:
            t = parse_ts(v)
        except (ValueError, TypeError, OverflowError):
            return None
    elif type(v) is int or type(v) is float:
        try:
            t = float(v)
        except OverflowError:
            return None
    else:
        return None
    return t if t - t == 0.0 else None


def closure_problem(attrs: dict[str, Any], b: Bounds) -> str | None:
    """Why a complaint's closure or satisfaction attrs are refused (alerts/closure.py reads them), or None.

    ``closed`` (not after now's bound) and ``target`` (up to 2100): ISO 8601 or epoch seconds from 1970;
    ``on_time``: true or false; ``outcome``: text of at most ``limits.max_text_chars``; ``responder``: a
    name of at most ``limits.max_name_chars``; ``satisfaction``: an integer 1-5, "satisfied" or
    "unsatisfied". Each may be null (not known).

    >>> b = Bounds(now=1_600_000_000.0)
    >>> closure_problem({"closed": "2020-01-02T10:00:00Z", "target": None, "on_time": True, "satisfaction": 4}, b)
    >>> closure_problem({"satisfaction": 6}, b)
    "attrs.satisfaction must be an integer 1-5, 'satisfied' or 'unsatisfied', got 6"
    >>> closure_problem({"closed": "yesterday"}, b)
    "attrs.closed must be an ISO 8601 time or epoch seconds, got 'yesterday'"
    """
    for key in CLOSURE_KEYS:  # in this order: the first problem is the one told
        v = attrs.get(key)
        if v is not None:
            problem = _CLOSURE_CHECKS[key](v, b)
            if problem is not None:
                return problem
    return None


def _closure_time_problem(key: str, v: Any, hi: float) -> str | None:
    t = _attr_time(v)
    if t is None:
        return f"attrs.{key} must be an ISO 8601 time or epoch seconds, got {show(v)}"
    if not 0.0 <= t <= hi:
        return f"attrs.{key} {show(v)} is before 1970 or " + \
            ("after now (limits.max_future_seconds)" if key == "closed" else "after 2100")
    return None


def _closure_text_problem(key: str, v: Any, limit: int) -> str | None:
    if type(v) is not str:
        return f"attrs.{key} must be a string, got {type(v).__name__}"
    if len(v) > limit:
        return f"attrs.{key} longer than {limit} characters"
    return None


def _on_time_problem(v: Any, _b: Bounds) -> str | None:
    return None if type(v) is bool else f"attrs.on_time must be true or false, got {show(v)}"


def _satisfaction_problem(v: Any, _b: Bounds) -> str | None:
    if (type(v) is int and 1 <= v <= 5) or v in SATISFACTION_WORDS:
        return None
    return f"attrs.satisfaction must be an integer 1-5, 'satisfied' or 'unsatisfied', got {show(v)}"


_CLOSURE_CHECKS: dict[str, Callable[[Any, Bounds], str | None]] = {
    "closed": lambda v, b: _closure_time_problem("closed", v, b.ts_hi),
    "target": lambda v, b: _closure_time_problem("target", v, LATEST_TARGET),
    "on_time": _on_time_problem,
    "outcome": lambda v, b: _closure_text_problem("outcome", v, b.text),
    "satisfaction": _satisfaction_problem,
    "responder": lambda v, b: _closure_text_problem("responder", v, b.name),
}


def content_id(feed: str, source: str, ts: float, metric: str | None, value: float | None,
               category: str | None, text: str | None) -> str:
    h = hashlib.blake2b(digest_size=12)
    h.update(f"{feed}\x1f{source}\x1f{ts!r}\x1f{metric}\x1f{value!r}\x1f{category}\x1f{text}".encode())
    return h.hexdigest()


def parse_event(obj: Any, resolve: GridResolver | None = None, drill: str | None = None, *,
                now: float | None = None, limits: Limits | None = None, may_drill: bool = True) -> Event:
    """Validate one record. ``resolve(grid, lat, lon)`` maps it to a known grid or raises EventError.

    ``now`` (epoch seconds; the wall clock when None) places the window of accepted times;
    ``limits`` are the config's (its defaults when None); without ``may_drill`` a drill is refused.
    """
    return _parse(obj, resolve, drill, Bounds(limits, now, may_drill))


def _parse(obj: Any, resolve: GridResolver | None, drill: str | None, b: Bounds) -> Event:
    if not isinstance(obj, dict):
        raise EventError(f"an event must be a JSON object, got {type(obj).__name__}")
    unknown = obj.keys() - _FIELDS
    if unknown:
        names = sorted(k if type(k) is str and len(k) <= 30 and k.isprintable() else show(k) for k in unknown)
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        raise EventError(f"unknown field(s): {', '.join(names[:5])}{more}")
    feed = obj.get("feed")
    if feed not in FEEDS:
        raise EventError(f"feed must be one of {', '.join(FEEDS)}, got {show(feed)}")
    source = _str(obj, "source", b.name, required=True)
    assert source is not None
    event_drill = _str(obj, "drill", b.name) or drill
    if event_drill and not b.may_drill:
        raise EventError(DRILL_NEEDS_PERMISSION)
    raw_ts = obj.get("ts")
    if raw_ts is None:
        raise EventError("ts is required")
    if type(raw_ts) is str and len(raw_ts) > MAX_TS_CHARS:
        raise EventError(f"ts is not an ISO 8601 time: {show(raw_ts)}")
    try:
        ts = parse_ts(raw_ts)
    except (ValueError, TypeError, OverflowError):
        raise EventError(f"ts is not an ISO 8601 time: {show(raw_ts)}") from None
    if not (b.ts_lo_drill if event_drill else b.ts_lo) <= ts <= b.ts_hi:
        if ts - ts != 0.0:
            raise EventError("ts must be finite")
        raise EventError(_ts_problem(ts, event_drill, b))
    lat, lon = _num(obj, "lat"), _num(obj, "lon")
    if (lat is None) != (lon is None):
        raise EventError("lat and lon go together")
    if lat is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):  # type: ignore[operator]
        raise EventError("lat/lon out of range")
    metric, value = _str(obj, "metric", b.name), _num(obj, "value")
    category = _str(obj, "category", b.name)
    text = obj.get("text")
    if type(text) is str and text:
        if len(text) > b.text:
            raise EventError(f"text longer than {b.text} characters")
        if _INVALID.search(text):
            raise EventError("text contains a NUL character" if "\x00" in text else
                             "text is not valid Unicode (a lone surrogate)")
    elif text is None or text == "":
        text = None
    else:
        raise EventError(f"text must be a string, got {type(text).__name__}")
    if feed == "sensor":
        if metric is None or value is None:
            raise EventError("a sensor event needs metric and value")
    else:
        if text is None:
            raise EventError(f"a {feed} event needs text")
        if feed == "complaint" and category is None:
            raise EventError("a complaint event needs a category")
    if value is not None:
        problem = value_problem(value, metric, b)
        if problem is not None:
            raise EventError(problem)
    attrs = obj.get("attrs") or {}
    if not isinstance(attrs, dict):
        raise EventError("attrs must be an object")
    if attrs:
        problem = attrs_problem(attrs, b)
        if problem is None and feed == "complaint":
            problem = closure_problem(attrs, b)
        if problem is not None:
            raise EventError(problem)
    grid = _str(obj, "grid", b.name)
    eid = _str(obj, "id", b.id)
    if resolve is not None:
        grid = resolve(grid, lat, lon)
    elif grid is None:
        raise EventError("grid is required when lat/lon are not given")
    if eid is None:
        eid = content_id(feed, source, ts, metric, value, category, text)
    return Event(feed=feed, source=source, ts=ts, grid=grid, id=eid, lat=lat, lon=lon, metric=metric,
                 value=value, category=category, text=text, attrs=attrs, drill=event_drill)


_TS_CACHE: dict[str, float] = {}  # ISO text -> epoch seconds: readings of one round share their time
_TS_CACHE_MAX = 50_000


def _ts_of(raw: Any) -> float | None:
    """``parse_ts(raw)`` for the usual shapes (ISO text, int, float), memoised for text; None otherwise."""
    t = type(raw)
    if t is str:
        ts = _TS_CACHE.get(raw)
        if ts is None:
            if len(raw) > MAX_TS_CHARS:
                return None
            try:
                ts = parse_ts(raw)
            except (ValueError, TypeError, OverflowError):
                return None
            if len(_TS_CACHE) >= _TS_CACHE_MAX:
                _TS_CACHE.clear()
            _TS_CACHE[raw] = ts
        return ts
    if t is float or t is int:
        try:
            return float(raw)
        except OverflowError:
            return None
    return None


def _fast_event(obj: Any, resolve: GridResolver | None, drill: str | None, b: Bounds) -> Event | None:
    """:func:`parse_event` for the common well-formed record, with fewer Python operations.

    It never rejects: for anything it does not recognise as surely valid (a wrong type, an empty
    string, a missing field, a bound exceeded, a grid the resolver refuses...) it returns None and
    the caller runs the full validator, so a rejection always carries the full validator's reason.
    When it returns an event, that event equals what :func:`parse_event` returns
    (tests/unit/ingest/test_events_fast.py). Names that are printable are surely valid Unicode (no NUL, no lone
    surrogate); any other goes the full way.
    """
    if type(obj) is not dict or not _FIELDS.issuperset(obj):
        return None
    get = obj.get
    feed = get("feed")
    name = b.name
    source = get("source")
    if type(source) is not str or not source or len(source) > name or not source.isprintable():
        return None
    event_drill = get("drill")
    if event_drill is None or event_drill == "":
        event_drill = drill
    elif type(event_drill) is not str or len(event_drill) > name or not event_drill.isprintable():
        return None
    if event_drill and not b.may_drill:
        return None
    raw_ts = get("ts")
    ts = _TS_CACHE.get(raw_ts) if type(raw_ts) is str else None  # readings of one round share their time
    if ts is None:
        ts = _ts_of(raw_ts)
    if ts is None or not (b.ts_lo_drill if event_drill else b.ts_lo) <= ts <= b.ts_hi:  # NaN fails too
        return None
    lat = get("lat")
    lon = get("lon")
    if lat is not None or lon is not None:
        # in range implies finite; int | float only (bool is neither type)
        if (type(lat) is not float and type(lat) is not int) or (type(lon) is not float and type(lon) is not int) \
                or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return None
        lat, lon = float(lat), float(lon)
    metric = get("metric")
    if metric is not None and (type(metric) is not str or not metric or len(metric) > name
                               or not metric.isprintable()):
        return None
    value = get("value")
    if value is not None:
        if type(value) is int:
            try:
                value = float(value)
            except OverflowError:
                return None
        elif type(value) is not float:
            return None
        rng = b.metrics.get(metric) if metric is not None else None
        if rng is None:
            if not -b.value <= value <= b.value:  # NaN and inf fail too
                return None
        elif not rng[0] <= value <= rng[1]:
            return None
    category = get("category")
    if category is not None and (type(category) is not str or not category or len(category) > name
                                 or not category.isprintable()):
        return None
    text = get("text")
    if text is not None and (type(text) is not str or not text):
        return None
    if feed == "sensor":
        if metric is None or value is None:
            return None
    elif feed == "complaint" or feed == "opinion":  # printable text is surely valid Unicode (as names are)
        if text is None or len(text) > b.text or (not text.isprintable() and _INVALID.search(text)) \
                or (feed == "complaint" and category is None):
            return None
    else:
        return None
    if text is not None and feed == "sensor" and (len(text) > b.text or _INVALID.search(text)):
        return None
    attrs = get("attrs") or {}
    if type(attrs) is not dict:
        return None
    if attrs:  # most attrs are small and flat: the quick yes (see _FLAT), else attrs_problem decides
        out = None
        if len(attrs) <= b.keys and _FLAT.issuperset(map(type, attrs.values())):
            try:
                out = _dumps(attrs)
            except JSONEncodeError:
                out = None
        if (out is None or len(out) > b.bytes or (_BACKSLASH in out and b"\\u0000" in out)) \
                and attrs_problem(attrs, b) is not None:  # no backslash at all (the usual): no escaped NUL
            return None
        if feed == "complaint" and closure_problem(attrs, b) is not None:
            return None
    grid = get("grid")
    if grid is not None and (type(grid) is not str or not grid or len(grid) > name or not grid.isprintable()):
        return None
    eid = get("id")
    if eid is not None and eid != "" and (type(eid) is not str or len(eid) > b.id or not eid.isprintable()):
        return None
    if resolve is not None:
        try:
            grid = resolve(grid, lat, lon)
        except EventError:
            return None
    elif grid is None:
        return None
    if eid is None or eid == "":
        eid = content_id(feed, source, ts, metric, value, category, text)
    return Event(feed, source, ts, grid, eid, lat, lon, metric, value, category, text, attrs, event_drill)


Rejected = tuple[int, str, Any]  # (index in the request, why, the record as it came, or as it can be kept)
MAX_DEAD_LETTER_BYTES = 65_536  # a rejected record kept whole up to this size as JSON; beyond it, its start


def storable_record(rec: Any) -> Any:
    """A rejected record as the dead-letter store can keep and serve it: the record itself when it is strict
    JSON (what the API parsed always is) of at most 64 KiB; otherwise a note with the start of it. Lone
    surrogates, nesting beyond 254 levels (where encoders stop), NaN, integers beyond 64 bits and 1 MB strings
    must not make storing or listing dead letters fail.

    >>> storable_record({"feed": "x"})
    {'feed': 'x'}
    >>> storable_record({"source": "s" + chr(0xD800), "value": float("nan")})
    {'unstorable': 'not valid JSON text', 'start': "{'source': 's\\\\ud800', 'value': nan}"}
    >>> storable_record({"text": "x" * 100_000})["unstorable"]
    'larger than 65536 bytes as JSON (100011)'
    """
    try:
        out = orjson.dumps(rec)
    except (orjson.JSONEncodeError, RecursionError):
        why = "not valid JSON text"
    else:
        if len(out) <= MAX_DEAD_LETTER_BYTES:
            if b"null" not in out or not _has_nan(rec):  # orjson writes NaN and inf as null
                return rec
            why = "not valid JSON text"
        else:
            return {"unstorable": f"larger than {MAX_DEAD_LETTER_BYTES} bytes as JSON ({len(out)})",
                    "start": out[:2000].decode("utf-8", "replace")}
    try:
        start = ascii(rec)[:2000]
    except (RecursionError, ValueError):  # nested too deep for repr; an int too long for str
        start = f"a {type(rec).__name__} nested too deep to show"
    return {"unstorable": why, "start": start}


def _has_nan(rec: Any) -> bool:
    stack = [rec]
    while stack:
        node = stack.pop()
        t = type(node)
        if t is float and node - node != 0.0:
            return True
        if t is dict:
            stack.extend(node.values())
        elif t is list or t is tuple:
            stack.extend(node)
    return False


def parse_records(records: list[Any], resolve: GridResolver | None, drill: str | None = None, *,
                  now: float | None = None, limits: Limits | None = None, may_drill: bool = True
                  ) -> tuple[list[Event], list[Rejected]]:
    """Validate a batch: the good events, and every bad record with its index and reason.

    Well-formed records take :func:`_fast_event`; any other goes through the full validator, which
    gives the same event or the reason for the rejection. ``now``, ``limits`` and ``may_drill`` as
    for :func:`parse_event`.

    >>> good, bad = parse_records([{"feed": "sensor", "source": "s", "ts": 0, "grid": "G", "metric": "m",
    ...                             "value": 1, "drill": "d"}, {"feed": "noise"}], None, now=1e9)
    >>> len(good), bad[0][:2]
    (1, (1, "feed must be one of sensor, complaint, opinion, got 'noise'"))
    """
    b = Bounds(limits, now, may_drill)
    events: list[Event] = []
    bad: list[Rejected] = []
    fast = _fast_event
    append = events.append
    for i, rec in enumerate(records):
        e = fast(rec, resolve, drill, b)
        if e is not None:
            append(e)
            continue
        try:
            append(_parse(rec, resolve, drill, b))
        except EventError as exc:
            bad.append((i, str(exc), storable_record(rec)))
    return events, bad


def event_json_schema(limits: Limits | None = None) -> dict[str, Any]:
    """The JSON Schema (2020-12, as OpenAPI 3.1 takes it) of one v1 event, with the bounds of ``limits``.

    Loose where the rules depend on other fields (a sensor event needs metric and value, a complaint a
    category and text; the time window moves with now; per-metric ranges are listed in
    ``x-metric-ranges``): what it accepts may still be rejected with a reason, what it refuses is
    always rejected.

    >>> s = event_json_schema()
    >>> s["properties"]["id"]["maxLength"], s["required"]
    (128, ['feed', 'source', 'ts'])
    """
    lim = limits or DEFAULT_LIMITS
    name = lim.max_name_chars

    def string(n: int, what: str) -> dict[str, Any]:
        return {"type": ["string", "null"], "maxLength": n, "description": f"{what}; at most {n} characters, "
                "no NUL character or lone surrogate"}

    ranges = {k: [lo, hi] for k, (lo, hi) in sorted(lim.metrics.items())}
    return {
        "title": "Event",
        "description": "One v1 event: a sensor reading (metric + value), a complaint (category + text) or an "
                       "opinion post (text). A record that breaks a bound is rejected with its index and reason "
                       "(docs/limits.md); the rest of the batch is unaffected.",
        "type": "object",
        "additionalProperties": False,
        "required": ["feed", "source", "ts"],
        "properties": {
            "feed": {"type": "string", "enum": list(FEEDS)},
            "source": {"type": "string", "minLength": 1, "maxLength": name,
                       "description": f"the sensor or channel; at most {name} characters. Ids are unique per source."},
            "ts": {"description": f"ISO 8601 time (naive = UTC) or epoch seconds; real events from "
                                  f"{lim.max_age_days:g} days ago (limits.max_age_days) up to "
                                  f"{lim.max_future_seconds:g} s ahead of now (limits.max_future_seconds); drill "
                                  "events any time from 1970 up to the same future bound",
                   "anyOf": [{"type": "string", "minLength": 1, "maxLength": MAX_TS_CHARS},
                             {"type": "number", "minimum": 0, "maximum": 253402300799}]},
            "grid": string(name, "the grid id or alias; required unless lat/lon are given"),
            "lat": {"type": ["number", "null"], "minimum": -90, "maximum": 90},
            "lon": {"type": ["number", "null"], "minimum": -180, "maximum": 180},
            "metric": string(name, "the measured quantity (sensor events)"),
            "value": {"type": ["number", "null"], "minimum": -lim.max_abs_value, "maximum": lim.max_abs_value,
                      "description": "the reading; finite, within the metric's plausible range (x-metric-ranges, "
                                     f"limits.metrics) or else within ±{lim.max_abs_value:g} (limits.max_abs_value); "
                                     "outside: rejected as a sensor fault"},
            "category": string(name, "the complaint category"),
            "text": {"type": ["string", "null"], "maxLength": lim.max_text_chars,
                     "description": f"complaint or post text; at most {lim.max_text_chars} characters"},
            "id": {"type": ["string", "null"], "maxLength": lim.max_id_chars,
                   "description": f"at most {lim.max_id_chars} characters, unique per source; derived from the "
                                  "content when absent"},
            "attrs": {"type": ["object", "null"], "maxProperties": lim.max_attrs_keys,
                      "description": f"free attributes: at most {lim.max_attrs_keys} keys per object, nested at "
                                     f"most {lim.max_attrs_depth} deep, at most {lim.max_attrs_bytes} bytes as "
                                     "JSON; finite numbers, 64-bit integers. On complaints, closure and satisfaction "
                                     "keys are checked: closed and target (times), on_time (boolean), outcome, "
                                     "responder (strings), satisfaction (1-5, 'satisfied' or 'unsatisfied'); "
                                     "docs/reports.md"},
            "drill": string(name, "the drill's name: a drill event (needs a key allowed to run drills)"),
        },
        "x-metric-ranges": ranges,
        "examples": [
            {"feed": "sensor", "source": "hubeau:O0200020", "ts": "2020-01-22T10:00:00Z", "grid": "G1",
             "metric": "water_level_m", "value": 5.2, "id": "hubeau:O0200020:2020-01-22T10:00:00Z",
             "attrs": {"river": "Aude"}},
            {"feed": "complaint", "source": "hotline-12345", "ts": "2020-01-22T10:05:00+08:00", "grid": "G1",
             "category": "flooding", "text": "Water is coming into the courtyard"},
        ],
    }


_RESOLVED_MAX = 65_536


def make_resolver(tree: Any) -> GridResolver:
    """A resolver over a :class:`fenghuo.core.grids.GridTree` (which does not change after it is built).

    Answers are memoised (by grid when one is given, else by place: a sensor sends the same place
    with every reading). Refusals are not memoised; they raise again with the same reason.
    """
    by_grid: dict[str, str] = {}
    by_place: dict[tuple[float | None, float | None], str] = {}

    def resolve(grid: str | None, lat: float | None, lon: float | None) -> str:
        memo: dict[Any, str]
        if grid is not None:
            memo, key = by_grid, grid
        else:
            memo, key = by_place, (lat, lon)
        found = memo.get(key)
        if found is None:
            found = _resolve(grid, lat, lon)
            if len(memo) >= _RESOLVED_MAX:
                memo.clear()
            memo[key] = found
        return found

    def _resolve(grid: str | None, lat: float | None, lon: float | None) -> str:
        if not tree.nodes:  # no grid registry configured: take grids as given
            if grid is None:
                raise EventError("grid is required (no grid registry is configured to resolve lat/lon)")
            return grid
        if grid is not None:
            known = tree.known(grid)
            if known is None:
                raise EventError(f"unknown grid {show(grid)}")
            return known
        if lat is None or lon is None:
            raise EventError("grid is required when lat/lon are not given")
        found = tree.resolve(lat, lon)
        if found is None:
            raise EventError(f"no grid within {tree.match_km} km of lat={lat}, lon={lon}")
        return found

    return resolve
