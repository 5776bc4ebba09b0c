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
    f = float(v)
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


Rejected = tuple[int, str, Any]  # (index in the request, why, the record as it came)


def parse_records(records: list[Any], resolve: GridResolver | None, drill: str | None = None
                  ) -> tuple[list[Event], list[Rejected]]:
    """Validate a batch: the good events, and every bad record with its index and reason.

    >>> good, bad = parse_records([{"feed": "sensor", "source": "s", "ts": 0, "grid": "G", "metric": "m",
    ...                             "value": 1}, {"feed": "noise"}], None)
    >>> len(good), bad[0][:2]
    (1, (1, "feed must be one of sensor, complaint, opinion, got 'noise'"))
    """
    events, bad = [], []
    for i, rec in enumerate(records):
        try:
            events.append(parse_event(rec, resolve, drill))
        except EventError as exc:
            bad.append((i, str(exc), rec))
    return events, bad


def make_resolver(tree: Any) -> GridResolver:
    """A resolver over a :class:`fenghuo.grids.GridTree`."""

    def resolve(grid: str | None, lat: float | None, lon: float | None) -> str:
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
