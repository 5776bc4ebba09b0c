"""Boston 311 cases (City of Boston open data) as complaint events.

One event per case, at its opening time. The file's times are Boston local time without an
offset; they are converted to UTC with ``zoneinfo`` (EST/EDT, daylight saving handled).
``category`` is the case TYPE; ``text`` joins REASON, TYPE and CASE_TITLE (the only free text);
``grid`` is ``BOS-<slug of neighborhood>``, and a case without a (known) neighbourhood falls
back to its lat/lon. Many cases carry Boston City Hall's coordinates as a placeholder for "no
location"; those are marked ``attrs.placeholder_location``.

>>> slug("Fenway / Kenmore / Audubon Circle / Longwood")
'fenway-kenmore-audubon-circle-longwood'
>>> grid_id("Allston / Brighton")
'BOS-allston-brighton'
>>> local_to_utc("2015-01-27T10:00:00"), local_to_utc("2015-07-04T10:00:00"), local_to_utc("")
('2015-01-27T15:00:00Z', '2015-07-04T14:00:00Z', None)
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fenghuo.ingest.adapters import ReadStats, csv_rows

TZ = ZoneInfo("America/New_York")
GRID_PREFIX = "BOS-"
PLACEHOLDER = (42.3594, -71.0587)  # Boston City Hall: the file's stand-in for "no location"
_ON_TIME = {"ONTIME": True, "OVERDUE": False}


def slug(text: str) -> str:
    """Lower-case ASCII words joined by ``-`` (accents dropped): the grid id suffix."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


@lru_cache(maxsize=1024)
def grid_id(neighborhood: str) -> str:
    """The grid id of a Boston neighbourhood as the example config names it."""
    return GRID_PREFIX + slug(neighborhood)


@lru_cache(maxsize=4096)
def _offset(hour: str) -> timedelta:
    """Boston's UTC offset during one local hour (``YYYY-MM-DDTHH``); DST changes on the hour."""
    off = datetime.fromisoformat(hour + ":30:00").replace(tzinfo=TZ).utcoffset()
    assert off is not None
    return off


def local_to_utc(text: str | None) -> str | None:
    """A Boston local time (ISO, no offset) as ISO 8601 UTC with ``Z``; empty gives None.

    Ambiguous times (the repeated hour in November) are read as the first (daylight) one.
    """
    if not text or not text.strip():
        return None
    text = text.strip()
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is not None:
        return dt.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
    hour = f"{text[:10]}T{text[11:13]}" if len(text) >= 13 else dt.strftime("%Y-%m-%dT%H")
    return (dt - _offset(hour)).isoformat() + "Z"


_FIELDS = ("CASE_ENQUIRY_ID", "OPEN_DT", "TARGET_DT", "CLOSED_DT", "OnTime_Status", "CASE_STATUS",
           "CASE_TITLE", "REASON", "TYPE", "QUEUE", "Department", "neighborhood", "LATITUDE", "LONGITUDE",
           "Source", "CLOSURE_REASON")
_REQUIRED = {"CASE_ENQUIRY_ID", "OPEN_DT", "TYPE"}


def _text(reason: str, type_: str, title: str) -> str:
    parts: list[str] = []
    for value in (reason, type_, title):
        if value and value not in parts:
            parts.append(value)
    return " / ".join(parts)


def _coords(lat: str, lon: str) -> tuple[float, float] | None:
    try:
        return float(lat), float(lon)
    except ValueError:
        return None


def read_boston311(path: str | Path, stats: ReadStats | None = None,
                   known_grids: Collection[str] | None = None) -> Iterator[dict[str, Any]]:
    """Stream complaint events from a Boston 311 CSV (plain or gzip).

    ``known_grids``: when given, a neighbourhood whose grid id is not in it is treated as
    unknown (the event falls back to lat/lon).
    """
    stats = stats if stats is not None else ReadStats()
    for (case, open_dt, target_dt, closed_dt, on_time, status, title, reason, type_, queue, dept, hood,
         lat, lon, channel, closure) in csv_rows(path, _FIELDS, _REQUIRED, "Boston 311", stats):
        case, type_, reason, hood = case.strip(), type_.strip(), reason.strip(), hood.strip()
        category = type_ or reason
        try:
            opened = local_to_utc(open_dt)
        except ValueError:
            stats.skip("bad OPEN_DT")
            continue
        if not case or opened is None or not category:
            stats.skip("no case id, OPEN_DT or TYPE")
            continue
        try:
            target, closed = local_to_utc(target_dt), local_to_utc(closed_dt)
        except ValueError:
            target = closed = None
        attrs: dict[str, Any] = {
            "opened": opened,
            "target": target,
            "closed": closed,
            "on_time": _ON_TIME.get(on_time),
            "status": status or None,
            "channel": channel or None,
            "queue": queue or None,
            "department": dept or None,
            "neighborhood": hood or None,
            "outcome": closure.strip()[:4000] or None,  # how the case was closed (CLOSURE_REASON)
        }
        record: dict[str, Any] = {
            "feed": "complaint",
            "source": "boston311",
            "ts": opened,
            "category": category,
            "text": _text(reason, type_, title),
            "id": f"boston311:{case}",
            "attrs": attrs,
        }
        coords = _coords(lat, lon)
        if coords is not None:
            record["lat"], record["lon"] = coords
            if coords == PLACEHOLDER:
                attrs["placeholder_location"] = True
        if hood:
            grid = grid_id(hood)
            if known_grids is None or grid in known_grids:
                record["grid"] = grid
        stats.yielded += 1
        yield record
