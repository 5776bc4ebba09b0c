"""The roll-up stage of the distributed runtime, pure (no Kafka, no faust): complaint bursts per district.

The complaint-burst model counts each complaint on its grid and on every ancestor (community,
street, district), so its state cannot be split by grid. Over Kafka it therefore runs in a second
stage keyed by the top node of the grid's chain (the district): the grid stage forwards the
complaints of each batch to ``<prefix>.complaints.by-district``, one record per district keyed by that node
(:func:`forward_records`; a record of one complaint per send was a fifth of a worker with the models), and the
district stage runs the burst extra over the whole district with its state in one table
entry per district (a :class:`GridState`: engine snapshot, offsets, recent ids).

Positions. A forwarded record carries each complaint's source position (events topic, partition,
offset). The district state keeps the highest source offset per source partition, so a complaint
forwarded twice (a grid worker killed after forwarding, before its offsets moved: the batch run again may
forward it in another record, with other complaints) counts once. Signals carry the position of the
forwarded record instead (the by-district topic's; one for all the complaints of a record, which are run in
one batch and sent as one signal batch per node), so the alert service, which drops a signal at or below the
highest position applied per (node, topic, partition), never mixes them up with the grid stage's signals for
the same grid and source event, and drops those of a record run again by a replacement district stage.

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

import orjson

from fenghuo.core.config import Detectors
from fenghuo.core.models import Event
from fenghuo.runtime import topology
from fenghuo.runtime.kafka.grid_runner import GridBatch, GridRunner, GridState, Where

__all__ = ["DistrictRunner", "GridState", "by_node", "forward_records", "forward_to_wire", "forwarded_from_wire"]

ROLLUP_MAX_IDS = 8192  # recent ids kept per district (a client's repeated complaint counts once)
ChainFn = Callable[[str], list[str]]  # a grid's node ids, the grid first, the top node last


FORWARD_MAX_BYTES = 256 * 1024  # one forwarded record at most (beyond: the district's complaints in several)


def forward_to_wire(items: Sequence[tuple[bytes, Where]]) -> bytes:
    """One forwarded record: complaints of one district, in the order the district stage runs them, each its
    event's wire JSON as it was with its source position (``{"fw": [[[topic, partition, offset], event], ...]}``).

    >>> raw = b'{"feed":"complaint","source":"h","ts":1.0,"grid":"G","id":"i","rx":2.0}'
    >>> [(e.id, e.grid, e.ts, e.attrs, source, rx) for e, source, rx in forwarded_from_wire(
    ...     forward_to_wire([(raw, ("t", 0, 9)), (raw.replace(b'"i"', b'"j"'), ("t", 1, 3))]))]
    [('i', 'G', 1.0, {}, ('t', 0, 9), 2.0), ('j', 'G', 1.0, {}, ('t', 1, 3), 2.0)]
    """
    return _wrap([_item(raw, json.dumps(t).encode(), p, o) for raw, (t, p, o) in items])


def _item(raw_event: bytes, topic_json: bytes, partition: int, offset: int) -> bytes:
    return b"[[%s,%d,%d],%s]" % (topic_json, partition, offset, raw_event)


def _wrap(items: list[bytes]) -> bytes:
    return b'{"fw":[' + b",".join(items) + b"]}"


def _event(doc: dict[str, Any]) -> tuple[Event, float | None]:
    rx = doc.pop("rx", None)
    doc.setdefault("attrs", {})
    return Event(**doc), rx


def forwarded_from_wire(raw: bytes) -> list[tuple[Event, Where, float | None]]:
    """The complaints of a forwarded record, in order, each with its source position and receipt time (a record
    of the previous release, one complaint as ``{"src": [...], "event": {...}}``, is read too)."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:  # a number beyond 64 bits: json reads it
        doc = json.loads(raw)
    pairs = doc["fw"] if "fw" in doc else [(doc["src"], doc["event"])]
    out: list[tuple[Event, Where, float | None]] = []
    for (topic, part, off), event in pairs:
        e, rx = _event(event)
        out.append((e, (str(topic), int(part), int(off)), rx))
    return out


def forward_records(taken: Iterable[tuple[Event, Where, bytes]], wanted: Callable[[Event], bool],
                    top: Callable[[str], str], max_bytes: int = FORWARD_MAX_BYTES) -> list[tuple[bytes, bytes]]:
    """The (key, value) records the grid stage forwards for one batch: the wanted events, keyed by their top node,
    one record per district (several if its complaints exceed ``max_bytes``), in event-time order across source
    partitions while each partition keeps its own order (the district state skips an offset at or below the
    last one of its partition, so that order matters).

    >>> from fenghuo.runtime.kafka.bus import event_to_wire
    >>> def e(i, ts, g):
    ...     ev = Event("complaint", "h", ts, g, i)
    ...     return ev, ("t", int(g[1]), ts), event_to_wire(ev)
    >>> recs = forward_records([e("a", 3, "G0"), e("b", 1, "G1"), e("c", 2, "G1")], lambda e: True, lambda g: "D")
    >>> [(k, [source for _, source, _ in forwarded_from_wire(v)]) for k, v in recs]
    [(b'D', [('t', 1, 1), ('t', 1, 2), ('t', 0, 3)])]
    >>> [len(forwarded_from_wire(v)) for _, v in forward_records([e("a", 3, "G0"), e("b", 1, "G1")],
    ...                                                         lambda e: True, lambda g: "D", max_bytes=10)]
    [1, 1]
    """
    parts: dict[tuple[str, int], list[tuple[Event, Where, bytes]]] = {}
    for it in taken:
        if wanted(it[0]):
            parts.setdefault(it[1][:2], []).append(it)  # type: ignore[arg-type]
    if not parts:
        return []
    merged = heapq.merge(*parts.values(), key=lambda it: it[0].ts) if len(parts) > 1 else parts.popitem()[1]
    tops: dict[str, bytes] = {}  # grid -> its district's key
    topic_json: dict[str, bytes] = {}
    per: dict[bytes, list[bytes]] = {}
    for e, (topic, part, off), raw in merged:
        key = tops.get(e.grid)
        if key is None:
            key = tops[e.grid] = top(e.grid).encode()
        tj = topic_json.get(topic)
        if tj is None:
            tj = topic_json[topic] = json.dumps(topic).encode()
        items = per.get(key)
        if items is None:
            items = per[key] = []
        items.append(_item(raw, tj, part, off))
    out: list[tuple[bytes, bytes]] = []
    for key, items in per.items():
        chunk: list[bytes] = []
        size = 0
        for it in items:
            if chunk and size + len(it) > max_bytes:
                out.append((key, _wrap(chunk)))
                chunk, size = [], 0
            chunk.append(it)
            size += len(it) + 1
        out.append((key, _wrap(chunk)))
    return out


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
