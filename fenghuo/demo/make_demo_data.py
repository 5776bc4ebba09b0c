"""Regenerate the bundled demo slices from the real data in ../shared/data (see README.md).

Run: ``.venv/bin/python fenghuo/demo/make_demo_data.py``. Both outputs keep the original
columns and row order; gzip is written with a zero mtime so the files are reproducible.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
GLORIA = ("2020-01-20 00:00:00+00:00", "2020-01-25 00:00:00+00:00")  # [start, end) in date_obs form
BLIZZARD = ("2015-01-26", "2015-01-29")  # OPEN_DT local dates, inclusive
N_STATIONS = 8


def shared_data() -> Path:
    base = os.environ.get("FENGHUO_SHARED")
    return (Path(base) if base else HERE.parents[2] / "shared") / "data"


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        return next(reader), list(reader)


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(buf.getvalue().encode("utf-8"))


def gloria_stations(header: list[str], rows: list[list[str]]) -> list[str]:
    """The stations with the largest rise (max - min) in the window, plus the highest peak's."""
    st, t, v = header.index("code_station"), header.index("date_obs"), header.index("resultat_obs")
    lo: dict[str, float] = defaultdict(lambda: float("inf"))
    hi: dict[str, float] = defaultdict(lambda: float("-inf"))
    peak = ("", float("-inf"))
    for r in rows:
        if not r[v]:
            continue
        value = float(r[v])
        if value > peak[1]:
            peak = (r[st], value)
        if GLORIA[0] <= r[t] < GLORIA[1]:
            lo[r[st]], hi[r[st]] = min(lo[r[st]], value), max(hi[r[st]], value)
    ranked = sorted(hi, key=lambda s: hi[s] - lo[s], reverse=True)[:N_STATIONS]
    if peak[0] not in ranked:
        ranked[-1] = peak[0]
    return ranked


def main() -> None:
    data = shared_data()
    folder = data / "hubeau-river-levels-2020"
    header, rows = _rows(next(folder.glob("hubeau_water_level_*.csv.gz")))
    keep = set(gloria_stations(header, rows))
    st, t = header.index("code_station"), header.index("date_obs")
    gloria = [r for r in rows if r[st] in keep and GLORIA[0] <= r[t] < GLORIA[1]]
    _write(HERE / "gloria_river_levels.csv.gz", header, gloria)
    print(f"gloria_river_levels.csv.gz: {len(gloria)} readings from {sorted(keep)}")
    header, rows = _rows(data / "boston311-2015" / "boston_311_2015.csv.gz")
    o = header.index("OPEN_DT")
    blizzard = [r for r in rows if BLIZZARD[0] <= r[o][:10] <= BLIZZARD[1]]
    _write(HERE / "boston311_blizzard_2015.csv.gz", header, blizzard)
    print(f"boston311_blizzard_2015.csv.gz: {len(blizzard)} cases")


if __name__ == "__main__":
    main()
