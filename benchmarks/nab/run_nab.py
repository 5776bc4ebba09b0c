"""Run fenghuo's anomaly detectors over the Numenta Anomaly Benchmark and score them.

Every detector sees every NAB file in time order, scoring each row before learning it. Scores
are written to ``benchmarks/results/nab/<detector>/<category>/<detector>_<file>.csv`` and scored
with :mod:`benchmarks.nab.scorer` under all three profiles, beside the published scoreboard.

Usage::

    python -m benchmarks.nab.run_nab [--detectors a,b] [--data DIR] [--workers N]
"""

from __future__ import annotations

import json
import os
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import detector_args
from benchmarks.nab.scorer import PROFILES, FileLabels, SweepResult, sweep
from fenghuo.detectors.anomaly import make_detector

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results" / "nab"

PUBLISHED: dict[str, tuple[float, float, float]] = {
    "ARTime": (74.9, 65.1, 80.4),
    "Numenta HTM": (70.5, 62.6, 75.2),
    "CAD OSE": (69.9, 67.0, 73.2),
    "earthgecko Skyline": (58.2, 46.2, 63.9),
    "KNN CAD": (58.0, 43.4, 64.8),
    "Relative Entropy": (54.6, 47.6, 58.8),
    "Random Cut Forest": (51.7, 38.4, 59.7),
    "Twitter ADVec": (47.1, 33.6, 53.5),
    "Windowed Gaussian": (39.6, 20.9, 47.4),
    "Bayesian Changepoint": (17.7, 3.2, 32.2),
    "Random": (11.0, 1.2, 19.5),
    "Null": (0.0, 0.0, 0.0),
}


def default_data_dir() -> Path:
    """``$FENGHUO_SHARED/data/nab`` if set, else ``<repo>/../shared/data/nab``."""
    shared = os.environ.get("FENGHUO_SHARED")
    if shared:
        return Path(shared) / "data" / "nab"
    return REPO.parent / "shared" / "data" / "nab"


def list_files(data_dir: Path) -> list[str]:
    """Relative paths ``<category>/<file>.csv`` of every data file, sorted."""
    root = data_dir / "data"
    return sorted(p.relative_to(root).as_posix() for p in root.glob("*/*.csv"))


def load_series(data_dir: Path, rel: str) -> pd.DataFrame:
    """One NAB file with its timestamps parsed."""
    frame = pd.read_csv(data_dir / "data" / rel)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame


def run_file(detector: str, data_dir: Path, rel: str, seed: int = 0) -> tuple[str, str, np.ndarray, float]:
    """Score one file with a fresh detector (score before learn); write its results CSV."""
    frame = load_series(data_dir, rel)
    ts = frame["timestamp"].astype("datetime64[ns]").astype("int64").to_numpy() / 1e9
    values = frame["value"].to_numpy(dtype=float)
    det = make_detector(detector, seed=seed)
    scores = np.empty(len(values))
    start = time.perf_counter()
    for i, (t, v) in enumerate(zip(ts.tolist(), values.tolist(), strict=True)):
        scores[i] = det.score_one(t, v)
        det.learn_one(t, v)
    elapsed = time.perf_counter() - start
    category, fname = rel.split("/")
    out = RESULTS / detector / category / f"{detector}_{fname}"
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"timestamp": frame["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S"), "value": values,
                  "anomaly_score": scores}).to_csv(out, index=False)
    return detector, rel, scores, elapsed


def _run_task(args: tuple[str, str, str]) -> tuple[str, str, np.ndarray, float]:
    detector, data_dir, rel = args
    return run_file(detector, Path(data_dir), rel)


def load_labels(data_dir: Path, files: list[str]) -> dict[str, FileLabels]:
    """The scoring geometry of every file from ``labels/combined_windows.json``."""
    windows = json.loads((data_dir / "labels" / "combined_windows.json").read_text())
    labels = {}
    for rel in files:
        frame = pd.read_csv(data_dir / "data" / rel, usecols=["timestamp"])
        ts = pd.to_datetime(frame["timestamp"]).to_numpy()
        labels[rel] = FileLabels.build(rel, ts, [tuple(w) for w in windows.get(rel, [])])
    return labels


def score_detector(labels: dict[str, FileLabels], scores: dict[str, np.ndarray]) -> dict[str, SweepResult]:
    """Sweep the corpus-wide threshold for each profile."""
    pairs = [(labels[rel], scores[rel]) for rel in sorted(labels)]
    return {name: sweep(pairs, profile) for name, profile in PROFILES.items()}


def format_table(measured: dict[str, dict[str, SweepResult]]) -> str:
    """A markdown table of measured scores beside the published scoreboard, best first."""
    rows: list[tuple[str, float, float, float, str]] = []
    for det, res in measured.items():
        std = res["standard"]
        rows.append((f"fenghuo {det}", std.normalised, res["reward_low_FP_rate"].normalised,
                     res["reward_low_FN_rate"].normalised, f"T={std.threshold:.4f} TP={std.tp} FP={std.fp}"))
    for det, (a, b, c) in PUBLISHED.items():
        rows.append((det, a, b, c, "published"))
    rows.sort(key=lambda r: -r[1])
    lines = ["| detector | standard | reward_low_FP_rate | reward_low_FN_rate | note |", "|---|---:|---:|---:|---|"]
    lines += [f"| {n} | {a:.1f} | {b:.1f} | {c:.1f} | {note} |" for n, a, b, c, note in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args, detectors = detector_args(__doc__.splitlines()[0], "NAB root (holds data/ and labels/)", argv)
    parser = args.parser
    data_dir = args.data or default_data_dir()
    files = list_files(data_dir)
    if not files:
        parser.error(f"no NAB files under {data_dir / 'data'}")
    started = time.perf_counter()
    labels = load_labels(data_dir, files)
    tasks = [(d, str(data_dir), rel) for d in detectors for rel in files]
    tasks.sort(key=lambda t: -labels[t[2]].n_rows)  # longest first balances the pool
    scores: dict[str, dict[str, np.ndarray]] = {d: {} for d in detectors}
    cpu: dict[str, float] = dict.fromkeys(detectors, 0.0)
    with Pool(args.workers) as pool:
        for done, (det, rel, s, elapsed) in enumerate(pool.imap_unordered(_run_task, tasks), start=1):
            scores[det][rel] = s
            cpu[det] += elapsed
            print(f"\r[{done}/{len(tasks)}] {det} {rel}".ljust(100), end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    measured = {d: score_detector(labels, scores[d]) for d in detectors}
    wall = time.perf_counter() - started
    print(format_table(measured))
    n_rows = sum(lab.n_rows for lab in labels.values())
    for d in detectors:
        print(f"{d}: {cpu[d]:.1f} s detector time, {1e6 * cpu[d] / n_rows:.1f} us/row")
    print(f"wall time: {wall:.1f} s for {len(detectors)} detector(s) x {len(files)} files ({args.workers} workers)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
