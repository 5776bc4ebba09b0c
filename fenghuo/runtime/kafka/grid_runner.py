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

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fenghuo.core import state as saved
from fenghuo.core.config import Detectors, Rule
from fenghuo.core.models import Event, Signal
from fenghuo.detectors.engine import ChainFn, DetectorEngine, _no_chain
from fenghuo.runtime import topology

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


GRID_STATE_VERSION = 1
KEEP_LIVE = 4096  # grid states kept as objects beside the bytes last written for them (see GridState.loads)
_live: OrderedDict[bytes, GridState] = OrderedDict()


@dataclass(slots=True)
class GridState:
    """One grid's state in the worker's table: the engine's state for its series, the offset last applied
    per source partition and the recent event ids. Written as versioned data (:mod:`fenghuo.core.state`,
    kind ``grid-state``), never a pickle; a pickle of the previous release (0.1.0) is still read once.

    ``state`` is in one of three forms (``form``): ``"plain"``, the engine's :meth:`DetectorEngine.snapshot`
    as read from the table (or empty); ``"live"``, the engine's :meth:`DetectorEngine.live_state` after a run
    (``encode`` turns it into the plain form); ``"legacy"``, the previous release's unpickled snapshot.

    Per batch the worker reads a state from the table, runs it and writes it back. The bytes it writes are
    the ones it reads next (the table keeps them), so :meth:`dumps` keeps the state's objects beside them and
    :meth:`loads` of those very bytes takes the objects back instead of decoding: a batch pays for one
    encoding, not a decoding as well (a crash in between leaves nothing kept: the bytes are decoded).

    >>> gs = GridState(offsets={("t", 0): 5}, ids={"s/a": None})
    >>> back = GridState.loads(gs.dumps())
    >>> back.offsets, back.ids, back.form
    ({('t', 0): 5}, {'s/a': None}, 'plain')
    """

    state: dict[Any, Any] = field(default_factory=dict)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    ids: dict[str, None] = field(default_factory=dict)  # insertion-ordered: the oldest go first
    form: str = "plain"
    encode: Callable[[dict[str, Any]], dict[str, Any]] | None = field(default=None, repr=False, compare=False)
    written: bytes | None = field(default=None, repr=False, compare=False)  # the bytes kept beside it

    def forget_written(self) -> None:
        """About to change: the bytes last written no longer stand for it (a loads of them decodes them)."""
        if self.written is not None:
            if _live.get(self.written) is self:
                del _live[self.written]
            self.written = None

    def dumps(self) -> bytes:
        if self.form == "plain":
            engine = self.state
        elif self.form == "live" and self.encode is not None:
            engine = self.encode(self.state)
        else:
            raise ValueError("a grid state of the previous release is written only after a GridRunner ran it")
        raw = saved.dumps("grid-state", GRID_STATE_VERSION, {
            "engine": engine, "offsets": [[t, p, o] for (t, p), o in self.offsets.items()], "ids": list(self.ids)},
            objects=True)  # written by msgpack's packer from the objects: no plain copy made per batch
        if self.form == "live":
            self.forget_written()
            _live[raw], self.written = self, raw
            if len(_live) > KEEP_LIVE:
                _live.popitem(last=False)[1].written = None
        return raw

    @classmethod
    def loads(cls, raw: bytes | None) -> GridState:
        """The state written as ``raw`` (empty for None); StateVersionError for a state this release cannot
        read (another kind, an unknown version): the worker stops rather than forget what a grid learned."""
        if not raw:
            return cls()
        kept = _live.pop(raw, None)
        if kept is not None:
            kept.written = None
            return kept
        if not saved.is_state(raw):  # a pickle of the previous release
            found = saved.legacy_unpickle(raw)
            if not (isinstance(found, (tuple, list)) and len(found) == 3 and isinstance(found[0], dict)):
                raise saved.StateVersionError("saved grid-state is a pickle, but not of a grid's state")
            state, offsets, ids = found
            return cls(state if "state" in state else {"state": state}, dict(offsets), dict(ids), "legacy")
        data = saved.loads(raw, "grid-state", {GRID_STATE_VERSION: lambda d: d}, objects=True)
        return cls(data["engine"], {(t, p): o for t, p, o in data["offsets"]}, dict.fromkeys(data["ids"]))


class GridRunner:
    """A DetectorEngine run one grid at a time, with that grid's state swapped in: its rule state and
    the state of the configured model detectors of ``scopes`` (the same ``detectors:`` section as the
    embedded run; None: every scope, for a section split already; the detector worker's grid stage
    passes :data:`fenghuo.runtime.topology.GRID`)."""

    def __init__(self, rules: Iterable[Rule] = (), chain: ChainFn = _no_chain, models: Detectors | None = None,
                 cache_dir: Any = None, max_ids: int = MAX_IDS, scopes: Iterable[str] | None = None) -> None:
        self.engine = DetectorEngine(rules, chain)
        if models is not None:
            topology.add_detectors(self.engine, models, scopes, cache_dir)
        self.max_ids = max_ids
        self.skipped = 0

    def set_rules(self, rules: Iterable[Rule]) -> None:
        self.engine.set_rules(rules)

    def _swap_in(self, gs: GridState) -> None:
        """The grid's state into the engine, from whichever form it is in."""
        if gs.form == "live":
            self.engine.use_live_state(gs.state)
        elif gs.form == "legacy":
            self.engine.restore_legacy(gs.state)
        else:
            self.engine.restore(gs.state)

    def run(self, gs: GridState, items: list[tuple[Event, Where, float | None]]) -> GridBatch:
        """Process one grid's events (as taken from Kafka) and advance its state.

        Watermarks are the latest event time per clock domain ("" = real, else the drill).
        """
        gs.forget_written()
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
            if gs.form != "live":
                self._swap_in(gs)
                gs.state, gs.form, gs.encode = self.engine.live_state(), "live", self.engine.state_data
            return GridBatch()
        if any(fresh[i][0].ts > fresh[i + 1][0].ts for i in range(len(fresh) - 1)):
            fresh.sort(key=lambda p: p[0].ts)
        events = [e for e, _ in fresh]
        self._swap_in(gs)
        signals = self.engine.process(events)
        gs.state, gs.form, gs.encode = self.engine.live_state(), "live", self.engine.state_data
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
