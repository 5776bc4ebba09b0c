"""The NAB scorer: null is 0, perfect is 100 on the real labels, and each rule on tiny cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.nab.run_nab import default_data_dir, list_files, load_labels
from benchmarks.nab.scorer import PROFILES, FileLabels, probation_length, scaled_sigmoid, sweep

STD = PROFILES["standard"]


def _tiny(n: int = 100, window: tuple[int, int] = (40, 49)) -> FileLabels:
    ts = np.datetime64("2020-01-01T00:00") + np.arange(n).astype("timedelta64[m]")
    return FileLabels.build("tiny", ts, [(ts[window[0]], ts[window[1]])])


def _flags(n: int, rows: dict[int, float]) -> np.ndarray:
    s = np.zeros(n)
    for i, v in rows.items():
        s[i] = v
    return s


@pytest.fixture(scope="module")
def nab_labels() -> dict[str, FileLabels]:
    data = default_data_dir()
    if not (data / "labels" / "combined_windows.json").exists():
        pytest.skip(f"NAB data not found under {data}")
    return load_labels(data, list_files(data))


def test_real_labels_null_and_perfect(nab_labels: dict[str, FileLabels]) -> None:
    assert sum(lab.n_windows for lab in nab_labels.values()) == 116
    for profile in PROFILES.values():
        null = sweep([(lab, np.zeros(lab.n_rows)) for lab in nab_labels.values()], profile)
        assert null.normalised == 0.0 and null.threshold == 1.1
        perfect = []
        for lab in nab_labels.values():
            s = np.zeros(lab.n_rows)
            for k in range(lab.n_windows):
                s[lab.start + np.flatnonzero(lab.window == k)[0]] = 1.0
            perfect.append((lab, s))
        assert sweep(perfect, profile).normalised == pytest.approx(100.0)


def test_sigmoid_and_probation() -> None:
    assert scaled_sigmoid(3.5) == -1.0
    assert scaled_sigmoid(-1.0) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert probation_length(100) == 15 and probation_length(10_000) == 750


def test_early_detection_is_worth_more() -> None:
    lab = _tiny()
    first = sweep([(lab, _flags(100, {40: 1.0}))], STD)
    middle = sweep([(lab, _flags(100, {45: 1.0}))], STD)
    last = sweep([(lab, _flags(100, {49: 1.0}))], STD)
    assert first.raw == pytest.approx(1.0) and first.normalised == pytest.approx(100.0)
    expected_mid = scaled_sigmoid(-0.5) / scaled_sigmoid(-1.0)  # pos = -(49-45+1)/10
    assert middle.raw == pytest.approx(expected_mid)
    assert middle.normalised == pytest.approx(100 * (expected_mid + 1) / 2)
    assert last.raw == pytest.approx(scaled_sigmoid(-0.1) / scaled_sigmoid(-1.0))
    assert first.raw > middle.raw > last.raw > 0
    # A window counts once, at its earliest flagged row.
    both = sweep([(lab, _flags(100, {40: 1.0, 45: 1.0, 47: 1.0}))], STD)
    assert both.raw == pytest.approx(1.0) and both.tp == 1


def test_false_positive_costs() -> None:
    lab = _tiny()
    before = sweep([(lab, _flags(100, {40: 1.0, 20: 1.0}))], STD)
    assert before.raw == pytest.approx(1.0 - 0.11) and before.fp == 1
    after = sweep([(lab, _flags(100, {40: 1.0, 60: 1.0}))], STD)
    assert after.raw == pytest.approx(1.0 + 0.11 * scaled_sigmoid(11 / 9))  # |60-49| / (10-1)
    near = sweep([(lab, _flags(100, {40: 1.0, 50: 1.0}))], STD)
    assert near.raw == pytest.approx(1.0 + 0.11 * scaled_sigmoid(1 / 9))  # just after: nearly free
    low_fp = sweep([(lab, _flags(100, {40: 1.0, 20: 1.0}))], PROFILES["reward_low_FP_rate"])
    assert low_fp.raw == pytest.approx(1.0 - 0.22)


def test_probation_rows_are_ignored_and_missed_window_costs_fn() -> None:
    lab = _tiny()
    res = sweep([(lab, _flags(100, {5: 1.0}))], PROFILES["reward_low_FN_rate"])
    assert res.threshold == 1.1 and res.raw == -2.0 and res.normalised == 0.0


def test_sweep_picks_the_best_threshold() -> None:
    lab = _tiny()
    # Many FPs at 0.5, the TP at 0.8: the best threshold is 0.8, which drops the FPs.
    rows = {i: 0.5 for i in range(16, 36)} | {42: 0.8}
    res = sweep([(lab, _flags(100, rows))], STD)
    assert res.threshold == 0.8 and res.fp == 0
    assert res.raw == pytest.approx(scaled_sigmoid(-0.8) / scaled_sigmoid(-1.0))
    # Ties between thresholds keep the higher one.
    tie = sweep([(lab, _flags(100, {40: 0.9, 41: 0.7}))], STD)
    assert tie.threshold == 0.9
