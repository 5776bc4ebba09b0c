"""The detector worker's states between two checkpoints: the grid (or district) states its batches changed, kept as
live objects in memory and written to the table's changelog together, every ``Settings.kafka_checkpoint_seconds``.

A batch reads a state from here when this worker changed it since the last checkpoint, else from the table's
bytes (:meth:`GridState.loads`, which takes back the objects kept beside the bytes last written), runs it and puts
it back (:meth:`DirtyStates.changed`); nothing is encoded or sent per batch. :meth:`DirtyStates.write` encodes
each state changed (``dumps`` of the very object the next batch goes on with) and writes them with
:func:`fenghuo.runtime.kafka.changelog.write_states`; the batch drain commits a batch's offsets only after such a
write (:class:`fenghuo.runtime.kafka.batch_drain.BatchDrain`). The table's changelog stays the truth for
recovery: a replacement worker restores the last checkpoint and runs the events after it again.
When partitions are revoked, their states are checkpointed and then forgotten here (:meth:`forget`): whoever owns
them next starts from the changelog.

>>> import asyncio
>>> class Table(dict):  # the part of a faust table used: get, data, send_changelog
...     data = property(lambda self: self)
...     async def send_changelog(self, partition, key, value): self.sent.append(key)
>>> table = Table(); table.sent = []
>>> from fenghuo.runtime.kafka.changelog import OversizedStates
>>> states = DirtyStates(table, "grid", lambda key: 0, OversizedStates(1 << 20), ["ev"])
>>> gs = states.get(b"G"); gs.offsets[("ev", 0)] = 7; states.changed(b"G", gs)
>>> states.get(b"G") is gs, table.sent  # changed, not written yet: the same object, nothing sent
(True, [])
>>> asyncio.run(states.write()); table.sent, len(states), GridState.loads(table[b"G"]).offsets
([b'G'], 0, {('ev', 0): 7})
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from fenghuo.runtime.kafka.changelog import OversizedStates, write_states
from fenghuo.runtime.kafka.grid_runner import GridState

MAX_UNACKED = 4096  # sends awaited at once when this many wait (else at the next state write)


class Unacked:
    """Records sent (signal batches, forwarded complaints) whose acknowledgement from Kafka is not awaited yet: a
    batch goes on to the next without waiting (the wait per batch left a worker with the models idle 40 % of the
    time); :meth:`DirtyStates.write` awaits them all before it writes a state, so a state written (and the offsets
    committed after it) never says more than Kafka has. A send that failed raises there: the checkpoint fails,
    nothing is written or committed, and the worker stops as on any failed write."""

    def __init__(self) -> None:
        self.futures: list[Any] = []

    def __len__(self) -> int:
        return len(self.futures)

    def add(self, futures: Iterable[Any]) -> None:
        self.futures.extend(futures)

    async def wait(self) -> None:
        futures, self.futures = self.futures, []
        if futures:
            await asyncio.gather(*futures)


class DirtyStates:
    """The states of one table (``what``: "grid" or "district") changed since the last checkpoint. ``topics``: the
    topics whose partition numbers are this table's keys' (a key's partition is ``partition_of(key)``)."""

    def __init__(self, table: Any, what: str, partition_of: Callable[[bytes], int], oversized: OversizedStates,
                 topics: Iterable[str], unacked: Unacked | None = None) -> None:
        self.table, self.what, self.partition_of, self.oversized = table, what, partition_of, oversized
        self.unacked = unacked  # the worker's sends not yet acknowledged: awaited before any state is written
        self.topics = frozenset(topics)
        self.states: dict[bytes, GridState] = {}
        self.written = 0  # states written by checkpoints (for the tests and the benchmark)

    def __len__(self) -> int:
        return len(self.states)

    def get(self, key: bytes) -> GridState:
        """The key's state to run: the one changed since the last checkpoint, else the table's."""
        gs = self.states.get(key)
        return gs if gs is not None else GridState.loads(self.table.get(key))

    def peek(self, key: bytes) -> GridState | None:
        """The key's state to look at (its due times), without taking it; None if there is none."""
        gs = self.states.get(key)
        if gs is not None:
            return gs
        raw = self.table.get(key)
        return GridState.peek(raw) if raw else None

    def changed(self, key: bytes, gs: GridState) -> None:
        self.states[key] = gs

    async def write(self, keys: Iterable[bytes] | None = None) -> None:
        """Encode every state changed (of ``keys`` only, if given) and write them to the changelog, waiting until
        Kafka has them. A tick writes its grids' states first this way, then ticks them from the table's bytes as
        before checkpoints (a tick that does not finish leaves the checkpointed state, not a half-ticked one)."""
        if self.unacked is not None:
            await self.unacked.wait()
        todo = list(self.states) if keys is None else [k for k in keys if k in self.states]
        if not todo:
            return
        writes = [(key, self.states[key].dumps()) for key in todo]
        await write_states(self.table, writes, self.partition_of, self.oversized, self.what)
        for key in todo:
            del self.states[key]
        self.written += len(writes)

    def forget(self, revoked: Iterable[Any] | None) -> None:
        """Drop the states of the revoked partitions (``TP``s; those of other topics are ignored; None: all)."""
        if revoked is None:
            self.states.clear()
            return
        parts = {tp.partition for tp in revoked if tp.topic in self.topics}
        for key in [k for k in self.states if self.partition_of(k) in parts]:
            del self.states[key]
