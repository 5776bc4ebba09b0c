"""The three data sets as one shape: series of (time, value) grouped into units that hold labelled windows.

A *unit* is what a labelled anomaly belongs to: a NAB file, a SKAB experiment (its 8 channels are its series;
an alert on any channel counts), a Storm Gloria gauge. Every unit says which part of its time is scored
(``scored_from``), which spans are labelled anomalies (``windows``) and which are neither anomaly nor normal
(``excluded``: Gloria's high water that never reached red), and which cross-validation fold it is in.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.defaults.episodes import merge

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
NAB_DIR = SHARED / "nab"
SKAB_DIR = SHARED / "skab" / "data"
SKAB_TRAIN_ROWS = 400  # SKAB's protocol: the first 400 rows of each file train
DAY = 86400.0
Span = tuple[float, float]


@dataclass
class Series:
    """One sensor series as the service sees it (one model, one ScoreLevels)."""

    key: str
    ts: np.ndarray  # epoch seconds, ascending
    values: np.ndarray


@dataclass
class Unit:
    """A labelled unit: its series, its anomaly windows and its scored time."""

    key: str
    fold: str  # within-data-set cross-validation fold
    series: list[Series]
    windows: list[Span]
    scored_from: float  # readings before this time train only (probation / SKAB's training rows)
    excluded: list[Span] = field(default_factory=list)  # neither anomaly nor normal time
    settle: list[float] | None = None  # per window: when the anomaly is over (default: the window's end)

    @property
    def end(self) -> float:
        return max(float(s.ts[-1]) for s in self.series)


@dataclass
class Dataset:
    name: str
    units: list[Unit]

    @property
    def n_readings(self) -> int:
        return sum(len(s.ts) for u in self.units for s in u.series)


def _epoch(stamps: pd.Series) -> np.ndarray:
    return pd.to_datetime(stamps).astype("datetime64[ns]").astype("int64").to_numpy() / 1e9


def load_nab(root: Path = NAB_DIR) -> Dataset:
    """NAB's 58 files; windows from ``combined_windows.json``; scored after NAB's probation
    (min(floor(0.15 N), 750) rows); folds: files alternate within each category (sorted)."""
    windows = json.loads((root / "labels" / "combined_windows.json").read_text())
    files = sorted(p.relative_to(root / "data").as_posix() for p in (root / "data").glob("*/*.csv"))
    per_cat: dict[str, int] = defaultdict(int)
    units = []
    for rel in files:
        frame = pd.read_csv(root / "data" / rel)
        ts = _epoch(frame["timestamp"])
        cat = rel.split("/")[0]
        fold = f"nab-{per_cat[cat] % 2}"
        per_cat[cat] += 1
        probation = min(int(0.15 * len(ts)), 750)
        wins = [(float(_epoch(pd.Series([a]))[0]), float(_epoch(pd.Series([b]))[0])) for a, b in windows.get(rel, [])]
        units.append(Unit(rel, fold, [Series(rel, ts, frame["value"].to_numpy(dtype=float))], wins,
                          float(ts[probation])))
    return Dataset("NAB", units)


SKAB_CHANNELS = ("Accelerometer1RMS", "Accelerometer2RMS", "Current", "Pressure", "Temperature", "Thermocouple",
                 "Voltage", "Volume Flow RateRMS")


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[first, last] row index of every run of True."""
    m = np.concatenate([[False], mask.astype(bool), [False]])
    d = np.diff(m.astype(int))
    return list(zip(np.flatnonzero(d == 1).tolist(), (np.flatnonzero(d == -1) - 1).tolist(), strict=True))


def load_skab(root: Path = SKAB_DIR) -> Dataset:
    """SKAB's 34 experiments and the anomaly-free run; each labelled run of ``anomaly == 1`` is a window;
    scored after the first 400 rows; folds: the folder (valve1, valve2, other; the anomaly-free run in
    ``other``)."""
    units = []
    for path in sorted(root.glob("*/*.csv")):
        rel = path.relative_to(root).as_posix()
        frame = pd.read_csv(path, sep=";")
        ts = _epoch(frame["datetime"])
        anomaly = frame["anomaly"].fillna(0).to_numpy() if "anomaly" in frame else np.zeros(len(frame))
        wins = [(float(ts[a]), float(ts[b])) for a, b in _runs(anomaly == 1)]
        folder = rel.split("/")[0]
        fold = "skab-other" if folder in ("other", "anomaly-free") else f"skab-{folder}"
        series = [Series(f"{rel}:{c}", ts, frame[c].to_numpy(dtype=float)) for c in SKAB_CHANNELS]
        units.append(Unit(rel, fold, series, wins, float(ts[min(SKAB_TRAIN_ROWS, len(ts) - 1)])))
    return Dataset("SKAB", units)


RED, BLUE = 4, 1
RISE_LOOKBACK = 2 * DAY  # the rise before a red crossing starts at the lowest reading of the 2 days before it


def load_gloria(warmup: int) -> Dataset:
    """Storm Gloria's gauges (forecast_gloria's loader and the example config's per-gauge ``river-level``
    levels). A window per red crossing (the rule's state machine, as forecast_gloria counts them): the rise
    before it, from the lowest reading of the 2 days before the crossing to the crossing; the flood after it
    lasts until the gauge is back below its blue level (the window's settle time, for clearing). Time at or
    above blue outside windows (the flood itself, high water that never reached red) is neither anomaly nor
    normal. Scored after the warm-up; folds: gauges alternate (sorted)."""
    from benchmarks.forecast_gloria import crossings, load_readings, load_rule
    from fenghuo.detectors.rules import params_for

    rule = load_rule()
    readings = load_readings()
    cross = crossings(readings, rule)
    per: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for ts, source, value in readings:
        per[source].append((ts, value))
    red_at: dict[str, list[float]] = defaultdict(list)
    for source, level, when, _since in cross:
        if level == RED:
            red_at[source].append(when)
    units = []
    for i, source in enumerate(sorted(per)):
        lp = params_for(rule, [source], source)
        if lp is None:
            continue
        arr = np.array(per[source])
        ts, values = arr[:, 0], arr[:, 1]
        blue = dict(lp.thresholds)[BLUE]
        high = values >= blue
        wins: list[Span] = []
        settle: list[float] = []
        for when in red_at[source]:
            k = int(np.searchsorted(ts, when))
            lo = int(np.searchsorted(ts, when - RISE_LOOKBACK))
            seg = values[lo:k + 1]
            start = lo + int(len(seg) - 1 - np.argmin(seg[::-1]))  # the last lowest reading before the crossing
            if settle and when <= settle[-1]:  # a second crossing within the same flood: one anomaly
                continue
            back = np.flatnonzero(~high[k:])
            end = k + int(back[0]) if len(back) else len(ts) - 1
            wins.append((float(ts[start]), float(ts[k])))
            settle.append(float(ts[end]))
        excluded = [(float(ts[a]), float(ts[b])) for a, b in _runs(high)]
        excluded += [(w[1], s) for w, s in zip(wins, settle, strict=True)]
        units.append(Unit(source, f"gloria-{i % 2}", [Series(source, ts, values)], wins,
                          float(ts[min(warmup, len(ts) - 1)]), merge(excluded), settle))
    return Dataset("Gloria", units)
