"""``fenghuo silence add|list|expire``: silences on a running service, through its API (``--url``, default
``FENGHUO_URL`` or http://127.0.0.1:8000; ``--api-key`` or ``FENGHUO_API_KEY``). The silence's author is the key's
name; a responder key or higher can add and expire, any key can list. See docs/silences.md.

>>> duration("90m"), duration("2h"), duration("3d"), duration("45")
(5400.0, 7200.0, 259200.0, 45.0)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
DEFAULT_URL = "http://127.0.0.1:8000"


def duration(text: str) -> float:
    """``90m``, ``2h``, ``3d`` or plain seconds."""
    text = text.strip().lower()
    unit = UNITS.get(text[-1:]) if text else None
    value = float(text[:-1] if unit else text)
    return value * (unit or 1.0)


def _fail(message: str) -> int:
    print(f"fenghuo: {message}", file=sys.stderr)
    return 2


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None,
          params: dict[str, str] | None = None) -> tuple[int, Any]:
    import httpx

    key = args.api_key or os.environ.get("FENGHUO_API_KEY", "")
    if not key:
        raise SystemExit(_fail("this command talks to the API and needs a key: pass --api-key or set FENGHUO_API_KEY"))
    url = (args.url or os.environ.get("FENGHUO_URL") or DEFAULT_URL).rstrip("/")
    try:
        r = httpx.request(method, url + path, json=body, params=params, timeout=30,
                          headers={"Authorization": f"Bearer {key}"})
    except httpx.HTTPError as exc:
        raise SystemExit(_fail(f"cannot reach {url}: {exc}")) from None
    try:
        doc = r.json()
    except ValueError:
        doc = r.text
    return r.status_code, doc


def _refused(status: int, doc: Any) -> int:
    detail = doc.get("detail") if isinstance(doc, dict) else doc
    if isinstance(detail, list) and all(isinstance(d, dict) and "msg" in d for d in detail):  # FastAPI's 422
        return _fail(f"refused ({status}): " + "; ".join(
            f"{'.'.join(str(x) for x in d.get('loc', [])[1:]) or 'request'}: {d['msg']}" for d in detail[:5]))
    if isinstance(detail, dict) and "errors" in detail:
        return _fail(f"{detail.get('message', 'refused')} ({status}):\n" + "\n".join(f"  - {e}"
                                                                                      for e in detail["errors"]))
    return _fail(f"refused ({status}): {detail}")


def row(s: dict[str, Any]) -> str:
    """One silence on a line.

    >>> row({"id": "ab12", "state": "active", "starts_at": "2026-12-05T02:00:00Z", "ends_at": "2026-12-05T04:00:00Z",
    ...      "matches": "grid G1 (and below)", "created_by": "responder", "comment": "pump works"})
    'ab12  active   2026-12-05T02:00:00Z .. 2026-12-05T04:00:00Z  grid G1 (and below)  by responder: pump works'
    """
    note = f": {s['comment']}" if s.get("comment") else ""
    return (f"{s['id']}  {s.get('state', ''):<8} {s['starts_at']} .. {s['ends_at']}  {s['matches']}  "
            f"by {s['created_by']}{note}")


def cmd_add(args: argparse.Namespace) -> int:
    match = {k: v for k, v in {"grid": args.grid, "node_kind": args.node_kind, "rule": args.rule,
                               "risk": args.risk, "feed": args.feed, "source": args.source,
                               "level_at_most": args.level_at_most, "drill": args.drill}.items() if v is not None}
    body: dict[str, Any] = {"match": match, "comment": args.comment or ""}
    if args.start:
        body["starts_at"] = args.start
    if (args.end is None) == (args.duration is None):
        return _fail("give one of --end or --duration")
    if args.end is not None:
        body["ends_at"] = args.end
    else:
        try:
            body["duration_s"] = duration(args.duration)
        except ValueError:
            return _fail(f"--duration: {args.duration!r} is not a duration such as 90m, 2h or 3d")
    status, doc = _call(args, "POST", "/v1/silences", body)
    if status != 201:
        return _refused(status, doc)
    print(json.dumps(doc, ensure_ascii=False, indent=1) if args.json else row(doc))
    return 0


def print_list(args: argparse.Namespace, path: str, key: str, params: dict[str, str] | None,
               line: Callable[[dict[str, Any]], str]) -> int:
    """GET ``path`` and print the items under ``key``: one ``line`` each, or JSON with ``--json``."""
    status, doc = _call(args, "GET", path, params=params)
    if status != 200:
        return _refused(status, doc)
    if args.json:
        print(json.dumps(doc[key], ensure_ascii=False, indent=1))
    else:
        for item in doc[key]:
            print(line(item))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    return print_list(args, "/v1/silences", "silences", {"state": args.state} if args.state else None, row)


def cmd_expire(args: argparse.Namespace) -> int:
    status, doc = _call(args, "POST", f"/v1/silences/{args.id}/expire")
    if status != 200:
        return _refused(status, doc)
    print(row(doc))
    return 0


def add_subcommand(sub: Any) -> None:
    sp = sub.add_parser("silence", help="silences on a running service: add, list, expire")
    ssub = sp.add_subparsers(dest="silence_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", help=f"the running service (default: FENGHUO_URL, else {DEFAULT_URL})")
        p.add_argument("--api-key", help="API key (or FENGHUO_API_KEY); the silence's author is its name")
        p.add_argument("--json", action="store_true", help="the answer as JSON")

    a = ssub.add_parser("add", help="mute notifications of matching alerts for a while (still recorded)")
    a.add_argument("--grid", help="a node of the grid tree: it and everything under it")
    a.add_argument("--node-kind", choices=("grid", "community", "street", "district"),
                   help="only alerts of nodes of this kind")
    a.add_argument("--rule", help="a rule id, or a pattern such as 'anomaly:*'")
    a.add_argument("--risk", choices=("safety", "contradiction", "system"), help="only alerts of this risk")
    a.add_argument("--feed", choices=("sensor", "complaint", "opinion", "system"), help="only alerts of this feed")
    a.add_argument("--source", help="a source (sensor) id or pattern")
    a.add_argument("--level-at-most", choices=("blue", "yellow", "orange", "red"),
                   help="only alerts at this level or below (a higher level is notified)")
    drill = a.add_mutually_exclusive_group()
    drill.add_argument("--drill", dest="drill", action="store_const", const=True, help="drills only")
    drill.add_argument("--real", dest="drill", action="store_const", const=False, help="real alerts only")
    a.add_argument("--start", help="ISO 8601 time (default: now)")
    a.add_argument("--end", help="ISO 8601 time")
    a.add_argument("--duration", help="instead of --end: 90m, 2h, 3d")
    a.add_argument("--comment", help="why (shown in the muted alerts' timelines)")
    common(a)
    a.set_defaults(fn=cmd_add)
    ls = ssub.add_parser("list", help="silences by state")
    ls.add_argument("--state", choices=("active", "pending", "expired"), help="only silences in this state")
    common(ls)
    ls.set_defaults(fn=cmd_list)
    ex = ssub.add_parser("expire", help="end a silence now")
    ex.add_argument("id", help="the silence's id (fenghuo silence list shows it)")
    common(ex)
    ex.set_defaults(fn=cmd_expire)
