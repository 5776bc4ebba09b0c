"""One grid's detector state and the step that runs a batch of its events: the pure part of the
faust detector worker (no Kafka, no faust), so it is tested and benchmarked on its own.

The state of a grid is everything the worker needs to continue after a crash: the engine's
state for that grid's series, the Kafka offset last applied per source partition (so a
redelivered event is skipped exactly) and a bounded set of recent event ids (so the same
reading sent twice by a client counts once, as the embedded store's (source, id) keys ensure), each kept as
an 8-byte digest of its source and id (:func:`id_key`).

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

import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
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
    ``events`` are the events run (not skipped), in the order the engine saw them. ``due``: per clock domain,
    the earliest time a tick of this grid could raise something (:meth:`DetectorEngine.next_due`), so the worker
    keeps every grid's due times in memory and loads a grid's state only when one has passed.
    A tick's signals (:meth:`GridRunner.tick`) carry no position (``[]``): the alert service applies a signal
    without positions as fresh.
    """

    signals: list[Signal] = field(default_factory=list)
    clock: dict[str, float] = field(default_factory=dict)
    rx: list[float | None] = field(default_factory=list)
    positions: list[list[Where]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    due: dict[str, float] = field(default_factory=dict)  # the grid's engine.next_due() after the step


GRID_STATE_VERSION = 2  # 2: the recent ids as 8-byte digests in one bytes value (1: a list of "source\x1fid")
ID_BYTES = 8  # a recent id's digest: two ids in 2**64 share one (a repeat of 8,192 ids at most is looked for)


def id_key(source: str, event_id: str) -> bytes:
    """How a grid's (or a district's) state keeps an event's id among its recent ids: a digest of the source and
    the id (ids are unique per source: another source's id is another event), 8 bytes whatever their length.

    >>> id_key("s", "a").hex(), id_key("s", "a") == id_key("s", "a"), id_key("s", "a") == id_key("t", "a")
    ('b05729b4c8abf6ec', True, False)
    """
    return hashlib.blake2b(f"{source}\x1f{event_id}".encode(), digest_size=ID_BYTES).digest()


def _ids_v1(ids: Iterable[str]) -> dict[bytes, None]:
    """Version 1's recent ids ("source\\x1fid" strings) as digests, in their order."""
    return dict.fromkeys(hashlib.blake2b(k.encode(), digest_size=ID_BYTES).digest() for k in ids)


def _from_v1(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "ids": b"".join(_ids_v1(data["ids"]))}


def _ids_v2(packed: bytes) -> dict[bytes, None]:
    return dict.fromkeys(packed[i: i + ID_BYTES] for i in range(0, len(packed), ID_BYTES))


KEEP_LIVE = 4096  # grid states kept as objects beside the bytes last written for them (see GridState.loads)
_live: OrderedDict[bytes, GridState] = OrderedDict()


@dataclass(slots=True)
class GridState:
    """One grid's state in the worker's table: the engine's state for its series, the offset last applied
    per source partition and the recent event ids (:func:`id_key` digests, oldest first). Written as versioned data
    (:mod:`fenghuo.core.state`, kind ``grid-state``; version 2 writes the ids as one bytes value, version 1's list of
    strings is still read), never a pickle; a pickle of the previous release (0.1.0) is still read once.

    ``state`` is in one of three forms (``form``): ``"plain"``, the engine's :meth:`DetectorEngine.snapshot`
    as read from the table (or empty); ``"live"``, the engine's :meth:`DetectorEngine.live_state` after a run
    (``encode`` turns it into the plain form); ``"legacy"``, the previous release's unpickled snapshot.

    Per batch the worker reads a state from the table, runs it and writes it back. The bytes it writes are
    the ones it reads next (the table keeps them), so :meth:`dumps` keeps the state's objects beside them and
    :meth:`loads` of those very bytes takes the objects back instead of decoding: a batch pays for one
    encoding, not a decoding as well (a crash in between leaves nothing kept: the bytes are decoded).

    >>> gs = GridState(offsets={("t", 0): 5}, ids={id_key("s", "a"): None})
    >>> back = GridState.loads(gs.dumps())
    >>> back.offsets, list(back.ids) == [id_key("s", "a")], back.form
    ({('t', 0): 5}, True, 'plain')
    >>> v1 = saved.dumps("grid-state", 1, {"engine": {}, "offsets": [["t", 0, 5]], "ids": ["s\\x1fa"]})
    >>> list(GridState.loads(v1).ids) == [id_key("s", "a")]
    True
    """

    state: dict[Any, Any] = field(default_factory=dict)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    ids: dict[bytes, None] = field(default_factory=dict)  # id_key digests, insertion-ordered: the oldest go first
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
            "engine": engine, "offsets": [[t, p, o] for (t, p), o in self.offsets.items()], "ids": b"".join(self.ids)},
            objects=True)  # written by msgpack's packer from the objects: no plain copy made per batch
        if self.form == "live":
            self.forget_written()
            _live[raw], self.written = self, raw
            if len(_live) > KEEP_LIVE:
                _live.popitem(last=False)[1].written = None
        return raw

    @classmethod
    def peek(cls, raw: bytes) -> GridState:
        """The state written as ``raw`` to look at (its due times), leaving the objects kept beside those bytes
        where they are: the next :meth:`loads` of them still takes the objects instead of decoding."""
        kept = _live.get(raw)
        return kept if kept is not None else cls.loads(raw)

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
            return cls(state if "state" in state else {"state": state}, dict(offsets), _ids_v1(ids), "legacy")
        data = saved.loads(raw, "grid-state", {1: _from_v1, GRID_STATE_VERSION: lambda d: d}, objects=True)
        return cls(data["engine"], {(t, p): o for t, p, o in data["offsets"]}, _ids_v2(data["ids"]))


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

    def set_rules(self, rules: Iterable[Rule], versions: Mapping[str, int] | None = None) -> None:
        self.engine.set_rules(rules, versions)

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
        fresh: list[Event] = []
        rxs_in: list[float | None] = []
        where: dict[str, Where] = {}
        offsets, ids, digest = gs.offsets, gs.ids, hashlib.blake2b
        clock: dict[str, float] = {}
        ordered, last_ts = True, -math.inf
        skipped = 0
        for e, (topic, part, off), rx in items:
            tp = (topic, part)
            if off <= offsets.get(tp, -1):
                skipped += 1
                continue
            offsets[tp] = off
            key = digest(f"{e.source}\x1f{e.id}".encode(), digest_size=ID_BYTES).digest()  # id_key, inlined
            if key in ids:
                skipped += 1
                continue
            ids[key] = None
            fresh.append(e)
            rxs_in.append(rx)
            where[e.id] = (topic, part, off)
            ts = e.ts
            if ts < last_ts:
                ordered = False
            last_ts = ts
            d = e.drill or ""
            if ts > clock.get(d, -math.inf):
                clock[d] = ts
        self.skipped += skipped
        if len(ids) > self.max_ids:
            for old in list(ids)[: len(ids) - self.max_ids]:
                del ids[old]
        if not fresh:
            self._swap_in(gs)  # (cheap for a live state) so that next_due() is this grid's
            if gs.form != "live":
                gs.state, gs.form, gs.encode = self.engine.live_state(), "live", self.engine.state_data
            return GridBatch(due=self.engine.next_due())
        if not ordered:
            pairs = sorted(zip(fresh, rxs_in, strict=True), key=lambda p: p[0].ts)
            fresh, rxs_in = [e for e, _ in pairs], [rx for _, rx in pairs]
        self._swap_in(gs)
        signals = self.engine.process(fresh)
        gs.state, gs.form, gs.encode = self.engine.live_state(), "live", self.engine.state_data
        if not signals:
            return GridBatch([], clock, [], [], fresh, self.engine.next_due())
        rx_of = {e.id: rx for e, rx in zip(fresh, rxs_in, strict=True)}
        latest = max((rx for rx in rxs_in if rx is not None), default=None)
        rxs = [rx_of.get(str(s.evidence.get("event")), latest) for s in signals]
        everywhere = list(where.values())
        pos = [[where[ev]] if (ev := str(s.evidence.get("event"))) in where else everywhere for s in signals]
        return GridBatch(signals, clock, rxs, pos, fresh, self.engine.next_due())

    def tick(self, gs: GridState, now: Mapping[str, float]) -> GridBatch:
        """What the passing of time causes in this grid (a sensor gone silent), with no event: the engine's
        :meth:`DetectorEngine.tick` on the grid's state, which advances. ``now``: clock domain -> its time (``""``
        the real one, a drill's name its event clock); a domain left out is not ticked. The batch's clock is
        ``now`` when it has signals (so the alert service ticks those domains' escalations too), its signals
        have no receipt time and no position (not events: the alert service applies them as fresh), and
        ``due`` is the grid's next due times.
        """
        gs.forget_written()
        self._swap_in(gs)
        signals = self.engine.tick(now)
        gs.state, gs.form, gs.encode = self.engine.live_state(), "live", self.engine.state_data
        return GridBatch(signals, dict(now) if signals else {}, [None] * len(signals), [[] for _ in signals], [],
                         self.engine.next_due())

    def due(self, gs: GridState) -> dict[str, float]:
        """The grid's due times (:meth:`DetectorEngine.next_due`) from its saved state, without running anything
        (a worker rebuilding its due times after a start or a rebalance). The state is not changed in a way
        that needs writing back."""
        self._swap_in(gs)
        return self.engine.next_due()


Observed = tuple[str, int | None, float | None]  # (event topic, its highwater, wall time the highwater was fetched)


class DueGrids:
    """A detector worker's view, in memory, of when each of its grids needs a tick, so that a tick loads the
    state of only the grids with something due (never every grid's): the due times each run or tick reported
    (:attr:`GridBatch.due`), each grid's latest event time per clock domain, and how far each event partition
    is processed.

    The time a grid is ticked at, per domain: a drill's, the grid's latest event time of that drill; the real
    domain's, the grid's latest real event time on the event clock (``event_clock``), else the wall clock,
    but never beyond the time up to which every event of the grid's partition is processed (:meth:`complete`):
    a worker catching up a backlog (after a restart) must not call a sensor silent whose readings wait in
    Kafka. A grid is due when a domain's time is past its due time there.

    >>> dg = DueGrids(["ev"], event_clock=False, partition_of=lambda key: 0)
    >>> dg.ran(b"G", GridBatch(clock={"": 100.0, "d1": 50.0}, due={"": 1050.0, "d1": 90.0}))
    >>> dg.processed(("ev", 0, 7), rx=1000.0)
    >>> dg.ready(1100.0, {0})  # the real domain: processed up to the receipt time 1000; d1's clock is 50
    []
    >>> dg.observe(0, [("ev", 8, 1200.0)])  # the partition is caught up (offset 7 is the last)
    >>> dg.ready(1300.0, {0})
    [(b'G', {'d1': 50.0, '': 1200.0})]
    >>> dg.ready(1300.0, {1})  # a grid whose partition this worker does not own is never ticked
    []
    """

    def __init__(self, topics: Iterable[str], event_clock: bool, partition_of: Callable[[bytes], int]) -> None:
        self.topics = list(topics)  # the event topics (a grid's events are on one partition number of each)
        self.event_clock = event_clock
        self.partition_of = partition_of
        self.due: dict[bytes, dict[str, float]] = {}
        self.clocks: dict[bytes, dict[str, float]] = {}  # per grid: latest event time per domain
        self.done: dict[tuple[str, int], int] = {}  # per event partition: the highest offset processed
        self.rx: dict[tuple[str, int], float] = {}  # per event partition: the latest receipt time processed
        self.caught: dict[tuple[str, int], float] = {}  # per event partition: when it was last seen caught up
        self.pending: list[bytes] = []  # grids whose due times are to be read from their saved state
        self.parts: dict[bytes, int] = {}  # the partition of each grid key seen (hashing it each tick costs)
        self.generation: int | None = None  # the rebalance the due times were rebuilt after
        self.stalled = 0  # ticks that raised nothing and did not move the grid's due time (a detector's bug)

    # -- what the worker did -------------------------------------------------------------------------
    def ran(self, key: bytes, out: GridBatch) -> None:
        """A run of the grid's events (or a tick): its clocks move on, its due times are the batch's."""
        clock = self.clocks.setdefault(key, {})
        for domain, t in out.clock.items():
            if t > clock.get(domain, -math.inf):
                clock[domain] = t
        self._set(key, out.due)

    def ticked(self, key: bytes, out: GridBatch) -> None:
        """A tick of the grid: its due times are the tick's. A tick that raised nothing and left the due time
        where it was would come back at every tick: the grid waits for its next run instead."""
        before = self.due.get(key)
        if not out.signals and out.due and out.due == before:
            self.stalled += 1
            self._set(key, {})
        else:
            self._set(key, out.due)

    def _set(self, key: bytes, due: dict[str, float]) -> None:
        if due:
            self.due[key] = dict(due)
        else:
            self.due.pop(key, None)

    def processed(self, where: Where, rx: float | None) -> None:
        """An event was run and its state persisted."""
        topic, part, off = where
        tp = (topic, part)
        if off > self.done.get(tp, -1):
            self.done[tp] = off
        if rx is not None and rx > self.rx.get(tp, -math.inf):
            self.rx[tp] = rx

    def committed(self, topic: str, partition: int, offset: int) -> None:
        """The consumer group's committed offset of an event partition (the next to read): every event before it
        was processed and its state persisted, by this worker or the one it took the partition over from, which
        a worker with nothing left to process again learns from no run (nor from a grid's state, if none has the
        partition's latest offsets)."""
        if offset > 0:
            self.processed((topic, partition, offset - 1), None)

    def observe(self, partition: int, seen: list[Observed]) -> None:
        """The consumer's highwater of each event topic's ``partition`` and when it fetched it: a topic
        partition processed up to its highwater had every event produced before that time processed."""
        for topic, hw, at in seen:
            tp = (topic, partition)
            if hw is not None and at is not None and self.done.get(tp, -1) + 1 >= hw \
                    and at > self.caught.get(tp, -math.inf):
                self.caught[tp] = at

    def complete(self, partition: int) -> float | None:
        """The wall time up to which every event of the partition (in each event topic) is processed: when
        it was last seen caught up, or the latest receipt time processed (events are produced in receipt
        order); None if unknown."""
        out = math.inf
        for topic in self.topics:
            tp = (topic, partition)
            t = max(self.caught.get(tp, -math.inf), self.rx.get(tp, -math.inf))
            if t == -math.inf:
                return None
            out = min(out, t)
        return None if out == math.inf else out

    # -- rebuilding after a start or a rebalance ------------------------------------------------------
    def restart(self, generation: int, keys: Iterable[bytes]) -> None:
        """The partitions moved (or the worker started): another worker may have run these grids, so every
        due time is read again from the saved states of ``keys`` (the grids of the partitions owned now)."""
        self.generation = generation
        self.due.clear()
        self.pending = list(keys)

    def take(self, n: int) -> list[bytes]:
        """The next ``n`` grids whose due times are to be read."""
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def loaded(self, key: bytes, due: dict[str, float], offsets: Mapping[tuple[str, int], int]) -> None:
        """A grid's due times and source offsets, read from its saved state."""
        self._set(key, due)
        for tp, off in offsets.items():
            if off > self.done.get(tp, -1):
                self.done[tp] = off

    # -- what to tick ---------------------------------------------------------------------------------
    def now_of(self, key: bytes, real: float | None) -> dict[str, float]:
        """The grid's time per domain; ``real`` the real domain's on the wall clock (None: not ticked)."""
        clock = self.clocks.get(key, {})
        now = {d: t for d, t in clock.items() if d}
        r = clock.get("") if self.event_clock else real
        if r is not None:
            now[""] = r
        return now

    def ready(self, wall: float, owned: set[int]) -> list[tuple[bytes, dict[str, float]]]:
        """The grids of the ``owned`` partitions with a due time passed, each with the times to tick it at."""
        if self.pending:
            return []  # due times still being read: nothing is known of those grids yet
        real: dict[int, float | None] = {}
        out: list[tuple[bytes, dict[str, float]]] = []
        parts = self.parts
        for key, due in self.due.items():
            p = parts.get(key)
            if p is None:
                p = parts[key] = self.partition_of(key)
            if p not in owned:
                continue
            if p not in real:
                c = self.complete(p)
                real[p] = None if c is None else min(wall, c)
            r, clock = real[p], self.clocks.get(key)
            for d, t in due.items():  # (no dict built per grid: this runs over every grid at every tick)
                cur = r if not d and not self.event_clock else (clock.get(d) if clock else None)
                if cur is not None and cur > t:
                    out.append((key, self.now_of(key, r)))
                    break
        return out
