"""GET /v1/series: the stored readings (or hourly complaint counts) behind an alert, for the board's chart."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query

from api.deps import PipelineDep, Viewer
from fenghuo.models import FEEDS, Event, iso, parse_ts

router = APIRouter(prefix="/v1", tags=["series"])
BUCKET = 3600.0
MAX_POINTS = 20000


def hourly_counts(events: list[Event], start: float, end: float, bucket: float = BUCKET) -> list[tuple[float, int]]:
    """Events counted per ``bucket`` seconds from ``start`` to ``end``; empty buckets count 0.

    >>> from fenghuo.models import Event
    >>> evs = [Event("complaint", "hotline", t, "G1", str(t)) for t in (0.0, 10.0, 7300.0)]
    >>> hourly_counts(evs, 0.0, 7300.0)
    [(0.0, 2), (3600.0, 0), (7200.0, 1)]
    """
    first = start - start % bucket
    n = int((end - first) // bucket) + 1
    counts = [0] * n
    for e in events:
        i = int((e.ts - first) // bucket)
        if 0 <= i < n:
            counts[i] += 1
    return [(first + i * bucket, c) for i, c in enumerate(counts)]


def _when(value: str, name: str) -> float:
    try:
        return parse_ts(float(value) if value.replace(".", "", 1).isdigit() else value)
    except ValueError:
        raise HTTPException(422, f"{name} must be an ISO 8601 time or epoch seconds, got {value!r}") from None


@router.get("/series", summary="Readings of one series (sensor) or hourly event counts (complaint, opinion)")
def series(pipeline: PipelineDep, who: Viewer,
           feed: str = Query(..., description="|".join(FEEDS)),
           start: str = Query(..., description="ISO 8601 time or epoch seconds"),
           end: str = Query(..., description="ISO 8601 time or epoch seconds"),
           grid: str | None = None, source: str | None = None, metric: str | None = None,
           category: str | None = Query(None, description="one category; '*' or nothing for all")) -> dict[str, Any]:
    if feed not in FEEDS:
        raise HTTPException(422, f"feed must be one of {', '.join(FEEDS)}")
    t0, t1 = _when(start, "start"), _when(end, "end")
    if t1 < t0:
        raise HTTPException(422, "end is before start")
    if feed == "sensor" and not (source or grid):
        raise HTTPException(422, "a sensor series needs a source or a grid (and usually a metric)")
    events = pipeline.store.series(feed=feed, grid=grid, source=source, metric=metric,
                                   category=None if category in (None, "", "*") else category,
                                   start=t0, end=t1, limit=MAX_POINTS)
    if feed == "sensor":
        points = [{"ts": iso(e.ts), "value": e.value} for e in events if e.value is not None]
        return {"feed": feed, "kind": "readings", "metric": metric, "points": points,
                "truncated": len(events) >= MAX_POINTS}
    counts = hourly_counts(events, t0, t1)
    return {"feed": feed, "kind": "counts", "bucket_seconds": BUCKET, "category": category,
            "points": [{"ts": iso(ts), "value": c} for ts, c in counts], "truncated": len(events) >= MAX_POINTS}
