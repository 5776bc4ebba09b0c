"""Real 1 Hz pump data (SKAB) through the running embedded service with the ``asset`` detector: a pump's eight
sensors judged together raise one alert for a labelled anomaly, keep it up while the anomaly lasts and clear it
after; the anomaly-free run stays quiet almost all the time."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fenghuo.core.levels import Level
from tests.acceptance.test_alert_pipeline import Harness
from tests.support import DATA

SKAB = DATA / "skab" / "data"
CHANNELS = ("Accelerometer1RMS", "Accelerometer2RMS", "Current", "Pressure", "Temperature", "Thermocouple",
            "Voltage", "Volume Flow RateRMS")
CONFIG: dict[str, Any] = {"nodes": [], "rules": [], "detectors": {"asset": {}}}

pytestmark = pytest.mark.skipif(not SKAB.is_dir(), reason=f"SKAB data not found at {SKAB}")


def _rows(rel: str) -> list[dict[str, str]]:
    with (SKAB / rel).open(newline="") as fh:
        return list(csv.DictReader(fh, delimiter=";"))


def _ts(row: dict[str, str]) -> float:
    return datetime.fromisoformat(row["datetime"]).replace(tzinfo=UTC).timestamp()


def _replay(tmp: Path, rel: str) -> tuple[Harness, list[dict[str, str]]]:
    rows = _rows(rel)
    h = Harness(tmp, CONFIG, clock_mode="event")
    h.clock.set(_ts(rows[-1]) + 1.0)
    records = [{"feed": "sensor", "source": "skab-pump", "ts": _ts(r), "grid": "G1", "metric": c.replace(" ", "_"),
                "value": float(r[c]), "id": f"{i}-{c}", "attrs": {"asset": "pump-1"}}
               for i, r in enumerate(rows) for c in CHANNELS]
    for start in range(0, len(records), 4000):
        assert h.p.ingest(records[start:start + 4000]).accepted == len(records[start:start + 4000])
    return h, rows


def test_a_labelled_pump_anomaly_raises_one_alert_that_lasts_and_clears(tmp_path: Path) -> None:
    h, rows = _replay(tmp_path, "valve1/1.csv")
    flagged = [_ts(r) for r in rows if float(r["anomaly"]) > 0]
    onset, end = flagged[0], flagged[-1]
    alerts = [a for a in h.p.store.all_alerts() if a.rule.startswith("asset:")]
    during = [a for a in alerts if onset - 1 <= a.created_at <= end]
    assert len(during) == 1, [(a.created_at - onset, a.level) for a in alerts]
    a = during[0]
    assert a.created_at - onset <= 120  # within two minutes of the valve closing (67 s here; median 12 s on SKAB)
    peak = max(Level.parse(e.level) for e in a.timeline if e.level)
    assert a.series == "pump-1" and peak >= Level.YELLOW
    cleared = [e.ts for e in a.timeline if e.kind == "cleared"]
    assert cleared and cleared[0] >= end - 60  # up through the anomaly (400 s) ...
    assert cleared[0] <= end + 60  # ... and cleared within a minute of its end
    assert len(alerts) <= 3  # the eight sensors are one asset: not one alert per sensor
    h.p.stop()


def test_the_anomaly_free_run_is_quiet_almost_all_the_time(tmp_path: Path) -> None:
    h, rows = _replay(tmp_path, "anomaly-free/anomaly-free.csv")
    alerts = [a for a in h.p.store.all_alerts() if a.rule.startswith("asset:")]
    span = _ts(rows[-1]) - _ts(rows[0])  # 2.6 h of a pump running normally
    up = 0.0
    for a in alerts:
        cleared = next((e.ts for e in a.timeline if e.kind == "cleared"), _ts(rows[-1]))
        up += cleared - a.created_at
    assert len(alerts) <= 2 * span / 3600  # at most two alerts an hour (the per-sensor models raised 50)
    assert up / span < 0.10  # and in alert less than a tenth of the time
    h.p.stop()
