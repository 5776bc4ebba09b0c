"""Applied source positions per grid: which signals of a batch were applied before.

A signal batch carries, per signal, the source events it came from ((topic, partition, offset) each).
A replaced detector worker re-runs the events after its last saved state, so it may send signals
the alert service already applied. The alert service keeps, per (grid, topic, partition), the
highest offset applied, and drops a signal whose source events are all at or below it. Grids that
share a partition interleave their offsets, so the positions are kept per grid: one grid's progress
never hides another's signals.

A grid's positions are read from the store (``GRID_POSITIONS_KEY + grid``) the first time one of its
batches comes, saved in the transaction of the batch's alert changes, and forgotten when partitions
move (another instance may have applied more since).

>>> from fenghuo.core.models import Risk, Signal
>>> from fenghuo.runtime.kafka.bus import SignalBatch
>>> def batch(grid, offsets):
...     sig = Signal("threshold", "r", Risk.SAFETY, "sensor", grid, f"{grid}/m", "s", 0.0, None, 1.0, "x")
...     return SignalBatch(grid, [sig] * len(offsets), {}, [], [[("t", 0, off)] for off in offsets])
>>> positions = Positions(lambda key: None)
>>> positions.commit("A", {("t", 0): 200})
>>> kept, _ = positions.fresh(batch("A", [150, 201]))
>>> len(kept), positions.redelivered, positions.advanced(batch("A", [150, 201]))
(1, 1, {('t', 0): 201})
"""

from __future__ import annotations

from collections.abc import Callable

from fenghuo.core.models import Signal
from fenghuo.runtime.kafka.alert_service.state import (
    GRID_POSITIONS_KEY,
    POSITIONS_KEY,
    Offsets,
    dump_positions,
    load_legacy_positions,
    load_positions,
)
from fenghuo.runtime.kafka.bus import SignalBatch

GridPosition = tuple[str, str, int]  # (grid, topic, partition)


class Positions:
    """The highest applied offset per (grid, topic, partition), read per grid through ``load``.

    ``legacy`` holds the positions of every grid saved in one piece by an older release (``POSITIONS_KEY``):
    a grid with nothing saved under its own key starts from those.
    """

    def __init__(self, load: Callable[[str], bytes | None],
                 legacy: dict[GridPosition, int] | None = None) -> None:
        self.load = load
        self.legacy: dict[GridPosition, int] = dict(legacy or {})
        self.applied: dict[GridPosition, int] = {}
        self.grids: set[str] = set()  # grids whose positions this instance holds
        self.redelivered = 0  # signals dropped as already applied

    @classmethod
    def from_store(cls, load: Callable[[str], bytes | None]) -> Positions:
        """Positions read through ``load`` (the store's ``get_state``), with an older release's single dict."""
        raw = load(POSITIONS_KEY)
        return cls(load, load_legacy_positions(raw) if raw else {})

    def of(self, grid: str) -> Offsets:
        """A grid's applied offsets, read from the store unless this instance already holds them."""
        if grid not in self.grids:
            raw = self.load(GRID_POSITIONS_KEY + grid)
            if raw:
                found = {(grid, t, p): off for (t, p), off in load_positions(raw).items()}
            else:
                found = {k: v for k, v in self.legacy.items() if k[0] == grid}
            self.applied.update(found)
            self.grids.add(grid)
        return {(t, p): off for (g, t, p), off in self.applied.items() if g == grid}

    def fresh(self, batch: SignalBatch) -> tuple[list[Signal], list[float | None]]:
        """The batch's signals not applied before (and their receipt times): a signal whose source events are
        all at or below the highest offset applied for their grid and partition came from events a replaced
        detector worker had already processed (its state was saved just before theirs was; the replacement
        re-runs them)."""
        self.of(batch.grid)
        keep: list[Signal] = []
        rxs: list[float | None] = []
        rx = batch.rx + [None] * (len(batch.signals) - len(batch.rx))
        for sig, where, r in zip(batch.signals, batch.positions or [[]] * len(batch.signals), rx, strict=False):
            if not where or any(off > self.applied.get((batch.grid, t, p), -1) for t, p, off in where):
                keep.append(sig)
                rxs.append(r)
            else:
                self.redelivered += 1
        return keep, rxs

    def advanced(self, batch: SignalBatch) -> Offsets:
        """The batch's grid's offsets once the batch is applied (per grid: grids sharing a partition interleave
        their offsets); nothing changes here until :meth:`commit`."""
        offsets = self.of(batch.grid)
        for where in batch.positions:
            for t, p, off in where:
                if off > offsets.get((t, p), -1):
                    offsets[(t, p)] = off
        return offsets

    def state(self, grid: str, offsets: Offsets) -> dict[str, bytes]:
        """The store state to save with the batch's changes: the grid's offsets under its own key."""
        return {GRID_POSITIONS_KEY + grid: dump_positions(offsets)}

    def commit(self, grid: str, offsets: Offsets) -> None:
        """The batch was stored: these are now the grid's applied offsets here."""
        self.applied.update(((grid, t, p), off) for (t, p), off in offsets.items())
        self.grids.add(grid)

    def forget(self) -> None:
        """Drop every grid's positions: each is read again from the store (another instance may have applied
        more)."""
        self.applied = {}
        self.grids.clear()
