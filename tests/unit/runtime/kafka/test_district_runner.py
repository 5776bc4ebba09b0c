"""The district stage's pure part: complaint bursts over a whole district, as the embedded engine runs them."""

from __future__ import annotations

from typing import Any

from fenghuo.core.config import Detectors
from fenghuo.core.models import Event, Signal
from fenghuo.detectors.engine import DetectorEngine
from fenghuo.detectors.registry import add_models
from fenghuo.runtime import topology
from fenghuo.runtime.kafka.bus import event_to_wire
from fenghuo.runtime.kafka.district_runner import DistrictRunner, forward_records, forwarded_from_wire
from fenghuo.runtime.kafka.grid_runner import GridRunner, GridState, Where

DAY = 86400.0
GRIDS = [f"G{i}" for i in range(1, 9)]
MODELS = Detectors(bursts={"warmup_hours": 24, "min_count": 8})
TOPIC, HOP = "x.events.complaint", "x.complaints.by-district"


def chain(grid: str) -> list[str]:
    """Eight grids, two per community, one community per street, one district."""
    k = (int(grid[1:]) + 1) // 2
    return [grid, f"C{k}", f"S{k}", "D"]


def stream() -> list[Event]:
    """Two quiet weeks over eight grids, then 24 complaints in 46 minutes spread over all of them: only
    the district's count (24; 6 per street and community, 3 per grid) reaches ``min_count``."""
    quiet = [Event("complaint", "hotline", k * 7200.0, GRIDS[k % 8], f"q{k}", category="noise", text="x",
                   attrs={"location": f"a{k}"}) for k in range(14 * 12)]
    burst = [Event("complaint", "hotline", 14 * DAY + 3 * 3600 + k * 120.0, GRIDS[k % 8], f"b{k}",
                   category="noise", text="x", attrs={"location": f"b{k}"}) for k in range(24)]
    return [*quiet, *burst, Event("complaint", "hotline", 15 * DAY + 3 * 3600, "G1", "late", category="noise",
                                  text="x", attrs={"location": "z"})]


def embedded(events: list[Event]) -> list[Signal]:
    engine = DetectorEngine((), chain)
    add_models(engine, MODELS, None)
    return engine.process(events)


def partition(e: Event) -> int:
    return int(e.grid[1:]) % 4  # the grids' events spread over four source partitions


def forwarded(events: list[Event]) -> list[tuple[Event, Where, Where, float | None]]:
    """The events as the district stage takes them: source positions by partition, forwarded positions."""
    offsets = [0, 0, 0, 0]
    out = []
    for i, e in enumerate(events):
        p = partition(e)
        out.append((e, (TOPIC, p, offsets[p]), (HOP, 0, i), None))
        offsets[p] += 1
    return out


def run(runner: DistrictRunner, state: GridState, items: list[Any], size: int) -> dict[str, list[Signal]]:
    got: dict[str, list[Signal]] = {}
    for i in range(0, len(items), size):
        for node, out in runner.run(state, items[i: i + size]).items():
            got.setdefault(node, []).extend(out.signals)
    return got


def test_district_stage_gives_the_embedded_signals_and_only_the_district_crosses() -> None:
    events = stream()
    want = embedded(events)
    assert {s.grid for s in want} == {"D"}
    assert len(want) >= 3 and want[0].level is not None and want[-1].kind == "clear"  # raised, upgraded, cleared
    runner = DistrictRunner(MODELS, chain)
    got = run(runner, GridState(), forwarded(events), 12)
    assert got["D"] == want
    assert all(not signals for node, signals in got.items() if node != "D")


def test_a_grid_stage_without_the_roll_up_sees_no_district_burst() -> None:
    grid_models, rollup = topology.models_in(MODELS, topology.GRID), topology.models_in(MODELS, topology.DISTRICT)
    assert grid_models.bursts is None and rollup.configured()
    per_grid = GridRunner((), chain, MODELS)  # what each Kafka worker did before the district stage
    states: dict[str, GridState] = {}
    signals = []
    for item in forwarded(stream()):
        e, source, _, rx = item
        signals += per_grid.run(states.setdefault(e.grid, GridState()), [(e, source, rx)]).signals
    assert signals == []


def test_complaints_forwarded_twice_count_once() -> None:
    items = forwarded(stream())
    again = [(e, src, (HOP, 1, i), rx) for i, (e, src, _, rx) in enumerate(items[150:190])]  # a worker re-sent
    runner = DistrictRunner(MODELS, chain)
    got = run(runner, GridState(), items[:190] + again + items[190:], 7)
    assert got["D"] == embedded(stream())
    assert runner.runner.skipped == len(again)


def test_a_replacement_from_the_saved_state_sends_the_same_signals_at_the_same_positions() -> None:
    items = forwarded(stream())
    runner = DistrictRunner(MODELS, chain)
    state = GridState()
    run(runner, state, items[:170], 10)
    saved = state.dumps()
    first = runner.run(state, items[170:185])  # the worker is killed after sending these signals
    replacement = DistrictRunner(MODELS, chain)
    second = replacement.run(GridState.loads(saved), items[170:185])  # re-runs the same records
    assert {n: (b.signals, b.positions, b.clock) for n, b in first.items()} == {
        n: (b.signals, b.positions, b.clock) for n, b in second.items()}
    assert first["D"].signals and all(p[0][0] == HOP for p in first["D"].positions)


def test_every_node_above_a_grid_gets_the_watermark_of_its_complaints() -> None:
    e1 = Event("complaint", "hotline", 100.0, "G1", "a", category="noise", text="x")
    e2 = Event("complaint", "hotline", 50.0, "G3", "b", category="noise", text="x", drill="d")
    out = DistrictRunner(MODELS, chain).run(GridState(), [(e1, (TOPIC, 1, 0), (HOP, 0, 0), 1.0),
                                                          (e2, (TOPIC, 3, 0), (HOP, 0, 1), 2.0)])
    assert {n: b.clock for n, b in out.items()} == {"C1": {"": 100.0}, "S1": {"": 100.0}, "C2": {"d": 50.0},
                                                    "S2": {"d": 50.0}, "D": {"d": 50.0, "": 100.0}}


def test_forwarding_keeps_each_partitions_order_and_skips_other_feeds() -> None:
    runner = DistrictRunner(MODELS, chain)
    taken = []
    for i, (ts, grid) in enumerate([(5.0, "G1"), (3.0, "G1"), (4.0, "G2"), (1.0, "G2")]):
        e = Event("complaint", "hotline", ts, grid, f"e{i}", category="noise", text="x")
        taken.append((e, (TOPIC, partition(e), i), event_to_wire(e)))
    sensor = Event("sensor", "s", 0.0, "G1", "s1", metric="m", value=1.0)
    taken.append((sensor, ("x.events.sensor", 1, 0), event_to_wire(sensor)))
    records = forward_records(taken, runner.wants, runner.top)
    assert {k for k, _ in records} == {b"D"}
    order = [e.id for _, v in records for e, _, _ in forwarded_from_wire(v)]
    assert order == ["e2", "e3", "e0", "e1"]  # merged by time, each partition in its own order


def test_batches_forwarded_as_one_record_per_district_and_forwarded_again_regrouped_count_once() -> None:
    """The grid stage forwards a batch's complaints as one record per district; a grid worker killed before its
    offsets moved forwards its batch again, as part of a larger one: the district stage counts each complaint once."""
    runner = DistrictRunner(MODELS, chain)
    taken = [(e, src, event_to_wire(e)) for e, src, _, _ in forwarded(stream())]
    batches = [taken[i: i + 20] for i in range(0, 160, 20)] + [taken[140:180], taken[180:]]  # 140-160 again
    records = [v for batch in batches for _, v in forward_records(batch, runner.wants, runner.top)]
    assert len(records) == len(batches)  # one record per batch (a single district)
    state, got, positions = GridState(), [], []
    for offset, value in enumerate(records):
        items = [(e, src, (HOP, 0, offset), rx) for e, src, rx in forwarded_from_wire(value)]
        out = runner.run(state, items).get("D")
        if out is not None:
            got += out.signals
            positions += out.positions
    assert got == embedded(stream())
    assert runner.runner.skipped == 20
    assert positions and all(len(p) == 1 and p[0][0] == HOP for p in positions)
