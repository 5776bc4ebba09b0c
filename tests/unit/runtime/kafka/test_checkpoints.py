"""The detector worker's checkpoints (no broker): a batch's offsets are committed only once the states it changed are
in the changelog; between checkpoints the batches go on with the very state objects, not a decoding of the bytes;
a rebalance checkpoints, commits and forgets the revoked partitions' states.

The faust table and consumer are stood in for by the few members the drain and the states use (the broker tests in
tests/integration/kafka run the real ones: SIGKILL mid-replay, rebalances)."""

from __future__ import annotations

import asyncio
from collections import namedtuple
from typing import Any

from fenghuo.core.config import Rule
from fenghuo.core.models import Event
from fenghuo.runtime.kafka.batch_drain import BatchDrain
from fenghuo.runtime.kafka.changelog import OversizedStates
from fenghuo.runtime.kafka.checkpoints import DirtyStates
from fenghuo.runtime.kafka.grid_runner import GridRunner, GridState

TP = namedtuple("TP", "topic partition")
Record = namedtuple("Record", "topic partition offset key value")
RULE = Rule.model_validate({"id": "r", "feed": "sensor", "metric": "m", "direction": "above",
                            "levels": {"blue": 1, "yellow": 2, "orange": 3, "red": 4}})


class Table(dict):
    """A table's memory and its changelog (what was sent, in order); ``broken``: the changelog refuses writes."""

    def __init__(self) -> None:
        super().__init__()
        self.changelog: list[tuple[bytes, bytes]] = []
        self.broken = False

    @property
    def data(self) -> Table:
        return self

    async def send_changelog(self, partition: int, key: bytes, value: bytes) -> None:
        if self.broken:
            raise ConnectionError("changelog unavailable")
        self.changelog.append((key, value))


class Consumer:
    flow_active = True

    def __init__(self) -> None:
        self._buffered_partitions: set[Any] = set()
        self._read_offset: dict[Any, int] = {}
        self.committed: dict[Any, int] = {}

    async def _commit_offsets(self, offsets: dict[Any, int]) -> None:
        self.committed.update(offsets)


class App:
    consumer_generation_id = 1

    def __init__(self) -> None:
        self.consumer = Consumer()


def worker(interval: float = 10.0) -> tuple[BatchDrain, DirtyStates, Table, App, list[Any]]:
    """A drain whose one handler runs each record as a reading of its key's grid (partition = the key's number)."""
    table, app, runner = Table(), App(), GridRunner([RULE])
    states = DirtyStates(table, "grid", lambda key: int(key[1:]), OversizedStates(1 << 20), ["ev"])
    signals: list[Any] = []

    async def handle(by_tp: dict[Any, list[Any]]) -> None:
        for recs in by_tp.values():
            for r in recs:
                gs = states.get(r.key)
                ev = Event(feed="sensor", source="s", ts=float(r.offset), grid=r.key.decode(), id=str(r.offset),
                           metric="m", value=r.value)
                signals.extend(runner.run(gs, [(ev, (r.topic, r.partition, r.offset), None)]).signals)
                states.changed(r.key, gs)

    drain = BatchDrain({"ev": handle}, clock=lambda: 0.0, checkpoint=states.write, checkpoint_interval=interval,
                       forget=states.forget)
    return drain, states, table, app, signals


def batch(drain: BatchDrain, app: App, *records: Record) -> None:
    by_tp: dict[Any, list[Any]] = {}
    for r in records:
        by_tp.setdefault(TP(r.topic, r.partition), []).append(r)
    asyncio.run(drain.dispatch(app, app.consumer, by_tp, None, 1))


def test_offsets_are_committed_only_after_the_states_of_their_batches_are_in_the_changelog() -> None:
    drain, states, table, app, _ = worker()
    batch(drain, app, Record("ev", 0, 5, b"G0", 3.5))
    batch(drain, app, Record("ev", 0, 6, b"G0", 0.5), Record("ev", 1, 2, b"G1", 1.5))
    asyncio.run(drain.commit(app.consumer))
    assert app.consumer.committed == {} and table.changelog == []  # two batches, nothing written nor committed
    asyncio.run(drain.checkpoint_then_commit(app.consumer))
    assert sorted(k for k, _ in table.changelog) == [b"G0", b"G1"]  # one record per grid for both batches
    assert app.consumer.committed == {TP("ev", 0): 7, TP("ev", 1): 3}
    restored = GridState.loads(bytes(table.changelog[0][1]))  # what a replacement worker would read
    assert restored.offsets == {("ev", 0): 6}


def test_the_next_batch_goes_on_with_the_object_written_and_a_replacement_restores_the_same_state() -> None:
    drain, states, table, app, signals = worker()
    batch(drain, app, Record("ev", 0, 5, b"G0", 3.5))  # orange
    first = states.get(b"G0")
    asyncio.run(drain.checkpoint_now())
    assert states.get(b"G0") is first  # taken back from the bytes written, not decoded
    batch(drain, app, Record("ev", 0, 6, b"G0", 4.5))  # red: the hysteresis state of the first batch is there
    assert [s.level.name_en for s in signals] == ["orange", "red"]
    # a replacement restores the last checkpoint (after offset 5): offset 5 is skipped by the restored offsets,
    # offset 6 runs again and raises the same red (the alert service drops the second one by its position)
    drain2, _, table2, app2, signals2 = worker()
    table2[b"G0"] = bytes(bytearray(table.changelog[-1][1]))  # a copy: decoded, as in another process
    batch(drain2, app2, Record("ev", 0, 5, b"G0", 3.5), Record("ev", 0, 6, b"G0", 4.5))
    assert [s.level.name_en for s in signals2] == ["red"]


def test_a_failed_checkpoint_commits_nothing_and_keeps_the_states_to_write_again() -> None:
    drain, states, table, app, _ = worker()
    batch(drain, app, Record("ev", 0, 5, b"G0", 3.5))
    table.broken = True
    try:
        asyncio.run(drain.checkpoint_then_commit(app.consumer))
    except ConnectionError:
        pass
    assert app.consumer.committed == {} and len(states) == 1
    table.broken = False
    asyncio.run(drain.checkpoint_then_commit(app.consumer))
    assert app.consumer.committed == {TP("ev", 0): 6} and [k for k, _ in table.changelog] == [b"G0"]


def test_a_rebalance_checkpoints_commits_and_forgets_the_revoked_partitions_states() -> None:
    drain, states, table, app, _ = worker()
    batch(drain, app, Record("ev", 0, 5, b"G0", 3.5), Record("ev", 1, 9, b"G1", 3.5))
    asyncio.run(drain.on_revoked(app, {TP("ev", 1)}))
    assert [k for k, _ in table.changelog] == [b"G0", b"G1"]  # every state changed is checkpointed
    assert app.consumer.committed == {TP("ev", 1): 10}  # the revoked partition's offsets are committed
    assert TP("ev", 0) in drain.pending  # the others at the next commit
    assert len(states) == 0


def test_with_no_interval_every_batch_is_checkpointed_as_before() -> None:
    drain, states, table, app, _ = worker(interval=0.0)
    for off in (1, 2, 3):
        batch(drain, app, Record("ev", 0, off, b"G0", 0.5))
        if drain.clock() - drain.last_checkpoint >= drain.checkpoint_interval:  # as the drain's loop does
            asyncio.run(drain.checkpoint_now())
    assert len(table.changelog) == 3 and drain.checkpoints == 3


def test_a_batch_that_does_not_finish_leaves_the_last_checkpoint_and_its_offsets_as_they_were() -> None:
    drain, states, table, app, _ = worker()
    batch(drain, app, Record("ev", 0, 5, b"G0", 3.5))
    asyncio.run(drain.checkpoint_then_commit(app.consumer))
    batch(drain, app, Record("ev", 0, 6, b"G0", 4.5))  # handled, not checkpointed

    async def cancelled(by_tp: dict[Any, list[Any]]) -> None:
        states.changed(b"G1", states.get(b"G1"))
        raise asyncio.CancelledError  # the worker stops in the middle of a batch (its signals may not be sent)

    drain.handlers["ev"] = cancelled
    try:
        batch(drain, app, Record("ev", 1, 1, b"G1", 3.5))
    except asyncio.CancelledError:
        pass
    asyncio.run(drain.checkpoint_then_commit(app.consumer))  # what the stopping fetcher does
    assert len(table.changelog) == 1 and app.consumer.committed == {TP("ev", 0): 6}
    assert GridState.loads(bytes(bytearray(table[b"G0"]))).offsets == {("ev", 0): 5}
