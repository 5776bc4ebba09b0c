"""The embedded pipeline's ingest: each clock domain moves to its latest event, whatever the order of the batch."""

from __future__ import annotations

from pathlib import Path

from fenghuo.core.clock import FixedClock
from fenghuo.core.config import parse_config
from fenghuo.core.settings import Settings
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.runtime.embedded import Pipeline

NOW = 1_600_000_000.0  # 2020-09-13


def reading(ts: float, drill: str | None = None, source: str = "g1") -> dict[str, object]:
    rec: dict[str, object] = {"feed": "sensor", "source": source, "ts": ts, "grid": "G1",
                              "metric": "water_level_m", "value": 1.0}
    if drill:
        rec["drill"] = drill
    return rec


def test_each_clock_moves_to_its_latest_event_and_never_back(tmp_path: Path) -> None:
    config = parse_config({"nodes": [{"id": "D", "name": "区", "kind": "district"},
                                     {"id": "G1", "name": "一号网格", "kind": "grid", "parent": "D",
                                      "centroid": [42.0, 2.0]}]})
    p = Pipeline(Settings(data_dir=tmp_path, clock="event"), config, SqliteStore(tmp_path / "db.sqlite"),
                 FixedClock(NOW), notifiers={})
    try:
        result = p.ingest([reading(NOW - 50), reading(100.0, "flood"), reading(NOW - 90, source="g2"),
                           reading(300.0, "flood", "g2"), reading(200.0, "flood", "g3"), reading(50.0, "storm")])
        assert (result.accepted, result.rejected) == (6, [])
        assert (p.clocks.now_of(None), p.clocks.now_of("flood"), p.clocks.now_of("storm")) == (NOW - 50, 300.0, 50.0)
        p.ingest([reading(NOW - 70, source="g3"), reading(250.0, "flood", "g4")])  # older: the clocks stay
        assert (p.clocks.now_of(None), p.clocks.now_of("flood")) == (NOW - 50, 300.0)
        assert list(p.clocks.drills) == ["storm", "flood"]  # in the order of their first event in time
    finally:
        p.store.close()
