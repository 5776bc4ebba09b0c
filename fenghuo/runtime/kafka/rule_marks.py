"""Rule changes ordered with events: the marks the front writes on the event partitions, and what a detector
worker does with them.

Kafka orders records per partition, not across them, and a grid's events are all on one partition (of each event
topic). So after the store has a new rule version, the API process (:class:`fenghuo.runtime.kafka.front.KafkaFront`)
writes a *rule mark* on **every** partition of **every** event topic and answers only once Kafka has them all. Every
event produced after that answer is behind a mark on its partition. A detector worker that meets a mark whose
versions it has not applied yet runs the events before the mark first, then reads the rules from the store (which
had those versions before the mark was written) and only then the events behind it: each event produced after the
API answered is run under the new rule (or a newer one), as in the embedded runtime.

A mark names the versions it stands for (``{rule id: version}``, a deletion's version too), so a worker applies a
change once, at the first of its marks it meets; the copies on its other partitions, and marks of versions it has
already read from the store (at its start, after a rebalance, or by the periodic refresh), are passed over. A
replacement worker reads the store before its first event, so it never needs a mark from before its start.

>>> raw = mark_to_wire({"river-level": 3}, ts=1.5)
>>> mark_from_wire(raw)
RuleMark(versions={'river-level': 3}, ts=1.5)
>>> mark_from_wire(b'{"feed":"sensor","source":"s","ts":1.0,"grid":"G","id":"e1"}') is None  # an event
True
>>> known = RuleVersions()
>>> known.needs(mark_from_wire(raw))
True
>>> known.read({"river-level": 3}, None)
>>> known.needs(mark_from_wire(raw)), known.needs(RuleMark({"river-level": 4}, 2.0))
(False, True)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar

MARK_KEY = b"fenghuo:rules"  # the key of a mark's record (it is written to a partition given, not hashed)
_PREFIX = b'{"control":"rules"'  # a mark's value starts so; an event's never does (it starts with '{"feed"')
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RuleMark:
    """A rule change on an event partition: ``versions`` (rule id -> version) the store had when it was written."""

    versions: dict[str, int]
    ts: float


def mark_to_wire(versions: Mapping[str, int], ts: float) -> bytes:
    """A mark's record value: JSON, ``control`` first so a reader tells it from an event by its first bytes."""
    doc = {"control": "rules", "versions": {str(k): int(v) for k, v in versions.items()}, "ts": ts}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def is_mark(raw: bytes | None) -> bool:
    """Whether a record of an event topic is a rule mark (cheap: its first bytes)."""
    return raw is not None and raw.startswith(_PREFIX)


def mark_from_wire(raw: bytes | None) -> RuleMark | None:
    """The mark in a record of an event topic; None for an event. A mark this release cannot read (a later
    release's) raises ValueError: the worker stops rather than run events under rules it may not have."""
    if not is_mark(raw):
        return None
    assert raw is not None
    doc = json.loads(raw)
    versions = doc.get("versions")
    if not isinstance(versions, dict):
        raise ValueError(f"a rule mark without versions: {raw[:200]!r}")
    return RuleMark({str(k): int(v) for k, v in versions.items()}, float(doc.get("ts", 0.0)))


class RuleVersions:
    """The version of each rule (id) a worker has applied: those it read from the store, and those of the marks
    met before that read (the store had them when the mark was written, so the read had them or later ones)."""

    def __init__(self) -> None:
        self.known: dict[str, int] = {}

    def needs(self, mark: RuleMark) -> bool:
        """Whether the mark names a version not applied yet: the rules must be read before the events behind it."""
        return any(self.known.get(rule, 0) < v for rule, v in mark.versions.items())

    def read(self, versions: Mapping[str, int], mark: RuleMark | None) -> None:
        """The rules were read from the store (``versions``: the current rules'), after ``mark`` was met (or not
        for a mark: at start, or the periodic refresh)."""
        for source in (versions, mark.versions if mark is not None else {}):
            for rule, v in source.items():
                if v > self.known.get(rule, 0):
                    self.known[rule] = v


def split_at_changes(items: Iterable[T], mark_of: Callable[[T], RuleMark | None],
                     needs: Callable[[RuleMark], bool]) -> Iterator[tuple[list[T], RuleMark | None]]:
    """A batch taken from the event topics, in runs to process one after the other: each run of events ends at a
    mark that needs the rules read (yielded with it: the caller runs the events, then reads the rules, then asks for
    the next run), the last one with None. Marks already applied are left out. ``needs`` is asked when the mark is
    reached, after the runs before it were processed and their rules read.

    >>> marks = {"m1": RuleMark({"r": 2}, 0.0), "m2": RuleMark({"r": 2}, 0.0)}
    >>> known = RuleVersions()
    >>> for run, mark in split_at_changes(["e1", "m1", "e2", "m2", "e3"], marks.get, known.needs):
    ...     print(run, mark)
    ...     if mark is not None:
    ...         known.read({"r": 2}, mark)
    ['e1'] RuleMark(versions={'r': 2}, ts=0.0)
    ['e2', 'e3'] None
    """
    run: list[T] = []
    for it in items:
        mark = mark_of(it)
        if mark is None:
            run.append(it)
        elif needs(mark):
            yield run, mark
            run = []
    if run:
        yield run, None
