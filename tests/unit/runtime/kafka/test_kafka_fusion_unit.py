"""Corroboration in the distributed runtime's alert service, without Kafka: the grid stage, the district stage
and the alert worker's batch step run in process on the records they would exchange over Kafka, and must give
the embedded pipeline's alerts (a gas-level crossing and a burst of gas complaints in one grid corroborate).
The stream and the embedded run are tests/fusion_support.py's."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fenghuo.core.config import Config, Rule
from fenghuo.core.grids import GridTree
from fenghuo.core.models import Event
from fenghuo.core.settings import Settings
from fenghuo.core.store import open_store
from fenghuo.ingest.events import make_resolver, parse_event
from fenghuo.runtime import topology
from fenghuo.runtime.kafka.alert_service.worker import FUSION_KEY, AlertWorker
from fenghuo.runtime.kafka.bus import Topics, batch_to_wire
from fenghuo.runtime.kafka.district_runner import DistrictRunner
from fenghuo.runtime.kafka.grid_runner import GridRunner, GridState
from tests.fusion_support import GAS, RULE_ID, embedded_run, fusion_config, outcome, records


class Stages:
    """The two detector stages in process, producing the signal batches they would put on the signals topic."""

    def __init__(self, config: Config) -> None:
        tree = GridTree(config.nodes)
        self.resolve = make_resolver(tree)

        chain = tree.chain_ids
        grid_models = topology.models_in(config, topology.GRID)
        rollup = topology.models_in(config, topology.DISTRICT)
        assert rollup.configured() and grid_models.fusion is None
        self.grid = GridRunner([], chain, grid_models)
        self.grid.set_rules([Rule.model_validate({"id": RULE_ID, **GAS})], {RULE_ID: 1})  # as read from the store
        self.district = DistrictRunner(rollup, chain)
        self.states: dict[str, GridState] = {}
        self.offsets: dict[tuple[str, int], int] = {}
        self.hops = 0
        self.topics = Topics("x")

    def run(self, record: dict[str, Any]) -> list[bytes]:
        e: Event = parse_event(record, self.resolve)
        topic = f"x.events.{e.feed}"
        part = int(e.grid.split("-")[1]) % 4
        off = self.offsets[(topic, part)] = self.offsets.get((topic, part), -1) + 1
        out = self.grid.run(self.states.setdefault(e.grid, GridState()), [(e, (topic, part, off), time.time())])
        wire = [batch_to_wire(e.grid, out.signals, out.clock, out.rx, out.positions)]
        if self.district.wants(e):
            hop = (self.topics.complaints_by_district, 0, self.hops)
            self.hops += 1
            state = self.states.setdefault("district:" + self.district.top(e.grid), GridState())
            for node, b in self.district.run(state, [(e, (topic, part, off), hop, None)]).items():
                wire.append(batch_to_wire(node, b.signals, b.clock, b.rx, b.positions))
        return wire


def worker(tmp: Path, config: Config) -> AlertWorker:
    store = open_store(f"sqlite:///{tmp / 'kafka.db'}", tmp)
    return AlertWorker(Settings(data_dir=tmp, clock="event"), config, store, Topics("x"), notifiers={})


def test_the_alert_service_corroborates_both_stages_signals_as_embedded(tmp_path: Path) -> None:
    embedded = embedded_run(tmp_path / "embedded")
    by = {(a.grid, a.rule): a for a in embedded}
    assert by[("G-1", "complaint-burst")].certainty == by[("G-1", RULE_ID)].certainty == "Observed"
    assert any(e.get("kind") == "corroboration" for e in by[("G-1", RULE_ID)].evidence)

    config = Config.model_validate(fusion_config("http://127.0.0.1:9"))
    stages, w = Stages(config), worker(tmp_path / "kafka", config)
    for r in records():
        for raw in stages.run(r):
            w.apply_record(raw)
    assert outcome(w.store.all_alerts()) == outcome(embedded)
    assert w.store.get_state(FUSION_KEY + "G-1")


def test_a_restarted_alert_service_neither_loses_nor_repeats_corroboration(tmp_path: Path) -> None:
    """The alert service dies after the burst (its corroboration state only in the store), its replacement
    gets the last batches again (offsets not committed): the same alerts as embedded."""
    embedded = embedded_run(tmp_path / "embedded")
    config = Config.model_validate(fusion_config("http://127.0.0.1:9"))
    stages = Stages(config)
    wire = [raw for r in records() for raw in stages.run(r)]
    cut = next(i for i, raw in enumerate(wire) if b'"s1"' in raw)  # the sensor crossing's batch
    first = worker(tmp_path / "kafka", config)
    for raw in wire[: cut + 1]:
        first.apply_record(raw)
    first.delivery.close()
    first.store.close()  # "killed": nothing but the store survives
    second = worker(tmp_path / "kafka", config)
    for raw in wire[cut - 6:]:  # redelivered from an older committed offset, then the rest
        second.apply_record(raw)
    assert second.redelivered > 0
    assert outcome(second.store.all_alerts()) == outcome(embedded)


def test_partitions_moving_reload_the_state_from_the_store(tmp_path: Path) -> None:
    """Instance A applies the burst, B gets the grid's partition for the sensor crossing, A gets it back:
    A's reload() drops its stale corroboration state and reads B's from the store; the same as embedded."""
    embedded = embedded_run(tmp_path / "embedded")
    config = Config.model_validate(fusion_config("http://127.0.0.1:9"))
    stages = Stages(config)
    wire = [raw for r in records() for raw in stages.run(r)]
    cut = next(i for i, raw in enumerate(wire) if b'"s1"' in raw)
    a = worker(tmp_path / "kafka", config)
    b = AlertWorker(Settings(data_dir=tmp_path / "kafka", clock="event"), config, a.store, Topics("x"),
                    notifiers={})
    try:
        for raw in wire[:cut]:
            a.apply_record(raw)
        b.reload()  # reads the grids' applied positions and corroboration state a saved
        b.apply_record(wire[cut])
        a.reload()
        assert a.fusion is not None and a.fusion.keys == {}
        for raw in wire[cut + 1:]:
            a.apply_record(raw)
        assert outcome(a.store.all_alerts()) == outcome(embedded)
    finally:
        a.delivery.close()
        b.delivery.close()
        a.store.close()
