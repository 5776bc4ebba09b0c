"""The store read behind the complaint closure report (``Store.complaint_page``), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from fenghuo.core.models import Event
from fenghuo.core.store import Store
from tests.contracts.store_support import T0, ev

DAY = 86400.0


def complaint(i: int | str, ts: float, *, drill: str | None = None, **attrs: Any) -> Event:
    return ev(f"c{i}", ts, feed="complaint", source="boston311", metric=None, value=None, category="pothole",
              text="a hole", drill=drill, attrs=attrs)


def read_all(store: Store, start: float, end: float, drill: bool, limit: int) -> list[tuple[float, int, Event]]:
    out: list[tuple[float, int, Event]] = []
    after = None
    while True:
        page = store.complaint_page(start=start, end=end, drill=drill, after=after, limit=limit)
        assert len(page) <= limit
        out += page
        if len(page) < limit:
            return out
        after = page[-1][0], page[-1][1]


def test_complaint_pages_cover_the_range_once_in_time_order(store: Store) -> None:
    # arrival order differs from time order; equal times; a month boundary (PostgreSQL partitions); others around
    events = [complaint(1, T0 + 5, closed="2020-01-23T10:00:00Z", satisfaction=4), complaint(2, T0),
              complaint(3, T0 + 5), complaint(4, T0 + 5), complaint(5, T0 + 20 * DAY),
              complaint(6, T0 - 1),  # before start
              complaint(7, T0 + 30 * DAY),  # at end: excluded
              complaint(8, T0 + 1, drill="exercise"),
              ev("s1", T0 + 2)]  # a sensor reading
    store.add_events(events, T0)
    rows = read_all(store, T0, T0 + 30 * DAY, drill=False, limit=2)
    assert [e.id for _, _, e in rows] == ["c2", "c1", "c3", "c4", "c5"]
    assert [ts for ts, _, _ in rows] == [T0, T0 + 5, T0 + 5, T0 + 5, T0 + 20 * DAY]
    first = rows[1][2]
    assert first.attrs == {"closed": "2020-01-23T10:00:00Z", "satisfaction": 4} and first.category == "pothole"
    assert read_all(store, T0, T0 + 30 * DAY, drill=False, limit=1000) == rows
    drills = read_all(store, 0.0, T0 + 40 * DAY, drill=True, limit=10)
    assert [e.id for _, _, e in drills] == ["c8"] and drills[0][2].drill == "exercise"
    assert store.complaint_page(start=T0 + 31 * DAY, end=T0 + 32 * DAY, drill=False) == []


def test_a_complaint_sent_again_with_its_closure_is_a_duplicate(store: Store) -> None:
    """What the report sees of a case re-sent once closed: the first record (events are unique by source and id)."""
    store.add_events([complaint(1, T0, status="Open")], T0)
    store.add_events([complaint(1, T0, status="Closed", closed="2020-01-23T10:00:00Z")], T0 + DAY)
    (row,) = store.complaint_page(start=T0, end=T0 + 1, drill=False)
    assert row[2].attrs == {"status": "Open"}
