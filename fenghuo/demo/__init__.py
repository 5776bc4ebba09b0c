"""Small slices of real data bundled for ``fenghuo run --demo`` (a drill); see README.md.

>>> [(p.name, fmt) for p, fmt in demo_files()]
[('gloria_river_levels.csv.gz', 'hubeau'), ('boston311_blizzard_2015.csv.gz', 'boston311')]
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = (("gloria_river_levels.csv.gz", "hubeau"), ("boston311_blizzard_2015.csv.gz", "boston311"))


def demo_files() -> list[tuple[Path, str]]:
    """The bundled files and their ingest formats (for ``fenghuo.ingest.adapters.read_records(path, fmt=...)``)."""
    return [(HERE / name, fmt) for name, fmt in FILES]
