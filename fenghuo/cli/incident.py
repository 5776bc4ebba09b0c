"""``fenghuo incident list|show|ack|resolve|note``: incidents on a running service, through its API (``--url``,
default ``FENGHUO_URL`` or http://127.0.0.1:8000; ``--api-key`` or ``FENGHUO_API_KEY``). Acknowledging or
resolving an incident does so for every member alert; the actor is the key's name. See docs/incidents.md.

>>> row({"id": "inc-1", "status": "open", "level": "red", "risk": "safety", "node": "BOS-S",
...      "updated_at": "2015-01-27T13:00:00Z", "summary": {"alerts": 8, "open": 8, "grid_count": 5}})
'inc-1  open          red     safety        BOS-S  8 alerts (8 open) in 5 grids, updated 2015-01-27T13:00:00Z'
"""

from __future__ import annotations

import argparse
import json
from typing import Any
from urllib.parse import quote

from fenghuo.cli.silence import DEFAULT_URL, _call, _refused, print_list


def row(i: dict[str, Any]) -> str:
    """One incident on a line."""
    s = i.get("summary") or {}
    return (f"{i['id']}  {i['status']:<12}  {i['level']:<6}  {i['risk']:<12}  {i['node']}  {s.get('alerts', 0)} alerts "
            f"({s.get('open', 0)} open) in {s.get('grid_count', 0)} grids, updated {i['updated_at']}")


def _path(args: argparse.Namespace, tail: str = "") -> str:
    return f"/v1/incidents/{quote(args.id, safe='')}{tail}"


def _show(doc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(doc, ensure_ascii=False, indent=1))
        return
    print(row(doc))
    for m in doc.get("members", []):
        print(f"  member {m['id']}  {m['level']:<6}  {m['status']:<12}  {m['grid']}  {m['title'].get('en', '')}")
    for e in doc.get("timeline", []):
        print(f"  {e['ts']}  {e['kind']}  {e.get('actor') or ''}  {e.get('detail') or ''}".rstrip())


def cmd_list(args: argparse.Namespace) -> int:
    return print_list(args, "/v1/incidents", "incidents", {"status": args.status} if args.status else None, row)


def cmd_show(args: argparse.Namespace) -> int:
    status, doc = _call(args, "GET", _path(args))
    if status != 200:
        return _refused(status, doc)
    _show(doc, args.json)
    return 0


def cmd_act(args: argparse.Namespace) -> int:
    status, doc = _call(args, "POST", _path(args, f"/{args.op}"), {"comment": args.comment or ""})
    if status != 200:
        return _refused(status, doc)
    _show(doc, args.json)
    return 0


def cmd_note(args: argparse.Namespace) -> int:
    status, doc = _call(args, "POST", _path(args, "/notes"), {"text": args.text})
    if status not in (200, 201):
        return _refused(status, doc)
    print(json.dumps(doc, ensure_ascii=False, indent=1) if args.json else f"note added to {args.id}")
    return 0


def add_subcommand(sub: Any) -> None:
    sp = sub.add_parser("incident", help="incidents (grouped alerts) on a running service: list, show, ack, "
                                         "resolve, note")
    isub = sp.add_subparsers(dest="incident_command", required=True)

    def common(p: argparse.ArgumentParser, with_id: bool = True) -> None:
        if with_id:
            p.add_argument("id", help="the incident's id (fenghuo incident list shows it)")
        p.add_argument("--url", help=f"the running service (default: FENGHUO_URL, else {DEFAULT_URL})")
        p.add_argument("--api-key", help="API key (or FENGHUO_API_KEY); the actor is its name")
        p.add_argument("--json", action="store_true", help="the answer as JSON")

    ls = isub.add_parser("list", help="incidents, most recently changed first")
    ls.add_argument("--status", choices=("open", "acknowledged", "resolved"), help="only incidents in this state")
    common(ls, with_id=False)
    ls.set_defaults(fn=cmd_list)
    sh = isub.add_parser("show", help="one incident: summary, members and timeline")
    common(sh)
    sh.set_defaults(fn=cmd_show)
    for op, text in (("ack", "acknowledge the incident and its open members"),
                     ("resolve", "resolve the incident and every member")):
        p = isub.add_parser(op, help=text)
        p.add_argument("--comment", help="a note for the timelines")
        common(p)
        p.set_defaults(fn=cmd_act, op=op)
    nt = isub.add_parser("note", help="add a note to the incident's timeline")
    common(nt)
    nt.add_argument("text", help="the note (at most 2,000 characters)")
    nt.set_defaults(fn=cmd_note)
