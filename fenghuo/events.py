"""The v1 event schema: validation of one JSON object into an :class:`Event`.

A record that fails is rejected with a clear reason (and kept in the dead-letter store by the
caller). Missing ids are derived from the content, so the same reading sent twice is stored once.

>>> e = parse_event({"feed": "sensor", "source": "s1", "ts": "2020-01-22T10:00:00Z",
...                  "grid": "G1", "metric": "water_level_m", "value": 5.2})
>>> e.value, e.grid
(5.2, 'G1')
>>> parse_event({"feed": "sensor", "source": "s1", "ts": "2020-01-22T10:00:00Z", "grid": "G1"})
Traceback (most recent call last):
...
fenghuo.events.EventError: a sensor event needs metric and value
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from fenghuo.models import FEEDS, Event, parse_ts

_FIELDS = frozenset(
    ("feed", "source", "ts", "grid", "lat", "lon", "metric", "value", "category", "text", "id", "attrs", "drill")
)
MAX_TEXT = 20_000


class EventError(ValueError):
    """Why a record was rejected."""


GridResolver = Callable[[str | None, float | None, float | None], str]


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


def _str(obj: dict[str, Any], key: str, required: bool = False) -> str | None:
    v = obj.get(key)
    if type(v) is str and v:
        return v
    if v is None or v == "":
        if required:
            raise EventError(f"{key} is required")
        return None
    raise EventError(f"{key} must be a string, got {type(v).__name__}")


def content_id(feed: str, source: str, ts: float, metric: str | None, value: float | None,
               category: str | None, text: str | None) -> str:
    h = hashlib.blake2b(digest_size=12)
    h.update(f"{feed}\x1f{source}\x1f{ts!r}\x1f{metric}\x1f{value!r}\x1f{category}\x1f{text}".encode())
    return h.hexdigest()


def parse_event(obj: Any, resolve: GridResolver | None = None, drill: str | None = None) -> Event:
    """Validate one record. ``resolve(grid, lat, lon)`` maps it to a known grid or raises EventError."""
    if not isinstance(obj, dict):
        raise EventError(f"an event must be a JSON object, got {type(obj).__name__}")
    unknown = obj.keys() - _FIELDS
    if unknown:
        raise EventError(f"unknown field(s): {', '.join(sorted(unknown))}")
    feed = obj.get("feed")
    if feed not in FEEDS:
        raise EventError(f"feed must be one of {', '.join(FEEDS)}, got {feed!r}")
    source = _str(obj, "source", required=True)
    assert source is not None
    if "ts" not in obj or obj["ts"] is None:
        raise EventError("ts is required")
    try:
        ts = parse_ts(obj["ts"])
    except (ValueError, TypeError, OverflowError):
        raise EventError(f"ts is not an ISO 8601 time: {str(obj['ts'])[:40]!r}") from None
    lat, lon = _num(obj, "lat"), _num(obj, "lon")
    if (lat is None) != (lon is None):
        raise EventError("lat and lon go together")
    if lat is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):  # type: ignore[operator]
        raise EventError("lat/lon out of range")
    metric, value = _str(obj, "metric"), _num(obj, "value")
    category, text = _str(obj, "category"), _str(obj, "text")
    if feed == "sensor":
        if metric is None or value is None:
            raise EventError("a sensor event needs metric and value")
    else:
        if text is None:
            raise EventError(f"a {feed} event needs text")
        if feed == "complaint" and category is None:
            raise EventError("a complaint event needs a category")
        if len(text) > MAX_TEXT:
            raise EventError(f"text longer than {MAX_TEXT} characters")
        if "\x00" in text:
            raise EventError("text contains a NUL character")
    attrs = obj.get("attrs") or {}
    if not isinstance(attrs, dict):
        raise EventError("attrs must be an object")
    grid = _str(obj, "grid")
    if resolve is not None:
        grid = resolve(grid, lat, lon)
    elif grid is None:
        raise EventError("grid is required when lat/lon are not given")
    event_drill = _str(obj, "drill") or drill
    eid = _str(obj, "id") or content_id(feed, source, ts, metric, value, category, text)
    if len(eid) > 128:
        raise EventError("id longer than 128 characters")
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


def _fast_event(obj: Any, resolve: GridResolver | None, drill: str | None) -> Event | None:
    """:func:`parse_event` for the common well-formed record, with fewer Python operations.

    It never rejects: for anything it does not recognise as surely valid (a wrong type, an empty
    string, a missing field, a grid the resolver refuses...) it returns None and the caller runs
    :func:`parse_event`, so a rejection always carries the full validator's reason. When it
    returns an event, that event equals what :func:`parse_event` returns (tests/test_events_fast.py).
    """
    if type(obj) is not dict or not _FIELDS.issuperset(obj):
        return None
    get = obj.get
    feed = get("feed")
    source = get("source")
    if type(source) is not str or not source:
        return None
    ts = _ts_of(get("ts"))
    if ts is None:
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
    if metric is not None and (type(metric) is not str or not metric):
        return None
    value = get("value")
    if value is not None:
        if type(value) is float:
            if value - value != 0.0:  # inf or nan
                return None
        elif type(value) is int:
            try:
                value = float(value)
            except OverflowError:
                return None
            if value - value != 0.0:
                return None
        else:
            return None
    category = get("category")
    if category is not None and (type(category) is not str or not category):
        return None
    text = get("text")
    if text is not None and (type(text) is not str or not text):
        return None
    if feed == "sensor":
        if metric is None or value is None:
            return None
    elif feed == "complaint" or feed == "opinion":
        if text is None or len(text) > MAX_TEXT or "\x00" in text or (feed == "complaint" and category is None):
            return None
    else:
        return None
    attrs = get("attrs") or {}
    if type(attrs) is not dict:
        return None
    grid = get("grid")
    if grid is not None and (type(grid) is not str or not grid):
        return None
    if resolve is not None:
        try:
            grid = resolve(grid, lat, lon)
        except EventError:
            return None
    elif grid is None:
        return None
    event_drill = get("drill")
    if event_drill is None or event_drill == "":
        event_drill = drill
    elif type(event_drill) is not str:
        return None
    eid = get("id")
    if eid is None or eid == "":
        eid = content_id(feed, source, ts, metric, value, category, text)
    elif type(eid) is not str or len(eid) > 128:
        return None
    return Event(feed, source, ts, grid, eid, lat, lon, metric, value, category, text, attrs, event_drill)


Rejected = tuple[int, str, Any]  # (index in the request, why, the record as it came)


def parse_records(records: list[Any], resolve: GridResolver | None, drill: str | None = None
                  ) -> tuple[list[Event], list[Rejected]]:
    """Validate a batch: the good events, and every bad record with its index and reason.

    Well-formed records take :func:`_fast_event`; any other goes through :func:`parse_event`, which
    gives the same event or the reason for the rejection.

    >>> good, bad = parse_records([{"feed": "sensor", "source": "s", "ts": 0, "grid": "G", "metric": "m",
    ...                             "value": 1}, {"feed": "noise"}], None)
    >>> len(good), bad[0][:2]
    (1, (1, "feed must be one of sensor, complaint, opinion, got 'noise'"))
    """
    events: list[Event] = []
    bad: list[Rejected] = []
    fast = _fast_event
    append = events.append
    for i, rec in enumerate(records):
        e = fast(rec, resolve, drill)
        if e is not None:
            append(e)
            continue
        try:
            append(parse_event(rec, resolve, drill))
        except EventError as exc:
            bad.append((i, str(exc), rec))
    return events, bad


_RESOLVED_MAX = 65_536


def make_resolver(tree: Any) -> GridResolver:
    """A resolver over a :class:`fenghuo.grids.GridTree` (which does not change after it is built).

    Answers are memoised (by grid when one is given, else by place: a sensor sends the same place
    with every reading). Refusals are not memoised; they raise again with the same reason.
    """
    by_grid: dict[str, str] = {}
    by_place: dict[tuple[float | None, float | None], str] = {}

    def resolve(grid: str | None, lat: float | None, lon: float | None) -> str:
        memo: dict[Any, str]
        memo, key = (by_grid, grid) if grid is not None else (by_place, (lat, lon))
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
                raise EventError(f"unknown grid {grid!r}")
            return known
        if lat is None or lon is None:
            raise EventError("grid is required when lat/lon are not given")
        found = tree.resolve(lat, lon)
        if found is None:
            raise EventError(f"no grid within {tree.match_km} km of lat={lat}, lon={lon}")
        return found

    return resolve
