"""SQLite ingest: the chunked multi-row insert keeps the store's contract (order, idempotent ids)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fenghuo.core.models import Event
from fenghuo.core.store.sqlite import SqliteStore


def _event(i: int, ts: float = 0.0) -> Event:
    return Event(feed="sensor", source=f"s{i % 7}", ts=ts + i, grid="G1", id=f"e{i}", metric="m", value=float(i),
                 attrs={"n": i} if i % 3 else {})


@pytest.mark.parametrize("size", [1, 2, 63, 127, 128, 129, 255, 256, 300, 5000])
def test_sqlite_chunked_insert_keeps_order_and_idempotence(tmp_path: Path, size: int) -> None:
    store = SqliteStore(tmp_path / "s.db")
    first = [_event(i) for i in range(size)]
    assert store.add_events(first, 1.0) == first
    # a resend mixed with new events and repeats inside the batch: only the new, first of repeats
    again = [_event(i) for i in range(size // 2, size + size // 2 + 1)] + [_event(size), _event(size + size // 2)]
    new = store.add_events(again, 2.0)
    assert [e.id for e in new] == [f"e{i}" for i in range(size, size + size // 2 + 1)]
    stored = store.events_after(0, 100_000)
    seqs = [s for s, _ in stored]  # increasing; ignored repeats leave gaps, as they always did
    assert seqs == sorted(set(seqs))
    assert [e for _, e in stored] == first + new
    store.close()



@pytest.mark.parametrize("size", [1, 128, 129, 300])
def test_sqlite_ids_are_unique_per_source_across_chunks(tmp_path: Path, size: int) -> None:
    store = SqliteStore(tmp_path / "s.db")
    ours = [_event(i) for i in range(size)]
    theirs = [Event(feed="sensor", source="other", ts=float(i), grid="G1", id=f"e{i}", metric="m", value=0.0)
              for i in range(size)]  # the same ids from another source: not duplicates
    assert store.add_events(theirs, 1.0) == theirs
    assert store.add_events(ours + theirs[:1], 2.0) == ours
    assert store.add_events(theirs + ours, 3.0) == []
    assert store.event_count() == 2 * size
    store.close()
