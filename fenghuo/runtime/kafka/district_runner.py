"""The roll-up stage of the distributed runtime, pure (no Kafka, no faust): complaint bursts per district.

The complaint-burst model counts each complaint on its grid and on every ancestor (community,
street, district), so its state cannot be split by grid. Over Kafka it therefore runs in a second
stage keyed by the top node of the grid's chain (the district): the grid stage forwards every
complaint it takes to ``<prefix>.complaints.by-district`` keyed by that node (:func:`forward_records`),
and the district stage runs the burst extra over the whole district with its state in one table
entry per district (a :class:`GridState`: engine snapshot, offsets, recent ids).

Positions. A forwarded record carries its event's source position (events topic, partition,
offset). The district state keeps the highest source offset per source partition, so a complaint
forwarded twice (a grid worker killed after forwarding, before its offsets moved) counts once.
Signals carry the position of the forwarded record instead (the by-district topic's), so the alert
service, which drops a signal at or below the highest position applied per (node, topic, partition),
never mixes them up with the grid stage's signals for the same grid and source event.

Signal batches go to the signals topic one per node (:func:`by_node`): a node's signals keyed by that
node, like the grid stage's, so the alert service instance that owns a node's alerts applies them and
its acks; each node above the grid gets the event-time watermark of the complaints under it.

>>> from fenghuo.core.config import Detectors
>>> chain = {"G1": ["G1", "C", "D"], "G2": ["G2", "C", "D"]}.get
>>> runner = DistrictRunner(Detectors(bursts={"warmup_hours": 0, "min_count": 2, "min_ratio": 0}), chain)
>>> runner.top("G2"), runner.wants(Event("sensor", "s", 0.0, "G1", "x")), sorted(runner.feeds)
('D', False, ['complaint'])
>>> st = GridState()
>>> ev = Event("complaint", "hotline", 7200.0, "G1", "a", category="noise")
>>> out = runner.run(st, [(ev, ("ev.complaint", 0, 5), ("by-district", 1, 0), 1.0)])
>>> sorted(out), out["D"].clock, out["D"].signals
(['C', 'D'], {'': 7200.0}, [])
>>> again = runner.run(st, [(ev, ("ev.complaint", 0, 5), ("by-district", 1, 1), 1.0)])  # forwarded twice
>>> again, runner.runner.skipped
({}, 1)
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from fenghuo.core.config import Detectors
from fenghuo.core.models import Event
from fenghuo.runtime import topology
from fenghuo.runtime.kafka.grid_runner import GridBatch, GridRunner, GridState, Where

__all__ = ["DistrictRunner", "GridState", "by_node", "forward_from_wire", "forward_records", "forward_to_wire"]

ROLLUP_MAX_IDS = 8192  # recent ids kept per district (a client's repeated complaint counts once)
ChainFn = Callable[[str], list[str]]  # a grid's node ids, the grid first, the top node last


def forward_to_wire(raw_event: bytes, source: Where) -> bytes:
    """A forwarded complaint: the event's wire JSON as it was, with its source position.

    >>> raw = b'{"feed":"complaint","source":"h","ts":1.0,"grid":"G","id":"i","rx":2.0}'
    >>> e, source, rx = forward_from_wire(forward_to_wire(raw, ("t", 0, 9)))
    >>> (e.id, e.grid, e.ts, e.attrs), source, rx
    (('i', 'G', 1.0, {}), ('t', 0, 9), 2.0)
    """
    return b'{"src":' + json.dumps(list(source)).encode() + b',"event":' + raw_event + b"}"


def forward_from_wire(raw: bytes) -> tuple[Event, Where, float | None]:
    doc = json.loads(raw)
    topic, part, off = doc["src"]
    event: dict[str, Any] = doc["event"]
    rx = event.pop("rx", None)
    event.setdefault("attrs", {})
    return Event(**event), (str(topic), int(part), int(off)), rx


def forward_records(taken: Iterable[tuple[Event, Where, bytes]], wanted: Callable[[Event], bool],
                    top: Callable[[str], str]) -> list[tuple[bytes, bytes]]:
    """The (key, value) records the grid stage forwards for one batch: the wanted events, keyed by their
    top node, in event-time order across source partitions while each partition keeps its own order
    (the district state skips an offset at or below the last one of its partition, so that order matters).

    >>> from fenghuo.runtime.kafka.bus import event_to_wire
    >>> def e(i, ts, g):
    ...     ev = Event("complaint", "h", ts, g, i)
    ...     return ev, ("t", int(g[1]), ts), event_to_wire(ev)
    >>> recs = forward_records([e("a", 3, "G0"), e("b", 1, "G1"), e("c", 2, "G1")], lambda e: True, lambda g: "D")
    >>> [(k, forward_from_wire(v)[1]) for k, v in recs]
    [(b'D', ('t', 1, 1)), (b'D', ('t', 1, 2)), (b'D', ('t', 0, 3))]
    """
    parts: dict[tuple[str, int], list[tuple[Event, Where, bytes]]] = {}
    for it in taken:
        if wanted(it[0]):
            parts.setdefault(it[1][:2], []).append(it)  # type: ignore[arg-type]
    merged = heapq.merge(*parts.values(), key=lambda it: it[0].ts)
    return [(top(e.grid).encode(), forward_to_wire(raw, where)) for e, where, raw in merged]


def by_node(out: GridBatch, hop_of: dict[Where, Where], chain: ChainFn) -> dict[str, GridBatch]:
    """One batch per node: the signals about it (positions mapped to the forwarded records') and, for each
    node above the grid, the latest event time per clock domain of the complaints under it (the grid's
    own watermark comes from the grid stage)."""
    batches: dict[str, GridBatch] = {}
    for e in out.events:
        domain = e.drill or ""
        for node in chain(e.grid)[1:]:
            clock = batches.setdefault(node, GridBatch()).clock
            if e.ts > clock.get(domain, float("-inf")):
                clock[domain] = e.ts
    for s, rx, where in zip(out.signals, out.rx, out.positions, strict=True):
        b = batches.setdefault(s.grid, GridBatch())
        b.signals.append(s)
        b.rx.append(rx)
        b.positions.append([hop_of[w] for w in where])
    return batches


class DistrictRunner:
    """The district-scope models (complaint bursts) run one district at a time, with that district's state
    swapped in. ``models`` is the whole ``detectors:`` section: the topology picks the district scope."""

    def __init__(self, models: Detectors, chain: ChainFn, cache_dir: Any = None,
                 max_ids: int = ROLLUP_MAX_IDS) -> None:
        self.chain = chain
        self.runner = GridRunner((), chain, models, cache_dir, max_ids=max_ids, scopes=topology.DISTRICT)
        self.feeds = frozenset(f for d in self.runner.engine.detectors for f in d.feeds)

    def top(self, grid: str) -> str:
        """The key of the grid's district: the top node of its chain (the grid itself without parents)."""
        nodes = self.chain(grid)
        return nodes[-1] if nodes else grid

    def wants(self, e: Event) -> bool:
        return e.feed in self.feeds

    def run(self, state: GridState, items: Sequence[tuple[Event, Where, Where, float | None]]
            ) -> dict[str, GridBatch]:
        """Process one district's forwarded complaints ``(event, source position, forwarded position, rx)``
        and advance its state; the signal batches to send, by node."""
        hop_of: dict[Where, Where] = {}
        for _, source, hop, _ in items:
            hop_of.setdefault(source, hop)  # a complaint forwarded twice: its first record is the one run
        out = self.runner.run(state, [(e, source, rx) for e, source, _, rx in items])
        return by_node(out, hop_of, self.chain)
