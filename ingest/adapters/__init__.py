"""File adapters: real feeds turned into v1 event dicts (the JSON shape ``parse_event`` accepts).

Each adapter streams its file (plain or gzip) row by row with the ``csv`` module and yields one
dict per record; nothing is validated here beyond what the format itself needs, so a bad record
reaches the service and is rejected there with a reason (and dead-lettered), never dropped.

:func:`read_records` picks the adapter from an explicit ``fmt`` or from the file name, and else
from the CSV header.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "events.ndjson")
>>> _ = open(path, "w").write('{"source": "s1", "ts": "2020-01-22T10:00:00Z", "grid": "G1", '
...                           '"metric": "m", "value": 1}\\n')
>>> [r["feed"] for r in read_records(path, feed="sensor")]
['sensor']
"""

from __future__ import annotations

import csv
import gzip
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, TextIO

FORMATS = ("hubeau", "boston311", "nab", "json")
_ADAPTER_FEED = {"hubeau": "sensor", "boston311": "complaint", "nab": "sensor"}


@dataclass
class ReadStats:
    """What an adapter read: data rows seen, records yielded, rows skipped and why."""

    rows: int = 0
    yielded: int = 0
    skipped: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def skip(self, reason: str) -> None:
        self.skipped += 1
        self.reasons[reason] += 1


def open_text(path: str | Path) -> TextIO:
    """Open a text file for reading, transparently gunzipping it (by magic bytes, not by name)."""
    p = Path(path)
    with p.open("rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(p, "rb"), encoding="utf-8-sig", newline="")
    return p.open("r", encoding="utf-8-sig", newline="")


def csv_rows(path: str | Path, fields: tuple[str, ...], required: set[str], kind: str,
             stats: ReadStats) -> Iterator[tuple[str, ...]]:
    """The named columns of every non-empty row of a CSV file (a column the file lacks reads ""),
    counting rows in ``stats``; a file without the ``required`` columns is refused, saying which."""
    with open_text(path) as fh:
        reader = csv.reader(fh)
        header = [c.strip() for c in next(reader, [])]
        missing = required - set(header)
        if missing:
            raise ValueError(f"{path}: not a {kind} file (missing {', '.join(sorted(missing))})")
        width = len(header)
        pick = itemgetter(*(header.index(f) if f in header else width for f in fields))
        pad = [""] * (width + 1)
        for raw in reader:
            if not raw:
                continue
            stats.rows += 1
            yield pick(raw + pad[len(raw):])  # short rows padded; missing columns read the last ""


def _strip_gz(name: str) -> str:
    name = name.lower()
    return name.removesuffix(".gz")


def detect_format(path: str | Path) -> str:
    """The adapter for a file: by its name, else by its first line (a CSV header or JSON)."""
    name = _strip_gz(Path(path).name)
    if name.endswith((".json", ".jsonl", ".ndjson")):
        return "json"
    if "hubeau" in name:
        return "hubeau"
    if "311" in name:
        return "boston311"
    with open_text(path) as fh:
        head = fh.readline()
    stripped = head.lstrip()
    if stripped.startswith(("[", "{")):
        return "json"
    columns = {c.strip().strip('"') for c in stripped.rstrip("\r\n").split(",")}
    if {"code_station", "date_obs", "resultat_obs"} <= columns:
        return "hubeau"
    if {"CASE_ENQUIRY_ID", "OPEN_DT", "TYPE"} <= columns:
        return "boston311"
    if columns == {"timestamp", "value"}:
        return "nab"
    raise ValueError(
        f"cannot tell the format of {path}: pass fmt= one of {', '.join(FORMATS)} "
        "(or --format on the command line)"
    )


def read_records(path: str | Path, feed: str | None = None, fmt: str | None = None,
                 stats: ReadStats | None = None, **options: Any) -> Iterator[dict[str, Any]]:
    """Stream v1 event dicts from a file.

    ``fmt`` is one of hubeau, boston311, nab, json (default: detected). ``feed`` is the feed
    records of a JSON file get when they lack one; for the CSV formats, whose feed is fixed, it
    must agree. ``options`` go to the adapter (``grid=`` for NAB, ``known_grids=`` for Boston).
    ``stats``, when given, is filled in as the file is read.
    """
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    fixed = _ADAPTER_FEED.get(fmt)
    if fixed is not None and feed is not None and feed != fixed:
        raise ValueError(f"{fmt} files hold {fixed} events, not {feed}")
    if fmt == "hubeau":
        from fenghuo.ingest.adapters.hubeau import read_hubeau

        return read_hubeau(path, stats=stats)
    if fmt == "boston311":
        from fenghuo.ingest.adapters.boston311 import read_boston311

        return read_boston311(path, stats=stats, **options)
    if fmt == "nab":
        from fenghuo.ingest.adapters.nab import read_nab

        return read_nab(path, stats=stats, **options)
    from fenghuo.ingest.adapters.jsonl import read_json

    return read_json(path, feed=feed, stats=stats)


__all__ = ["FORMATS", "ReadStats", "detect_format", "open_text", "read_records"]
