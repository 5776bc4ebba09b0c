"""The per-grid risk forecast, backtested with a rolling origin on Boston 311 (2015) or another city's log.

``python -m benchmarks.risk_boston [--data FILE --config CONFIG [--format FMT] [--tz ZONE]] [--group all]``.
Reads the complaints through the adapter, ``parse_event`` and the config's grid resolver (default: Boston 311
2015 and the example config, which maps Boston to 23 grids), runs :class:`ComplaintBurst` over them for the
label's burst half (Boston: crew work orders skipped, as ``benchmarks.bursts_boston`` runs it), then
:func:`fenghuo.detectors.risk.backtest`: from week 8, train on the weeks before each weekly origin, forecast the
next 7 days, score the grids of the category group. Prints per week and overall: precision at the top 5 and 10
grids, ROC AUC (pooled over every scored grid-week, and the mean of the weekly ones), Brier score, for the
logistic and boosting models and the two baselines (last week's count; the seasonal expectation), the in-sample
figures beside the rolling-origin ones, whether the default model beats both baselines on each summary figure,
and timings: a retrain on the whole log from scratch (what the daily job does), per-origin train and forecast.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from fenghuo.core.grids import GridTree
from fenghuo.core.models import Event
from fenghuo.detectors.bursts import BurstParams
from fenghuo.detectors.risk import RiskForecastParams, backtest, burst_marks, cases_from_events, train
from fenghuo.detectors.risk.backtesting import Backtest
from fenghuo.ingest.adapters import read_records
from fenghuo.ingest.events import EventError, make_resolver, parse_event

DATA = "/work/shared/data/boston311-2015/boston_311_2015.csv.gz"
CONFIG = "fenghuo/demo/fenghuo.example.yaml"
BOSTON_TZ = "America/New_York"
CREW = ("Employee Generated", "City Worker App", "Maximo Integration")  # as benchmarks.bursts_boston skips them
FIGURES = (("p5", "P@5", True), ("p10", "P@10", True), ("auc", "AUC", True), ("auc_weekly", "AUC weekly", True),
           ("brier", "Brier", False))


def load(path: str, config_path: str, fmt: str | None) -> tuple[list[Event], int, GridTree, RiskForecastParams, str]:
    """Complaint events in time order, rejects, the config's grid tree, its risk_forecast settings, timezone."""
    os.environ.setdefault("FENGHUO_WEBHOOK_SECRET", "benchmark")
    from fenghuo.core.config import load_config

    config = load_config(config_path)
    tree = GridTree(config.nodes, config.grid_match_km)
    resolve = make_resolver(tree)
    events, rejected = [], 0
    for rec in read_records(path, feed="complaint", fmt=fmt):
        try:
            e = parse_event(rec, resolve)
        except EventError:
            rejected += 1
            continue
        if e.feed == "complaint":
            events.append(e)
    events.sort(key=lambda e: (e.ts, e.id))
    params = getattr(config, "risk_forecast", None) or RiskForecastParams()
    return events, rejected, tree, params, config.timezone


def fig(x: float) -> str:
    return "  -  " if math.isnan(x) else f"{x:.3f}"


def print_weeks(bt: Backtest, tz: str) -> None:
    print("| week of | grids | base rate | " + " | ".join(f"{m} P@5 / P@10 / AUC / Brier" for m in bt.methods) + " |")
    print("|---|---|---|" + "---|" * len(bt.methods))
    zone = ZoneInfo(tz)
    for w in bt.weeks:
        cells = [f"{fig(s.p5)} / {fig(s.p10)} / {fig(s.auc)} / {fig(s.brier)}" for s in (w.scores[m]
                                                                                          for m in bt.methods)]
        print(f"| {datetime.fromtimestamp(w.origin, zone):%Y-%m-%d} | {w.grids} | {w.base_rate:.2f} | "
              + " | ".join(cells) + " |")


def print_overall(bt: Backtest) -> None:
    print("\n| method | P@5 | P@10 | AUC (pooled) | AUC (weekly mean) | Brier | in-sample P@5 / P@10 / AUC / Brier |")
    print("|---|---|---|---|---|---|---|")
    for m in bt.methods:
        o = bt.overall[m]
        ins = bt.in_sample.get(m)
        inside = (f"{fig(ins['p5'])} / {fig(ins['p10'])} / {fig(ins['auc'])} / {fig(ins['brier'])}" if ins else "")
        print(f"| {m} | {fig(o['p5'])} | {fig(o['p10'])} | {fig(o['auc'])} | {fig(o['auc_weekly'])} "
              f"| {fig(o['brier'])} | {inside} |")
    base = next(iter(bt.overall.values()))["base_rate"]
    print(f"\nbase rate (share of scored grid-weeks with the event): {base:.3f}; {len(bt.weeks)} weeks scored, "
          f"{bt.skipped} skipped (no model)")


def verdict(bt: Backtest, model: str) -> list[str]:
    """Where ``model`` beats both baselines on each summary figure, and in how many weeks, said plainly."""
    out = []
    for key, name, higher in FIGURES:
        mine = bt.overall[model][key]
        for base in ("last_week", "seasonal"):
            theirs = bt.overall[base][key]
            better = mine > theirs if higher else mine < theirs
            wk = "" if key == "auc_weekly" else _weeks_won(bt, model, base, key, higher)
            out.append(f"{name}: {model} {fig(mine)} against {base} {fig(theirs)}: "
                       f"{'beats it' if better else 'DOES NOT beat it'}{wk}")
    return out


def _weeks_won(bt: Backtest, model: str, base: str, key: str, higher: bool) -> str:
    won = lost = 0
    for w in bt.weeks:
        a, b = getattr(w.scores[model], key), getattr(w.scores[base], key)
        if math.isnan(a) or math.isnan(b) or a == b:
            continue
        if (a > b) == higher:
            won += 1
        else:
            lost += 1
    return f" (weeks better {won}, worse {lost}, tied {len(bt.weeks) - won - lost})"


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data", default=DATA, help="a complaint log (default Boston 311 2015)")
    ap.add_argument("--config", default=CONFIG, help="the config whose grid tree places it (default the example)")
    ap.add_argument("--format", help="the file's format (default: boston311 for the default file, else detected)")
    ap.add_argument("--tz", help="local time zone (default: America/New_York for Boston, else the config's)")
    ap.add_argument("--group", default="all", help="the category group scored (default all)")
    ap.add_argument("--start-weeks", type=int, default=8, help="first origin this many weeks after the first case")
    ap.add_argument("--no-weeks", action="store_true", help="leave out the per-week table")
    args = ap.parse_args()
    boston = args.data == DATA
    t0 = time.perf_counter()
    events, rejected, tree, params, config_tz = load(args.data, args.config, args.format or
                                                      ("boston311" if boston else None))
    tz = args.tz or (BOSTON_TZ if boston else config_tz)
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    cases = cases_from_events(events, tree)
    t_cases = time.perf_counter() - t0
    t0 = time.perf_counter()
    marks = burst_marks(events, BurstParams(tz=tz, ignore_channels=CREW if boston else ()))
    t_burst = time.perf_counter() - t0
    grids = len({c.grid for c in cases})
    print(f"{len(cases):,} complaints ({rejected:,} records rejected) in {grids} grids, "
          f"{len(marks)} burst episodes (label's first half); tz {tz}; group {args.group}, "
          f"horizon {params.horizon_days} d, quantile {params.quantile}, default model {params.model}")
    print(f"read {t_read:.1f} s, cases (text flags) {t_cases:.1f} s, burst detector {t_burst:.1f} s\n")
    if not cases:
        print("no complaints: nothing to backtest")
        return
    until = cases[-1].ts + 1.0
    for kind in ("logistic", "boosting"):
        t0 = time.perf_counter()
        model = train(cases, marks, tree, params, until, tz, kind=kind)
        took = time.perf_counter() - t0
        rows = f"{model.rows} rows, base rate {model.base_rate:.3f}" if model else "no model"
        print(f"daily retrain from scratch on the whole log ({kind}): {took:.2f} s ({rows})")
    t0 = time.perf_counter()
    bt = backtest(cases, marks, tree, params, tz, group=args.group, start_weeks=args.start_weeks)
    t_bt = time.perf_counter() - t0
    if not bt.weeks:
        print("too little history for a rolling-origin backtest")
        return
    for kind in ("logistic", "boosting"):
        tr, fc = bt.train_s[kind], bt.forecast_s[kind]
        print(f"{kind}: train per origin mean {sum(tr) / len(tr):.2f} s (max {max(tr):.2f}), "
              f"forecast with explanations mean {sum(fc) / len(fc) * 1000:.0f} ms")
    print(f"backtest {t_bt:.1f} s\n")
    if not args.no_weeks:
        print_weeks(bt, tz)
    print_overall(bt)
    print(f"\nThe default model ({params.model}) against the baselines, rolling origin:")
    for line in verdict(bt, params.model):
        print("  " + line)
    other = "boosting" if params.model == "logistic" else "logistic"
    wins = [name for key, name, higher in FIGURES
            if (bt.overall[other][key] > bt.overall[params.model][key]) == higher
            and bt.overall[other][key] != bt.overall[params.model][key]]
    print(f"\nModel rule (boosting becomes the default only if it beats logistic on every summary figure): "
          f"{other} beats {params.model} on {len(wins)} of the {len(FIGURES)} summary figures"
          f"{' (' + ', '.join(wins) + ')' if wins else ''}.")


if __name__ == "__main__":
    main()
