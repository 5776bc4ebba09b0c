"""The ``asset`` detector: an asset's sensors judged together, one alert per asset.

Series are grouped into assets by ``attrs["asset"]`` on the event, else by ``assets`` in the parameters
(a series ``source/metric`` or a whole ``source`` to an asset id), else (with ``by_source``) by the
event's source; a series in no asset is left to the other detectors. Each asset's readings are aligned
into rows: a row is the asset's channels at one time, complete when every known channel has reported
since the last row (once the channel set has shown itself over one whole timestamp) or when a later
timestamp arrives; a channel that reports less often is carried forward from its last reading.

Each row goes through :class:`fenghuo.detectors.anomaly.multivariate.MultivariateModel` (``model``:
``"pca"`` for PCA T-squared and Q, ``"channels"`` for one test per channel, ``"both"``), whose score
combines its tests with Simes' correction, so eight sensors do not mean eight times the false alarms.
The score becomes a level in the asset's own time base (:class:`fenghuo.detectors.timebase.ScoreLevels`,
timings in readings). The model keeps rows it finds unusual (score at or above ``gate``) out of its
baseline, for ``max_freeze`` rows at most (then a lasting change is the new normal); rows back to normal
during the level's hold are learned. One signal per asset: ``rule`` ``asset:<model>``, ``series`` the
asset id, the evidence naming the channels that contribute most. Assets live within a grid (the detector
runs per grid): the channels of one asset should report from one grid.

>>> import random
>>> rng = random.Random(3)
>>> det = AssetDetector(AssetParams(train_rows=100, window=200, span=5, hold=3))
>>> out = []
>>> for i in range(400):
...     drive = rng.gauss(0.0, 1.0)
...     for metric, v in (("flow", drive), ("current", drive + rng.gauss(0.0, 0.2)), ("temp", rng.gauss(0.0, 1.0))):
...         v += 6.0 if metric == "flow" and 300 <= i < 340 else 0.0  # the flow leaves the current
...         out += det.process(Event("sensor", "pump-1", i * 1.0, "G1", f"{metric}{i}", metric=metric,
...                                  value=v, attrs={"asset": "pump-1"}))
>>> [(s.rule, s.series, s.ts, s.level.name_en if s.level else None) for s in out][:2]
[('asset:both', 'pump-1', 300.0, 'blue'), ('asset:both', 'pump-1', 301.0, 'red')]
>>> out[1].evidence["channels"][0]["series"], out[-1].kind, 340 <= out[-1].ts < 370
('pump-1/flow', 'clear', True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fenghuo.core import state as saved
from fenghuo.core.levels import Level
from fenghuo.core.models import Certainty, Event, Risk, Signal
from fenghuo.detectors.anomaly.multivariate import MODELS, MultivariateModel
from fenghuo.detectors.protocol import VersionedDetector
from fenghuo.detectors.registry import BuildContext, register
from fenghuo.detectors.timebase import Cadence, ScoreLevels, Timing


@dataclass(frozen=True, slots=True)
class AssetParams:
    model: str = "both"  # "pca" (T-squared and Q) | "channels" (one test per channel) | "both"
    assets: dict[str, str] = field(default_factory=dict)  # series "source/metric" or source -> asset id
    by_source: bool = False  # a series in no asset: its source is the asset
    metrics: tuple[str, ...] = ()  # empty: every sensor metric
    max_channels: int = 32  # channels per asset; later ones are left out
    max_assets: int = 512  # assets per detector (each keeps ~1 MB of model state); later new ones are left out
    levels: tuple[float, float, float, float] = (0.6, 0.75, 0.9, 0.98)  # score for blue, yellow, orange, red
    hysteresis: float = 0.05
    # the model (rows = readings of the asset; see fenghuo.detectors.anomaly.multivariate)
    train_rows: int = 400  # rows learned before the asset may score (SKAB's protocol)
    window: int = 1000  # recent normal rows the trend and the PCA are fitted on
    span: float = 30.0  # EWMA span of the statistics, in rows
    gate: float = 0.3  # a row scoring this or more is not learned (a baseline that does not learn the anomaly)
    tail: str = "exp"  # the statistics' tails above their 95 % quantile: "exp" (exponential) or "hill" (power law)
    # alerting in the asset's own time base (counts of its rows or intervals; fenghuo.detectors.timebase)
    confirm: int = 2
    hold: float = 12.0
    clear: int = 3
    cooldown: float = 0.0
    max_freeze: int = 400  # rows the model goes without learning before a lasting change is the new normal


def _check(p: AssetParams) -> None:
    if p.model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, not {p.model!r}")
    if not isinstance(p.assets, dict) or not all(isinstance(k, str) and isinstance(v, str) and v
                                                 for k, v in p.assets.items()):
        raise ValueError("assets maps series or sources to asset ids (strings)")
    if p.max_channels < 1:
        raise ValueError("max_channels must be >= 1")
    if p.max_assets < 1:
        raise ValueError("max_assets must be >= 1")
    if list(p.levels) != sorted(p.levels) or not all(0.0 < x <= 1.0 for x in p.levels):
        raise ValueError("levels must rise, within (0, 1]")
    Timing(warmup=0, confirm=p.confirm, hold=p.hold, clear=p.clear, cooldown=p.cooldown,
           max_freeze=p.max_freeze).check()
    _model(p)  # the model's own checks


def _model(p: AssetParams) -> MultivariateModel:
    return MultivariateModel(model=p.model, train_rows=p.train_rows, window=p.window,
                             min_fit=min(100, p.train_rows, p.window), span=p.span, gate=p.gate,
                             max_skip=p.max_freeze, tail=p.tail)


@dataclass(slots=True)
class _Asset:
    model: MultivariateModel
    levels: ScoreLevels
    cadence: Cadence = field(default_factory=Cadence)
    channels: list[str] = field(default_factory=list)  # series keys, in the order of the model's vector
    last: dict[str, float] = field(default_factory=dict)  # each channel's latest reading
    pending: list[str] = field(default_factory=list)  # channels that reported since the last row
    pending_ts: float | None = None
    settled: bool = False  # one whole timestamp seen: the channel set is known
    grid: str = ""
    source: str = ""


class AssetDetector(VersionedDetector):
    """The ``asset`` :class:`fenghuo.detectors.protocol.Detector` (see the module doc)."""

    name = "asset"
    feeds = frozenset({"sensor"})
    STATE_VERSION = 1  # of the assets' rows, models and levels; bump it (and read the old) on a change

    def __init__(self, params: AssetParams | None = None) -> None:
        self.p = params or AssetParams()
        _check(self.p)
        self.timing = Timing(warmup=0, confirm=self.p.confirm, hold=self.p.hold, clear=self.p.clear,
                             cooldown=self.p.cooldown, max_freeze=self.p.max_freeze)
        self.assets: dict[str, _Asset] = {}
        self.refused = 0  # readings of new assets left out past max_assets (a careless client's ids cannot fill memory)

    def asset_of(self, e: Event) -> str | None:
        """The asset an event's series belongs to (None: none)."""
        given = e.attrs.get("asset") if e.attrs else None
        if isinstance(given, str) and given:
            return given
        assets = self.p.assets
        if assets:  # (none configured: the series' name is not even built)
            mapped = assets.get(e.series) or assets.get(e.source)
            if mapped:
                return mapped
        return e.source if self.p.by_source else None

    def process(self, e: Event) -> list[Signal]:
        p = self.p
        if e.feed != "sensor" or e.value is None or (p.metrics and e.metric not in p.metrics):
            return []
        asset = self.asset_of(e)
        if asset is None:
            return []
        key = f"{e.drill}|{asset}" if e.drill else asset
        a = self.assets.get(key)
        if a is None:
            if len(self.assets) >= p.max_assets:
                self.refused += 1
                return []
            a = self.assets[key] = _Asset(_model(p), ScoreLevels(p.levels, p.hysteresis, self.timing),
                                          grid=e.grid, source=e.source)
        ch = e.series
        if ch not in a.last and len(a.channels) >= p.max_channels:
            return []
        out: list[Signal] = []
        if a.pending_ts is not None and e.ts > a.pending_ts:
            a.settled = True
            out += self._row(a, asset, e.drill)
        if ch not in a.last:
            a.channels.append(ch)
        a.last[ch] = float(e.value)
        if ch not in a.pending:
            a.pending.append(ch)
        if a.pending_ts is None or e.ts > a.pending_ts:
            a.pending_ts = e.ts
        a.grid = e.grid
        if a.settled and len(a.pending) >= len(a.channels):
            out += self._row(a, asset, e.drill)
        return out

    __call__ = process

    def _row(self, a: _Asset, asset: str, drill: str | None) -> list[Signal]:
        """Close the pending row (every channel's latest reading) and score it."""
        ts = a.pending_ts
        a.pending, a.pending_ts = [], None
        if ts is None:
            return []
        values = [a.last[c] for c in a.channels]
        a.cadence.observe(ts)
        # the model does not learn rows it scores at or above its gate (for at most max_freeze rows): the
        # anomaly stays out of its baseline, while rows back to normal during the level's hold and clear are
        # learned (freezing it for the whole raised level let a drifting pump lock the alert up)
        score = a.model.step(ts, values)
        changed = a.levels.step(ts, score, a.cadence.interval)
        if changed is None:
            return []
        level = Level(changed) if changed else None
        zs = a.model.channel_z()
        top = [{"series": a.channels[i], "z": round(zs[i], 2)} for i in a.model.top_channels(3) if i < len(zs)]
        model = self.p.model
        named = ", ".join(f"{t['series']} ({t['z']:.1f} sigma)" for t in top)
        reason = (f"asset {asset}: {model} score {score:.2f} ({level.name_en}); most unusual: {named}" if level
                  else f"asset {asset}: {model} score {score:.2f}, back to normal")
        stats = a.model.statistics()
        evidence: dict[str, Any] = {"asset": asset, "score": score, "channels": top, "n_channels": len(a.channels),
                                    "t2": stats["t2"], "q": stats["q"], "interval_s": a.cadence.interval}
        return [Signal(detector="asset", rule=f"asset:{model}", risk=Risk.SAFETY, feed="sensor", grid=a.grid,
                       series=asset, source=a.source, ts=ts, level=level, score=score, reason=reason,
                       evidence=evidence, drill=drill, kind="level" if level else "clear",
                       certainty=Certainty.POSSIBLE)]

    def live_state(self) -> dict[str, Any]:
        """The state as the live objects (not copied), for :meth:`use_live_state`."""
        return {"assets": self.assets}

    def use_live_state(self, live: dict[str, Any]) -> None:
        self.assets = dict(live.get("assets", {}))


saved.register("asset.asset", _Asset)


@register("asset", AssetParams, feeds=("sensor",), scope="grid", check=_check)
def _build(params: AssetParams, ctx: BuildContext) -> AssetDetector:
    return AssetDetector(params)
