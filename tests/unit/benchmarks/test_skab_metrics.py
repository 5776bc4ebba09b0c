"""SKAB's metrics on tiny hand-made cases, and the loader on one real SKAB file."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.skab.metrics import (
    changepoint_flags,
    changepoint_labels,
    changepoint_scores,
    combine,
    episodes,
    per_day,
    pointwise,
    right_windows,
    train_thresholds,
)
from benchmarks.skab.run_skab import CHANNELS, TRAIN_ROWS, default_data_dir, list_files, load_file

N = 300
T0 = np.datetime64("2020-03-09T10:00:00")


def _ts(n: int = N) -> np.ndarray:
    return T0 + np.arange(n).astype("timedelta64[s]")


def _labels(start: int = 100, end: int = 160, n: int = N) -> np.ndarray:
    y = np.zeros(n, dtype=int)
    y[start:end] = 1
    return y


def test_pointwise_perfect_null_and_all_alarm() -> None:
    y = _labels()
    perfect = pointwise(y, y)
    assert (perfect.f1, perfect.far, perfect.mar) == (1.0, 0.0, 0.0)
    null = pointwise(y, np.zeros(N))
    assert (null.f1, null.far, null.mar) == (0.0, 0.0, 100.0)
    everything = pointwise(y, np.ones(N))
    share = y.mean()
    assert everything.far == 100.0 and everything.mar == 0.0
    assert everything.f1 == pytest.approx(2 * share / (1 + share), abs=1e-4)  # 60 of 300 rows: 0.333


def test_pointwise_counts() -> None:
    y = np.array([0, 0, 1, 1, 1, 0])
    p = np.array([1, 0, 1, 0, 0, 0])
    r = pointwise(y, p)
    assert (r.tp, r.fp, r.fn, r.tn) == (1, 1, 2, 2)
    assert r.far == pytest.approx(100 / 3, abs=0.01) and r.mar == pytest.approx(200 / 3, abs=0.01)
    assert r.f1 == pytest.approx(1 / (1 + 1.5), abs=1e-4)


def test_window_is_to_the_right_and_60_s_wide() -> None:
    ts = _ts()
    (lo, hi), = right_windows(ts, [100])
    assert lo == ts[100] and hi == ts[160]
    lab = changepoint_labels("tiny", ts, [100])
    inside = np.flatnonzero(lab.window == 0)
    assert inside[0] == 100 and inside[-1] == 160  # both ends included, nothing to the left


def test_changepoint_scores_on_the_window() -> None:
    ts = _ts()
    lab = changepoint_labels("tiny", ts, [100])

    def flags(*rows: int) -> np.ndarray:
        f = np.zeros(N)
        f[list(rows)] = 1.0
        return f

    perfect = changepoint_scores([(lab, flags(100))])
    assert perfect["standard"].normalised == pytest.approx(100.0)
    assert (perfect["standard"].tp, perfect["standard"].fp, perfect["standard"].fn) == (1, 0, 0)
    null = changepoint_scores([(lab, flags())])
    assert all(r.normalised == 0.0 and r.fn == 1 for r in null.values())
    before = changepoint_scores([(lab, flags(99))])["standard"]  # one second early: outside the window
    assert before.fn == 1 and before.fp == 1 and before.normalised < 0.0
    late = changepoint_scores([(lab, flags(159))])["standard"]
    mid = changepoint_scores([(lab, flags(130))])["standard"]
    assert 100.0 > mid.normalised > late.normalised > before.normalised
    # halfway the reward is (A_tp - A_fp) / 2 = 0.445, normalised between null -1 and perfect 1
    assert mid.normalised == pytest.approx(100.0 * (1 + 0.445) / 2, abs=0.5)
    after = changepoint_scores([(lab, flags(161))])["standard"]
    assert after.fn == 1 and after.fp == 1
    # An extra flag inside the window is neither a detection nor a false positive; one outside costs A_fp.
    twice = changepoint_scores([(lab, flags(100, 120))])["standard"]
    assert twice.normalised == pytest.approx(100.0) and twice.fp == 0
    extra = changepoint_scores([(lab, flags(100, 250))])
    assert extra["standard"].normalised == pytest.approx(100.0 * (2 - 0.11) / 2)
    assert extra["reward_low_FP_rate"].normalised == pytest.approx(100.0 * (2 - 0.22) / 2)


def test_overlapping_windows_cut_the_right_one() -> None:
    ts = _ts()
    (a_lo, a_hi), (b_lo, b_hi) = right_windows(ts, [100, 101])
    assert a_hi == ts[160] and b_lo == a_hi and b_hi == ts[161]


def test_alarm_edges_are_the_changepoints() -> None:
    alarm = np.zeros(N, dtype=bool)
    alarm[100:160] = True
    assert np.flatnonzero(changepoint_flags(alarm)).tolist() == [100, 160]
    lab = changepoint_labels("tiny", _ts(), [100, 160])
    res = changepoint_scores([(lab, changepoint_flags(alarm))])["standard"]
    assert res.normalised == pytest.approx(100.0) and res.fp == 0
    assert episodes(alarm) == 1 and per_day(1, 3600.0) == 24.0


def test_thresholds_come_from_training_rows_with_bonferroni() -> None:
    rng = np.random.default_rng(0)
    train = rng.uniform(size=(10_000, 8))
    th = train_thresholds(train, alpha=0.05, skip=0)
    assert th == pytest.approx(np.full(8, 1 - 0.05 / 8), abs=0.003)
    test = rng.uniform(size=(20_000, 8))
    share = combine(test, th).mean()
    assert 0.03 < share < 0.07  # about alpha over 8 channels together, not 8 alpha
    assert combine(np.array([[0.0, 0.0]]), np.array([0.0, 0.0])).tolist() == [False]  # strictly above


@pytest.fixture(scope="module")
def skab_dir():  # type: ignore[no-untyped-def]
    data = default_data_dir()
    if not (data / "valve1" / "0.csv").exists():
        pytest.skip(f"SKAB data not found under {data}")
    return data


def test_loader_reads_a_real_file(skab_dir) -> None:  # type: ignore[no-untyped-def]
    files = list_files(skab_dir)
    assert len(files) == 34 and "valve1/0.csv" in files and not any(f.startswith("anomaly-free") for f in files)
    frame = load_file(skab_dir / "valve1" / "0.csv")
    assert len(frame) == 1147
    assert list(frame.columns) == ["datetime", *CHANNELS, "anomaly", "changepoint"]
    assert frame["datetime"].diff().dt.total_seconds().min() == 1.0
    assert np.flatnonzero(frame["changepoint"].to_numpy() == 1).tolist() == [573, 630, 917, 974]
    assert int(frame["anomaly"].sum()) == 401 and int(frame["anomaly"].iloc[:TRAIN_ROWS].sum()) == 0
    assert set(frame["anomaly"].unique()) == {0, 1}
    free = load_file(skab_dir / "anomaly-free" / "anomaly-free.csv")
    assert len(free) == 9405 and int(free["anomaly"].sum()) == 0
