"""Saved state is versioned data, and the previous release's saved state still loads (issue 10, item 4).

The fixtures in tests/fixtures/state/ were written by the previous release (0.1.0, before the move into the
``fenghuo`` namespace; see the README there): an embedded snapshot after a realistic run (rules, complaint
bursts, forecasts, anomaly scores, text risk, corroboration) and one grid's state of the Kafka detector
worker (rules, forecasts, an IsolationForest), each with the signals the old code gave for the next events.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import msgpack
import pytest

from fenghuo.cli.main import EXAMPLE_CONFIG, demo_config
from fenghuo.core import state as saved
from fenghuo.core.config import Config, Detectors, Rule, load_config
from fenghuo.core.models import Event, Signal
from fenghuo.core.settings import Settings
from fenghuo.core.state import StateVersionError
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.runtime.embedded import Pipeline
from fenghuo.runtime.kafka.grid_runner import GridRunner, GridState

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "state"


def signal_doc(s: Signal) -> dict[str, Any]:
    """What the fixtures recorded of each signal (as make_fixtures.py writes it)."""
    return {"detector": s.detector, "rule": s.rule, "grid": s.grid, "series": s.series, "ts": s.ts,
            "level": int(s.level) if s.level else 0, "kind": s.kind, "score": round(float(s.score), 6),
            "certainty": s.certainty.value, "reason": s.reason}


# Release 0.2 changed on purpose how these detectors turn scores into alerts (issue 11: alerting in each series'
# own time base, glitches, forecast confirmation), so their next signals differ from what 0.1.0 gave; their
# learned models must still continue (checked below), and every other detector must give exactly 0.1.0's signals.
CHANGED_SINCE_0_1 = ("anomaly", "forecast", "forecast-anomaly", "corroboration")


def unchanged(signals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in signals if s["detector"] not in CHANGED_SINCE_0_1]


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())  # type: ignore[no-any-return]


def events_of(doc: dict[str, Any]) -> list[Event]:
    return sorted((Event(**e) for e in doc["events"]), key=lambda e: e.ts)


def config_with(models: dict[str, Any]) -> Config:
    os.environ.setdefault("FENGHUO_WEBHOOK_SECRET", "test-only")
    config = demo_config(load_config(EXAMPLE_CONFIG))
    return config.model_copy(update={"detectors": Detectors.model_validate(models)})


@pytest.fixture(scope="module")
def embedded() -> dict[str, Any]:
    return fixture("embedded-next.json")


def pipeline(tmp: Path, models: dict[str, Any], name: str = "p") -> Pipeline:
    settings = Settings(data_dir=tmp / "data", clock="event")
    return Pipeline(settings, config_with(models), SqliteStore(tmp / f"{name}.db"))


def test_embedded_snapshot_of_the_previous_release_continues(tmp_path: Path, embedded: dict[str, Any]) -> None:
    old = (FIXTURES / "embedded-snapshot-0.1.0.pickle").read_bytes()
    assert old[:1] == b"\x80" and not saved.is_state(old)  # a pickle indeed
    p = pipeline(tmp_path, embedded["models"])
    try:
        p.store.put_state("snapshot", old)
        p.recover()
        names = {d.name for d in p.engine.detectors}
        assert names == set(embedded["models"])
        anomaly = next(d for d in p.engine.detectors if d.name == "anomaly")
        assert anomaly.series and all(s.detector.score_one(0.0, 0.0) >= 0.0 for s in anomaly.series.values())
        got = [signal_doc(s) for s in p.engine.process(events_of(embedded))]
    finally:
        p.store.close()
    assert unchanged(embedded["signals"]), "the fixture expects signals"
    assert unchanged(got) == unchanged(embedded["signals"])


def test_round_trip_gives_identical_next_outputs_and_writes_no_pickle(tmp_path: Path,
                                                                      embedded: dict[str, Any]) -> None:
    events = events_of(embedded)
    first, rest = events[: len(events) // 2], events[len(events) // 2:]
    a = pipeline(tmp_path, embedded["models"], "a")
    b = pipeline(tmp_path, embedded["models"], "b")
    try:
        a.store.put_state("snapshot", (FIXTURES / "embedded-snapshot-0.1.0.pickle").read_bytes())
        a.recover()
        a.engine.process(first)
        a.snapshot()
        raw = a.store.get_state("snapshot")
        assert raw is not None and saved.is_state(raw)
        doc = msgpack.unpackb(raw, raw=False, strict_map_key=False)  # plain msgpack, no pickle inside
        assert doc["kind"] == "embedded-snapshot" and doc["v"] == Pipeline.SNAPSHOT_VERSION
        assert b"\x80\x04\x95" not in raw and b"\x80\x05\x95" not in raw
        assert set(doc["data"]["engine"]["data"]["models"]) == set(embedded["models"])  # keyed by name
        b.store.put_state("snapshot", raw)
        b.recover()
        assert [signal_doc(s) for s in b.engine.process(rest)] == [signal_doc(s) for s in a.engine.process(rest)]
    finally:
        a.store.close()
        b.store.close()


def test_changing_the_set_of_models_keeps_each_ones_state(tmp_path: Path, embedded: dict[str, Any]) -> None:
    """Models are saved by name: drop one and add none, the others go on as before; a model the saved state
    does not have starts afresh."""
    full = pipeline(tmp_path, embedded["models"], "full")
    fewer = {k: v for k, v in embedded["models"].items() if k != "text"}
    less = pipeline(tmp_path, fewer, "less")
    try:
        full.store.put_state("snapshot", (FIXTURES / "embedded-snapshot-0.1.0.pickle").read_bytes())
        full.recover()
        full.snapshot()
        less.store.put_state("snapshot", full.store.get_state("snapshot") or b"")
        less.recover()
        events = events_of(embedded)
        others = ("text", "opinion", "corroboration")
        want = [signal_doc(s) for s in full.engine.process(events) if not s.detector.startswith(others)]
        got = [signal_doc(s) for s in less.engine.process(events)]
        assert want and [s for s in got if not s["detector"].startswith(others)] == want
        bursts = next(d for d in less.engine.detectors if d.name == "bursts")
        assert bursts.snapshot()["data"]["detectors"]  # kept its learned state
    finally:
        full.store.close()
        less.store.close()


def test_grid_state_of_the_previous_release_loads_and_continues() -> None:
    doc = fixture("grid-next.json")
    old = (FIXTURES / "grid-state-0.1.0.pickle").read_bytes()
    config = config_with({})
    from fenghuo.core.grids import GridTree

    tree = GridTree(config.nodes, config.grid_match_km)

    def chain(grid: str) -> list[str]:
        return [n.id for n in tree.chain(grid)] or [grid]

    models = Detectors.model_validate(doc["models"])
    rules = [*config.rules, *(Rule.model_validate(r) for r in doc["extra_rules"])]
    gs = GridState.loads(old)
    assert gs.form == "legacy" and gs.offsets == {("ev.sensor", 0): doc["first_offset"] - 1}
    runner = GridRunner(rules, chain, models)
    items = [(e, ("ev.sensor", 0, doc["first_offset"] + i), None) for i, e in enumerate(events_of(doc))]
    half = len(items) // 2
    out = runner.run(gs, items[:half]).signals
    raw = gs.dumps()  # written as data from now on
    assert saved.is_state(raw)
    plain = msgpack.unpackb(raw, raw=False, strict_map_key=False, object_pairs_hook=list)  # any msgpack reader
    assert dict(plain)["kind"] == "grid-state"
    from fenghuo.runtime.kafka import grid_runner

    grid_runner._live.clear()  # decode the bytes, as a replacement worker does
    again = GridState.loads(raw)
    assert again.form == "plain"
    out += GridRunner(rules, chain, models).run(again, items[half:]).signals
    assert unchanged(doc["signals"]), "the fixture expects signals"
    assert unchanged([signal_doc(s) for s in out]) == unchanged(doc["signals"])


def test_grid_state_of_version_1_loads_continues_and_still_knows_its_ids() -> None:
    """Version 2 keeps the recent ids as digests; a version 1 state (ids as "source\\x1fid" strings) still reads."""
    doc = fixture("grid-next.json")
    gs = GridState.loads((FIXTURES / "grid-state-0.1.0.pickle").read_bytes())
    rules = [*config_with({}).rules, *(Rule.model_validate(r) for r in doc["extra_rules"])]
    runner = GridRunner(rules, lambda grid: [grid])
    items = [(e, ("ev.sensor", 0, doc["first_offset"] + i), None) for i, e in enumerate(events_of(doc))]
    half = len(items) // 2
    runner.run(gs, items[:half])
    assert gs.encode is not None
    v1 = saved.dumps("grid-state", 1, {"engine": gs.encode(gs.state), "ids": [
        f"{e.source}\x1f{e.id}" for e, _, _ in items[:half]], "offsets": [["ev.sensor", 0, items[half - 1][1][2]]]},
        objects=True)
    again = GridState.loads(v1)
    repeat = (items[0][0], ("ev.sensor", 0, items[-1][1][2] + 1), None)  # a client sent it again
    later = GridRunner(rules, lambda grid: [grid])
    want = [signal_doc(s) for s in GridRunner(rules, lambda grid: [grid]).run(
        GridState.loads(gs.dumps()), items[half:]).signals]
    assert want and [signal_doc(s) for s in later.run(again, items[half:] + [repeat]).signals] == want
    assert later.skipped == 1  # the repeat, known by its id from the version 1 state


def test_unknown_versions_fail_loudly(tmp_path: Path) -> None:
    p = pipeline(tmp_path, {"bursts": {}})
    try:
        p.store.put_state("snapshot", saved.dumps("embedded-snapshot", 99, {}))
        with pytest.raises(StateVersionError, match="version 99"):
            p.recover()
        engine = p.engine.snapshot()
        engine["data"]["models"]["bursts"]["v"] = 7
        data = {"engine": engine, "clocks": p.clocks.snapshot(), "cursor": 0}
        p.store.put_state("snapshot", saved.dumps("embedded-snapshot", Pipeline.SNAPSHOT_VERSION, data))
        with pytest.raises(StateVersionError, match="bursts state has version 7"):
            p.recover()
        engine["data"]["models"]["bursts"]["v"] = 1
        engine["v"] = 3
        with pytest.raises(StateVersionError, match="detector engine state has version 3"):
            p.engine.restore(engine)
        with pytest.raises(StateVersionError, match="not 'grid-state'"):
            GridState.loads(saved.dumps("embedded-snapshot", 1, {}))
        with pytest.raises(StateVersionError, match="version 3"):
            GridState.loads(saved.dumps("grid-state", 3, {}))
        with pytest.raises(StateVersionError):
            GridState.loads(b"\x80\x04garbage")
        unknown = {"v": 1, "data": {"detectors": {"@m": [[None, {"@o": "bursts.renamed", "f": {}}]]}}}
        with pytest.raises(StateVersionError, match="bursts.renamed"):
            next(d for d in p.engine.detectors if d.name == "bursts").restore(unknown)
    finally:
        p.store.close()


def test_a_pickle_naming_anything_else_is_refused() -> None:
    import pickle

    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.system, ("true",))

    with pytest.raises(StateVersionError, match="no state of fenghuo"):
        saved.legacy_unpickle(pickle.dumps({"engine": Evil()}))
    # allowed modules, but no state: a builtin that runs code, a function of fenghuo, a module reached
    # through a dotted name, a numpy function that reads files
    for crafted in (b"cbuiltins\neval\n(S'1'\ntR.", b"cfenghuo.core.state\nlegacy_unpickle\n.",
                    b"cfenghuo.core.state\nmsgpack.Unpacker\n.", b"cnumpy\nload\n."):
        with pytest.raises(StateVersionError):
            saved.legacy_unpickle(crafted)
    # what a pickle of plain values and numpy arrays names still loads
    from collections import OrderedDict, deque

    import numpy as np

    plain = {"a": np.arange(3.0), "x": np.float64(2.5), "s": {1}, "q": deque([1], 3), "o": OrderedDict(k=1)}
    assert repr(saved.legacy_unpickle(pickle.dumps(plain, protocol=5))) == repr(plain)


def test_a_crafted_state_fails_loudly_instead_of_exhausting_memory_or_the_stack() -> None:
    claims_huge = msgpack.packb({"kind": "grid-state", "v": 1})[:-1] + b"\xdd\xff\xff\xff\xff"
    with pytest.raises(StateVersionError, match="not readable"):
        saved.loads(claims_huge, "grid-state", {1: lambda d: d}, objects=True)  # a 4G-long array, 5 bytes given
    deep = msgpack.unpackb(b"\x91" * 1000 + b"\x01")  # within msgpack's limit, beyond Python's stack
    with pytest.raises(StateVersionError, match="nested too deeply"):
        saved.read_versioned({"v": 1, "data": deep}, "x", 1)
    with pytest.raises(StateVersionError, match="nested too deeply"):
        GridRunner().engine.restore({"v": 1, "data": {"rules": [["r", "s", deep]]}})


def test_the_objects_kept_beside_the_bytes_written_are_what_decoding_them_gives() -> None:
    """GridState.loads of the very bytes last written takes the objects kept beside them; it must make no
    difference, and a state changed after it was written is never taken for those bytes."""
    doc = fixture("grid-next.json")
    config = config_with({})
    models = Detectors.model_validate(doc["models"])
    rules = [*config.rules, *(Rule.model_validate(r) for r in doc["extra_rules"])]
    items = [(e, ("ev.sensor", 0, i), None) for i, e in enumerate(events_of(doc))]
    runner = GridRunner(rules, models=models)
    gs = GridState()
    runner.run(gs, items[:150])
    raw = gs.dumps()
    kept, decoded = GridState.loads(raw), GridState.loads(bytes(bytearray(raw)))
    assert kept is gs and decoded is not gs and decoded.form == "plain"
    a = runner.run(kept, items[150:]).signals
    b = GridRunner(rules, models=models).run(decoded, items[150:]).signals
    assert a and [signal_doc(s) for s in a] == [signal_doc(s) for s in b]
    # gs changed after its bytes were written: those bytes decode to the state they hold
    again = GridState.loads(raw)
    assert again is not gs and again.offsets == {("ev.sensor", 0): 149}
