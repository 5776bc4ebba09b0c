"""``fenghuo backtest``: what a proposed rule would have raised on the stored history of a data directory,
beside the current rule of the same id, with a progress bar over the series (the HTTP endpoint,
POST /v1/rules/thresholds/backtest, answers the same question for a running service)."""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from fenghuo.core.config import ConfigError, Rule, load_config
from fenghuo.core.levels import Level
from fenghuo.core.models import iso, parse_ts
from fenghuo.core.rulebook import RuleBook, RuleError, validate_rule
from fenghuo.core.settings import make_settings
from fenghuo.core.store import open_store

CHUNK = 50  # series per progress step


def _group_key(rule: Rule, row: tuple[Any, ...]) -> str:
    return str(row[0]) if rule.feed == "sensor" else str(row[1])  # sensors by source, texts by grid


def run(rule: Rule, rows: list[tuple[Any, ...]], chain: Any, grid: str | None, progress: bool) -> list[Any]:
    """Episodes of ``rule`` over ``rows``, simulated a chunk of series at a time (series are independent)."""
    from fenghuo.detectors.backtest import simulate

    groups: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for r in rows:
        groups[_group_key(rule, r)].append(r)
    keys = sorted(groups)
    episodes: list[Any] = []
    bar = tqdm(total=len(keys), desc=f"backtest {rule.id}", unit="series", disable=not progress)
    for i in range(0, len(keys), CHUNK):
        chunk = [r for k in keys[i: i + CHUNK] for r in groups[k]]
        chunk.sort(key=lambda r: r[3])
        episodes += simulate(rule, chunk, chain, grid).episodes
        bar.update(len(keys[i: i + CHUNK]))
    bar.close()
    return sorted(episodes, key=lambda e: e.raised_at)


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
    text = Path(args.rule).read_text(encoding="utf-8")
    body = yaml.safe_load(text)
    store = open_store(settings.store_url, settings.data_dir)
    try:
        from fenghuo.core.grids import GridTree

        tree = GridTree(config.nodes, config.grid_match_km)
        try:
            rule = validate_rule(body, tree)
        except RuleError as exc:
            print("fenghuo: the proposed rule is not valid:\n" + "\n".join(f"  - {e}" for e in exc.errors)
                  + "\nfix the rule file and try again")
            return 2
        t0, t1 = parse_ts(args.start), parse_ts(args.end)
        if t1 <= t0:
            print("fenghuo: --end must be after --start")
            return 2

        def chain(g: str) -> list[str]:
            return [n.id for n in tree.chain(g)] or [g]

        current = {r.id: r for r in RuleBook(store, tree).current()}.get(rule.id)
        fetch = dict(metric=rule.metric if rule.feed == "sensor" else None,
                     category=None if rule.feed == "sensor" or rule.category in (None, "*") else rule.category)
        rows = store.history_rows(feed=rule.feed, source=args.source, start=t0, end=t1, **fetch)
        print(f"{len(rows):,} stored events of feed {rule.feed} between {iso(t0)} and {iso(t1)}")
        proposed = run(rule, rows, chain, args.grid, not args.quiet)
        lines = [_summary("proposed", proposed)]
        if current is not None:
            lines.append(_summary("current", run(current, rows, chain, args.grid, not args.quiet)))
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
