"""Choose the ``anomaly`` detector's defaults by one rule over NAB, SKAB and Storm Gloria, from what it raises.

Every candidate (model x blue level x hold x confirm; yellow..red spaced as today's default) is run as the
service runs it (:class:`fenghuo.detectors.anomaly.detector.AnomalyExtra`: each series' own time base, the
glitch rule, warm-up 288 readings on every data set) and judged by what it raises, the same way on the three
data sets (:mod:`benchmarks.defaults.episodes`): labelled anomalies caught by a yellow-or-higher alert and
their delay, false alert episodes per series-day of normal time, time in alert inside and outside the
anomalies, clearing after. The rule (:mod:`benchmarks.defaults.rule`): within the false-alert budget on every
data set, the highest worst-case recall. Cross-validated: leave one data set out, and 2/3-fold within each.

The learning freeze (``max_freeze``: a reading scored at blue or above is not learnt) makes the score depend
on the blue level; the grid runs every model with the freeze off (one cached score stream per model) and the
affordable models also with the freeze on (one stream per model and blue level); the costly ones (ensemble,
iforest) get the freeze on only for the finalists' (model, blue) pairs.

Usage::

    python -m benchmarks.defaults.run_defaults [--models a,b] [--budget 0.142857] [--no-cache] [--check all]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.defaults.data import DAY, Dataset, load_gloria, load_nab, load_skab
from benchmarks.defaults.episodes import INF, Change, UnitEval, episodes, evaluate_unit
from benchmarks.defaults.rule import Choice, Figures, choose, leave_one_out, ranking, within_folds
from benchmarks.defaults.simulate import (
    BASE,
    Setting,
    intervals,
    judge,
    levels_for,
    replay_all,
    run_service,
    score_streams,
)

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results" / "defaults"
MODELS = ("records_local", "robust_z", "ewma", "ensemble", "context_lik", "cusum", "iforest")
BLUES = (0.5, 0.6, 0.7)
HOLDS = (0.0, 12.0, 48.0)
CONFIRMS = (1, 2, 3)
WARMUP = 288  # readings; at most SKAB's 400 training rows, the same on every data set
FREEZE = 288  # max_freeze of the finalists' "freeze on" runs (today's default)
BUDGET = 1.0 / 7.0  # false alert episodes per series-day: one per sensor per week
AT_LEAST = 2  # yellow: the first level that needs ``confirm`` readings in a row
DEFAULT = Setting(BASE.detector, BASE.levels[0], BASE.hold, BASE.confirm, BASE.max_freeze)
COSTLY = ("ensemble", "iforest")  # run with the freeze on only as finalists (the others: on the whole grid)
FINALISTS = 2  # (model, blue) pairs run again with the freeze on (besides today's default's and LADDER's)
LADDER = (1.0, 2.0, 7.0, 30.0)  # other budgets (false episodes per series-day) the rule is also shown at


@dataclass
class Prepared:
    """A data set with what every replay needs, computed once."""

    data: Dataset
    ts: dict[str, list[float]]
    values: dict[str, np.ndarray]
    gaps: dict[str, list[float]]
    unit_interval: list[float]


def prepare(data: Dataset) -> Prepared:
    ts = {s.key: s.ts.tolist() for u in data.units for s in u.series}
    values = {s.key: s.values for u in data.units for s in u.series}
    gaps = {s.key: intervals(s.ts) for u in data.units for s in u.series}
    unit_interval = [float(np.median(np.diff(u.series[0].ts))) if len(u.series[0].ts) > 1 else 1.0 for u in data.units]
    return Prepared(data, ts, values, gaps, unit_interval)


def evaluate(p: Prepared, changes: dict[str, list[Change]]) -> list[UnitEval]:
    return [evaluate_unit(u.windows, u.scored_from, [float(s.ts[-1]) for s in u.series],
                          [changes[s.key] for s in u.series], u.excluded, u.settle, AT_LEAST) for u in p.data.units]


def figures(evals: Sequence[UnitEval]) -> Figures:
    return Figures(sum(e.caught for e in evals), sum(e.windows for e in evals), sum(e.false for e in evals),
                   sum(e.normal_s for e in evals) / DAY)


def run_grid(settings: list[Setting], preps: list[Prepared], streams: dict[str, dict[str, np.ndarray]],
             evals: dict[str, dict[str, list[UnitEval]]], changes_of: dict[str, dict[str, dict[str, list[Change]]]],
             keep: set[str]) -> None:
    """Replay every setting on every data set from its score streams (``streams[data set]``)."""
    by_blue: dict[float, list[Setting]] = {}
    for st in settings:
        by_blue.setdefault(st.blue, []).append(st)
    for p in preps:
        name = p.data.name
        for blue, group in by_blue.items():
            judged = {k: judge(v, p.values[k], blue) for k, v in streams[name].items()}
            above = {k: np.flatnonzero(v >= blue) for k, v in judged.items()}
            for st in group:
                ch = replay_all(st, judged, p.gaps, p.ts, above, WARMUP)
                evals.setdefault(st.name, {})[name] = evaluate(p, ch)
                if st.name in keep:
                    changes_of.setdefault(st.name, {})[name] = ch


def median(xs: Sequence[float]) -> float | None:
    xs = [x for x in xs if x != INF]
    return float(statistics.median(xs)) if xs else None


def details(p: Prepared, evals: list[UnitEval]) -> dict[str, Any]:
    """The service-level figures of one setting on one data set (delays and durations in readings)."""
    f = figures(evals)
    iv = p.unit_interval
    delays = [d / iv[i] for i, e in enumerate(evals) for d in e.delays_s]
    leads = [d / iv[i] for i, e in enumerate(evals) for d in e.leads_s]
    false_dur = [d / iv[i] for i, e in enumerate(evals) for d in e.false_durations_s]
    clears = [c / iv[i] if c != INF else INF for i, e in enumerate(evals) for c in e.clear_s]
    normal_s = sum(e.normal_s for e in evals)
    window_s = sum(e.window_s for e in evals)
    return {"windows": f.windows, "caught": f.caught, "recall": round(f.recall, 3),
            "up_at_onset": sum(e.up_at_onset for e in evals),
            "median_delay_readings": median(delays), "median_lead_readings": median(leads),
            "false": f.false, "normal_series_days": round(f.normal_days, 2),
            "false_per_series_day": round(f.false_per_day, 3),
            "normal_time_in_alert": round(sum(e.normal_up_s for e in evals) / normal_s, 4) if normal_s else None,
            "window_time_in_alert": round(sum(e.window_up_s for e in evals) / window_s, 4) if window_s else None,
            "median_false_episode_readings": median(false_dur),
            "median_clear_after_readings": median(clears),
            "not_cleared": sum(1 for c in clears if c == INF), "interval_s": statistics.median(iv)}


# --- the official metric of each data set, for the chosen settings -------------------------------------------

def nab_official(p: Prepared, ch: dict[str, list[Change]], raw: dict[str, np.ndarray] | None) -> dict[str, float]:
    """NAB standard score of the service's raises (a raise at yellow or higher = a detection at that row), and
    of the model's raw scores with NAB's corpus-wide threshold sweep (the model's ``make bench-nab`` figure)."""
    from benchmarks.nab.run_nab import load_labels
    from benchmarks.nab.scorer import PROFILES, score_at, sweep

    nab_dir = REPO.parent / "shared" / "data" / "nab"
    files = [u.key for u in p.data.units]
    labels = load_labels(nab_dir, files)
    pairs = []
    for u in p.data.units:
        s = u.series[0]
        flags = np.zeros(len(s.ts))
        for a, _ in episodes(ch[s.key], AT_LEAST):
            flags[int(np.searchsorted(s.ts, a))] = 1.0
        pairs.append((labels[u.key], flags))
    out = {"service_raises_standard": round(score_at(pairs, PROFILES["standard"], 0.5).normalised, 1)}
    if raw is not None:
        out["model_swept_standard"] = round(
            sweep([(labels[u.key], raw[u.series[0].key]) for u in p.data.units], PROFILES["standard"]).normalised, 1)
    return out


def skab_official(p: Prepared, ch: dict[str, list[Change]]) -> dict[str, float]:
    """SKAB's point-wise F1 / FAR % / MAR % of the service's alarm (any channel at yellow or higher) on the
    test rows of the 34 experiments, and the alerts raised on the anomaly-free run (8 channels, test rows)."""
    import pandas as pd

    from benchmarks.skab.metrics import pointwise

    truths, preds, free_alerts = [], [], 0
    for u in p.data.units:
        ts = u.series[0].ts
        up = np.zeros(len(ts), dtype=bool)
        for s in u.series:
            for a, b in episodes(ch[s.key], AT_LEAST):
                up[int(np.searchsorted(ts, a)):int(np.searchsorted(ts, b))] = True
            if u.key.startswith("anomaly-free"):
                free_alerts += sum(1 for a, _ in episodes(ch[s.key], AT_LEAST) if a >= u.scored_from)
        if u.key.startswith("anomaly-free"):
            continue
        from benchmarks.defaults.data import SKAB_DIR

        anomaly = pd.read_csv(SKAB_DIR / u.key, sep=";", usecols=["anomaly"])["anomaly"].fillna(0).to_numpy()
        test = ts >= u.scored_from
        truths.append(anomaly[test])
        preds.append(up[test])
    pw = pointwise(np.concatenate(truths), np.concatenate(preds))
    return {"f1": pw.f1, "far": pw.far, "mar": pw.mar, "anomaly_free_alerts": free_alerts}


def gloria_official(p: Prepared, evals: list[UnitEval]) -> dict[str, Any]:
    """Red crossings with an anomaly alert before them (inside the rise), and the median lead in minutes."""
    leads = [d / 60.0 for e in evals for d in e.leads_s]
    return {"red_crossings": sum(e.windows for e in evals), "alerted_before": len(leads),
            "median_lead_min": round(statistics.median(leads), 0) if leads else None}


# --- output -----------------------------------------------------------------------------------------------

def fmt(x: Any, spec: str = ".2f") -> str:
    return "-" if x is None else ("inf" if x == INF else format(x, spec))


def table_rows(names: list[str], table: dict[str, dict[str, Figures]], sets: list[str]) -> list[str]:
    head = "| setting | " + " | ".join(f"{d} recall | {d} false/series-day" for d in sets) + " | worst recall |"
    lines = [head, "|---|" + "---:|---:|" * len(sets) + "---:|"]
    for n in names:
        row = table[n]
        cells = " | ".join(f"{row[d].caught}/{row[d].windows} = {row[d].recall:.2f} | {row[d].false_per_day:.3f}"
                           for d in sets)
        lines.append(f"| {n} | {cells} | {min(row[d].recall for d in sets):.2f} |")
    return lines


def frontier(table: dict[str, dict[str, Figures]]) -> list[str]:
    """The candidates no other beats on both the worst-case false rate and the worst-case recall, quietest
    first: what each budget buys."""
    rows = sorted((max(f.false_per_day for f in r.values()), -min(f.recall for f in r.values()), n)
                  for n, r in table.items())
    out, best = [], -1.0
    for _worst_false, neg_recall, n in rows:
        if -neg_recall > best:
            best = -neg_recall
            out.append(n)
    return out


def detail_rows(rows: dict[str, dict[str, dict[str, Any]]], sets: list[str]) -> list[str]:
    lines = ["| setting | data set | caught | up at onset | median delay (readings) | false | false/series-day "
             "| normal time in alert | window time in alert | median false episode (readings) "
             "| median clear after (readings) | not cleared |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n, per in rows.items():
        for d in sets:
            x = per[d]
            lines.append(f"| {n} | {d} | {x['caught']}/{x['windows']} | {x['up_at_onset']} | "
                         f"{fmt(x['median_delay_readings'], '.0f')} | {x['false']} | {x['false_per_series_day']:.3f} | "
                         f"{fmt(x['normal_time_in_alert'], '.2%')} | {fmt(x['window_time_in_alert'], '.2%')} | "
                         f"{fmt(x['median_false_episode_readings'], '.0f')} | "
                         f"{fmt(x['median_clear_after_readings'], '.0f')} | {x['not_cleared']} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--budget", type=float, default=BUDGET, help="false alert episodes per series-day")
    ap.add_argument("--no-cache", action="store_true", help="recompute the models' score streams")
    ap.add_argument("--check", choices=("all", "gloria", "skab", "none"), default="gloria",
                    help="run the chosen setting through AnomalyExtra on Events and compare with the replay")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    started = time.perf_counter()
    clock: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        clock[name] = clock.get(name, 0.0) + now - since
        return now

    t = time.perf_counter()
    preps = [prepare(load_nab()), prepare(load_skab()), prepare(load_gloria(WARMUP))]
    sets = [p.data.name for p in preps]
    t = lap("load", t)
    for p in preps:
        print(f"{p.data.name}: {len(p.data.units)} units, {p.data.n_readings} readings, "
              f"{sum(len(u.windows) for u in p.data.units)} labelled anomalies", file=sys.stderr)

    evals: dict[str, dict[str, list[UnitEval]]] = {}
    settings: dict[str, Setting] = {}
    changes_of: dict[str, dict[str, dict[str, list[Change]]]] = {}
    raw: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    model_seconds: dict[str, float] = {}
    frozen: dict[tuple[str, float], dict[str, dict[str, np.ndarray]]] = {}

    def freeze_on(m: str, blue: float) -> None:
        """The freeze on (one stream per model and blue level): all holds and confirms."""
        nonlocal t
        grid = [Setting(m, blue, h, c, FREEZE) for h in HOLDS for c in CONFIRMS]
        settings.update({st.name: st for st in grid})
        frozen[(m, blue)] = {}
        for p in preps:
            frozen[(m, blue)][p.data.name], spent = score_streams(m, p.data, not args.no_cache, blue, FREEZE, WARMUP)
            model_seconds[m] = model_seconds.get(m, 0.0) + spent
        t = lap("scores (freeze on)", t)
        run_grid(grid, preps, frozen[(m, blue)], evals, changes_of, set())
        t = lap("replay", t)

    for m in models:
        grid = [Setting(m, b, h, c) for b in BLUES for h in HOLDS for c in CONFIRMS]
        settings.update({st.name: st for st in grid})
        streams = {}
        for p in preps:
            streams[p.data.name], spent = score_streams(m, p.data, use_cache=not args.no_cache)
            model_seconds[m] = model_seconds.get(m, 0.0) + spent
        raw[m] = streams
        t = lap("scores", t)
        run_grid(grid, preps, streams, evals, changes_of, set())
        t = lap("replay", t)
        if m not in COSTLY:
            for blue in BLUES:
                freeze_on(m, blue)
        print(f"{m}: scores {model_seconds[m]:.0f} s, {len(settings)} settings replayed so far "
              f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)

    def tab() -> dict[str, dict[str, Figures]]:
        return {n: {d: figures(ev[d]) for d in sets} for n, ev in evals.items()}

    table = tab()
    first = choose(table, args.budget)
    ranked = ranking(table, first.budget)
    pairs: list[tuple[str, float]] = []
    for n in ranked:
        pair = (settings[n].model, settings[n].blue)
        if pair not in pairs:
            pairs.append(pair)
        if len(pairs) == FINALISTS:
            break
    for b in LADDER:  # and the best pair at each other budget
        c = choose(table, b).candidate
        if c and (settings[c].model, settings[c].blue) not in pairs:
            pairs.append((settings[c].model, settings[c].blue))
    default_pair = (DEFAULT.model, DEFAULT.blue)
    frozen_pairs = pairs + ([default_pair] if default_pair not in pairs and DEFAULT.model in models else [])
    for m, blue in frozen_pairs:  # the costly models' finalists with the freeze on
        if (m, blue) not in frozen:
            freeze_on(m, blue)
            print(f"{m} blue {blue:g} with the freeze on: done ({time.perf_counter() - started:.0f} s so far)",
                  file=sys.stderr)
    table = tab()
    choice = choose(table, args.budget)
    ranked = ranking(table, choice.budget)
    chosen = settings[choice.candidate] if choice.candidate else None
    shown = ranked[:5]
    ladder = {b: choose(table, b) for b in (args.budget, *LADDER)}
    for n in [c.candidate for c in ladder.values()] + [DEFAULT.name]:
        if n in settings and n not in shown:
            shown.append(n)

    # the chosen and the shown settings again, keeping their level changes (official metrics)
    keep = set(shown)
    for n in shown:
        st = settings[n]
        run_grid([st], preps, frozen[(st.model, st.blue)] if st.max_freeze else raw[st.model], evals, changes_of,
                 keep)
    t = lap("official metrics replay", t)

    # cross-validation
    units = {n: {p.data.name: [(u.fold, figures([e])) for u, e in zip(p.data.units, ev[p.data.name], strict=True)]
                 for p in preps} for n, ev in evals.items()}
    cv = {b: (leave_one_out(table, b), within_folds(units, b)) for b in ladder}
    loo, folds = cv[args.budget]
    t = lap("rule and cross-validation", t)

    # official metrics of the shown settings
    official: dict[str, dict[str, Any]] = {}
    for n in shown:
        st = settings[n]
        ch = changes_of[n]
        by = {p.data.name: p for p in preps}
        official[n] = {
            "NAB": nab_official(by["NAB"], ch["NAB"], raw[st.model]["NAB"]),
            "SKAB": skab_official(by["SKAB"], ch["SKAB"]),
            "Gloria": gloria_official(by["Gloria"], evals[n]["Gloria"]),
        }
    t = lap("official metrics", t)

    # the replay against the service itself, for the chosen setting
    check: dict[str, bool] = {}
    if chosen is not None and args.check != "none":
        for p in preps:
            if args.check in ("skab", "gloria") and p.data.name.lower() != args.check:
                continue
            service, _ = run_service(chosen, p.data, WARMUP)
            check[p.data.name] = service == changes_of[chosen.name][p.data.name]
    t = lap("service check", t)

    detail = {n: {p.data.name: details(p, evals[n][p.data.name]) for p in preps} for n in shown}
    wall = time.perf_counter() - started
    out = report(args, models, choice, chosen, shown, table, detail, official, loo, folds, ladder, cv, check, sets,
                 clock, model_seconds, wall)
    print(out)
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {
        "budget_false_per_series_day": args.budget, "budget_used": choice.budget, "feasible": choice.feasible,
        "counting_level": "yellow", "warmup": WARMUP, "freeze_on_max_freeze": FREEZE,
        "candidates": {"models": models, "blue": BLUES, "hold": HOLDS, "confirm": CONFIRMS,
                       "levels": {str(b): levels_for(b) for b in BLUES}},
        "chosen": asdict(chosen) if chosen else None,
        "chosen_params": {"detector": chosen.model, "levels": levels_for(chosen.blue), "hold": chosen.hold,
                          "confirm": chosen.confirm, "warmup": WARMUP,
                          "max_freeze": chosen.max_freeze} if chosen else None,
        "ranking": ranked[:20], "details": detail, "official": official,
        "table": {n: {d: asdict(f) for d, f in row.items()} for n, row in table.items()},
        "leave_one_data_set_out": {d: {"chosen": c.candidate, "budget_used": c.budget, **asdict(f),
                                       "recall": round(f.recall, 3), "false_per_day": round(f.false_per_day, 3)}
                                   for d, (c, f) in loo.items()},
        "within_folds": {d: {"chosen": {fold: c.candidate for fold, c in ch}, **asdict(f),
                             "recall": round(f.recall, 3), "false_per_day": round(f.false_per_day, 3)}
                         for d, (ch, f) in folds.items()},
        "budget_ladder": {str(b): {"chosen": c.candidate, "budget_used": c.budget,
                                   "leave_one_data_set_out": {d: {"chosen": lc.candidate, "recall": round(f.recall, 3),
                                                                  "false_per_day": round(f.false_per_day, 3)}
                                                              for d, (lc, f) in cv[b][0].items()},
                                   "within_folds": {d: {"recall": round(f.recall, 3),
                                                        "false_per_day": round(f.false_per_day, 3)}
                                                    for d, (_, f) in cv[b][1].items()}}
                          for b, c in ladder.items()},
        "frontier": frontier(table),
        "service_check_identical": check, "seconds": {**clock, "wall": wall}, "model_seconds": model_seconds,
    }
    (args.out / "results.json").write_text(json.dumps(payload, indent=1, default=_json))
    (args.out / "report.md").write_text(out + "\n")
    print(f"\nwrote {args.out / 'results.json'} and report.md; wall time {wall:.0f} s", file=sys.stderr)
    return 0


def _json(x: Any) -> Any:
    if isinstance(x, float) and x == INF:
        return "inf"
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(type(x))


def report(args: argparse.Namespace, models: list[str], choice: Choice, chosen: Setting | None, shown: list[str],
           table: dict[str, dict[str, Figures]], detail: dict[str, Any], official: dict[str, Any],
           loo: dict[str, tuple[Choice, Figures]], folds: dict[str, Any], ladder: dict[float, Choice], cv: Any,
           check: dict[str, bool], sets: list[str], clock: dict[str, float], model_seconds: dict[str, float],
           wall: float) -> str:
    b = args.budget
    lines = [f"Budget: {b:.3g} false alert episodes per series-day ({b * 7:.3g} per sensor per week); "
             f"counting level yellow; warm-up {WARMUP} readings; models {', '.join(models)}.",
             f"Budget used: {choice.budget:.3g} per series-day"
             + (" (nothing within the stated budget catches on every data set: raised to the least that does)"
                if choice.budget > b else "") + f"; {choice.feasible} candidates within it.",
             f"Chosen: {chosen.name if chosen else '-'}"
             + (f" -> AnomalyParams(detector={chosen.model!r}, levels={levels_for(chosen.blue)}, hold={chosen.hold:g}, "
                f"confirm={chosen.confirm}, warmup={WARMUP}, max_freeze={chosen.max_freeze})" if chosen else ""),
             "", "In-sample figures (the rule's inputs), chosen first, then the runners-up and today's default:", ""]
    lines += table_rows(shown, table, sets)
    lines += ["", "Service-level details:", ""]
    lines += detail_rows(detail, sets)
    lines += ["", "Each data set's own metric for the same settings:", "",
              "| setting | NAB standard (service raises) | NAB standard (model, swept) | SKAB F1 | FAR % | MAR % "
              "| SKAB anomaly-free alerts | Gloria red crossings alerted before | median lead min |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n in shown:
        o = official[n]
        lines.append(f"| {n} | {o['NAB']['service_raises_standard']} | {o['NAB'].get('model_swept_standard', '-')} | "
                     f"{o['SKAB']['f1']} | {o['SKAB']['far']} | {o['SKAB']['mar']} | "
                     f"{o['SKAB']['anomaly_free_alerts']} | "
                     f"{o['Gloria']['alerted_before']}/{o['Gloria']['red_crossings']} | "
                     f"{fmt(o['Gloria']['median_lead_min'], '.0f')} |")
    lines += ["", "Cross-validation (recall and false alerts per series-day of the setting chosen without the "
              "held-out part, beside the in-sample figures of the chosen setting):", "",
              "| data set | in-sample recall | in-sample false/day | leave-one-data-set-out: chosen | recall "
              "| false/day | within-data-set folds: chosen per fold | recall | false/day |",
              "|---|---:|---:|---|---:|---:|---|---:|---:|"]
    for d in sets:
        ins = table[chosen.name][d] if chosen else None
        c, f = loo[d]
        fch, ff = folds[d]
        lines.append(f"| {d} | {fmt(ins.recall if ins else None)} | {fmt(ins.false_per_day if ins else None, '.3f')} | "
                     f"{c.candidate} | {f.recall:.2f} | {f.false_per_day:.3f} | "
                     f"{'; '.join(f'{fold}: {ch.candidate}' for fold, ch in fch)} | {ff.recall:.2f} | "
                     f"{ff.false_per_day:.3f} |")
    lines += ["", "What each budget buys (the frontier: no candidate has both fewer false alerts on its worst data set "
              "and a higher worst-case recall):", ""]
    lines += table_rows(frontier(table), table, sets)
    lines += ["", "The rule at each budget (false alert episodes per series-day), in-sample / leave-one-data-set-out / "
              "within-data-set folds, recall and false per series-day:", "",
              "| budget | chosen | " + " | ".join(f"{d} recall in / loo / folds | {d} false/day in / loo / folds"
                                                for d in sets) + " |",
              "|---:|---|" + "---|---|" * len(sets)]
    for bb, c in ladder.items():
        lo, fo = cv[bb]
        cells = []
        for d in sets:
            ins = table[c.candidate][d] if c.candidate else None
            a, f = lo[d][1], fo[d][1]
            cells.append(f"{fmt(ins.recall if ins else None)} / {a.recall:.2f} / {f.recall:.2f}")
            cells.append(f"{fmt(ins.false_per_day if ins else None, '.3f')} / {a.false_per_day:.3f} / "
                         f"{f.false_per_day:.3f}")
        lines.append(f"| {bb:.3g} (used {c.budget:.3g}) | {c.candidate} | " + " | ".join(cells) + " |")
    if check:
        lines += ["", "Replay vs AnomalyExtra on Events (chosen setting): "
                  + ", ".join(f"{d} {'identical' if ok else 'DIFFERENT'}" for d, ok in check.items())]
    lines += ["", "Time: " + ", ".join(f"{k} {v:.0f} s" for k, v in clock.items()) + f"; wall {wall:.0f} s; "
              "model score streams (0 = cached): " + ", ".join(f"{m} {s:.0f} s" for m, s in model_seconds.items())]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())

