"""``fenghuo keys add|list|revoke|rotate``: named API keys in the keys file, kept hashed.

``add`` and ``rotate`` print the new key once; only its SHA-256 is stored. A running service notices a
change to the file within a second (a revoked or rotated key stops working then).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fenghuo.core.settings import ROLES, make_settings


def _file(args: argparse.Namespace) -> Any:
    from fenghuo.api.keyfile import KeyFile, KeyFileError

    settings = make_settings(data_dir=args.data_dir, keys_file=args.keys_file)
    folder = settings.key_file_path.parent
    if not folder.is_dir():
        flag = "--keys-file" if args.keys_file else "--data-dir"
        raise KeyFileError(f"{folder} does not exist (a mistyped {flag}?): pass the service's data directory "
                           "(fenghuo run creates it)")
    return KeyFile(settings.key_file_path)


def expires_arg(text: str) -> float:
    from fenghuo.core.models import parse_ts

    try:
        return parse_ts(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"takes an ISO 8601 time (e.g. 2027-01-01T00:00:00Z), not {text!r}")\
            from None


def _drill(args: argparse.Namespace) -> bool | None:
    return True if args.drill else (False if args.no_drill else None)


def cmd_add(args: argparse.Namespace) -> int:
    key = _file(args).add(args.name, args.role, time.time(), args.expires, _drill(args))
    print(key)
    print(f"key {args.name} ({args.role}) added; it is shown only now: only its hash is kept", file=sys.stderr)
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    key = _file(args).rotate(args.name, time.time(), args.expires)
    print(key)
    print(f"key {args.name} rotated: the old key no longer works; the new one is shown only now", file=sys.stderr)
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    gone = _file(args).revoke(args.name)
    print(f"key {gone.name} ({gone.role}) revoked")
    return 0


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cmd_list(args: argparse.Namespace) -> int:
    now = time.time()
    entries = _file(args).load(now)
    if not entries:
        print("no keys in the keys file (FENGHUO_API_KEYS may still hold some)")
        return 0
    rows = [("NAME", "ROLE", "DRILLS", "CREATED", "EXPIRES", "")]
    rows += [(e.name, e.role, "yes" if e.may_drill else "no", _when(e.created), _when(e.expires),
              "expired" if e.expired(now) else "") for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0


def _run(fn: Any) -> Any:
    def wrapped(args: argparse.Namespace) -> int:
        from fenghuo.api.keyfile import KeyFileError

        try:
            return int(fn(args))
        except KeyFileError as exc:
            print(f"fenghuo keys: {exc}", file=sys.stderr)
            return 2

    return wrapped


def add_subcommand(sub: Any) -> None:
    keys = sub.add_parser("keys", help="named API keys: add, list, revoke, rotate (stored hashed)")
    ksub = keys.add_subparsers(dest="keys_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", type=Path, help="the service's data directory (its api-keys file)")
        p.add_argument("--keys-file", type=Path, help="the keys file (default: <data dir>/api-keys)")

    add = ksub.add_parser("add", help="add a key and print it once")
    add.add_argument("name", help="the key's name: the actor of what it changes (letters, digits, . _ -)")
    add.add_argument("--role", required=True, choices=ROLES, help="what the key may do")
    add.add_argument("--expires", type=expires_arg, help="ISO 8601 time after which the key is refused")
    drill = add.add_mutually_exclusive_group()
    drill.add_argument("--drill", action="store_true", help="may mark events as a drill (default: analyst, admin)")
    drill.add_argument("--no-drill", action="store_true", help="may not mark events as a drill")
    common(add)
    add.set_defaults(fn=_run(cmd_add))
    ls = ksub.add_parser("list", help="list keys (names, roles, expiry; never the keys)")
    common(ls)
    ls.set_defaults(fn=_run(cmd_list))
    rv = ksub.add_parser("revoke", help="remove a key: it stops working")
    rv.add_argument("name", help="the key's name")
    common(rv)
    rv.set_defaults(fn=_run(cmd_revoke))
    rt = ksub.add_parser("rotate", help="a new secret for a key (same name and role); print it once")
    rt.add_argument("name", help="the key's name")
    rt.add_argument("--expires", type=expires_arg, help="a new expiry (ISO 8601); default: keep the old one")
    common(rt)
    rt.set_defaults(fn=_run(cmd_rotate))
