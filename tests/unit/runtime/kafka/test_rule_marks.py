"""Rule changes ordered with events (fenghuo/runtime/kafka/rule_marks.py): the marks' encoding, and a detector
worker's view of the rules (``detector_worker.Rules`` over a real SQLite store) applying a mark between the events
before it and those behind it, once per change whatever the number of partitions that carry it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fenghuo.core.config import Rule
from fenghuo.core.grids import GridTree
from fenghuo.core.models import Event
from fenghuo.core.rulebook import RuleBook
from fenghuo.core.store import open_store
from fenghuo.detectors.engine import DetectorEngine
from fenghuo.runtime.kafka.bus import event_from_wire, event_to_wire
from fenghuo.runtime.kafka.detector_worker import Rules
from fenghuo.runtime.kafka.grid_runner import GridRunner, GridState
from fenghuo.runtime.kafka.rule_marks import RuleMark, is_mark, mark_from_wire, mark_to_wire, split_at_changes

RIVER = {"feed": "sensor", "metric": "level", "direction": "above", "levels": {"blue": 10.0, "red": 20.0}}
LOWER = {**RIVER, "levels": {"blue": 5.0, "red": 20.0}}
Item = tuple[str, int, int, bytes]  # (topic, partition, offset, value) as taken from the event topics


def reading(i: int, value: float) -> Event:
    return Event(feed="sensor", source="gauge", ts=1000.0 + 60 * i, grid="G", id=f"e{i}", metric="level",
                 value=value)


def test_a_mark_is_told_from_an_event_by_its_first_bytes_and_round_trips() -> None:
    raw = mark_to_wire({"river": 7, "gone": 2}, 12.5)
    assert is_mark(raw) and not is_mark(event_to_wire(reading(0, 1.0))) and not is_mark(None)
    assert mark_from_wire(raw) == RuleMark({"river": 7, "gone": 2}, 12.5)
    assert mark_from_wire(event_to_wire(reading(0, 1.0))) is None
    with pytest.raises(ValueError, match="without versions"):
        mark_from_wire(b'{"control":"rules","what":1}')


def test_the_rule_version_is_in_the_evidence_of_each_signal() -> None:
    engine = DetectorEngine()
    engine.set_rules([Rule.model_validate({"id": "river", **RIVER})], {"river": 3})
    [signal] = engine.process([reading(0, 12.0)])
    assert signal.evidence["rule_version"] == 3
    engine.set_rules([Rule.model_validate({"id": "river", **RIVER})])  # no version known (a backtest): none said
    assert "rule_version" not in engine.process([reading(1, 25.0)])[0].evidence


class Worker:
    """The batched agent's loop without Kafka: a batch split at its marks, each run through the grid runner, the
    rules read from the store at each mark that asks for it (counted)."""

    def __init__(self, store_url: str, tmp: Path) -> None:
        self.runner = GridRunner()
        self.rules = Rules(store_url, tmp, GridTree([]), self.runner)
        self.state = GridState()
        self.reads = 0

    def read(self) -> list[dict[str, Any]]:
        self.reads += 1
        return self.rules.read()

    def batch(self, items: list[Item]) -> list[tuple[str, float, int]]:
        """The signals of a batch: (event id, observed value, rule version)."""
        out = []

        def mark_of(it: Item) -> RuleMark | None:
            return mark_from_wire(it[3])

        for run, mark in split_at_changes(items, mark_of, self.rules.versions.needs):
            if run:
                taken = [(event_from_wire(raw)[0], (topic, part, off), None) for topic, part, off, raw in run]
                got = self.runner.run(self.state, taken)
                out += [(str(s.evidence["event"]), s.score, s.evidence["rule_version"]) for s in got.signals]
            if mark is not None:
                self.rules.apply(self.read(), mark)
        return out


def test_a_worker_runs_the_events_behind_a_mark_under_the_new_rule_and_those_before_under_the_old(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rules.db'}"
    store = open_store(url, tmp_path)
    book = RuleBook(store, GridTree([]))
    book.put("river", RIVER, "config", 1.0)
    worker = Worker(url, tmp_path)
    worker.rules.apply(worker.read())  # what the worker does before its first event
    book.put("river", LOWER, "analyst", 2.0)  # the API stores version 2 and writes its marks on both partitions
    mark = mark_to_wire({"river": 2}, 2.0)
    ev = [event_to_wire(reading(i, v)) for i, v in enumerate([7.0, 8.0, 9.0])]
    signals = worker.batch([("t", 0, 0, ev[0]), ("t", 0, 1, mark), ("t", 1, 0, mark), ("t", 0, 2, ev[1]),
                            ("t", 0, 3, ev[2])])
    # 7.0 came before the mark: under version 1 (blue from 10) it raised nothing; 8.0, behind it, is blue under v2
    assert signals == [("e1", 8.0, 2)]
    assert worker.reads == 2  # the store read once for the change, though two partitions carried its mark
    # a replacement worker starts after the change: it reads version 2 first, and passes over the old marks
    late = Worker(url, tmp_path)
    late.rules.apply(late.read())
    late.state = GridState()
    assert late.batch([("t", 0, 1, mark), ("t", 0, 2, event_to_wire(reading(5, 6.0)))]) == [("e5", 6.0, 2)]
    assert late.reads == 1
    # a deletion is a version too: the rule is gone for the events behind its mark
    version = book.delete("river", "analyst", 3.0)
    assert worker.batch([("t", 1, 1, mark_to_wire({"river": version}, 3.0)),
                         ("t", 1, 2, event_to_wire(reading(9, 30.0)))]) == []
    assert worker.rules.version == () and worker.reads == 3
    store.close()
    worker.rules.close()
    late.rules.close()
