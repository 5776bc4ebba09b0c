"""Applied positions in the distributed alert service are kept per grid, so partitions moving between two
instances never re-apply a batch the other instance already applied (no Kafka needed: the batch step)."""

from __future__ import annotations

import pickle
from pathlib import Path

from fenghuo.core.config import parse_config
from fenghuo.core.levels import Level
from fenghuo.core.models import Risk, Signal
from fenghuo.core.settings import Settings
from fenghuo.core.store import open_store
from fenghuo.runtime.kafka.alert_service.worker import GRID_POSITIONS_KEY, POSITIONS_KEY, AlertWorker
from fenghuo.runtime.kafka.bus import Topics, batch_to_wire

CONFIG = parse_config({
    "nodes": [{"id": "D", "name": "区", "kind": "district"},
              {"id": "G1", "name": "网格一", "kind": "grid", "parent": "D", "centroid": [0, 0]},
              {"id": "G2", "name": "网格二", "kind": "grid", "parent": "D", "centroid": [1, 1]}],
    "rules": [{"id": "gas", "metric": "gas_ppm", "levels": {"yellow": 20, "red": 50}}],
})


def level_batch(grid: str, ts: float, level: Level, offset: int) -> bytes:
    sig = Signal("threshold", "gas", Risk.SAFETY, "sensor", grid, f"{grid}/gas_ppm/s", "s", ts, level, 60.0,
                 "gas above")
    return batch_to_wire(grid, [sig], {"": ts}, [None], [[("fenghuo.events.sensor", 0, offset)]])


def worker(tmp: Path, name: str, store_url: str) -> AlertWorker:
    settings = Settings(data_dir=tmp / name, clock="event", store_url=store_url)
    return AlertWorker(settings, CONFIG, open_store(store_url, tmp), Topics("x"), notifiers={})


def timeline(w: AlertWorker, grid: str) -> list[str]:
    [alert] = [a for a in w.store.open_alerts() if a.grid == grid]
    return [e.kind for e in alert.timeline]


def test_a_batch_applied_by_one_instance_is_not_applied_again_by_the_next_owner(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    a = worker(tmp_path, "a", url)
    b = worker(tmp_path, "b", url)  # started before a applies anything: its view of positions is empty
    a.apply_record(level_batch("G1", 1000.0, Level.YELLOW, 5))
    a.apply_record(level_batch("G1", 1100.0, Level.RED, 6))
    b.apply_record(level_batch("G2", 1000.0, Level.YELLOW, 7))
    before = timeline(a, "G1")
    # G1's partition moves to b; its consumer offsets were not committed, so Kafka redelivers both batches
    b.reload()
    b.apply_record(level_batch("G1", 1000.0, Level.YELLOW, 5))
    b.apply_record(level_batch("G1", 1100.0, Level.RED, 6))
    assert b.redelivered == 2
    assert timeline(b, "G1") == before
    # and a, saving its state, does not overwrite what b holds for G2
    a.save_state()
    b.reload()
    b.apply_record(level_batch("G2", 1000.0, Level.YELLOW, 7))
    assert b.redelivered == 3


def test_positions_saved_by_an_older_version_still_count(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    a = worker(tmp_path, "a", url)
    a.apply_record(level_batch("G1", 1000.0, Level.YELLOW, 5))
    a.store.put_state(POSITIONS_KEY, pickle.dumps({("G1", "fenghuo.events.sensor", 0): 5}))
    a.store.put_state(GRID_POSITIONS_KEY + "G1", b"")  # as if never written per grid
    b = worker(tmp_path, "b", url)
    b.apply_record(level_batch("G1", 1000.0, Level.YELLOW, 5))
    assert b.redelivered == 1
