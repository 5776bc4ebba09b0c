"""``fenghuo report complaints``: resolution, on-time and satisfaction figures of the stored complaints of a
time range, per grid, category or responder, from a data directory (or ``--store-url``). The same report as
``GET /v1/reports/complaints`` (:func:`fenghuo.runtime.service.complaint_report`); docs/reports.md has the rules."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fenghuo.alerts.closure import GROUPS
from fenghuo.core.models import iso, parse_ts
from fenghuo.core.settings import make_settings


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _hours(s: float | None) -> str:
    return "-" if s is None else f"{s / 3600:.1f}"


def table(report: dict[str, Any]) -> str:
    """The report as a text table, one line per group and a total line.

    >>> row = {"key": "G1", "count": 4, "resolved": 3, "resolution_rate": 0.75, "on_time_rate": 0.5,
    ...        "close_median_s": 7200.0, "close_p90_s": None, "rated": 0, "satisfaction_mean": None,
    ...        "satisfied_share": None}
    >>> print(table({"group_by": "grid", "groups": [row], "total": {**row, "key": "all"}}))
    grid  count  resolved  resolution  on time  close h (median/p90)  rated  mean  satisfied
    G1        4         3       75.0%    50.0%                 2.0/-      0     -          -
    all       4         3       75.0%    50.0%                 2.0/-      0     -          -
    """
    head = (report["group_by"], "count", "resolved", "resolution", "on time", "close h (median/p90)", "rated",
            "mean", "satisfied")
    rows = [head]
    for g in [*report["groups"], report["total"]]:
        mean = g["satisfaction_mean"]
        rows.append((str(g["key"]), str(g["count"]), str(g["resolved"]), _pct(g["resolution_rate"]),
                     _pct(g["on_time_rate"]), f"{_hours(g['close_median_s'])}/{_hours(g['close_p90_s'])}",
                     str(g["rated"]), "-" if mean is None else f"{mean:.2f}", _pct(g["satisfied_share"])))
    width = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, width,
                                                                                                   strict=True)))
                     .rstrip() for r in rows)


def cmd_complaints(args: argparse.Namespace) -> int:
    from fenghuo.cli.admin import _open
    from fenghuo.runtime.service import complaint_report

    try:
        t0, t1 = parse_ts(args.start), parse_ts(args.end)
    except ValueError:
        print("fenghuo: --start and --end take ISO 8601 times, e.g. 2015-03-02 or 2015-03-02T05:00:00Z",
              file=sys.stderr)
        return 2
    if t1 <= t0:
        print("fenghuo: --end must be after --start", file=sys.stderr)
        return 2
    settings = make_settings(data_dir=args.data_dir, store_url=args.store_url)
    try:
        store = _open(settings)
    except OSError as exc:
        print(f"fenghuo: {exc}", file=sys.stderr)
        return 2
    try:
        out = complaint_report(store, args.group_by, t0, t1, args.drill)
    finally:
        store.close()
    covered = out["covered_until"]
    out = {**out, "start": iso(t0), "end": iso(t1), "covered_until": None if covered is None else iso(covered)}
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=1))
        return 0
    kind = "drill" if args.drill else "real"
    print(f"{out['complaints_read']:,} {kind} complaints from {out['start']} to {out['end']}")
    if out["truncated"]:
        print(f"truncated at {out['cap']:,} complaints: the figures count those up to {out['covered_until']}")
    print(table(out))
    return 0


def add_subcommand(sub: Any) -> None:
    rp = sub.add_parser("report", help="reports from the store")
    rsub = rp.add_subparsers(dest="report_command", required=True)
    c = rsub.add_parser("complaints", help="resolution, on-time and satisfaction of complaints per group")
    c.add_argument("--start", required=True, help="ISO 8601 time: complaints with start <= time < end")
    c.add_argument("--end", required=True, help="ISO 8601 time")
    c.add_argument("--group-by", choices=GROUPS, default="grid", help="one row per grid, category or responder")
    c.add_argument("--drill", action="store_true", help="drill complaints instead of real ones")
    c.add_argument("--data-dir", type=Path, help="read this data directory's store instead of asking a service")
    c.add_argument("--store-url", help="the store (default: FENGHUO_STORE_URL, else the data directory's SQLite)")
    c.add_argument("--json", action="store_true", help="the report as JSON (as GET /v1/reports/complaints)")
    c.set_defaults(fn=cmd_complaints)
