"""The alert worker drops signals a replaced detector worker re-sends, per grid: grids that share a
partition interleave their offsets, so one grid's progress must never hide another's signals."""

from __future__ import annotations

import pytest

pytest.importorskip("kafka")

from fenghuo.core.models import Risk, Signal  # noqa: E402
from fenghuo.runtime.kafka.alert_service.positions import Positions  # noqa: E402
from fenghuo.runtime.kafka.bus import SignalBatch  # noqa: E402


def signal(grid: str) -> Signal:
    return Signal("threshold", "r", Risk.SAFETY, "sensor", grid, f"{grid}/m", "s", 0.0, None, 1.0, "x")


def batch(grid: str, offsets: list[int]) -> SignalBatch:
    return SignalBatch(grid=grid, signals=[signal(grid) for _ in offsets], clock={}, rx=[],
                       positions=[[("fenghuo.events.sensor", 0, off)] for off in offsets])


def test_progress_of_one_grid_does_not_hide_another_grid_on_the_same_partition() -> None:
    positions = Positions(lambda key: None)  # only the bookkeeping: no store, no Kafka
    positions.commit("A", {("fenghuo.events.sensor", 0): 200})
    positions.commit("B", {})  # both grids' positions already read from the store
    kept, _ = positions.fresh(batch("B", [150, 199]))
    assert len(kept) == 2  # B's events at 150 and 199 were never applied
    kept, _ = positions.fresh(batch("A", [150, 201]))
    assert len(kept) == 1 and positions.redelivered == 1  # A's 150 was applied before a crash: dropped


def test_a_grid_s_positions_are_read_from_the_store_once_and_again_after_forget() -> None:
    from fenghuo.runtime.kafka.alert_service.state import GRID_POSITIONS_KEY, dump_positions

    saved = {GRID_POSITIONS_KEY + "A": dump_positions({("fenghuo.events.sensor", 0): 150})}
    reads: list[str] = []

    def load(key: str) -> bytes | None:
        reads.append(key)
        return saved.get(key)

    positions = Positions(load)
    kept, _ = positions.fresh(batch("A", [150, 151]))
    assert len(kept) == 1 and positions.redelivered == 1
    offsets = positions.advanced(batch("A", [151]))
    assert offsets == {("fenghuo.events.sensor", 0): 151}
    positions.commit("A", offsets)
    positions.fresh(batch("A", [152]))
    assert reads == [GRID_POSITIONS_KEY + "A"]  # held here since
    positions.forget()
    kept, _ = positions.fresh(batch("A", [151]))
    assert len(kept) == 1 and reads == [GRID_POSITIONS_KEY + "A"] * 2  # the store's 150 again: 151 is fresh


def test_a_rebalance_that_never_assigns_is_seen_as_stalled(monkeypatch: pytest.MonkeyPatch) -> None:
    """The consumer loops rejoin with a new consumer when kafka-python hangs in a rebalance."""
    import fenghuo.runtime.kafka.bus as bus

    assigned: list[int] = []
    watch = bus.rebalance_watch(lambda: assigned.append(1))
    assert not watch.stalled()  # never revoked
    watch.on_partitions_revoked(set())
    assert not watch.stalled()  # a rebalance just began
    monkeypatch.setattr(bus, "REBALANCE_STALL_S", -1.0)
    assert watch.stalled()  # ... and has not finished within the limit
    watch.on_partitions_assigned(set())
    assert not watch.stalled() and assigned == [1]
