"""The complaint report read page by page from a store, and what it says at its cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from fenghuo.core.models import Event
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.runtime import service
from fenghuo.runtime.service import complaint_report

T0 = 1_420_070_400.0  # 2015-01-01T00:00:00Z


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(tmp_path / "fenghuo.db")
    # 25 complaints, three of each second; every other one closed; one drill; one sensor reading
    events = [Event("complaint", "311", T0 + i // 3, "G1", f"c{i}", category="pothole", text="t",
                    attrs={"closed": T0 + 100.0} if i % 2 == 0 else {}) for i in range(25)]
    events.append(Event("complaint", "311", T0, "G1", "d1", category="pothole", text="t", drill="exercise"))
    events.append(Event("sensor", "gauge", T0, "G1", "s1", metric="water_level_m", value=1.0))
    s.add_events(events, T0)
    return s


def test_pages_cover_every_complaint_once(store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "COMPLAINT_PAGE", 4)  # pages end inside runs of equal times
    r = complaint_report(store, "grid", T0, T0 + 3600, False)
    assert (r["complaints_read"], r["truncated"], r["covered_until"]) == (25, False, None)
    assert (r["total"]["count"], r["total"]["resolved"]) == (25, 13)
    assert complaint_report(store, "grid", T0, T0 + 3600, True)["total"]["count"] == 1
    assert complaint_report(store, "grid", T0 + 1, T0 + 8, False)["total"]["count"] == 21  # [T0 + 1, T0 + 8)


@pytest.mark.parametrize("cap", [10, 12, 24])
def test_at_the_cap_the_report_says_truncated_and_up_to_when(store: SqliteStore, monkeypatch: pytest.MonkeyPatch,
                                                             cap: int) -> None:
    monkeypatch.setattr(service, "COMPLAINT_PAGE", 4)
    monkeypatch.setattr(service, "MAX_COMPLAINTS", cap)
    r = complaint_report(store, "category", T0, T0 + 3600, False)
    assert (r["complaints_read"], r["truncated"], r["cap"]) == (cap, True, cap)
    assert r["total"]["count"] == cap and r["covered_until"] == T0 + (cap - 1) // 3


def test_exactly_the_cap_is_not_truncated(store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "COMPLAINT_PAGE", 5)
    monkeypatch.setattr(service, "MAX_COMPLAINTS", 25)
    r = complaint_report(store, "grid", T0, T0 + 3600, False)
    assert (r["complaints_read"], r["truncated"]) == (25, False)


def test_both_runtimes_answer_it_from_their_store(tmp_path: Path, pg_database: str) -> None:
    """The embedded Pipeline on SQLite and the Kafka front on PostgreSQL (built without a broker: reads only)."""
    from fenghuo.core.config import parse_config
    from fenghuo.core.settings import Settings
    from fenghuo.core.store.postgres import PostgresStore
    from fenghuo.runtime.embedded import Pipeline
    from fenghuo.runtime.kafka.front import KafkaFront
    from fenghuo.runtime.kafka.ingest_worker import make_kafka_ingest

    config = parse_config({"nodes": [{"id": "D", "name": "区", "kind": "district"},
                                     {"id": "G1", "name": "一号网格", "kind": "grid", "parent": "D",
                                      "centroid": [42.0, 2.0]}]})
    events = [Event("complaint", "311", T0 + i, "G1", f"c{i}", category="noise", text="t",
                    attrs={"satisfaction": 1 + i % 5, "closed": T0 + 60.0 + i, "target": T0 + 90.0})
              for i in range(50)]
    settings = Settings(data_dir=tmp_path, bus="kafka", kafka_bootstrap="127.0.0.1:9")
    pg = PostgresStore(pg_database)
    sqlite = SqliteStore(tmp_path / "p.sqlite")
    built = [KafkaFront(settings, config, pg, make_kafka_ingest(settings, config)),
             Pipeline(Settings(data_dir=tmp_path), config, sqlite, notifiers={})]
    try:
        answers = []
        for svc in built:
            svc.store.add_events(events, T0)
            answers.append(svc.complaint_report("category", T0, T0 + 3600, False))
        assert answers[0] == answers[1]
        (noise,) = answers[0]["groups"]
        assert (noise["count"], noise["resolved"], noise["on_time"], noise["rated"]) == (50, 50, 31, 50)
        assert (noise["satisfaction_mean"], noise["satisfied_share"]) == (3.0, 0.4)
    finally:
        pg.close()
        sqlite.close()
