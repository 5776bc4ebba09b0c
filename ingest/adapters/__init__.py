"""File adapters: real feeds turned into v1 event dicts (the JSON shape ``parse_event`` accepts).

Each adapter streams its file (plain or gzip) row by row with the ``csv`` module and yields one
dict per record; nothing is validated here beyond what the format itself needs, so a bad record
reaches the service and is rejected there with a reason (and dead-lettered), never dropped.

:func:`read_records` picks the adapter from an explicit ``fmt`` or from the file name, and else
from the CSV header, through the adapter registry (:mod:`fenghuo.ingest.adapters.registry`: name ->
fixed feed, file-name and header sniffs, reader). Adding a format is one module with one
``@register_adapter``.

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
from typing import TextIO


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


from fenghuo.ingest.adapters.registry import ADAPTERS, detect_format, read_records, register_adapter  # noqa: E402

__all__ = ["ADAPTERS", "ReadStats", "detect_format", "open_text", "read_records",
           "register_adapter"]
