"""``fenghuo drill run|list|show|end|purge|compare``: drill runs of scenarios (docs/drills.md).

``drill run SCENARIO`` runs a bundled scenario (by name) or a scenario file: through a running service with
``--url`` (or ``FENGHUO_URL``), else in this process on a data directory. It shows a progress bar and a live
summary, then the scorecard; exit 0 when every expectation was met, 1 when the run ended otherwise, 2 when it
could not start. The other commands talk to a running service.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fenghuo.cli.silence import DEFAULT_URL, _call, _fail, _refused

POLL = 0.5  # seconds between looks at a running run


def _fmt_s(seconds: Any) -> str:
    """
    >>> _fmt_s(5400.0), _fmt_s(None), _fmt_s(-90)
    ('1.5 h', '-', '-1.5 min')
    """
    if not isinstance(seconds, int | float):
        return "-"
    a = abs(seconds)
    if a >= 3600:
        return f"{seconds / 3600:.1f} h"
    if a >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


def _rate(x: Any) -> str:
    return f"{100 * x:.0f}%" if isinstance(x, int | float) else "-"


def live_line(doc: dict[str, Any]) -> str:
    """The one-line summary shown beside the progress bar."""
    card = doc.get("scorecard") or {}
    s = card.get("summary") or {}
    return (f"clock {doc.get('clock', '?')}  alerts {card.get('alerts', 0)}  met {s.get('met', 0)}/"
            f"{s.get('expected', 0)}  false alarms {s.get('false_alarms', 0)}")


def scorecard_text(doc: dict[str, Any]) -> str:
    """The scorecard of a run as text (what ``drill run`` and ``drill show`` print)."""
    card = doc.get("scorecard") or {}
    s = card.get("summary") or {}
    p = doc.get("progress") or {}
    lines = [f"drill run {doc.get('run')} ({doc.get('title_en') or doc.get('scenario')}): {doc.get('status')}, "
             f"verdict {str(card.get('verdict', '-')).upper()}",
             f"  scenario time {doc.get('start')} .. {doc.get('clock')}; started {doc.get('started_at')}, "
             f"ended {doc.get('ended_at') or '-'}",
             f"  records: {p.get('sent', 0)}/{p.get('planned', 0)} sent, {p.get('accepted', 0)} accepted, "
             f"{p.get('duplicates', 0)} duplicates, {p.get('rejected', 0)} rejected, {p.get('dropped', 0)} dropped "
             f"and {p.get('injected', 0)} injected by the scenario",
             f"  expectations: {s.get('met', 0)} met, {s.get('late', 0)} late, {s.get('low', 0)} low, "
             f"{s.get('missed', 0)} missed, {s.get('pending', 0)} pending of {s.get('expected', 0)}"]
    for e in card.get("expectations", []):
        lead = e.get("lead_seconds")
        when = "" if lead is None else f" ({_fmt_s(lead)} {'early' if lead >= 0 else 'late'})"
        lines.append(f"    [{e.get('verdict', '?'):>7}] {e.get('label')}: by {e.get('by')}, reached "
                     f"{e.get('level') or '-'} at {e.get('reached_at') or '-'}{when}")
    lines.append(f"  false alarms: {s.get('false_alarms', 0)}; alerts: {card.get('alerts', 0)}")
    lines.append(f"  response: MTTA {_fmt_s(s.get('mtta_seconds'))}, MTTR {_fmt_s(s.get('mttr_seconds'))}, "
                 f"on time {_rate(s.get('on_time_rate'))}")
    for t in card.get("tiers", []):
        lines.append(f"    tier {t.get('tier')} {t.get('kind', ''):<10} alerts {t.get('alerts', 0):>4}  acked "
                     f"{t.get('acknowledged', 0):>4}  MTTA {_fmt_s(t.get('mtta_seconds')):>9}  MTTR "
                     f"{_fmt_s(t.get('mttr_seconds')):>9}  on time {_rate(t.get('on_time_rate'))}  escalated "
                     f"{t.get('escalated', 0)}")
    esc, notes = card.get("escalations") or {}, card.get("notifications") or {}
    lines.append(f"  escalations: {esc.get('escalated', 0)}, ran out {esc.get('ran_out', 0)}; notifications: "
                 f"{notes.get('sent', 0)} sent, {notes.get('failed', 0)} failed, {notes.get('pending', 0)} pending "
                 f"({notes.get('failed_attempts', 0)} failed attempts), delay p50 "
                 f"{_fmt_s(notes.get('delay_p50_seconds'))}")
    for note in doc.get("notes") or []:
        lines.append(f"  note: {note}")
    if doc.get("error"):
        lines.append(f"  error: {doc['error']}")
    return "\n".join(lines)


def _exit_code(doc: dict[str, Any]) -> int:
    return 0 if doc.get("status") == "ended" and (doc.get("scorecard") or {}).get("verdict") == "pass" else 1


def _watch(look: Any, first: dict[str, Any], quiet: bool, end: Any) -> dict[str, Any]:
    """Show a run's progress until it stops; Ctrl-C ends the run (and shows its scorecard)."""
    from tqdm import tqdm

    doc = first
    bar = tqdm(total=max(1, int((doc.get("progress") or {}).get("planned") or 1)), unit="rec",
               disable=quiet, file=sys.stderr, desc=str(doc.get("run")))
    try:
        while doc.get("status") == "running":
            time.sleep(POLL)
            doc = look() or doc
            bar.n = int((doc.get("progress") or {}).get("sent", 0))
            bar.set_postfix_str(live_line(doc), refresh=True)
    except KeyboardInterrupt:
        bar.close()
        print(f"fenghuo: ending drill run {doc.get('run')}...", file=sys.stderr)
        doc = end() or doc
        raise
    finally:
        bar.close()
    return doc


def _spec_of(scenario: str) -> tuple[dict[str, Any] | None, Path | None, str | None]:
    """(the scenario document, its folder) for a file, or the name of a bundled scenario."""
    path = Path(scenario)
    if path.suffix in (".yaml", ".yml", ".json") or path.exists():
        from fenghuo.drills.scenario import load_scenario

        _, doc = load_scenario(path)
        return doc, path.resolve().parent, None
    return None, None, scenario


def cmd_run(args: argparse.Namespace) -> int:
    from fenghuo.drills.scenario import ScenarioError

    try:
        spec, base_dir, name = _spec_of(args.scenario)
    except ScenarioError as exc:
        return _fail("the scenario cannot run:\n" + "\n".join(f"  - {e}" for e in exc.errors))
    speed: float | str | None = args.speed
    if args.url or os.environ.get("FENGHUO_URL"):
        return _run_remote(args, spec, name, speed)
    return _run_here(args, spec, base_dir, name, speed)


def _run_remote(args: argparse.Namespace, spec: dict[str, Any] | None, name: str | None,
                speed: float | str | None) -> int:
    body: dict[str, Any] = {"scenario": name} if name is not None else {"spec": spec}
    if speed is not None:
        body["speed"] = speed
    status, doc = _call(args, "POST", "/v1/drills", body)
    if status != 202:
        return _refused(status, doc)
    run = quote(str(doc["run"]), safe="")

    def look() -> dict[str, Any] | None:
        code, d = _call(args, "GET", f"/v1/drills/{run}")
        return d if code == 200 and isinstance(d, dict) else None

    def end() -> dict[str, Any] | None:
        code, d = _call(args, "POST", f"/v1/drills/{run}/end")
        return d if code == 200 and isinstance(d, dict) else look()

    try:
        doc = _watch(look, doc, args.quiet or args.json, end)
    except KeyboardInterrupt:
        doc = look() or doc
        _show(args, doc)
        return 130
    return _show(args, doc)


def _run_here(args: argparse.Namespace, spec: dict[str, Any] | None, base_dir: Path | None, name: str | None,
              speed: float | str | None) -> int:
    from fenghuo.cli.common import missing_data_dir
    from fenghuo.cli.config_check import load_checked
    from fenghuo.core.config import ConfigError
    from fenghuo.core.settings import make_settings
    from fenghuo.drills.control import DrillRefused
    from fenghuo.drills.scenario import ScenarioError
    from fenghuo.runtime.embedded import build_pipeline

    settings = make_settings(data_dir=args.data_dir, config=args.config)
    try:
        if settings.config is None:  # as the demo: the example configuration, every channel a duty log
            from fenghuo.cli.main import EXAMPLE_CONFIG, demo_config
            from fenghuo.core.config import load_config

            os.environ.setdefault("FENGHUO_WEBHOOK_SECRET", "demo-only-not-a-secret")
            config = demo_config(load_config(EXAMPLE_CONFIG))
            print("fenghuo: no --config (nor FENGHUO_CONFIG): the example configuration, every channel a duty log",
                  file=sys.stderr)
        else:
            config = load_checked(settings.config)
    except ConfigError as exc:
        return _fail(str(exc))
    created = missing_data_dir(settings) is not None
    pipeline = build_pipeline(settings, config)
    if created:
        print(f"fenghuo: new data directory {settings.data_dir} (created now)", file=sys.stderr)
    pipeline.start()
    try:
        try:
            doc = pipeline.drills.start(name=name, spec=spec, base_dir=base_dir, actor="cli", speed=speed)
        except ScenarioError as exc:
            return _fail("the scenario cannot run:\n" + "\n".join(f"  - {e}" for e in exc.errors))
        except DrillRefused as exc:
            return _fail(str(exc))
        run = str(doc["run"])
        try:
            doc = _watch(lambda: pipeline.drills.get(run), doc, args.quiet or args.json,
                         lambda: pipeline.drills.end(run, "cli"))
        except KeyboardInterrupt:
            _show(args, pipeline.drills.get(run) or doc)
            return 130
        return _show(args, pipeline.drills.get(run) or doc)
    finally:
        pipeline.stop()


def _show(args: argparse.Namespace, doc: dict[str, Any]) -> int:
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        print(scorecard_text(doc))
    return _exit_code(doc)


def cmd_list(args: argparse.Namespace) -> int:
    params = {"limit": str(args.limit)}
    if args.scenario:
        params["scenario"] = args.scenario
    status, doc = _call(args, "GET", "/v1/drills", params=params)
    if status != 200:
        return _refused(status, doc)
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return 0
    print("scenarios:")
    for s in doc.get("scenarios", []):
        print(f"  {s['scenario']:<24} {s.get('title_en', '')} (expects {s.get('expect', 0)}, "
              f"{s.get('injections', 0)} injections, speed {s.get('speed')})")
    print("runs:")
    for r in doc.get("runs", []):
        s = ((r.get("scorecard") or {}).get("summary")) or {}
        print(f"  {r['run']:<28} {r.get('status', ''):<12} {r.get('started_at', '')}  verdict "
              f"{r.get('verdict', '-')}  met {s.get('met', 0)}/{s.get('expected', 0)}")
    return 0


def _run_id(text: str) -> str:
    """A run's id as the service names them (``gloria-flood-r3``); a clear usage error otherwise."""
    import re

    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,47}-r[0-9]{1,9}", text):
        raise argparse.ArgumentTypeError(f"takes a run's id such as gloria-flood-r3 (fenghuo drill list), "
                                         f"not {text[:80]!r}")
    return text


def _on_run(args: argparse.Namespace, method: str, suffix: str = "") -> int:
    """GET a run (``show``) or POST ``/end`` to it, and print its scorecard."""
    status, doc = _call(args, method, f"/v1/drills/{quote(args.run, safe='')}{suffix}")
    if status != 200:
        return _refused(status, doc)
    _show(args, doc)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    return _on_run(args, "GET")


def cmd_end(args: argparse.Namespace) -> int:
    return _on_run(args, "POST", "/end")


def cmd_purge(args: argparse.Namespace) -> int:
    status, doc = _call(args, "DELETE", f"/v1/drills/{quote(args.run, safe='')}")
    if status != 200:
        return _refused(status, doc)
    counts = doc.get("purged") or {}
    print(f"drill run {args.run} purged: {counts.get('events', 0)} events, {counts.get('alerts', 0)} alerts, "
          f"{counts.get('notifications', 0)} notifications, {counts.get('incidents', 0)} incidents "
          "(its scorecard is kept)")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    status, doc = _call(args, "GET", f"/v1/drills/scenarios/{quote(args.scenario, safe='')}/runs")
    if status != 200:
        return _refused(status, doc)
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return 0
    print(f"runs of {args.scenario}:")
    for r in doc.get("runs", []):
        print(f"  {r['run']:<28} {r.get('status', ''):<12} verdict {r.get('verdict') or '-':<8} met "
              f"{r.get('met') or 0}/{r.get('expected') or 0}  false alarms {r.get('false_alarms')}  MTTA "
              f"{_fmt_s(r.get('mtta_seconds'))}  on time {_rate(r.get('on_time_rate'))}")
    for figure, t in (doc.get("trend") or {}).items():
        if t.get("change"):
            print(f"  {figure}: {t['change']} than the run before")
    return 0


def _speed(text: str) -> float | str:
    if text == "max":
        return text
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 1.0 <= value <= 1e7:
        raise argparse.ArgumentTypeError(f"takes scenario seconds per second (1 to 10000000) or max, not {text!r}")
    return value


def _remote(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", help=f"the service (default FENGHUO_URL, else {DEFAULT_URL})")
    p.add_argument("--api-key", help="an API key (default FENGHUO_API_KEY)")
    p.add_argument("--json", action="store_true", help="print the JSON the service answers")


def add_subcommand(sub: Any) -> None:
    d = sub.add_parser("drill", help="drill runs of scenarios: run, list, show, end, purge, compare")
    dsub = d.add_subparsers(dest="drill_command", required=True)
    r = dsub.add_parser("run", help="run a scenario (a bundled one by name, or a YAML file) and print its scorecard")
    r.add_argument("scenario", help="a bundled scenario's name (fenghuo drill list) or a scenario file")
    r.add_argument("--speed", type=_speed, help="scenario seconds per second, or max (default: the scenario's)")
    r.add_argument("--url", help="a running service (default FENGHUO_URL; without either: in this process)")
    r.add_argument("--api-key", help="an API key that may run drills (default FENGHUO_API_KEY)")
    r.add_argument("--data-dir", type=Path, help="in this process: the data directory (default .data)")
    r.add_argument("--config", type=Path, help="in this process: the configuration (default FENGHUO_CONFIG, else the "
                                               "example configuration with every channel a duty log, as the demo)")
    r.add_argument("--json", action="store_true", help="print the run's document (with its scorecard) as JSON")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(fn=cmd_run)
    ls = dsub.add_parser("list", help="the scenarios that can be started and the latest runs")
    ls.add_argument("--scenario", help="only this scenario's runs")
    ls.add_argument("--limit", type=int, default=20, choices=range(1, 501), metavar="N", help="runs shown (1-500)")
    _remote(ls)
    ls.set_defaults(fn=cmd_list)
    for name, fn, what in (("show", cmd_show, "a run's status and scorecard"),
                           ("end", cmd_end, "end a running run now (it is scored)"),
                           ("purge", cmd_purge, "delete a run's events, alerts and notifications (admin)")):
        c = dsub.add_parser(name, help=what)
        c.add_argument("run", type=_run_id, help="the run's id, e.g. gloria-flood-r3")
        _remote(c)
        c.set_defaults(fn=fn)
    cmp_ = dsub.add_parser("compare", help="the runs of one scenario side by side, and their trend")
    cmp_.add_argument("scenario", help="the scenario's name, e.g. gloria-flood")
    _remote(cmp_)
    cmp_.set_defaults(fn=cmd_compare)
