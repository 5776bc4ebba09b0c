"""``fenghuo audit verify|head`` and ``fenghuo backup``: the store's tamper evidence and copies.

* ``audit verify`` walks the hash chains (audit log, rule versions, alert journal; see
  :mod:`fenghuo.core.chain`), checks them against the heads exported to ``DATA_DIR/chain-heads.jsonl``
  and names the first broken link. Exit 0: intact; 1: a chain is broken; 2: the store cannot be
  opened (damaged, missing).
* ``audit head`` prints the chain heads as JSON (``--export`` also appends them to the data
  directory's ``chain-heads.jsonl``; the running service does that once a day).
* ``backup DEST`` copies the SQLite database with SQLite's online backup API (consistent while the
  service runs), into a new file of mode 0600. PostgreSQL: prints the ``pg_dump`` command to use.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from fenghuo.core import chain
from fenghuo.core.settings import Settings, make_settings
from fenghuo.core.store import Store, StoreIntegrityError, open_store


def _fail(message: str, code: int = 2) -> int:
    print(f"fenghuo: {message}", file=sys.stderr)
    return code


def _settings(args: argparse.Namespace) -> Settings:
    return make_settings(data_dir=args.data_dir, store_url=args.store_url)


def _sqlite_path(settings: Settings) -> Path | None:
    url = settings.store_url
    if url.startswith(("postgresql://", "postgres://")):
        return None
    return Path(url.removeprefix("sqlite:///")) if url else Path(settings.data_dir) / "fenghuo.db"


def _open(settings: Settings) -> Store:
    """The store, without creating an empty SQLite database where there is none (a mistyped --data-dir)."""
    from fenghuo.core.store.sqlite import marker_path

    path = _sqlite_path(settings)
    if path is not None and not path.exists() and not marker_path(path).exists():
        raise FileNotFoundError(f"there is no database at {path} (pass --data-dir DIR or --store-url URL)")
    return open_store(settings.store_url, settings.data_dir)


def _heads_file(args: argparse.Namespace, settings: Settings) -> Path | None:
    if args.no_exported_heads:
        return None
    return args.heads or Path(settings.data_dir) / chain.HEADS_FILE


def cmd_verify(args: argparse.Namespace) -> int:
    settings = _settings(args)
    heads_file = _heads_file(args, settings)
    try:
        exported = chain.checkpoints(chain.read_exported(heads_file)) if heads_file else {}
    except (OSError, ValueError, KeyError) as exc:
        return _fail(f"cannot read the exported heads {heads_file}: {exc}")
    try:
        store = _open(settings)
    except (StoreIntegrityError, FileNotFoundError) as exc:
        return _fail(str(exc))
    try:
        result = chain.verify(store, exported)
    finally:
        store.close()
    if args.json:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        print(result.summary())
        if heads_file and not any(exported.values()):
            print(f"(no exported heads in {heads_file}: rows deleted or rewritten together with their hashes "
                  "cannot be told from an intact chain without them)")
    first = result.first_break()
    if first is not None:
        if not args.json:
            print(f"BROKEN: the first broken link is {first}", file=sys.stderr)
        return 1
    return 0


def cmd_head(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        store = _open(settings)
    except (StoreIntegrityError, FileNotFoundError) as exc:
        return _fail(str(exc))
    try:
        heads = store.chain_heads()
    finally:
        store.close()
    now = time.time()
    record = chain.export_heads(heads, settings.data_dir, now) if args.export else chain.heads_record(heads, now)
    print(json.dumps(record, indent=2, sort_keys=True))
    if args.export:
        print(f"appended to {Path(settings.data_dir) / chain.HEADS_FILE}", file=sys.stderr)
    return 0


def redact(url: str) -> str:
    """A database URL without its password.

    >>> redact("postgresql://fh:s3cret@db:5432/fenghuo")
    'postgresql://fh@db:5432/fenghuo'
    """
    return re.sub(r"^([a-z]+://[^:/@]+):[^@]*@", r"\1@", url)


def cmd_backup(args: argparse.Namespace) -> int:
    from fenghuo.core.store.sqlite import SqliteStore

    settings = _settings(args)
    source = _sqlite_path(settings)
    if source is None:
        safe = redact(settings.store_url)
        print("fenghuo does not copy a PostgreSQL store itself: use PostgreSQL's own tools, e.g.\n"
              f"  pg_dump --format=custom --file {args.dest} '{safe}'\n"
              f"and to restore (into an empty database): pg_restore --dbname '{safe}' {args.dest}\n"
              "(the password comes from PGPASSWORD or ~/.pgpass; for point-in-time recovery use WAL archiving; "
              "see docs/operations.md)")
        return _fail("no backup was made (PostgreSQL store): run the pg_dump command above")
    if not source.exists():
        return _fail(f"there is no database at {source}: nothing to back up (pass --data-dir or --store-url)")
    dest = Path(args.dest)
    if dest.is_dir():
        dest = dest / f"fenghuo-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.db"
    if dest.exists():
        return _fail(f"{dest} exists: back up to a new file (fenghuo never overwrites a backup)")
    if not dest.parent.is_dir():
        return _fail(f"{dest.parent}: no such directory")
    try:
        store = SqliteStore(source)
    except StoreIntegrityError as exc:
        return _fail(f"{exc}\n(no backup was made: a damaged database is not worth copying over a good backup)")
    try:
        store.backup(dest)
        heads = store.chain_heads()
    finally:
        store.close()
    print(f"backed up {source} to {dest} ({dest.stat().st_size:,} bytes, mode 0600)")
    print("chain heads in the copy: " + ", ".join(f"{n} seq {h['seq']}" for n, h in sorted(heads.items())))
    print(f"check it with: fenghuo audit verify --store-url sqlite:///{dest.resolve()} --no-exported-heads")
    return 0


def add_subcommands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    au = sub.add_parser("audit", help="tamper evidence: verify the hash chains, export their heads")
    asub = au.add_subparsers(dest="audit_command", required=True)
    v = asub.add_parser("verify", help="walk the hash chains and name the first broken link (exit 1 if any)")
    h = asub.add_parser("head", help="print the chain heads (last seq and hash of each chain) as JSON")
    for p in (v, h):
        p.add_argument("--data-dir", type=Path, help="the service's data directory (must exist; default .data, or "
                                                     "FENGHUO_DATA_DIR)")
        p.add_argument("--store-url", help="sqlite:///FILE or postgresql://... (default: the data directory's)")
    v.add_argument("--heads", type=Path, help=f"exported heads to check (default: DATA_DIR/{chain.HEADS_FILE})")
    v.add_argument("--no-exported-heads", action="store_true",
                   help="do not check exported heads (e.g. a backup copy, older than the last export)")
    v.add_argument("--json", action="store_true", help="the report as JSON (as GET /v1/audit/verify)")
    v.set_defaults(fn=cmd_verify)
    h.add_argument("--export", action="store_true", help=f"also append them to DATA_DIR/{chain.HEADS_FILE}")
    h.set_defaults(fn=cmd_head)
    b = sub.add_parser("backup", help="copy the SQLite store consistently while it runs (PostgreSQL: pg_dump)")
    b.add_argument("dest", type=Path, help="a new file, or a directory (a dated file is made in it)")
    b.add_argument("--data-dir", type=Path, help="the service's data directory (must exist; default .data, or "
                                                 "FENGHUO_DATA_DIR)")
    b.add_argument("--store-url", help="sqlite:///FILE or postgresql://... (default: the data directory's)")
    b.set_defaults(fn=cmd_backup)
