"""Run fenghuo's anomaly detectors over SKAB (Skoltech Anomaly Benchmark) with SKAB's own protocol.

Protocol: the first 400 rows of each file train, the rest is scored. Every detector runs per channel
(a fresh instance for each of the 8 sensors of a file), streaming: each row is scored before it is learnt.
Threshold rules (never tuned on the test rows):

- ``train``: per channel, the ``1 - alpha/8`` quantile (alpha 0.05, Bonferroni over 8 channels) of that
  channel's scores on its training rows 60..399; a row alarms when any channel is strictly above its own
  threshold, i.e. ``max_c(score_c - threshold_c) > 0``.
- ``blue``: the service's fixed blue level (``AnomalyParams.levels[0]``) on the maximum over channels.

Metrics (:mod:`benchmarks.skab.metrics`): point-wise F1 / FAR % / MAR % pooled over the test rows, and
changepoint NAB (standard / low FP / low FN; 60 s window to the right of each labelled change; SKAB's
scale) of the alarm's edges, with missed changes and false positives; beside SKAB's published
leaderboard. The anomaly-free run is replayed the same way: alarmed rows and alarm episodes per 24 h.
Then the ``asset`` detector, the 8 sensors judged together (:mod:`benchmarks.skab.asset_bench`): its model
on rows of 8 channels, and the files replayed through it as the service runs it (alerts per anomaly,
delay, clearing, alerts on the anomaly-free run), with settings cross-validated over SKAB's folders.

Usage::

    python -m benchmarks.skab.run_skab [--detectors a,b] [--data DIR] [--workers N]
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import detector_args
from benchmarks.skab import asset_bench
from benchmarks.skab.metrics import (
    RuleResult,
    changepoint_flags,
    changepoint_labels,
    changepoint_scores,
    combine,
    episodes,
    per_day,
    pointwise,
    train_thresholds,
)
from fenghuo.detectors.anomaly import make_detector
from fenghuo.detectors.anomaly.detector import AnomalyParams

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results" / "skab"
CHANNELS: tuple[str, ...] = ("Accelerometer1RMS", "Accelerometer2RMS", "Current", "Pressure", "Temperature",
                             "Thermocouple", "Voltage", "Volume Flow RateRMS")
TRAIN_ROWS = 400
ALPHA = 0.05
SKIP = 60  # training rows left out of the threshold: the detectors' own start-up
DEFAULT = AnomalyParams().detector
BLUE = AnomalyParams().levels[0]
FREE = "anomaly-free/anomaly-free.csv"

# waico/SKAB README leaderboard (see shared/data/SOURCES.md, "skab/").
PUBLISHED_OUTLIER: dict[str, tuple[float, float, float]] = {
    "Conv-AE": (0.78, 13.55, 28.02),
    "MSET": (0.78, 39.73, 14.13),
    "T-squared+Q (PCA)": (0.76, 26.62, 24.92),
    "LSTM-AE": (0.74, 29.96, 25.92),
    "T-squared": (0.66, 19.21, 42.6),
    "Isolation forest": (0.29, 2.56, 82.89),
}
PUBLISHED_CHANGEPOINT: dict[str, tuple[float, float, float, int, int]] = {
    "MSCRED": (32.42, 16.53, 40.28, 55, 342),
    "Isolation forest": (26.16, 19.5, 30.82, 76, 135),
    "T-squared+Q (PCA)": (25.35, 14.51, 31.33, 72, 232),
    "Conv-AE": (23.61, 21.54, 27.55, 82, 23),
    "Null": (0.0, 0.0, 0.0, 0, 0),
}


def default_data_dir() -> Path:
    """``$FENGHUO_SHARED/data/skab/data`` if set, else ``<repo>/../shared/data/skab/data``."""
    shared = os.environ.get("FENGHUO_SHARED")
    root = Path(shared) if shared else REPO.parent / "shared"
    return root / "data" / "skab" / "data"


def list_files(data_dir: Path) -> list[str]:
    """Relative paths of the 34 labelled experiments (valve1/, valve2/, other/), sorted."""
    return sorted(p.relative_to(data_dir).as_posix() for p in data_dir.glob("*/*.csv")
                  if p.parent.name != "anomaly-free")


def load_file(path: Path) -> pd.DataFrame:
    """One SKAB file: ``datetime`` parsed, the 8 sensor columns as float, ``anomaly``/``changepoint`` as int
    (both 0 for the anomaly-free run, which has neither)."""
    frame = pd.read_csv(path, sep=";")
    frame["datetime"] = pd.to_datetime(frame["datetime"])
    for col in ("anomaly", "changepoint"):
        frame[col] = frame[col].fillna(0).astype(int) if col in frame else 0
    missing = [c for c in CHANNELS if c not in frame]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    frame[list(CHANNELS)] = frame[list(CHANNELS)].astype(float)
    return frame


def seconds(frame: pd.DataFrame) -> np.ndarray:
    """Row timestamps in epoch seconds."""
    return frame["datetime"].astype("datetime64[ns]").astype("int64").to_numpy() / 1e9


def run_file(detector: str, path: Path, seed: int = 0) -> tuple[np.ndarray, float]:
    """Scores ``(rows, 8)`` of one file: a fresh detector per channel, each row scored before it is learnt."""
    frame = load_file(path)
    ts = seconds(frame).tolist()
    out = np.empty((len(frame), len(CHANNELS)))
    start = time.perf_counter()
    for c, col in enumerate(CHANNELS):
        det = make_detector(detector, seed=seed)
        for i, (t, v) in enumerate(zip(ts, frame[col].tolist(), strict=True)):
            out[i, c] = det.score_one(t, v)
            det.learn_one(t, v)
    return out, time.perf_counter() - start


def _run_task(args: tuple[str, str, str]) -> tuple[str, str, np.ndarray, float]:
    detector, data_dir, rel = args
    scores, elapsed = run_file(detector, Path(data_dir) / rel)
    return detector, rel, scores, elapsed


def alarms(rule: str, scores: np.ndarray) -> np.ndarray:
    """The per-row alarm of one file's test rows under a rule (thresholds from its training rows only)."""
    if rule == "train":
        thresholds = train_thresholds(scores[:TRAIN_ROWS], ALPHA, SKIP)
        return combine(scores[TRAIN_ROWS:], thresholds)
    if rule == "blue":
        return combine(scores[TRAIN_ROWS:], BLUE - 1e-12)  # score >= blue
    raise ValueError(f"unknown rule {rule!r}")


def evaluate(detector: str, rule: str, frames: dict[str, pd.DataFrame], scores: dict[str, np.ndarray],
             free: pd.DataFrame, free_scores: np.ndarray) -> RuleResult:
    """Score one detector under one rule over every labelled file, plus the anomaly-free run."""
    truths, preds, cp_pairs = [], [], []
    for rel in sorted(frames):
        test = frames[rel].iloc[TRAIN_ROWS:]
        alarm = alarms(rule, scores[rel])
        truths.append(test["anomaly"].to_numpy())
        preds.append(alarm)
        changes = np.flatnonzero(test["changepoint"].to_numpy() == 1).tolist()
        labels = changepoint_labels(rel, test["datetime"].to_numpy(), changes)
        cp_pairs.append((labels, changepoint_flags(alarm)))
    outlier = pointwise(np.concatenate(truths), np.concatenate(preds))
    nab = changepoint_scores(cp_pairs)
    std = nab["standard"]
    free_alarm = alarms(rule, free_scores)
    t = seconds(free.iloc[TRAIN_ROWS:])
    span = float(t[-1] - t[0] + 1.0)
    return RuleResult(detector, rule, outlier, {k: round(v.normalised, 2) for k, v in nab.items()}, std.fn, std.fp,
                      std.tp + std.fn, round(per_day(int(free_alarm.sum()), span), 1),
                      round(per_day(episodes(free_alarm), span), 1), round(float(free_alarm.mean()), 4))


def baselines(frames: dict[str, pd.DataFrame], free: pd.DataFrame) -> list[RuleResult]:
    """The null detector and the all-alarm detector, scored the same way."""
    out = []
    for name, value in (("null (never alarms)", False), ("all-alarm", True)):
        truths, preds, cp_pairs = [], [], []
        for rel in sorted(frames):
            test = frames[rel].iloc[TRAIN_ROWS:]
            alarm = np.full(len(test), value)
            truths.append(test["anomaly"].to_numpy())
            preds.append(alarm)
            changes = np.flatnonzero(test["changepoint"].to_numpy() == 1).tolist()
            cp_pairs.append((changepoint_labels(rel, test["datetime"].to_numpy(), changes), changepoint_flags(alarm)))
        nab = changepoint_scores(cp_pairs)
        std = nab["standard"]
        t = seconds(free.iloc[TRAIN_ROWS:])
        span = float(t[-1] - t[0] + 1.0)
        free_alarm = np.full(len(t), value)
        out.append(RuleResult(name, "-", pointwise(np.concatenate(truths), np.concatenate(preds)),
                              {k: round(v.normalised, 2) for k, v in nab.items()}, std.fn, std.fp, std.tp + std.fn,
                              round(per_day(int(free_alarm.sum()), span), 1),
                              round(per_day(episodes(free_alarm), span), 1), round(float(free_alarm.mean()), 4)))
    return out


def format_tables(results: list[RuleResult]) -> str:
    """Markdown: outlier detection and changepoint detection tables, each beside the published leaderboard."""
    lines = ["Outlier detection (test rows, pooled)", "",
             "| detector | rule | F1 | FAR % | MAR % | anomaly-free: alarm rows/day | episodes/day |",
             "|---|---|---:|---:|---:|---:|---:|"]
    rows = sorted(results, key=lambda r: -r.outlier.f1)
    for r in rows:
        tag = " (default)" if r.detector == DEFAULT else ""
        lines.append(f"| fenghuo {r.detector}{tag} | {r.rule} | {r.outlier.f1:.2f} | {r.outlier.far:.2f} | "
                     f"{r.outlier.mar:.2f} | {r.free_rows_per_day:.0f} | {r.free_episodes_per_day:.0f} |")
    for name, (f1, far, mar) in PUBLISHED_OUTLIER.items():
        lines.append(f"| {name} | published | {f1:.2f} | {far:.2f} | {mar:.2f} | | |")
    lines += ["", "Changepoint detection (NAB, 60 s window to the right of each change)", "",
              "| detector | rule | standard | low FP | low FN | missed | FP |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in sorted(results, key=lambda r: -r.nab["standard"]):
        tag = " (default)" if r.detector == DEFAULT else ""
        lines.append(f"| fenghuo {r.detector}{tag} | {r.rule} | {r.nab['standard']:.2f} | "
                     f"{r.nab['reward_low_FP_rate']:.2f} | {r.nab['reward_low_FN_rate']:.2f} | {r.missed} | "
                     f"{r.false_positives} |")
    for name, (a, b, c, m, fp) in PUBLISHED_CHANGEPOINT.items():
        lines.append(f"| {name} | published | {a:.2f} | {b:.2f} | {c:.2f} | {m} | {fp} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args, detectors = detector_args(__doc__.splitlines()[0], "SKAB data/ folder (valve1/, valve2/, other/, ...)", argv)
    parser = args.parser
    data_dir = args.data or default_data_dir()
    files = list_files(data_dir)
    if not files or not (data_dir / FREE).exists():
        parser.error(f"no SKAB files under {data_dir}")
    started = time.perf_counter()
    frames = {rel: load_file(data_dir / rel) for rel in files}
    free = load_file(data_dir / FREE)
    tasks = [(d, str(data_dir), rel) for d in detectors for rel in [FREE, *files]]
    scores: dict[str, dict[str, np.ndarray]] = {d: {} for d in detectors}
    cpu: dict[str, float] = dict.fromkeys(detectors, 0.0)
    with Pool(args.workers) as pool:
        for done, (det, rel, s, elapsed) in enumerate(pool.imap_unordered(_run_task, tasks), start=1):
            scores[det][rel] = s
            cpu[det] += elapsed
            print(f"\r[{done}/{len(tasks)}] {det} {rel}".ljust(80), end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    results = [evaluate(d, rule, frames, {rel: scores[d][rel] for rel in files}, free, scores[d][FREE])
               for d in detectors for rule in ("train", "blue")]
    results += baselines(frames, free)
    asset_results, asset_text = asset_bench.run(frames, free, FREE)  # the 8 sensors judged together
    results += asset_results  # type: ignore[arg-type]
    print(format_tables(results))
    print(asset_text)
    n_rows = 8 * (sum(len(f) for f in frames.values()) + len(free))
    print()
    for d in detectors:
        print(f"{d}: {cpu[d]:.1f} s detector time, {1e6 * cpu[d] / n_rows:.1f} us/row/channel")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "results.json").write_text(json.dumps([asdict(r) for r in results], indent=1))
    print(f"wall time: {time.perf_counter() - started:.1f} s for {len(detectors)} detector(s) x {len(files)} files "
          f"+ anomaly-free, 8 channels ({args.workers} workers)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
