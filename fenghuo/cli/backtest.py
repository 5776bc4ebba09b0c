"""``fenghuo backtest``: what a proposed rule would have raised on the stored history of a data directory,
beside the current rule of the same id, with a progress bar over the series. The backtest is
:func:`fenghuo.detectors.backtest.compare`, the one the HTTP endpoint (POST /v1/rules/thresholds/backtest)
runs for a running service."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from fenghuo.core.config import ConfigError, load_config
from fenghuo.core.levels import Level
from fenghuo.core.models import iso, parse_ts
from fenghuo.core.rulebook import RuleBook, RuleError, validate_rule
from fenghuo.core.settings import make_settings
from fenghuo.core.store import open_store
from fenghuo.detectors.backtest import Progress, compare


def _bars(quiet: bool) -> Progress:
    """A progress bar per side (proposed, current) over the series."""
    bars: dict[str, tqdm[Any]] = {}

    def progress(side: str, done: int, total: int) -> None:
        if side not in bars:
            bars[side] = tqdm(total=total, desc=f"backtest {side}", unit="series", disable=quiet)
        bar = bars[side]
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return progress


def _summary(name: str, episodes: list[Any]) -> str:
    by = {lv.name_en: sum(1 for e in episodes if e.max_level == int(lv)) for lv in Level}
    return f"{name}: {len(episodes)} alerts (" + ", ".join(f"{k} {v}" for k, v in by.items()) + ")"


def cmd_backtest(args: argparse.Namespace) -> int:
    settings = make_settings(data_dir=args.data_dir, config=args.config)
    try:
        config = load_config(settings.config)
    except ConfigError as exc:
        print(exc)
        return 2
    try:
        body = yaml.safe_load(Path(args.rule).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        print(f"fenghuo: cannot read the rule file {args.rule}: {exc}", file=sys.stderr)
        return 2
    try:
        t0, t1 = parse_ts(args.start), parse_ts(args.end)
    except ValueError:
        print("fenghuo: --start and --end take ISO 8601 times, e.g. 2024-01-31 or 2024-01-31T06:00:00Z",
              file=sys.stderr)
        return 2
    if t1 <= t0:
        print("fenghuo: --end must be after --start")
        return 2
    try:
        store = open_store(settings.store_url, settings.data_dir)
    except OSError as exc:
        print(f"fenghuo: cannot open the data directory: {exc}", file=sys.stderr)
        return 2
    try:
        from fenghuo.core.grids import GridTree

        tree = GridTree(config.nodes, config.grid_match_km)
        try:
            rule = validate_rule(body, tree)
        except RuleError as exc:
            print("fenghuo: the proposed rule is not valid:\n" + "\n".join(f"  - {e}" for e in exc.errors)
                  + "\nfix the rule file and try again")
            return 2
        chain = tree.chain_ids

        current = {r.id: r for r in RuleBook(store, tree).current()}.get(rule.id)
        result = compare(store, rule, current, chain, t0, t1, grid=args.grid, source=args.source,
                         progress=_bars(args.quiet))
        print(f"{result.fetched:,} stored events of feed {rule.feed} between {iso(t0)} and {iso(t1)}")
        proposed = result.proposed.episodes
        lines = [_summary("proposed", proposed)]
        if result.current is not None:
            lines.append(_summary("current", result.current.episodes))
        if args.json:
            print(json.dumps([{"series": e.series, "raised_at": iso(e.raised_at),
                               "max_level": Level(e.max_level).name_en, "cleared_at": iso(e.cleared_at)}
                              for e in proposed], ensure_ascii=False, indent=1))
        else:
            for e in proposed[:50]:
                print(f"  {iso(e.raised_at)}  {Level(e.max_level).name_en:6s}  {e.series}")
            if len(proposed) > 50:
                print(f"  ... {len(proposed) - 50} more (--json for all)")
        print("\n".join(lines))
        return 0
    finally:
        store.close()


def add_subcommand(sub: Any) -> None:
    bt = sub.add_parser("backtest", help="what a proposed rule would have raised on stored history")
    bt.add_argument("rule", help="a rule file (YAML or JSON, the shape of PUT /v1/rules/thresholds/{id})")
    bt.add_argument("--start", required=True, help="ISO 8601 time")
    bt.add_argument("--end", required=True, help="ISO 8601 time")
    bt.add_argument("--grid", help="only series in this node of the grid tree")
    bt.add_argument("--source", help="only events of this source")
    bt.add_argument("--data-dir", type=Path)
    bt.add_argument("--config", type=Path)
    bt.add_argument("--json", action="store_true", help="every episode as JSON")
    bt.add_argument("--quiet", action="store_true", help="no progress bar")
    bt.set_defaults(fn=cmd_backtest)
