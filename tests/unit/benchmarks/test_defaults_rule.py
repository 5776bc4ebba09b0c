"""The defaults bench: episode metrics and the choosing rule on tiny hand-made inputs, and its replay against
the service's own ``AnomalyExtra``."""

from __future__ import annotations

import math

import numpy as np

from benchmarks.defaults.data import Dataset, Series, Unit
from benchmarks.defaults.episodes import INF, episodes, evaluate_unit
from benchmarks.defaults.rule import Figures, choose, leave_one_out, ranking, within_folds
from benchmarks.defaults.simulate import Setting, _stream, intervals, judge, levels_for, replay_all, run_service

DAY = 86400.0


def test_blue_is_not_an_alert_and_an_open_episode_runs_to_the_end() -> None:
    assert episodes([(10.0, 1), (20.0, 0)]) == []
    assert episodes([(10.0, 1), (20.0, 2), (30.0, 1), (40.0, 3)]) == [(20.0, 30.0), (40.0, INF)]


def test_a_window_is_caught_by_a_raise_inside_it_with_its_delay() -> None:
    ev = evaluate_unit([(100.0, 200.0)], scored_from=0.0, ends=[1000.0], traces=[[(130.0, 2), (150.0, 0)]])
    assert (ev.caught, ev.delays_s, ev.leads_s, ev.false) == (1, [30.0], [70.0], 0)
    assert ev.window_up_s == 20.0 and ev.clear_s == [0.0]


def test_an_alert_raised_before_the_window_is_false_and_catches_nothing() -> None:
    ev = evaluate_unit([(100.0, 200.0)], scored_from=0.0, ends=[1000.0], traces=[[(90.0, 3), (250.0, 0)]])
    assert (ev.caught, ev.up_at_onset, ev.false) == (0, 1, 1)
    assert ev.clear_s == [50.0]  # still up 50 s after the window ended
    assert ev.normal_up_s == 10.0 + 50.0


def test_an_alert_that_never_clears_is_reported_as_not_cleared() -> None:
    ev = evaluate_unit([(100.0, 200.0)], scored_from=0.0, ends=[1000.0], traces=[[(150.0, 2)]])
    assert ev.caught == 1 and ev.clear_s == [INF]


def test_excluded_time_and_the_training_part_count_neither_way() -> None:
    ev = evaluate_unit([(500.0, 600.0)], scored_from=100.0, ends=[1000.0],
                       traces=[[(50.0, 2), (60.0, 0), (300.0, 2), (310.0, 0), (800.0, 2), (810.0, 0)]],
                       excluded=[(250.0, 350.0)])
    assert (ev.caught, ev.false) == (0, 1)  # only the raise at 800 is false
    assert ev.normal_s == (1000.0 - 100.0) - 100.0 - 100.0


def test_any_channel_catches_and_false_alerts_and_normal_time_count_per_series() -> None:
    quiet, early, late = [], [(120.0, 2), (130.0, 0)], [(160.0, 2), (170.0, 0), (700.0, 2), (710.0, 0)]
    ev = evaluate_unit([(100.0, 200.0)], scored_from=0.0, ends=[1000.0] * 3, traces=[quiet, early, late])
    assert (ev.windows, ev.caught, ev.delays_s, ev.false) == (1, 1, [20.0], 1)
    assert ev.normal_s == 3 * 900.0


def test_figures_rates() -> None:
    f = Figures(3, 4, 2, 4.0)
    assert (f.recall, f.false_per_day) == (0.75, 0.5)
    assert Figures(0, 0, 1, 0.0).false_per_day == math.inf


def test_the_rule_keeps_the_budget_on_every_data_set_then_maximises_the_worst_recall() -> None:
    table = {
        "loud": {"a": Figures(10, 10, 50, 10.0), "b": Figures(10, 10, 0, 10.0)},  # 5 a day on a: over budget
        "lopsided": {"a": Figures(10, 10, 0, 10.0), "b": Figures(2, 10, 0, 10.0)},
        "even": {"a": Figures(6, 10, 5, 10.0), "b": Figures(6, 10, 5, 10.0)},
        "even_quieter": {"a": Figures(6, 10, 1, 10.0), "b": Figures(6, 10, 1, 10.0)},
    }
    assert ranking(table, 1.0) == ["even_quieter", "even", "lopsided"]  # equal worst recall: fewer false first
    c = choose(table, 1.0)
    assert (c.candidate, c.budget, c.feasible) == ("even_quieter", 1.0, 3)
    assert choose(table, 5.0).candidate == "loud"


def test_the_budget_is_raised_only_as_far_as_a_setting_that_catches_on_every_data_set() -> None:
    table = {"silent": {"a": Figures(0, 10, 0, 10.0), "b": Figures(0, 10, 0, 10.0)},
             "noisy": {"a": Figures(9, 10, 50, 10.0), "b": Figures(9, 10, 0, 10.0)},
             "some": {"a": Figures(3, 10, 30, 10.0), "b": Figures(2, 10, 1, 10.0)}}
    c = choose(table, 1.0)
    assert (c.candidate, c.budget, c.feasible) == ("some", 3.0, 2)
    assert choose(table, 5.0).candidate == "noisy"
    assert choose({"silent": table["silent"]}, 1.0).candidate is None


def test_cross_validation_scores_the_choice_made_without_the_held_out_part() -> None:
    table = {"x": {"a": Figures(9, 10, 0, 1.0), "b": Figures(1, 10, 0, 1.0), "c": Figures(5, 10, 0, 1.0)},
             "y": {"a": Figures(4, 10, 0, 1.0), "b": Figures(4, 10, 0, 1.0), "c": Figures(4, 10, 0, 1.0)}}
    loo = leave_one_out(table, 1.0)
    assert loo["a"][0].candidate == "y" and loo["a"][1].recall == 0.4  # on b, c alone y is better
    assert loo["b"][0].candidate == "x" and loo["b"][1].recall == 0.1
    units = {"x": {"a": [("f0", Figures(1, 1, 0, 1.0)), ("f1", Figures(0, 1, 0, 1.0))]},
             "y": {"a": [("f0", Figures(0, 1, 0, 1.0)), ("f1", Figures(1, 1, 0, 1.0))]}}
    chosen, held = within_folds(units, 1.0)["a"]
    assert [c.candidate for _, c in chosen] == ["y", "x"]  # each fold chosen on the other: both miss
    assert (held.caught, held.windows) == (0, 2)


def test_the_replay_raises_exactly_what_the_service_raises() -> None:
    rng = np.random.default_rng(3)
    n = 900
    ts = np.arange(n) * 60.0
    values = 5.0 + 0.1 * rng.standard_normal(n)
    values[400] += 6.0  # a one-sample glitch
    values[600:700] += 3.0  # a lasting anomaly
    series = [Series("s", ts, values)]
    data = Dataset("toy", [Unit("s", "f0", series, [(600 * 60.0, 700 * 60.0)], 0.0)])
    for st in (Setting("ewma", 0.5, 12.0, 2), Setting("robust_z", 0.6, 0.0, 1), Setting("ewma", 0.5, 48.0, 3)):
        service, _ = run_service(st, data, warmup=100)
        j = {"s": judge(_stream(st.model, series[0]), values, st.blue)}
        replayed = replay_all(st, j, {"s": intervals(ts)}, {"s": ts.tolist()}, {"s": np.flatnonzero(j["s"] >= st.blue)},
                              warmup=100)
        assert replayed == service
        assert any(level >= 2 for _, level in service["s"])  # the anomaly was raised


def test_levels_keep_todays_spacing() -> None:
    assert levels_for(0.6) == (0.6, 0.75, 0.9, 0.98)
    for blue in (0.5, 0.7):
        lv = levels_for(blue)
        assert lv[0] == blue and all(lv[i] < lv[i + 1] <= 1.0 for i in range(3))


def test_the_examples_in_the_bench_modules_run() -> None:
    import doctest
    import importlib

    for name in ("episodes", "rule", "simulate", "data"):
        module = importlib.import_module(f"benchmarks.defaults.{name}")
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, name
