"""Numenta Anomaly Benchmark series (``timestamp,value`` CSV files) as sensor events.

The source is ``nab:<category>/<file>`` (the file name without ``.csv``, the category its
folder), the metric ``value``, the grid a parameter (default ``NAB``). NAB timestamps carry no
offset; they are taken as UTC.

>>> nab_source("/x/data/realKnownCause/machine_temperature_system_failure.csv")
'nab:realKnownCause/machine_temperature_system_failure'
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fenghuo.ingest.adapters import ReadStats, open_text
from fenghuo.ingest.adapters.hubeau import iso_utc

METRIC = "value"


def nab_source(path: str | Path) -> str:
    """``nab:<category>/<file>`` for a file under NAB's ``data/<category>/``."""
    p = Path(path)
    name = p.name.removesuffix(".gz")
    name = name.removesuffix(".csv")
    return f"nab:{p.parent.name}/{name}"


def read_nab(path: str | Path, stats: ReadStats | None = None, grid: str = "NAB",
             source: str | None = None) -> Iterator[dict[str, Any]]:
    """Stream sensor events from one NAB data file."""
    stats = stats if stats is not None else ReadStats()
    src = source or nab_source(path)
    with open_text(path) as fh:
        reader = csv.reader(fh)
        header = [c.strip() for c in next(reader, [])]
        if header != ["timestamp", "value"]:
            raise ValueError(f"{path}: not a NAB data file (header {header!r}, want timestamp,value)")
        for row in reader:
            if not row:
                continue
            stats.rows += 1
            try:
                ts = iso_utc(row[0])
                value = float(row[1])
            except (ValueError, IndexError):
                stats.skip("bad timestamp or value")
                continue
            stats.yielded += 1
            yield {"feed": "sensor", "source": src, "ts": ts, "grid": grid, "metric": METRIC,
                   "value": value, "id": f"{src}:{ts}", "attrs": {}}
