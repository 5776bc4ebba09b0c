"""Hub'Eau river levels (French open data, Licence Ouverte / Etalab) as sensor events.

One event per reading: source ``hubeau:<code_station>``, metric ``water_level_m``, the height
``resultat_obs`` converted from millimetres to metres, the station's lat/lon (the grid is resolved
from them), id ``hubeau:<code_station>:<date_obs as ISO UTC>``. Rows without a value are skipped
and counted in :class:`~fenghuo.ingest.adapters.ReadStats`.

>>> iso_utc("2020-01-08 15:45:00+00:00")
'2020-01-08T15:45:00Z'
>>> iso_utc("2020-01-08 16:45:00+01:00")
'2020-01-08T15:45:00Z'
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fenghuo.ingest.adapters import ReadStats, csv_rows

METRIC = "water_level_m"
_FIELDS = ("code_station", "date_obs", "resultat_obs", "latitude", "longitude", "river", "code_site")
_REQUIRED = {"code_station", "date_obs", "resultat_obs"}


def iso_utc(text: str) -> str:
    """Hub'Eau's ``date_obs`` (ISO, UTC offset or naive UTC) as ISO 8601 UTC with ``Z``."""
    text = text.strip()
    if text.endswith("+00:00") and len(text) == 25:  # the common case, without parsing
        return f"{text[:10]}T{text[11:19]}Z"
    if text.endswith("Z") and "T" in text:
        return text
    dt = datetime.fromisoformat(text)
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + "Z"


def _float(text: str) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def read_hubeau(path: str | Path, stats: ReadStats | None = None) -> Iterator[dict[str, Any]]:
    """Stream sensor events from a Hub'Eau observations CSV (plain or gzip)."""
    stats = stats if stats is not None else ReadStats()
    rows = csv_rows(path, _FIELDS, _REQUIRED, "Hub'Eau observations", stats)
    for station, date_obs, result, lat_text, lon_text, river, site in rows:
        station, result = station.strip(), result.strip()
        mm = _float(result)
        if mm is None:
            stats.skip("empty resultat_obs")
            continue
        try:
            ts = iso_utc(date_obs)
        except ValueError:
            stats.skip("bad date_obs")
            continue
        record: dict[str, Any] = {
            "feed": "sensor",
            "source": f"hubeau:{station}",
            "ts": ts,
            "metric": METRIC,
            "value": round(mm / 1000.0, 6),
            "id": f"hubeau:{station}:{ts}",
            "attrs": {"river": river or None, "site": site or None},
        }
        lat, lon = _float(lat_text), _float(lon_text)
        if lat is not None and lon is not None:
            record["lat"], record["lon"] = lat, lon
        stats.yielded += 1
        yield record
