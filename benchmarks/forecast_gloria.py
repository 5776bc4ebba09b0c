"""Lead time of forecast early warnings on Storm Gloria (Hub'Eau river levels, January 2020).

Replays the real month in time order through :class:`fenghuo.detectors.forecast.ForecastWarner` with the
example config's ``river-level`` rule (per-station levels), refitting inline (deterministic; the
background mode gives the same signals when drained). For every station and level the rule
actually entered (same state machine: ``for_seconds``, hysteresis) it reports when, when fenghuo
first warned of that level (a forecast of that level or higher still standing at the crossing, else
the threshold rule itself at the crossing: lead 0), and the lead. A forecast warning is false when
its level was not entered within the horizon after it was issued.

Stations are independent series, so they are split over ``--workers`` processes, each replaying its
stations in global time order.

    python -m benchmarks.forecast_gloria [--model prophet|fallback|both] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fenghuo.core.config import Rule, load_config
from fenghuo.core.models import Event, parse_ts
from fenghuo.detectors.forecast import ForecastParams, ForecastWarner
from fenghuo.detectors.hysteresis import LevelParams, LevelState
from fenghuo.detectors.rules import params_for
from fenghuo.ingest.adapters import read_records

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared/data/hubeau-river-levels-2020/hubeau_water_level_10min_2020-01-07_2020-02-07.csv.gz"
CONFIG = ROOT / "fenghuo/demo/fenghuo.example.yaml"
NAMES = {1: "blue", 2: "yellow", 3: "orange", 4: "red"}
Reading = tuple[float, str, float]
DEFAULTS = ForecastParams()
QUIET_END = "2020-01-20T00:00:00Z"  # before Gloria's rain: the quiet part of the month


def load_rule(path: Path = CONFIG, rule_id: str = "river-level") -> Rule:
    os.environ.setdefault("FENGHUO_WEBHOOK_SECRET", "benchmark")
    return next(r for r in load_config(path).rules if r.id == rule_id)


def load_readings(path: Path = DATA, start: str | None = None, end: str | None = None,
                  stations: set[str] | None = None) -> list[Reading]:
    """(ts, source, value) sorted by time, optionally cut to [start, end) and some sources."""
    lo = parse_ts(start) if start else float("-inf")
    hi = parse_ts(end) if end else float("inf")
    out = []
    for r in read_records(path, fmt="hubeau"):
        if stations is not None and r["source"] not in stations:
            continue
        ts = parse_ts(r["ts"])
        if lo <= ts < hi:
            out.append((ts, r["source"], float(r["value"])))
    out.sort()
    return out


@dataclass
class Replay:
    signals: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    readings: int = 0


def replay(readings: list[Reading], rule: Rule, params: ForecastParams, use_prophet: bool | None = None) -> Replay:
    """Run the warner over the readings; keep the forecast signals as plain dicts."""
    warner = ForecastWarner(params, use_prophet)
    lps: dict[str, LevelParams | None] = {}
    out = Replay()
    started = time.perf_counter()
    for ts, source, value in readings:
        lp = lps.get(source)
        if source not in lps:
            lp = lps[source] = params_for(rule, [source], source)
        if lp is None:
            continue
        e = Event(feed="sensor", source=source, ts=ts, grid="hubeau", id=f"{source}:{ts:.0f}",
                  metric=rule.metric, value=value)
        for s in warner.step(e, [(rule, lp)]):
            if s.kind == "forecast":
                out.signals.append({"source": source, "ts": ts, "level": int(s.level or 0),
                                    "withdrawn": bool(s.evidence.get("withdrawn")), "model": s.evidence["model"],
                                    "observed": int(s.evidence.get("observed_level", 0)),
                                    "predicted_at": s.evidence.get("predicted_at")})
        out.readings += 1
    warner.drain()
    warner.close()
    out.seconds = time.perf_counter() - started
    out.stats = warner.stats()
    return out


def _replay_part(args: tuple[list[Reading], Rule, ForecastParams, bool | None]) -> Replay:
    return replay(*args)


def replay_parallel(readings: list[Reading], rule: Rule, params: ForecastParams, workers: int = 2,
                    use_prophet: bool | None = None) -> Replay:
    sizes: dict[str, int] = defaultdict(int)
    for _, s, _ in readings:
        sizes[s] += 1
    groups: list[set[str]] = [set() for _ in range(max(workers, 1))]
    for i, s in enumerate(sorted(sizes, key=lambda k: -sizes[k])):
        groups[i % len(groups)].add(s)
    parts = [([r for r in readings if r[1] in g], rule, params, use_prophet) for g in groups]
    if workers <= 1:
        results = [_replay_part(parts[0])]
    else:
        with ProcessPoolExecutor(workers) as ex:
            results = list(ex.map(_replay_part, parts))
    total = Replay()
    for r in results:
        total.signals += r.signals
        total.readings += r.readings
        total.seconds = max(total.seconds, r.seconds)
        for k, v in r.stats.items():
            total.stats[k] = total.stats.get(k, 0.0) + v
    fits = total.stats.get("fits", 0.0)
    total.stats["mean_fit_s"] = total.stats.get("fit_seconds", 0.0) / fits if fits else 0.0
    total.signals.sort(key=lambda s: (s["ts"], s["source"]))
    return total


def crossings(readings: list[Reading], rule: Rule) -> list[tuple[str, int, float, float]]:
    """(station, level, when, since) each time the rule's state machine entered a level from below.

    ``since`` is when the value itself first passed the threshold (the start of ``for_seconds``).
    """
    states: dict[str, LevelState] = defaultdict(LevelState)
    out = []
    for ts, source, value in readings:
        lp = params_for(rule, [source], source)
        if lp is None:
            continue
        st = states[source]
        before = st.level
        st.step(lp, ts, value)
        out += [(source, lv, ts, st.since.get(lv, ts)) for lv in range(before + 1, st.level + 1)]
    return out


Crossing = tuple[str, int, float, float]


def score(cross: list[Crossing], signals: list[dict[str, Any]], horizon_s: float) -> dict[str, Any]:
    """Lead per crossing (a standing forecast of that level or higher, else 0) and false warnings."""
    events = sorted([(ts, 1, s, lv, since) for s, lv, ts, since in cross]
                    + [(g["ts"], 0, g["source"], g["level"], g) for g in signals], key=lambda x: (x[0], x[1]))
    since: dict[str, dict[int, float]] = defaultdict(dict)
    rows = []
    for ts, is_cross, source, level, sig in events:
        standing = since[source]
        if is_cross:
            warned = standing.pop(level, ts)
            rows.append({"station": source, "level": level, "crossed": ts, "warned": warned,
                         "lead_min": (ts - warned) / 60.0, "value_lead_min": (sig - warned) / 60.0})
        elif sig["withdrawn"]:
            for lv in [lv for lv in standing if lv > level]:
                del standing[lv]
        else:
            for lv in range(sig["observed"] + 1, level + 1):
                standing.setdefault(lv, ts)
    by_station: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for s, lv, ts, _ in cross:
        by_station[s].append((lv, ts))
    false = [g for g in signals if not g["withdrawn"] and not any(
        lv >= g["level"] and g["ts"] <= ts <= g["ts"] + horizon_s for lv, ts in by_station[g["source"]])]
    warnings = [g for g in signals if not g["withdrawn"]]
    return {"rows": rows, "false": false, "warnings": warnings}


def _fmt(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%m-%d %H:%M")


def report(name: str, result: dict[str, Any], run: Replay) -> None:
    rows = result["rows"]
    print(f"\n== {name}: {run.readings} readings, replay {run.seconds:.1f} s "
          f"({run.readings / max(run.seconds, 1e-9):,.0f} readings/s per worker incl. fits) ==")
    print(f"{'station':<22}{'level':<8}{'crossed at':<13}{'warned at':<13}{'lead min':>9}{'vs value min':>14}")
    for r in sorted(rows, key=lambda r: (r["crossed"], r["station"], r["level"])):
        print(f"{r['station']:<22}{NAMES[r['level']]:<8}{_fmt(r['crossed']):<13}{_fmt(r['warned']):<13}"
              f"{r['lead_min']:>9.0f}{r['value_lead_min']:>14.0f}")
    print(f"\n{'level':<8}{'crossings':>10}{'warned before':>15}{'median lead':>13}{'median if warned':>18}"
          f"{'before value':>14}{'median vs value':>17}{'forecasts':>11}{'false':>7}")
    for lv in range(1, 5):
        leads = [r["lead_min"] for r in rows if r["level"] == lv]
        if not leads:
            continue
        early = [x for x in leads if x > 0]
        vs = [r["value_lead_min"] for r in rows if r["level"] == lv]
        n_warn = sum(1 for g in result["warnings"] if g["level"] == lv)
        n_false = sum(1 for g in result["false"] if g["level"] == lv)
        print(f"{NAMES[lv]:<8}{len(leads):>10}{100 * len(early) / len(leads):>14.0f}%{statistics.median(leads):>13.0f}"
              f"{statistics.median(early) if early else 0:>18.0f}{100 * sum(x > 0 for x in vs) / len(vs):>13.0f}%"
              f"{statistics.median(vs):>17.0f}{n_warn:>11}{n_false:>7}")
    leads = [r["lead_min"] for r in rows]
    early = sum(1 for x in leads if x > 0)
    by_model: dict[str, int] = defaultdict(int)
    for g in result["warnings"]:
        by_model[g["model"]] += 1
    vs = [r["value_lead_min"] for r in rows]
    print(f"all     {len(leads):>10}{100 * early / max(len(leads), 1):>14.0f}%"
          f"{statistics.median(leads) if leads else 0:>13.0f}{'':>18}"
          f"{100 * sum(x > 0 for x in vs) / max(len(vs), 1):>13.0f}%{statistics.median(vs) if vs else 0:>17.0f}")
    print(f"forecast warnings {len(result['warnings'])} (by model {dict(by_model)}), "
          f"false (level not entered within the horizon) {len(result['false'])}, of which before "
          f"{QUIET_END[:10]} {sum(g['ts'] < parse_ts(QUIET_END) for g in result['false'])}")
    st = run.stats
    print(f"refits {st.get('fits', 0):.0f} over {st.get('series', 0):.0f} series, "
          f"failed {st.get('fit_errors', 0):.0f}, "
          f"mean refit {1000 * st.get('mean_fit_s', 0):.0f} ms per series")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=("prophet", "fallback", "both"), default="both")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--horizon-h", type=float, default=3.0)
    ap.add_argument("--refit-h", type=float, default=6.0)
    ap.add_argument("--window-d", type=float, default=3.0)
    ap.add_argument("--stale-k", type=float, default=DEFAULTS.stale_k,
                    help="Prophet's path is used while the reading is within this many half-widths of it "
                         "(inf: always, the fallback only before the first fit)")
    ap.add_argument("--confirm-readings", default=str(DEFAULTS.confirm_readings),
                    help="readings a forecast level must be reached at before it is warned; a comma list runs each")
    ap.add_argument("--withdraw-readings", type=int, default=DEFAULTS.withdraw_readings)
    ap.add_argument("--robust-k", type=float, default=DEFAULTS.robust_k,
                    help="half-widths beyond which the Holt trend holds a reading until the next confirms it (0: off)")
    ap.add_argument("--select", default=DEFAULTS.select,
                    help="which path warns in Prophet mode: stale, error or union; a comma list runs each")
    ap.add_argument("--select-lead", type=float, default=DEFAULTS.select_lead,
                    help="select=error: the models' errors are tracked this fraction of the horizon ahead")
    ap.add_argument("--stations", default="", help="a comma list of stations (exploration); default all")
    args = ap.parse_args(argv)
    rule = load_rule()
    t = time.perf_counter()
    readings = load_readings(stations=set(args.stations.split(",")) if args.stations else None)
    print(f"{len(readings)} readings from {len({r[1] for r in readings})} stations loaded in "
          f"{time.perf_counter() - t:.1f} s; rule {rule.id}: for_seconds {rule.for_seconds:g}, "
          f"hysteresis {rule.hysteresis:g}")
    cross = crossings(readings, rule)
    base = ForecastParams(refit_mode="inline", horizon_s=args.horizon_h * 3600, refit_every_s=args.refit_h * 3600,
                          window_s=args.window_d * 86400, stale_k=args.stale_k,
                          withdraw_readings=args.withdraw_readings, robust_k=args.robust_k,
                          select_lead=args.select_lead)
    for model in ("fallback", "prophet") if args.model == "both" else (args.model,):
        for select in args.select.split(",") if model == "prophet" else (DEFAULTS.select,):
            for confirm in (int(c) for c in args.confirm_readings.split(",")):
                params = replace(base, model=model, confirm_readings=confirm, select=select)  # type: ignore[arg-type]
                run = replay_parallel(readings, rule, params, args.workers)
                report(f"{model}, select {select} (lead {params.select_lead:g}), confirm_readings {confirm}, "
                       f"withdraw_readings {params.withdraw_readings}, robust_k {params.robust_k:g}",
                       score(cross, run.signals, params.horizon_s), run)


if __name__ == "__main__":
    main()
