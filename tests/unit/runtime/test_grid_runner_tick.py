"""Time alone in the Kafka grid stage: :meth:`GridRunner.tick` raises what the passing of time causes (a sensor
gone silent) on one grid's saved state, the state remembers it (another worker restoring it raises nothing twice),
the alert service applies the tick's signals (they carry no Kafka position) once and drops none, and
:class:`DueGrids` picks the grids to tick without loading any state, never while their events wait in Kafka."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fenghuo.core.config import Config, Detectors
from fenghuo.core.levels import Level
from fenghuo.core.models import Certainty, Event, Risk, Signal
from fenghuo.core.settings import Settings
from fenghuo.core.store import open_store
from fenghuo.detectors.protocol import DetectorBase
from fenghuo.detectors.registry import REGISTRY, BuildContext
from fenghuo.runtime import topology
from fenghuo.runtime.kafka.alert_service.worker import AlertWorker
from fenghuo.runtime.kafka.bus import Topics, batch_to_wire
from fenghuo.runtime.kafka.grid_runner import DueGrids, GridBatch, GridRunner, GridState

TOPIC = "x.events.sensor"


# -- a toy detector that only time raises: silent after ``after_s`` without a reading ------------------------
@dataclass(frozen=True, slots=True)
class QuietParams:
    after_s: float = 60.0


class Quiet(DetectorBase):
    name = "toy_quiet"
    feeds = frozenset({"sensor"})

    def __init__(self, p: QuietParams) -> None:
        self.p = p
        self.last: dict[str, dict[str, float]] = {}  # domain -> series -> last reading
        self.raised: dict[str, list[str]] = {}  # domain -> series raised
        self.where: dict[str, list[str]] = {}  # series -> [grid, source]

    def process(self, e: Event) -> list[Signal]:
        d = e.drill or ""
        self.last.setdefault(d, {})[e.series] = e.ts
        self.where[e.series] = [e.grid, e.source]
        if e.series in self.raised.get(d, []):
            self.raised[d].remove(e.series)
            return [self._signal(e.series, d, e.ts, None)]
        return []

    def tick(self, now: Mapping[str, float]) -> list[Signal]:
        out = []
        for d, t in now.items():
            for series, last in sorted(self.last.get(d, {}).items()):
                if t - last > self.p.after_s and series not in self.raised.get(d, []):
                    self.raised.setdefault(d, []).append(series)
                    out.append(self._signal(series, d, t, Level.YELLOW))
        return out

    def next_due(self) -> dict[str, float]:
        due = {}
        for d, series in self.last.items():
            times = [t + self.p.after_s for s, t in series.items() if s not in self.raised.get(d, [])]
            if times:
                due[d] = min(times)
        return due

    def _signal(self, series: str, domain: str, ts: float, level: Level | None) -> Signal:
        grid, source = self.where[series]
        return Signal(detector="toy_quiet", rule="toy-quiet", risk=Risk.SAFETY, feed="sensor", grid=grid,
                      series=series, source=source, ts=ts, level=level, score=1.0, reason="quiet",
                      drill=domain or None, kind="level" if level else "clear", certainty=Certainty.OBSERVED)

    def state(self) -> dict[str, Any]:
        return {"last": {d: dict(s) for d, s in self.last.items()},
                "raised": {d: list(s) for d, s in self.raised.items()},
                "where": {k: list(v) for k, v in self.where.items()}}

    def restore(self, state: dict[str, Any]) -> None:
        self.last = {d: dict(s) for d, s in state.get("last", {}).items()}
        self.raised = {d: list(s) for d, s in state.get("raised", {}).items()}
        self.where = {k: list(v) for k, v in state.get("where", {}).items()}


def build_quiet(params: QuietParams, ctx: BuildContext) -> Quiet:
    return Quiet(params)


@pytest.fixture
def quiet_runner() -> Iterator[Any]:
    with REGISTRY.registered("toy_quiet", QuietParams, feeds=("sensor",), scope="grid", factory=build_quiet):
        yield lambda: GridRunner([], models=Detectors(toy_quiet={"after_s": 60}), scopes=topology.GRID)


def reading(grid: str, ts: float, i: int, drill: str | None = None, source: str = "g1") -> Event:
    return Event(feed="sensor", source=source, ts=ts, grid=grid, id=f"{grid}-{i}", metric="level_m", value=1.0,
                 drill=drill)


def fresh_copy(gs: GridState) -> GridState:
    """The state as another worker reads it from the table: decoded from the bytes, no live objects shared."""
    raw = gs.dumps()
    gs.forget_written()
    return GridState.loads(raw)


def test_a_tick_raises_once_on_time_alone_and_the_saved_state_remembers_it(quiet_runner: Any) -> None:
    runner, gs = quiet_runner(), GridState()
    out = runner.run(gs, [(reading("G", 1000.0, 0), (TOPIC, 0, 0), 5.0)])
    assert out.signals == [] and out.due == {"": 1060.0}
    early = runner.tick(gs, {"": 1030.0})
    assert early.signals == [] and early.due == {"": 1060.0}

    other = quiet_runner()  # a replacement worker, from the saved bytes
    gs2 = fresh_copy(gs)
    t = other.tick(gs2, {"": 1061.0})
    assert [(s.rule, s.grid, s.level) for s in t.signals] == [("toy-quiet", "G", Level.YELLOW)]
    assert t.positions == [[]] and t.rx == [None] and t.clock == {"": 1061.0}  # no event: no position
    assert t.due == {}  # raised: nothing more is due

    gs3 = fresh_copy(gs2)
    assert quiet_runner().tick(gs3, {"": 5000.0}).signals == []  # not raised twice
    back = quiet_runner().run(gs3, [(reading("G", 5010.0, 1), (TOPIC, 0, 1), 6.0)])
    assert [(s.kind, s.ts) for s in back.signals] == [("clear", 5010.0)] and back.due == {"": 5070.0}


def test_a_tick_of_one_grid_leaves_the_other_grids_of_the_runner_alone(quiet_runner: Any) -> None:
    runner, a, b = quiet_runner(), GridState(), GridState()
    runner.run(a, [(reading("A", 1000.0, 0), (TOPIC, 0, 0), None)])
    runner.run(b, [(reading("B", 1500.0, 0, source="g2"), (TOPIC, 0, 1), None)])
    t = runner.tick(a, {"": 1200.0})
    assert [s.grid for s in t.signals] == ["A"]
    assert runner.due(b) == {"": 1560.0}  # B's state untouched
    assert runner.tick(b, {"": 1200.0}).signals == []
    assert [s.grid for s in runner.tick(b, {"": 1561.0}).signals] == ["B"]


def test_each_clock_domain_is_ticked_on_its_own_time(quiet_runner: Any) -> None:
    runner, gs = quiet_runner(), GridState()
    out = runner.run(gs, [(reading("G", 1000.0, 0), (TOPIC, 0, 0), None),
                          (reading("G", 10.0, 1, drill="flood"), (TOPIC, 0, 1), None)])
    assert out.due == {"": 1060.0, "flood": 70.0}
    assert runner.tick(gs, {"": 1059.0}).signals == []  # the drill is not ticked on the real time
    t = runner.tick(gs, {"": 1059.0, "flood": 71.0})
    assert [(s.drill, s.ts) for s in t.signals] == [("flood", 71.0)]


# -- the real health detector, through the alert service's batch step --------------------------------------
CONFIG = {
    "nodes": [{"id": "D", "name": "区", "kind": "district"},
              {"id": "G1", "name": "网格", "kind": "grid", "parent": "D", "centroid": [0, 0]}],
    "detectors": {"health": {"silent_after": 5, "silent_min_s": 60, "min_readings": 4}},
}


def health_runner(config: Config) -> GridRunner:
    return GridRunner([], models=topology.models_in(config, topology.GRID), scopes=topology.GRID)


def test_a_silent_gauge_raises_through_a_tick_and_clears_when_it_reports(tmp_path: Path) -> None:
    config = Config.model_validate(CONFIG)
    runner, gs = health_runner(config), GridState()
    t0 = 1.7e9
    items = [(reading("G1", t0 + 60 * i, i), (TOPIC, 0, i), None) for i in range(20)]
    out = runner.run(gs, items)
    last = t0 + 60 * 19
    assert out.signals == [] and out.due == {"": last + 300}  # 5 intervals of 60 s
    assert runner.tick(gs, {"": last + 299}).signals == []

    tick = runner.tick(gs, {"": last + 301})
    assert [(s.rule, s.level, s.series) for s in tick.signals] == [("sensor-silent", Level.YELLOW, "g1/level_m")]

    store = open_store(f"sqlite:///{tmp_path / 'k.db'}", tmp_path)
    w = AlertWorker(Settings(data_dir=tmp_path, clock="event"), config, store, Topics("x"), notifiers={})
    w.apply_record(batch_to_wire("G1", out.signals, out.clock, out.rx, out.positions))  # the events' batch
    wire = batch_to_wire("G1", tick.signals, tick.clock, tick.rx, tick.positions)
    w.apply_record(wire)
    silent = [a for a in store.open_alerts() if a.rule == "sensor-silent"]
    assert len(silent) == 1 and silent[0].level == Level.YELLOW and silent[0].risk == "safety"
    w.apply_record(wire)  # sent again (a worker killed before its state was written): still one alert
    assert [a.id for a in store.open_alerts() if a.rule == "sensor-silent"] == [silent[0].id]

    again = runner.run(gs, [(reading("G1", last + 400, 20), (TOPIC, 0, 20), None)])
    assert [(s.rule, s.kind) for s in again.signals] == [("sensor-silent", "clear")]
    w.apply_record(batch_to_wire("G1", again.signals, again.clock, again.rx, again.positions))
    alert = store.get_alert(silent[0].id)
    assert alert is not None and alert.cleared  # applied, not dropped as a position seen before
    assert w.redelivered == 0


def ticked_until_raised(runner: GridRunner, gs: GridState, now: float, times: int = 5) -> list[tuple[float, str]]:
    """Tick as the worker does (at each due time reported, just past it) until something is raised."""
    raised: list[tuple[float, str]] = []
    for _ in range(times):
        out = runner.tick(gs, {"": now})
        raised += [(s.ts, s.rule) for s in out.signals]
        if raised or "" not in out.due:
            break
        now = out.due[""] + 1
    return raised


def test_a_replacement_worker_raises_a_silent_gauge_from_the_saved_state_once() -> None:
    config = Config.model_validate(CONFIG)
    gs, t0 = GridState(), 1.7e9
    health_runner(config).run(gs, [(reading("G1", t0 + 60 * i, i), (TOPIC, 0, i), None) for i in range(20)])
    last = t0 + 60 * 19
    replacement, restored = health_runner(config), fresh_copy(gs)
    assert replacement.due(restored) == {"": last + 300}
    raised = ticked_until_raised(replacement, restored, last + 301)
    # at its due time, or (the health detector's grace after a restore) one silence threshold after the first tick
    assert [r for _, r in raised] == ["sensor-silent"] and raised[0][0] <= last + 301 + 300 + 1
    assert health_runner(config).tick(fresh_copy(restored), {"": last + 5000}).signals == []  # not twice


def test_another_grid_read_from_its_bytes_does_not_postpone_a_silent_gauge() -> None:
    config = Config.model_validate(CONFIG)
    runner, a, b, t0 = health_runner(config), GridState(), GridState(), 1.7e9
    runner.run(a, [(reading("G1", t0 + 60 * i, i), (TOPIC, 0, i), None) for i in range(20)])
    runner.run(b, [(reading("G2", t0 + 60 * i, 100 + i, source="g2"), (TOPIC, 1, i), None) for i in range(40)])
    b_raw = b.dumps()
    b.forget_written()
    now, raised = t0 + 60 * 19 + 301, []
    for _ in range(5):  # a worker with more grids than it keeps live reads some from their bytes between ticks
        runner.due(GridState.loads(b_raw))
        out = runner.tick(a, {"": now})
        raised += out.signals
        if raised:
            break
        now = out.due[""] + 1
    assert [s.rule for s in raised] == ["sensor-silent"]


# -- which grids a worker ticks ----------------------------------------------------------------------------
def due_grids(event_clock: bool = False) -> DueGrids:
    return DueGrids([TOPIC, "x.events.complaint"], event_clock, lambda key: int(key.decode()[1:]) % 2)


def caught_up(dg: DueGrids, partition: int, offsets: dict[str, int], at: float) -> None:
    dg.observe(partition, [(t, offsets.get(t, 0), at) for t in dg.topics])


def test_a_worker_catching_up_a_backlog_does_not_call_its_sensors_silent() -> None:
    dg = due_grids()
    dg.ran(b"G0", GridBatch(clock={"": 1000.0}, due={"": 1300.0}))
    dg.processed((TOPIC, 0, 10), rx=1001.0)
    dg.observe(0, [(TOPIC, 500, 5000.0), ("x.events.complaint", 0, 5000.0)])  # 489 readings still in Kafka
    assert dg.ready(5000.0, {0}) == []  # processed only up to what was received at 1001
    dg.processed((TOPIC, 0, 300), rx=1400.0)
    assert dg.ready(5000.0, {0}) == [(b"G0", {"": 1400.0})]  # ticked at the time processed up to, not the wall's
    dg.processed((TOPIC, 0, 499), rx=4990.0)
    caught_up(dg, 0, {TOPIC: 500}, 5001.0)
    assert dg.ready(5002.0, {0}) == [(b"G0", {"": 5001.0})]


def test_a_worker_taking_over_committed_events_is_caught_up_by_the_group_s_offsets_alone() -> None:
    dg = due_grids()
    dg.restart(1, [b"G0"])
    for key in dg.take(10):
        dg.loaded(key, {"": 1300.0}, {})  # its state does not hold the partition's latest offset
    caught_up(dg, 0, {TOPIC: 8}, 2000.0)  # 8 events in the partition, none run by this worker
    assert dg.ready(2001.0, {0}) == []  # for all it knows, they wait to be processed
    dg.committed(TOPIC, 0, 6)
    caught_up(dg, 0, {TOPIC: 8}, 2002.0)
    assert dg.ready(2003.0, {0}) == []  # 2 events not processed yet
    dg.committed(TOPIC, 0, 8)  # its predecessor processed them all; the complaint partition is empty
    caught_up(dg, 0, {TOPIC: 8}, 2004.0)
    assert dg.ready(2005.0, {0}) == [(b"G0", {"": 2004.0})]  # ticked at the fetch time, with no run at all


def test_due_times_are_read_again_after_a_rebalance_before_any_tick() -> None:
    dg = due_grids()
    dg.ran(b"G0", GridBatch(clock={"": 10.0}, due={"": 100.0}))
    caught_up(dg, 0, {}, 1000.0)
    dg.restart(1, [b"G0", b"G2"])
    assert dg.due == {} and dg.ready(1000.0, {0}) == []  # nothing known until the states are read
    for key in dg.take(10):
        dg.loaded(key, {"": 500.0} if key == b"G2" else {}, {(TOPIC, 0): 41})
    assert dg.done[(TOPIC, 0)] == 41 and dg.pending == []
    assert dg.ready(1000.0, {0}) == [(b"G2", {"": 1000.0})]


def test_event_clock_grids_tick_on_their_own_event_time_and_a_stuck_due_time_waits_for_the_next_run() -> None:
    dg = due_grids(event_clock=True)
    dg.ran(b"G1", GridBatch(clock={"": 100.0}, due={"": 150.0}))
    caught_up(dg, 1, {}, 9999.0)
    assert dg.ready(9999.0, {1}) == []  # the wall clock does not move an event clock
    dg.ran(b"G1", GridBatch(clock={"": 200.0}, due={"": 150.0}))
    assert dg.ready(9999.0, {1}) == [(b"G1", {"": 200.0})]
    dg.ticked(b"G1", GridBatch(due={"": 150.0}))  # raised nothing, due time unchanged: not ticked again
    assert dg.ready(9999.0, {1}) == [] and dg.stalled == 1
    assert math.isinf(-dg.caught.get((TOPIC, 0), -math.inf))  # partition 0 never observed


def test_reading_a_grid_s_due_times_keeps_its_live_state_for_the_next_batch(quiet_runner: Any) -> None:
    runner, gs = quiet_runner(), GridState()
    runner.run(gs, [(reading("G", 1000.0, 0), (TOPIC, 0, 0), None)])
    raw = gs.dumps()
    assert runner.due(GridState.peek(raw)) == {"": 1060.0}
    assert GridState.loads(raw) is gs  # the next batch takes the objects, not a decoding of the bytes


def test_a_grid_read_from_its_bytes_at_every_tick_still_raises_a_silent_gauge() -> None:
    """A worker with more grids than it keeps live decodes each grid's state at every tick: that is no restart,
    so the silent gauge is raised at its due time all the same (the restart grace is the embedded runtime's)."""
    from fenghuo.runtime.kafka import grid_runner

    config = Config.model_validate(CONFIG)
    runner, gs, t0 = health_runner(config), GridState(), 1.7e9
    runner.run(gs, [(reading("G1", t0 + 60 * i, i), (TOPIC, 0, i), None) for i in range(20)])
    last, raw, raised = t0 + 60 * 19, gs.dumps(), []
    for k in range(30):
        grid_runner._live.clear()  # as a cache miss: decoded from the bytes
        state = GridState.loads(raw)
        raised += [s.rule for s in runner.tick(state, {"": last + 290 + k}).signals]
        raw = state.dumps()
    assert raised == ["sensor-silent"]
