"""``fenghuo purge``: remove complaint and opinion texts older than the retention period now, from a data
directory (SQLite) or the PostgreSQL store, without the service (the service also does it once a day).

``--dry-run`` says how many texts would go and changes nothing. The period comes from the
configuration's ``privacy.text_retention_days`` (default 365), or ``--days`` for this run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from fenghuo.core.config import ConfigError, load_config
from fenghuo.core.retention import PurgeJob
from fenghuo.core.settings import make_settings
from fenghuo.core.store import open_store


def cmd_purge(args: argparse.Namespace) -> int:
    settings = make_settings(data_dir=args.data_dir, config=args.config, store_url=args.store_url)
    try:
        days = args.days if args.days is not None else load_config(settings.config).privacy.text_retention_days
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if days is not None and days < 0:
        print("fenghuo: --days takes 0 (purge nothing) or more", file=sys.stderr)
        return 2
    if not settings.store_url.startswith("postgres"):
        db = Path(settings.store_url.removeprefix("sqlite:///")) if settings.store_url else \
            settings.data_dir / "fenghuo.db"
        if not db.is_file():
            print(f"fenghuo: no database at {db}: pass the service's --data-dir", file=sys.stderr)
            return 2
    store = open_store(settings.store_url, settings.data_dir)
    try:
        result = PurgeJob(store, days, time.time).run(dry_run=args.dry_run)
    finally:
        store.close()
    print(result.summary())
    return 0


def add_subcommand(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("purge", help="remove complaint and opinion texts older than the retention period now")
    p.add_argument("--data-dir", type=Path, help="the service's data directory (default: FENGHUO_DATA_DIR)")
    p.add_argument("--config", type=Path, help="the configuration (its privacy.text_retention_days)")
    p.add_argument("--store-url", help="postgresql://... to purge the PostgreSQL store (default: FENGHUO_STORE_URL)")
    p.add_argument("--days", type=int, help="the retention period in days for this run (0: purge nothing)")
    p.add_argument("--dry-run", action="store_true", help="count what would be purged; change nothing")
    p.set_defaults(fn=cmd_purge)
