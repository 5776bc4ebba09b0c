"""Rule detectors: levels, for_seconds, hysteresis, rate, count and per-grid overrides."""

from __future__ import annotations

from fenghuo.core.config import Rule
from fenghuo.core.models import Event
from fenghuo.detectors.engine import DetectorEngine
from fenghuo.detectors.hysteresis import LevelParams, LevelState

LEVELS = {"blue": 3.0, "yellow": 3.5, "orange": 4.0, "red": 4.5}


def ev(ts: float, value: float, grid: str = "G1", source: str = "s1", metric: str = "level") -> Event:
    return Event(feed="sensor", source=source, ts=ts, grid=grid, id=f"{source}{ts}", metric=metric, value=value)


def complaint(ts: float, grid: str = "G1", category: str = "snow") -> Event:
    return Event(feed="complaint", source="hotline", ts=ts, grid=grid, id=f"c{ts}{grid}", category=category, text="t")


def run(engine: DetectorEngine, events: list[Event]) -> list[tuple[float, str | None]]:
    return [(s.ts, s.level.name_en if s.level else None) for s in engine.process(events)]


def test_threshold_needs_for_seconds_and_climbs_level_by_level() -> None:
    eng = DetectorEngine([Rule(id="r", metric="level", levels=LEVELS, for_seconds=600)])
    got = run(eng, [ev(0, 3.2), ev(300, 3.2), ev(600, 3.2), ev(1200, 4.6), ev(1800, 4.6), ev(2400, 2.0)])
    assert got == [(600, "blue"), (1800, "red"), (2400, None)]


def test_a_spike_shorter_than_for_seconds_raises_nothing() -> None:
    eng = DetectorEngine([Rule(id="r", metric="level", levels=LEVELS, for_seconds=600)])
    assert run(eng, [ev(0, 2.0), ev(100, 9.9), ev(200, 2.0), ev(700, 2.0)]) == []


def test_hysteresis_stops_flapping_at_a_boundary() -> None:
    values = [3.6, 3.45, 3.55, 3.42, 3.58, 3.41]
    flappy = DetectorEngine([Rule(id="r", metric="level", levels=LEVELS)])
    steady = DetectorEngine([Rule(id="r", metric="level", levels=LEVELS, hysteresis=0.1)])
    assert len(run(flappy, [ev(i, v) for i, v in enumerate(values)])) == 6
    assert run(steady, [ev(i, v) for i, v in enumerate(values)]) == [(0, "yellow")]


def test_direction_below() -> None:
    p = LevelParams(((1, 10.0), (2, 5.0)), above=False)
    s = LevelState()
    assert [s.step(p, t, v) for t, v in enumerate([12.0, 9.0, 4.0, 11.0])] == [None, 1, 2, 0]


def test_rate_rule_flags_a_fast_rise() -> None:
    rule = Rule(id="rise", kind="rate", metric="level", levels={"blue": 0.5, "red": 2.0}, window_seconds=3600)
    eng = DetectorEngine([rule])
    steps = [0.1] * 10 + [0.4] * 8  # 0.6 m/h, then 2.4 m/h
    values = [1.0 + sum(steps[:t]) for t in range(len(steps) + 1)]
    got = run(eng, [ev(t * 600, v) for t, v in enumerate(values)])
    assert [g[1] for g in got] == ["blue", "red"]
    assert got[0][0] == 1800  # half a window of history is needed first


def test_count_rule_per_grid_and_category() -> None:
    rule = Rule(id="snow", kind="count", feed="complaint", category="*", levels={"blue": 3, "orange": 5},
                window_seconds=3600)
    eng = DetectorEngine([rule])
    events = [complaint(i * 60) for i in range(5)] + [complaint(400, grid="G2")]
    events.sort(key=lambda e: e.ts)
    signals = eng.process(events)
    assert [(s.grid, s.series, s.level.name_en) for s in signals if s.level] == [
        ("G1", "G1/snow", "blue"), ("G1", "G1/snow", "orange")]


def test_overrides_take_the_most_specific_node() -> None:
    chains = {"G1": ["G1", "C1", "D"], "G2": ["G2", "C2", "D"], "G3": ["G3", "C1", "D"]}
    rule = Rule(id="r", metric="level", levels={"blue": 3.0}, overrides={
        "C1": {"levels": {"blue": 10.0}}, "G3": {"enabled": False}})
    eng = DetectorEngine([rule], chain=lambda g: chains[g])
    got = [(s.grid, s.level) for s in eng.process([ev(0, 5.0, "G1", "a"), ev(0, 5.0, "G2", "b"),
                                                      ev(0, 50.0, "G3", "c")])]
    assert [g for g, _ in got] == ["G2"]


def test_rules_swap_at_runtime_and_keep_state_of_rules_that_stay() -> None:
    eng = DetectorEngine([Rule(id="r", metric="level", levels=LEVELS)])
    assert run(eng, [ev(0, 3.2)]) == [(0, "blue")]
    eng.set_rules([Rule(id="r", metric="level", levels={**LEVELS, "blue": 3.1}),
                   Rule(id="q", metric="level", levels={"red": 1.0})])
    assert run(eng, [ev(1, 3.3)]) == [(1, "red")]  # r stays blue (state kept), q is new


def test_an_edited_rule_applies_its_new_levels_to_a_series_already_seen() -> None:
    eng = DetectorEngine([Rule(id="r", metric="level", levels={"blue": 3.0})])
    assert run(eng, [ev(0, 2.0)]) == []
    eng.set_rules([Rule(id="r", metric="level", levels={"blue": 1.0})])
    assert run(eng, [ev(1, 2.0)]) == [(1, "blue")]
    eng.set_rules([Rule(id="r", metric="level", levels={"blue": 1.0}, enabled=False)])
    assert run(eng, [ev(2, 9.0)]) == []


def test_drill_and_real_readings_of_one_series_in_one_batch_keep_apart() -> None:
    eng = DetectorEngine([Rule(id="r", metric="level", levels=LEVELS)])
    batch = [ev(0, 4.6), ev(1, 2.0), ev(2, 2.0), ev(3, 4.6)]
    batch[1].drill = batch[3].drill = "flood-2020"
    got = [(s.ts, s.drill, s.level.name_en if s.level else None) for s in eng.process(batch)]
    assert got == [(0, None, "red"), (2, None, None), (3, "flood-2020", "red")]


def test_a_category_count_rule_counts_only_its_category() -> None:
    rule = Rule(id="snow", kind="count", feed="complaint", category="snow", levels={"blue": 2}, window_seconds=3600)
    eng = DetectorEngine([rule])
    signals = eng.process([complaint(0), complaint(60, category="rain"), complaint(120, category="rain"),
                           complaint(180)])
    assert [(s.ts, s.series) for s in signals] == [(180, "G1/snow")]


def test_drill_events_never_touch_real_state() -> None:
    eng = DetectorEngine([Rule(id="r", metric="level", levels=LEVELS)])
    drill = ev(0, 4.6)
    drill.drill = "flood-2020"
    assert [s.drill for s in eng.process([drill])] == ["flood-2020"]
    assert run(eng, [ev(1, 4.6)]) == [(1, "red")]


def test_a_per_source_override_beats_the_node_override() -> None:
    rule = Rule(id="r", metric="level", levels={"blue": 3.0}, overrides={"G1": {"levels": {"blue": 10.0}}},
                sources={"gauge-low": {"levels": {"blue": 1.0}}})
    eng = DetectorEngine([rule], chain=lambda g: [g])
    got = [s.source for s in eng.process([ev(0, 2.0, "G1", "gauge-low"), ev(0, 5.0, "G1", "gauge-high")])]
    assert got == ["gauge-low"]


def test_grid_runner_keeps_model_state_per_grid() -> None:
    from fenghuo.core.config import Detectors
    from fenghuo.runtime.kafka.grid_runner import GridRunner, GridState

    runner = GridRunner([], models=Detectors(anomaly={"detector": "ewma", "warmup": 5}))
    a, b = GridState(), GridState()
    for i in range(200):
        runner.run(a, [(ev(i * 600.0, 1.0 + (i % 3) * 0.01, "A", "sa"), ("t", 0, i), None)])
    assert runner.run(b, [(ev(0.0, 50.0, "B", "sb"), ("t", 1, 0), None)]).signals == []  # B starts fresh
    out = runner.run(a, [(ev(200 * 600.0, 50.0, "A", "sa"), ("t", 0, 200), None)])
    assert [s.rule for s in out.signals] == ["anomaly:ewma"]  # A kept its learned baseline
