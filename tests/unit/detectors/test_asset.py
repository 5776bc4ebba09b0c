"""The ``asset`` detector: sensors grouped into an asset, judged together, one alert per asset."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fenghuo.core import state as saved
from fenghuo.core.config import Detectors
from fenghuo.core.models import Event, Risk, Signal
from fenghuo.detectors.asset import AssetDetector, AssetParams
from fenghuo.detectors.registry import REGISTRY, check_models

T0 = 1_700_000_000.0
METRICS = ("flow", "current", "pressure", "temp", "vib1", "vib2", "voltage", "thermo")


def _pump(n: int, seed: int = 11, step: tuple[int, int] | None = None) -> np.ndarray:
    """Eight channels of one pump at 1 Hz; ``step``: rows where a valve closes (flow and current drop)."""
    rng = np.random.default_rng(seed)
    drive = rng.normal(size=n)
    x = rng.normal(size=(n, 8))
    x[:, 0] = 30.0 + drive + 0.2 * x[:, 0]
    x[:, 1] = 2.0 + 0.5 * drive + 0.1 * x[:, 1]
    x[:, 3] = 70.0 + 0.003 * np.arange(n) + 0.05 * x[:, 3]  # warming up
    if step:
        x[step[0]:step[1], 0] -= 3.0
        x[step[0]:step[1], 1] -= 1.5
    return x


def _events(x: np.ndarray, asset: str | None = "pump-1", source: str = "rig", drill: str | None = None,
            every: dict[int, int] | None = None) -> list[Event]:
    """Rows as events, channel by channel (``every``: channel index -> report every that many rows)."""
    out = []
    for i, row in enumerate(x):
        for c, v in enumerate(row):
            if every and i % every.get(c, 1):
                continue
            attrs: dict[str, Any] = {"asset": asset} if asset else {}
            out.append(Event("sensor", source, T0 + i, "G1", f"{c}-{i}", metric=METRICS[c], value=float(v),
                             attrs=attrs, drill=drill))
    return out


def _run(det: AssetDetector, events: list[Event]) -> list[Signal]:
    out: list[Signal] = []
    for e in events:
        out += det.process(e)
    return out


def _alerts(signals: list[Signal]) -> int:
    return sum(1 for s in signals if s.kind == "level" and s.level is not None and s.level.value == 1) + sum(
        1 for i, s in enumerate(signals) if s.kind == "level" and s.level is not None and s.level.value > 1
        and (i == 0 or signals[i - 1].kind == "clear"))


def test_a_valve_closing_raises_one_asset_alert_that_lasts_and_clears() -> None:
    x = _pump(1800, step=(1000, 1300))
    out = _run(AssetDetector(), _events(x))
    assert out, "nothing raised"
    assert {(s.detector, s.rule, s.series, s.risk) for s in out} == {("asset", "asset:both", "pump-1", Risk.SAFETY)}
    first, last = out[0], out[-1]
    assert T0 + 1000 <= first.ts <= T0 + 1030  # raised within half a minute of the onset
    assert last.kind == "clear" and T0 + 1300 <= last.ts <= T0 + 1360  # cleared within a minute after the end
    assert not any(s.kind == "clear" for s in out[:-1])  # held through the anomaly: one alert, one clear
    assert first.evidence["channels"][0]["series"] in ("rig/flow", "rig/current")
    assert first.evidence["n_channels"] == 8


def test_eight_quiet_sensors_raise_nothing() -> None:
    """An hour of normal readings of eight sensors (one warming up): no alert (the correction for eight
    channels, and a baseline that follows slow drift)."""
    out = _run(AssetDetector(), _events(_pump(3600, seed=3)))
    assert _alerts(out) == 0, [(s.ts - T0, s.level) for s in out]


def test_grouping_by_attrs_params_or_source_and_nothing_otherwise() -> None:
    x = _pump(5)
    det = AssetDetector()
    _run(det, _events(x, asset=None))
    assert det.assets == {}  # in no asset: left to the other detectors
    det = AssetDetector(AssetParams(assets={"rig": "pump-A"}))
    _run(det, _events(x, asset=None))
    assert list(det.assets) == ["pump-A"] and len(det.assets["pump-A"].channels) == 8
    det = AssetDetector(AssetParams(assets={"rig/flow": "pump-A", "rig/current": "pump-A"}))
    _run(det, _events(x, asset=None))
    assert det.assets["pump-A"].channels == ["rig/flow", "rig/current"]
    det = AssetDetector(AssetParams(by_source=True))
    _run(det, _events(x, asset=None, source="rig-2"))
    assert list(det.assets) == ["rig-2"]
    det = AssetDetector()
    _run(det, _events(x) + _events(x, drill="ex1"))
    assert sorted(det.assets) == ["ex1|pump-1", "pump-1"]  # a drill's asset is apart from the real one


def test_rows_align_channels_at_different_rates_carrying_the_slow_ones_forward() -> None:
    x = _pump(100)
    det = AssetDetector()
    _run(det, _events(x, every={3: 10, 7: 30}))  # temp every 10 s, thermo every 30 s
    a = det.assets["pump-1"]
    assert len(a.channels) == 8
    assert a.model.learned == 99  # one row a second (the last waits for the next timestamp)
    assert a.cadence.interval == 1.0
    assert a.last["rig/thermo"] == pytest.approx(x[90, 7])  # carried forward since its last report


def test_state_survives_a_restart_mid_anomaly() -> None:
    events = _events(_pump(1500, step=(1000, 1300)))
    cut = 1150 * 8  # 150 s into the anomaly
    first = AssetDetector()
    early = _run(first, events[:cut])
    assert early and early[-1].level is not None
    plain = saved.loads(saved.dumps("t", 1, first.state()), "t", {1: lambda d: d})
    second = AssetDetector()
    second.restore(plain)
    assert _run(second, events[cut:]) == _run(first, events[cut:])


def test_registered_and_checked_like_the_others() -> None:
    reg = REGISTRY.get("asset")
    assert reg.scope == "grid" and reg.feeds == ("sensor",)
    errors = check_models(Detectors(asset={"model": "lstm"}))
    assert len(errors) == 1 and errors[0].startswith("detectors.asset: model must be one of pca, channels, both")
    assert check_models(Detectors(asset={"model": "pca", "assets": {"rig": "pump-1"}})) == []


def test_new_assets_past_the_bound_are_left_out_and_counted() -> None:
    det = AssetDetector(AssetParams(max_assets=2))
    for i in range(5):
        det.process(Event("sensor", "rig", float(i), "G1", f"e{i}", metric="flow", value=1.0,
                          attrs={"asset": f"pump-{i}"}))
    assert sorted(det.assets) == ["pump-0", "pump-1"] and det.refused == 3
    det.process(Event("sensor", "rig", 9.0, "G1", "e9", metric="current", value=1.0, attrs={"asset": "pump-1"}))
    assert det.refused == 3  # a known asset's readings still count
