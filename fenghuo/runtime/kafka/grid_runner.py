"""One grid's detector state and the step that runs a batch of its events: the pure part of the
faust detector worker (no Kafka, no faust), so it is tested and benchmarked on its own.

The state of a grid is everything the worker needs to continue after a crash: the engine's
state for that grid's series, the Kafka offset last applied per source partition (so a
redelivered event is skipped exactly) and a bounded set of recent event ids (so the same
reading sent twice by a client counts once, as the embedded store's (source, id) keys ensure).

>>> from fenghuo.core.config import Rule
>>> rule = Rule.model_validate({"id": "r", "feed": "sensor", "metric": "m", "direction": "above",
...                             "levels": {"blue": 1, "yellow": 2, "orange": 3, "red": 4}})
>>> runner = GridRunner([rule])
>>> st = GridState()
>>> ev = Event(feed="sensor", source="s", ts=10.0, grid="G", id="a", metric="m", value=3.5)
>>> out = runner.run(st, [(ev, ("t", 0, 5), 1.0)])
>>> [s.level.name_en for s in out.signals], out.clock, out.positions
(['orange'], {'': 10.0}, [[('t', 0, 5)]])
>>> runner.run(st, [(ev, ("t", 0, 5), 1.0)]).signals  # the same offset again: skipped
[]
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fenghuo.core.config import Detectors, Rule
from fenghuo.core.models import Event, Signal
from fenghuo.detectors.engine import ChainFn, DetectorEngine, _no_chain
from fenghuo.detectors.registry import add_models

MAX_IDS = 1024
Where = tuple[str, int, int]  # (topic, partition, offset)


@dataclass(slots=True)
class GridBatch:
    """What one grid's batch gave: signals in order, the event-time watermark per clock domain, the
    receipt time of each signal's event, and each signal's source position(s) in Kafka (its event's;
    every position of the batch for a signal without one), so the alert service can drop a signal it
    already applied when a replacement worker re-runs events the dead one had already turned into signals.
    ``events`` are the events run (not skipped), in the order the engine saw them.
    """

    signals: list[Signal] = field(default_factory=list)
    clock: dict[str, float] = field(default_factory=dict)
    rx: list[float | None] = field(default_factory=list)
    positions: list[list[Where]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


@dataclass(slots=True)
class GridState:
    state: dict[Any, Any] = field(default_factory=dict)  # the engine's snapshot for this grid
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    ids: dict[str, None] = field(default_factory=dict)  # insertion-ordered: the oldest go first

    def dumps(self) -> bytes:
        return pickle.dumps((self.state, self.offsets, self.ids), protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def loads(cls, raw: bytes | None) -> GridState:
        if not raw:
            return cls()
        state, offsets, ids = pickle.loads(raw)
        return cls(state, offsets, ids)


def _without_fusion(snap: dict[str, Any], models: int) -> dict[str, Any]:
    """A grid state saved while corroboration still ran in the grid stage (its snapshot, ``{"groups": ...}``,
    was the last model's) restored into an engine without it: drop that snapshot, so the other models keep
    their state (the engine starts every model afresh when the counts differ). Corroboration now runs in the
    alert service (see fenghuo/runtime/kafka/alert_service/worker.py).

    >>> _without_fusion({"state": {}, "models": [{"a": 1}, {"groups": {}}]}, 1)["models"]
    [{'a': 1}]
    >>> _without_fusion({"state": {}, "models": [{"a": 1}]}, 1)["models"]
    [{'a': 1}]
    """
    saved = snap.get("models")
    if saved and len(saved) == models + 1 and isinstance(saved[-1], dict) and set(saved[-1]) == {"groups"}:
        return {**snap, "models": saved[:-1]}
    return snap


class GridRunner:
    """A DetectorEngine run one grid at a time, with that grid's state swapped in: its rule state and
    the state of the configured model detectors (the same ``detectors:`` section as the embedded run)."""

    def __init__(self, rules: Iterable[Rule] = (), chain: ChainFn = _no_chain, models: Detectors | None = None,
                 cache_dir: Any = None, max_ids: int = MAX_IDS) -> None:
        self.engine = DetectorEngine(rules, chain)
        if models is not None:
            add_models(self.engine, models, cache_dir)
        self.n_models = len(self.engine.snapshot()["models"])  # fixed at start (rules change, models do not)
        self.max_ids = max_ids
        self.skipped = 0

    def set_rules(self, rules: Iterable[Rule]) -> None:
        self.engine.set_rules(rules)

    def run(self, gs: GridState, items: list[tuple[Event, Where, float | None]]) -> GridBatch:
        """Process one grid's events (as taken from Kafka) and advance its state.

        Watermarks are the latest event time per clock domain ("" = real, else the drill).
        """
        fresh: list[tuple[Event, float | None]] = []
        where: dict[str, Where] = {}
        for e, (topic, part, off), rx in items:
            tp = (topic, part)
            if off <= gs.offsets.get(tp, -1):
                self.skipped += 1
                continue
            gs.offsets[tp] = off
            key = f"{e.source}\x1f{e.id}"  # ids are unique per source: another source's id is another event
            if key in gs.ids:
                self.skipped += 1
                continue
            gs.ids[key] = None
            fresh.append((e, rx))
            where[e.id] = (topic, part, off)
        if len(gs.ids) > self.max_ids:
            for old in list(gs.ids)[: len(gs.ids) - self.max_ids]:
                del gs.ids[old]
        if not fresh:
            return GridBatch()
        if any(fresh[i][0].ts > fresh[i + 1][0].ts for i in range(len(fresh) - 1)):
            fresh.sort(key=lambda p: p[0].ts)
        events = [e for e, _ in fresh]
        self.engine.restore(_without_fusion(gs.state if "state" in gs.state else {"state": gs.state},
                                            self.n_models))
        signals = self.engine.process(events)
        gs.state = self.engine.snapshot()
        clock: dict[str, float] = {}
        for e in events:
            d = e.drill or ""
            if e.ts > clock.get(d, float("-inf")):
                clock[d] = e.ts
        rx_of = {e.id: rx for e, rx in fresh}
        latest = max((rx for _, rx in fresh if rx is not None), default=None)
        rxs = [rx_of.get(str(s.evidence.get("event")), latest) for s in signals]
        everywhere = list(where.values())
        pos = [[where[ev]] if (ev := str(s.evidence.get("event"))) in where else everywhere for s in signals]
        return GridBatch(signals, clock, rxs, pos, events)
