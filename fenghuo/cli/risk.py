"""``fenghuo risk forecast`` and ``fenghuo risk backtest``: the per-grid risk forecast from the command line.

``fenghuo risk forecast [--config C] [--data-dir D | --store URL] [--horizon 7d] [--node N] [--group G]`` makes a
forecast from a store's history as of its newest complaint (or ``--at``) and prints the ranked grids with their
top factors. It changes nothing in the store: no forecast, model or watch notice is written (the service's job
does that). ``fenghuo risk backtest FILE [--config C]`` replays a complaint log (any format ``fenghuo replay``
reads, e.g. Boston 311 CSV) through the rolling-origin backtest (:func:`fenghuo.detectors.risk.backtest`, the burst
detector's episodes as the label's first half) and
prints its figures beside the two baselines. Every error is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

from fenghuo.cli.common import TIME_FORMATS, missing_database, time_arg
from fenghuo.core.config import Config, ConfigError, load_config
from fenghuo.core.models import iso
from fenghuo.core.settings import make_settings

MAX_HORIZON = 28


def _fail(message: str) -> int:
    print(f"fenghuo: {message}", file=sys.stderr)
    return 2


def horizon_arg(text: str) -> int:
    """``7d`` (or ``7``) -> 7, for 1 .. 28 days."""
    raw = text.strip().lower().removesuffix("d")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_HORIZON:
        raise argparse.ArgumentTypeError(f"takes 1d .. {MAX_HORIZON}d (days), not {text!r}")
    return int(raw)


def _config(path: Path | None) -> tuple[Config | None, str | None]:
    from fenghuo.runtime.risk_job import risk_params

    try:
        config = load_config(path)
        risk_params(config)  # its risk_forecast section too
        return config, None
    except ConfigError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"cannot read the configuration {path}: {exc.strerror or exc}"


def _factors(row: dict[str, Any]) -> str:
    return "; ".join(f"{f['label_en']} {f['value']:g} ({f['contribution']:+.2f})" for f in row.get("factors", [])[:3])


def print_forecast(doc: dict[str, Any], limit: int) -> None:
    if doc.get("made_at") is None:
        print(f"no forecast: {doc.get('reason')}")
        return
    print(f"risk forecast made at {doc.get('made_at')} for the next {doc['horizon_days']} days, "
          f"model {doc.get('model_version') or 'none'}")
    if doc.get("reason"):
        print(f"no forecast: {doc['reason']}")
        return
    rows = doc["rows"]
    if not rows:
        print("no grids to forecast (does the configuration's grid tree match the complaints' grids?)")
        return
    print(f"{'#':>3}  {'node':<16} {'kind':<9} {'group':<10} {'prob':>5} {'expect':>7} {'recent':>6}  top factors")
    for i, r in enumerate(rows[:limit], start=1):
        mark = " !" if r.get("watch") else ""
        print(f"{i:>3}  {r['node']:<16} {r['kind']:<9} {r['group']:<10} {r['probability']:>5.2f} "
              f"{r['expected']:>7.1f} {r['recent']:>6}  {_factors(r)}{mark}")
    if len(rows) > limit:
        print(f"... {len(rows) - limit} more rows (--limit)")
    print(f"! at or above the watch level {doc.get('watch_level')}")


def cmd_forecast(args: argparse.Namespace) -> int:
    settings = make_settings(data_dir=args.data_dir, config=args.config, store_url=args.store)
    config, problem = _config(settings.config)
    if config is None:
        return _fail(problem or "no configuration")
    problem = missing_database(settings)
    if problem:
        return _fail(problem)
    from fenghuo.core.grids import GridTree
    from fenghuo.core.store import open_store
    from fenghuo.runtime.risk_job import RiskJob, risk_params

    tree = GridTree(config.nodes, config.grid_match_km)
    node = None
    if args.node is not None:
        node = tree.known(args.node)
        if node is None:
            return _fail(f"no node {args.node!r} in the configuration's grid tree")
    params = risk_params(config)
    if args.group is not None and args.group not in params.group_names():
        return _fail(f"no category group {args.group!r}: the groups are {', '.join(params.group_names())}")
    try:
        store = open_store(settings.store_url, settings.data_dir)
    except Exception as exc:  # PostgreSQL unreachable, a wrong password, a damaged file: one line
        return _fail(f"cannot open the store: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}")
    try:
        job = RiskJob(store, config, tree, lambda drill: args.at, time.time, readonly=True)
        doc = job.make(None, args.horizon, at=args.at)
    finally:
        store.close()
    rows = [r for r in doc["rows"] if (node is None or node in tree.chain_ids(r["node"]))
            and (args.group is None or r["group"] == args.group)]
    print_forecast({**doc, "rows": rows}, args.limit)
    return 0


def _figure(x: float | None) -> str:
    return "  -  " if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:5.3f}"


def cmd_backtest(args: argparse.Namespace) -> int:
    settings = make_settings(config=args.config)
    config, problem = _config(settings.config)
    if config is None:
        return _fail(problem or "no configuration")
    from fenghuo.runtime.risk_job import risk_params

    params = risk_params(config)
    if args.group not in params.group_names():
        return _fail(f"no category group {args.group!r}: the groups are {', '.join(params.group_names())}")
    if not args.file.is_file():
        return _fail(f"no complaint log at {args.file}")
    from fenghuo.core.grids import GridTree
    from fenghuo.detectors.risk import cases_from_events
    from fenghuo.ingest.adapters import read_records
    from fenghuo.ingest.events import make_resolver, parse_records

    tree = GridTree(config.nodes, config.grid_match_km)
    try:
        records = list(read_records(args.file, feed="complaint", fmt=args.format))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return _fail(f"cannot read {args.file}: {exc}")
    events, rejected = parse_records(records, make_resolver(tree), now=time.time(), limits=config.limits)
    events = [e for e in events if e.feed == "complaint"]
    cases = cases_from_events(events, tree)
    if not cases:
        return _fail(f"{args.file}: no complaints the grid tree places ({len(rejected)} records rejected); "
                     "pass the configuration whose grids cover them (--config)")
    from fenghuo.detectors.risk import backtest, burst_marks

    print(f"{len(cases):,} complaints from {iso(cases[0].ts)} to {iso(cases[-1].ts)} "
          f"({len(rejected):,} records rejected); group {args.group}, horizon {params.horizon_days} d")
    kinds = ("logistic", "boosting") if args.both_models else (params.model,)
    marks = burst_marks(events)  # the label's burst half: the burst detector's episodes (its default parameters)
    result = backtest(cases, marks, tree, params, config.timezone, kinds=kinds, group=args.group, in_sample=False)
    if not result.weeks:
        return _fail(f"too little history for a backtest: {result.skipped} weekly origins had no model "
                     f"(at least {params.min_history_days} days and 8 weeks are needed)")
    print(f"{len(result.weeks)} weeks scored, {result.skipped} skipped (no model)")
    print(f"{'method':<10} {'p@5':>5} {'p@10':>5} {'AUC':>5} {'Brier':>5}")
    for method, fig in result.overall.items():
        print(f"{method:<10} {_figure(fig.get('p5'))} {_figure(fig.get('p10'))} {_figure(fig.get('auc'))} "
              f"{_figure(fig.get('brier'))}")
    return 0


def add_subcommand(sub: Any) -> None:
    p = sub.add_parser("risk", help="the per-grid risk forecast: forecast now, or backtest on a complaint log")
    rs = p.add_subparsers(dest="risk_command", required=True)
    fc = rs.add_parser("forecast", help="forecast from a store's history and print the ranked grids with factors")
    fc.add_argument("--config", type=Path, help="the configuration (grid tree, risk_forecast; default FENGHUO_CONFIG)")
    fc.add_argument("--data-dir", type=Path, help="the data directory (SQLite; default .data or FENGHUO_DATA_DIR)")
    fc.add_argument("--store", help="postgresql://... (default FENGHUO_STORE_URL)")
    fc.add_argument("--horizon", type=horizon_arg, help="1d .. 28d (default: risk_forecast.horizon_days)")
    fc.add_argument("--node", help="only this node and the nodes under it")
    fc.add_argument("--group", help="only this category group")
    fc.add_argument("--at", type=time_arg, help=f"forecast as of this time (default: the newest complaint); "
                                                f"{TIME_FORMATS}")
    fc.add_argument("--limit", type=int, default=30, help="rows to print (default 30)")
    fc.set_defaults(fn=cmd_forecast)
    bt = rs.add_parser("backtest", help="rolling-origin backtest of the forecast on a complaint log")
    bt.add_argument("file", type=Path, help="a complaint log (Boston 311 CSV, NDJSON, ... as fenghuo replay reads)")
    bt.add_argument("--config", type=Path, help="the configuration whose grid tree places the complaints")
    bt.add_argument("--format", help="the file's format (default: detected)")
    bt.add_argument("--group", default="all", help="the category group to score (default all)")
    bt.add_argument("--both-models", action="store_true",
                    help="score logistic and boosting both (default: the configured risk_forecast.model)")
    bt.set_defaults(fn=cmd_backtest)
