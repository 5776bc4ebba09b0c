"""Corroboration in the alert service, its state kept per grid in the store.

Corroboration (``detectors.fusion``) runs here, not in a detector stage: a grid's sensor and text
signals come from the grid stage and its complaint-burst signals from the district stage, both keyed
by the grid, so the alert service is the one place that sees them all. Its state is kept per grid in
the store (``FUSION_KEY + grid``, see :mod:`.state`) and saved in the batch's transaction, with the alert
changes and the applied positions.
"""

from __future__ import annotations

from collections.abc import Callable

from fenghuo.core.models import Signal
from fenghuo.detectors.fusion import Corroboration
from fenghuo.runtime.kafka.alert_service.state import FUSION_KEY, GroupKey, dump_groups, load_groups


class StoredCorroboration:
    """:class:`Corroboration` over the alert service's signal batches, its state kept per grid in the store.

    A grid's groups are read from the store (``FUSION_KEY + grid``) the first time one of its signals
    comes, and :meth:`run` returns, with the signals, the grid states to save in the same transaction as
    the alert changes (so a crash keeps both or neither). :meth:`forget` drops what is in memory, to be
    read again: after partitions moved (another instance may have run the grid meanwhile).

    >>> from fenghuo.core.levels import Level
    >>> from fenghuo.core.models import Risk
    >>> def sig(feed, detector, ts):
    ...     return Signal(detector, f"{feed}-rule", Risk.SAFETY, feed, "G1", f"G1/{feed}", "src", ts,
    ...                   Level.YELLOW, 1.0, "")
    >>> saved = {}
    >>> fusion = StoredCorroboration(Corroboration(), saved.get)
    >>> out, rx, state = fusion.run([sig("complaint", "burst", 0.0)], [1.0])
    >>> [s.kind for s in out], sorted(state)
    (['level'], ['kafka-alerts-fusion/G1'])
    >>> saved.update(state)
    >>> again = StoredCorroboration(Corroboration(), saved.get)  # a restarted alert service
    >>> out, rx, state = again.run([sig("sensor", "threshold", 600.0)], [2.0])
    >>> [(s.kind, s.certainty.value) for s in out], rx
    ([('level', 'Observed'), ('corroboration', 'Observed'), ('corroboration', 'Observed')], [2.0, 2.0, 2.0])
    """

    def __init__(self, fusion: Corroboration, load: Callable[[str], bytes | None]) -> None:
        self.fusion, self.load = fusion, load
        self.keys: dict[str, set[GroupKey]] = {}  # loaded grid -> its (drill, grid) group keys

    def _ensure(self, grid: str) -> set[GroupKey]:
        keys = self.keys.get(grid)
        if keys is None:
            raw = self.load(FUSION_KEY + grid)
            groups = load_groups(raw) if raw else {}
            self.fusion.groups.update(groups)
            keys = self.keys[grid] = set(groups)
        return keys

    def run(self, signals: list[Signal], rxs: list[float | None]
            ) -> tuple[list[Signal], list[float | None], dict[str, bytes]]:
        """The signals, each followed by the corroboration signals it causes (the embedded engine's post stage
        order), the receipt time of each, and the changed grids' states to save with them."""
        out: list[Signal] = []
        out_rx: list[float | None] = []
        grids: set[str] = set()
        for s, rx in zip(signals, rxs, strict=True):
            self._ensure(s.grid).add((s.drill, s.grid))
            grids.add(s.grid)
            out.append(s)
            out_rx.append(rx)
            for c in self.fusion.observe(s):
                out.append(c)
                out_rx.append(rx)
        return out, out_rx, {FUSION_KEY + g: self.dump(g) for g in sorted(grids)}

    def dump(self, grid: str) -> bytes:
        groups = self.fusion.groups
        return dump_groups({k: groups[k] for k in self._ensure(grid) if k in groups})

    def forget(self, grids: set[str] | None = None) -> None:
        """Drop these grids' state (all with None) from memory: the next signal reads it from the store."""
        for g in list(self.keys) if grids is None else grids:
            for k in self.keys.pop(g, ()):
                self.fusion.groups.pop(k, None)
