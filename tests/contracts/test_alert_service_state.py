"""The distributed alert service's saved state is versioned data: what the previous release pickled still loads
and gives the same open alerts, positions and clocks; an unknown version fails loudly; new writes are msgpack
and read back as written. Fixtures: tests/fixtures/alert_service/ (see its README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fenghuo.core.config import parse_config
from fenghuo.core.models import Alert, Signal
from fenghuo.core.settings import Settings
from fenghuo.core.state import StateVersionError, dumps, is_state
from fenghuo.core.store import Store, open_store
from fenghuo.core.store.codec import alert_from_doc
from fenghuo.detectors.fusion import Corroboration
from fenghuo.runtime.kafka.alert_service.corroboration import StoredCorroboration
from fenghuo.runtime.kafka.alert_service.state import (
    CLOCKS_KEY,
    CLOCKS_KIND,
    FUSION_KEY,
    GRID_POSITIONS_KEY,
    GROUPS_KIND,
    POSITIONS_KEY,
    POSITIONS_KIND,
    dump_clocks,
    dump_groups,
    dump_positions,
    load_clocks,
    load_groups,
    load_legacy_positions,
    load_positions,
)
from fenghuo.runtime.kafka.alert_service.worker import AlertWorker
from fenghuo.runtime.kafka.bus import Topics

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alert_service"
EXPECTED: dict[str, Any] = json.loads((FIXTURES / "expected.json").read_text())
GRIDS = ("G1", "G2")


def old(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def old_state() -> dict[str, bytes]:
    """The store state the previous release left, by key."""
    state = {CLOCKS_KEY: old("clocks.pickle"), POSITIONS_KEY: old("positions-legacy.pickle")}
    for g in GRIDS:
        state[GRID_POSITIONS_KEY + g] = old(f"positions-{g}.pickle")
        state[FUSION_KEY + g] = old(f"fusion-{g}.pickle")
    return state


def signal_to_doc(s: Signal) -> dict[str, Any]:
    """A signal as make_fixtures.py wrote it to expected.json."""
    return {"detector": s.detector, "rule": s.rule, "risk": str(s.risk), "feed": s.feed, "grid": s.grid,
            "series": s.series, "source": s.source, "ts": s.ts, "level": None if s.level is None else int(s.level),
            "score": s.score, "reason": s.reason, "evidence": s.evidence, "drill": s.drill, "kind": s.kind,
            "certainty": str(s.certainty)}


def groups_as_saved(groups: dict[tuple[str | None, str], Any]) -> dict[str, Any]:
    """Groups in the shape make_fixtures.py wrote them to expected.json."""
    return {f"{drill or ''}|{grid}": {"members": {fp: signal_to_doc(s) for fp, s in g.members.items()},
                                       "emitted": {fp: [str(c), lv] for fp, (c, lv) in g.emitted.items()}}
            for (drill, grid), g in groups.items()}


def outcome(store: Store) -> list[list[Any]]:
    """As make_fixtures.outcome: what an open alert is, without its random id."""
    return sorted([a.grid, a.rule, a.drill or "", a.level.name_en, str(a.certainty), a.evidence,
                   [[e.kind, e.level, e.ts] for e in a.timeline]] for a in store.open_alerts())


def seeded_store(tmp: Path, state: dict[str, bytes]) -> Store:
    """A store holding the previous release's open alerts and the given state."""
    store = open_store(f"sqlite:///{tmp / 'shared.db'}", tmp)
    alerts: list[Alert] = [alert_from_doc(doc) for doc in EXPECTED["open_alerts"]]
    store.save_alerts(alerts, [], state)
    return store


def worker(tmp: Path, store: Store) -> AlertWorker:
    settings = Settings(data_dir=tmp, clock="event", store_url=f"sqlite:///{tmp / 'shared.db'}")
    return AlertWorker(settings, parse_config(EXPECTED["config"]), store, Topics("x"), notifiers={})


def test_the_previous_release_s_pickles_load_as_it_held_them() -> None:
    for raw in old_state().values():
        assert not is_state(raw)  # really pickles: the fixture exercises the old path
    assert load_clocks(old("clocks.pickle")) == EXPECTED["clocks"]
    for g in GRIDS:
        assert load_positions(old(f"positions-{g}.pickle")) == {(t, p): off for t, p, off in EXPECTED["positions"][g]}
    assert load_legacy_positions(old("positions-legacy.pickle")) == {
        (g, t, p): off for g, t, p, off in EXPECTED["legacy_positions"]}
    groups = {k: v for g in GRIDS for k, v in load_groups(old(f"fusion-{g}.pickle")).items()}
    assert groups_as_saved(groups) == EXPECTED["groups"]
    assert any(g.emitted for g in groups.values()) and all(g.members for g in groups.values())


def test_a_worker_on_the_previous_release_s_state_gives_the_alerts_that_release_gave(tmp_path: Path) -> None:
    store = seeded_store(tmp_path, old_state())
    assert outcome(store) == EXPECTED["open_before"]
    w = worker(tmp_path, store)
    assert w.clocks.snapshot() == EXPECTED["clocks"]
    try:
        for raw in EXPECTED["after"]:
            w.apply_record(raw.encode())
        w.save_state()
        assert w.redelivered == EXPECTED["redelivered_after"] == 1  # the saved positions count
        assert outcome(store) == EXPECTED["open_after"]  # the saved group corroborates: G1's gas goes red
        assert outcome(store) != EXPECTED["open_before"]
        assert w.clocks.snapshot() == EXPECTED["clocks_after"]
        # what it wrote back is versioned data
        for key in (CLOCKS_KEY, GRID_POSITIONS_KEY + "G1", GRID_POSITIONS_KEY + "G2", FUSION_KEY + "G1",
                    FUSION_KEY + "G2"):
            raw = store.get_state(key)
            assert raw and is_state(raw), key
    finally:
        w.delivery.close()
        store.close()


def test_without_the_saved_group_the_outcome_differs(tmp_path: Path) -> None:
    """The test above can fail: the loaded corroboration group is what turns G1's gas red."""
    state = {k: v for k, v in old_state().items() if k != FUSION_KEY + "G1"}
    store = seeded_store(tmp_path, state)
    w = worker(tmp_path, store)
    try:
        for raw in EXPECTED["after"]:
            w.apply_record(raw.encode())
        assert outcome(store) != EXPECTED["open_after"]
    finally:
        w.delivery.close()
        store.close()


@pytest.mark.parametrize(("kind", "load"), [(CLOCKS_KIND, load_clocks), (POSITIONS_KIND, load_positions),
                                            (GROUPS_KIND, load_groups)])
def test_an_unknown_version_fails_loudly(kind: str, load: Any) -> None:
    with pytest.raises(StateVersionError, match="version 2"):
        load(dumps(kind, 2, {}))
    with pytest.raises(StateVersionError):
        load(b"\x80\x04not a pickle")  # neither a state nor a readable pickle


def test_a_worker_refuses_state_it_cannot_read_instead_of_starting_empty(tmp_path: Path) -> None:
    store = seeded_store(tmp_path, {CLOCKS_KEY: dumps(CLOCKS_KIND, 99, {"grids": {}})})
    try:
        with pytest.raises(StateVersionError):
            worker(tmp_path, store)
        store.put_state(CLOCKS_KEY, dump_clocks({"grids": {}}))
        store.put_state(FUSION_KEY + "G1", dumps(GROUPS_KIND, 99, []))
        w = worker(tmp_path, store)
        with pytest.raises(StateVersionError):
            w.apply_record(EXPECTED["after"][1].encode())
        w.delivery.close()
    finally:
        store.close()


def test_a_pickle_of_anything_but_fenghuo_s_state_is_refused() -> None:
    import pickle
    from json import JSONDecoder

    from fenghuo.core.levels import Level

    with pytest.raises(StateVersionError):
        load_groups(pickle.dumps({(None, "G1"): JSONDecoder}))  # a class from outside fenghuo
    with pytest.raises(StateVersionError):
        load_groups(pickle.dumps({(None, "G1"): Level.RED}))  # fenghuo's, but no group
    with pytest.raises(StateVersionError):
        load_clocks(pickle.dumps(JSONDecoder))  # never looked up
    for load in (load_clocks, load_positions, load_legacy_positions, load_groups):
        with pytest.raises(StateVersionError):
            load(pickle.dumps([1, 2]))  # a pickle, but not of the dict it should hold


def test_new_writes_are_msgpack_and_read_back_as_written() -> None:
    groups = {k: v for g in GRIDS for k, v in load_groups(old(f"fusion-{g}.pickle")).items()}
    for g in GRIDS:
        mine = {k: v for k, v in groups.items() if k[1] == g}
        raw = dump_groups(mine)
        assert is_state(raw) and load_groups(raw) == mine
        offsets = load_positions(old(f"positions-{g}.pickle"))
        raw = dump_positions(offsets)
        assert is_state(raw) and load_positions(raw) == offsets
    clocks = load_clocks(old("clocks.pickle"))
    raw = dump_clocks(clocks)
    assert is_state(raw) and load_clocks(raw) == clocks
    # the corroboration stage saves and restores the same groups
    saved = {FUSION_KEY + "G1": old("fusion-G1.pickle")}
    first = StoredCorroboration(Corroboration(), saved.get)
    dumped = first.dump("G1")
    again = StoredCorroboration(Corroboration(), {FUSION_KEY + "G1": dumped}.get)
    assert is_state(dumped) and again.dump("G1") == dumped
    assert again.fusion.groups == first.fusion.groups and first.fusion.groups
