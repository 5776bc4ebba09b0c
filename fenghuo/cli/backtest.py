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

from fenghuo.cli.common import TIME_FORMATS, missing_database, time_arg
from fenghuo.core.config import ConfigError, load_config
from fenghuo.core.levels import Level
from fenghuo.core.models import iso
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


def _fail(message: str) -> int:
    print(f"fenghuo: {message}", file=sys.stderr)
    return 2


def _rule_body(path: str) -> tuple[Any, str | None]:
    """The rule file's document, or why it cannot be read (missing, not text, not YAML/JSON, not a mapping)."""
    try:
        body = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        return None, f"cannot read the rule file {path}: {exc.strerror or exc}"
    except UnicodeDecodeError:
        return None, f"the rule file {path} is not UTF-8 text"
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return None, f"the rule file {path} is not valid YAML or JSON{where}: {getattr(exc, 'problem', None) or exc}"
    if not isinstance(body, dict):
        return None, (f"the rule file {path} must hold one rule (a mapping with id, metric, levels, ...), "
                      f"not {'nothing' if body is None else type(body).__name__}")
    return body, None


def cmd_backtest(args: argparse.Namespace) -> int:
    out = sys.stderr if args.json else sys.stdout  # with --json, stdout carries the JSON only
    settings = make_settings(data_dir=args.data_dir, config=args.config)
    try:
        config = load_config(settings.config)
    except ConfigError as exc:
        return _fail(str(exc))
    body, problem = _rule_body(args.rule)
    if problem:
        return _fail(problem)
    t0, t1 = args.start, args.end
    if t1 <= t0:
        return _fail(f"--end ({iso(t1)}) must be after --start ({iso(t0)})")
    problem = missing_database(settings)
    if problem:
        return _fail(problem)
    try:
        store = open_store(settings.store_url, settings.data_dir)
    except OSError as exc:
        return _fail(f"cannot open the data directory: {exc}")
    try:
        from fenghuo.core.grids import GridTree

        tree = GridTree(config.nodes, config.grid_match_km)
        try:
            rule = validate_rule(body, tree)
        except RuleError as exc:
            return _fail("the proposed rule is not valid:\n" + "\n".join(f"  - {e}" for e in exc.errors)
                         + "\nfix the rule file and try again")
        chain = tree.chain_ids

        current = {r.id: r for r in RuleBook(store, tree).current()}.get(rule.id)
        result = compare(store, rule, current, chain, t0, t1, grid=args.grid, source=args.source,
                         progress=_bars(args.quiet))
        print(f"{result.fetched:,} stored events of feed {rule.feed} between {iso(t0)} and {iso(t1)}", file=out)
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
        print("\n".join(lines), file=out)
        return 0
    finally:
        store.close()


def add_subcommand(sub: Any) -> None:
    bt = sub.add_parser("backtest", help="what a proposed rule would have raised on stored history")
    bt.add_argument("rule", help="a rule file (YAML or JSON, the shape of PUT /v1/rules/thresholds/{id})")
    bt.add_argument("--start", required=True, type=time_arg, help=f"from this time: {TIME_FORMATS}")
    bt.add_argument("--end", type=time_arg, default="now", help="until this time (default now), the same formats")
    bt.add_argument("--grid", help="only series in this node of the grid tree")
    bt.add_argument("--source", help="only events of this source")
    bt.add_argument("--data-dir", type=Path, help="the data directory holding the history (must exist; default "
                                                  ".data, or FENGHUO_DATA_DIR)")
    bt.add_argument("--config", type=Path, help="the configuration (its grid tree; default FENGHUO_CONFIG)")
    bt.add_argument("--json", action="store_true", help="every episode as JSON on stdout (the summary on stderr)")
    bt.add_argument("--quiet", action="store_true", help="no progress bar")
    bt.set_defaults(fn=cmd_backtest)
