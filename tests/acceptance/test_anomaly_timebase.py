"""The anomaly alerting in each series' own time base, through the embedded service: the same settings on a
1 Hz pump sensor and a 10-minute river gauge; a glitch raises blue at most and clears; a long anomaly keeps
its alert up while it lasts and clears after it."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from fenghuo.core.levels import Level
from fenghuo.detectors.anomaly.detector import AnomalyParams
from tests.acceptance.test_alert_pipeline import T0, Harness

RATES = [1.0, 600.0]
MODELS = ["robust_z", "records_local", "cusum"]


def _config(model: str = "robust_z") -> dict[str, Any]:
    return {"nodes": [], "rules": [], "detectors": {"anomaly": {"detector": model, "warmup": 300}}}


def _readings(interval: float, values: list[float], start: int = 0) -> list[dict[str, Any]]:
    return [{"feed": "sensor", "source": "pump-1", "ts": T0 + (start + i) * interval, "grid": "G1",
             "metric": "pressure_bar", "value": v} for i, v in enumerate(values)]


def _normal(n: int, rng: random.Random) -> list[float]:
    return [1.0 + rng.gauss(0.0, 0.01) for _ in range(n)]


def _ingest(h: Harness, interval: float, values: list[float]) -> None:
    h.clock.set(T0 + len(values) * interval)  # the service's wall clock at the end (no reading from its future)
    result = h.p.ingest(_readings(interval, values))
    assert result.accepted == len(values)


def _anomaly_alerts(h: Harness) -> list[Any]:
    return [a for a in h.p.store.all_alerts() if a.rule.startswith("anomaly:")]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("interval", RATES)
def test_one_glitch_raises_blue_at_most_and_clears_when_readings_are_normal(tmp_path: Path, interval: float,
                                                                             model: str) -> None:
    rng = random.Random(7)
    h = Harness(tmp_path, _config(model), clock_mode="event")
    values = _normal(400, rng) + [6.0] + _normal(2 * int(AnomalyParams().hold) + 10, rng)
    _ingest(h, interval, values)
    alerts = _anomaly_alerts(h)
    assert alerts, "the glitch is worth a blue notice"
    assert all(a.level <= Level.BLUE for a in alerts)
    assert all(e.level in (None, "blue") for a in alerts for e in a.timeline)
    assert all(a.cleared for a in alerts)  # back to normal: cleared once the hold has passed
    h.p.stop()


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("interval", RATES)
def test_a_long_anomaly_keeps_its_alert_up_while_it_lasts_and_clears_after(tmp_path: Path, interval: float,
                                                                          model: str) -> None:
    rng = random.Random(11)
    h = Harness(tmp_path, _config(model), clock_mode="event")
    before = _normal(400, rng)
    during = [1.5 + rng.gauss(0.0, 0.01) for _ in range(120)]  # a stuck valve: 120 readings far off
    after = _normal(60, rng)
    _ingest(h, interval, before + during + after)
    alerts = _anomaly_alerts(h)
    assert len(alerts) == 1  # one alert for one anomaly, not one per reading or per hold period
    a = alerts[0]
    start, end = T0 + 400 * interval, T0 + 520 * interval
    assert start <= a.created_at <= start + 2 * interval
    assert a.level >= Level.YELLOW
    cleared = [e.ts for e in a.timeline if e.kind == "cleared"]
    assert len(cleared) == 1 and cleared[0] > end - interval  # up through the anomaly ...
    p = AnomalyParams()
    assert cleared[0] <= end + (p.hold + p.clear + 2) * interval  # ... and down once the hold has passed
    h.p.stop()
