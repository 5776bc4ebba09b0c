"""GET /v1/series: the stored readings (or hourly complaint counts) behind an alert, for the board's chart.

Bounded: times between 1970 and 2100, at most :data:`MAX_BUCKETS` hourly buckets (a year) for counts and
at most :data:`MAX_POINTS` stored rows read; beyond that a 422 says so. Roles below analyst see any
text in the points masked.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query

from fenghuo.api.bounds import when
from fenghuo.api.deps import ServiceDep, Viewer, sees_personal_data
from fenghuo.core.models import FEEDS, Event, iso
from fenghuo.core.privacy import mask_doc

router = APIRouter(prefix="/v1", tags=["series"])
BUCKET = 3600.0
MAX_POINTS = 20000
MAX_BUCKETS = 366 * 24


def hourly_counts(events: list[Event], start: float, end: float, bucket: float = BUCKET) -> list[tuple[float, int]]:
    """Events counted per ``bucket`` seconds from ``start`` to ``end``; empty buckets count 0.

    >>> from fenghuo.core.models import Event
    >>> evs = [Event("complaint", "hotline", t, "G1", str(t)) for t in (0.0, 10.0, 7300.0)]
    >>> hourly_counts(evs, 0.0, 7300.0)
    [(0.0, 2), (3600.0, 0), (7200.0, 1)]
    """
    first = start - start % bucket
    n = bucket_count(start, end, bucket)
    counts = [0] * n
    for e in events:
        i = int((e.ts - first) // bucket)
        if 0 <= i < n:
            counts[i] += 1
    return [(first + i * bucket, c) for i, c in enumerate(counts)]


def bucket_count(start: float, end: float, bucket: float = BUCKET) -> int:
    """
    >>> bucket_count(0.0, 7300.0), bucket_count(0.0, 1e11)
    (3, 27777778)
    """
    return int((end - (start - start % bucket)) // bucket) + 1


@router.get("/series", summary="Readings of one series (sensor) or hourly event counts (complaint, opinion)",
            responses={422: {"description": "a bad feed or time, or a range of more than a year of hourly counts"}})
def series(service: ServiceDep, who: Viewer,
           feed: str = Query(..., max_length=20, description="|".join(FEEDS)),
           start: str = Query(..., max_length=64, description="ISO 8601 time or epoch seconds (1970..2100)"),
           end: str = Query(..., max_length=64, description="ISO 8601 time or epoch seconds (1970..2100)"),
           grid: str | None = Query(None, max_length=200), source: str | None = Query(None, max_length=200),
           metric: str | None = Query(None, max_length=200),
           category: str | None = Query(None, max_length=200, description="one category; '*' or nothing for all")
           ) -> dict[str, Any]:
    if feed not in FEEDS:
        raise HTTPException(422, f"feed must be one of {', '.join(FEEDS)}")
    t0, t1 = when(start, "start"), when(end, "end")
    if t1 < t0:
        raise HTTPException(422, "end is before start")
    if feed == "sensor" and not (source or grid):
        raise HTTPException(422, "a sensor series needs a source or a grid (and usually a metric)")
    if feed != "sensor" and bucket_count(t0, t1) > MAX_BUCKETS:
        raise HTTPException(422, f"from start to end are {bucket_count(t0, t1)} hourly buckets; at most {MAX_BUCKETS} "
                                 "(a year): narrow the range")
    events = service.series(feed=feed, grid=grid, source=source, metric=metric,
                            category=None if category in (None, "", "*") else category,
                            start=t0, end=t1, limit=MAX_POINTS)
    if feed == "sensor":
        points = [{"ts": iso(e.ts), "value": e.value} for e in events if e.value is not None]
        return {"feed": feed, "kind": "readings", "metric": metric, "points": points,
                "truncated": len(events) >= MAX_POINTS}
    counts: list[dict[str, Any]] = [{"ts": iso(ts), "value": c} for ts, c in hourly_counts(events, t0, t1)]
    return {"feed": feed, "kind": "counts", "bucket_seconds": BUCKET, "category": category,
            "points": counts if sees_personal_data(who) else mask_doc(counts), "truncated": len(events) >= MAX_POINTS}
