"""The risk forecast at one moment: every grid x category group, rolled up the grid tree.

Each grid's probability comes from the trained model (:mod:`.model`); an ancestor node's (community, street,
district) is the chance that at least one of its grids has the event, ``1 - prod(1 - p)`` (grids taken as
independent, so it is an upper-side figure when grids move together), its expectation and recent count the sums,
its factors those of its riskiest grid. A horizon other than the model's scales the probability as independent
slices (:func:`~.model.horizon_probability`); the expectation is computed for the asked horizon.

>>> rollup([0.5, 0.5]), rollup([]), round(rollup([0.2, 0.0]), 6)
(0.75, 0.0, 0.2)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fenghuo.core.grids import GridTree
from fenghuo.core.models import iso
from fenghuo.detectors.risk.cases import AlertMark, Case
from fenghuo.detectors.risk.explain import Factor, contributions, top_factors
from fenghuo.detectors.risk.features import Data, frame, prepare
from fenghuo.detectors.risk.model import RiskModel, horizon_probability, why_not
from fenghuo.detectors.risk.params import RiskForecastParams


@dataclass
class NodeRisk:
    node: str  # grid id, or a community/street/district id (rolled up)
    kind: str  # grid | community | street | district
    group: str  # category group
    probability: float  # 0..1, calibrated
    expected: float  # seasonal expected count over the horizon
    recent: int  # count in the last 7 days
    factors: list[Factor] = field(default_factory=list)  # top 5 by |contribution|

    def to_json(self, watch_level: float | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"node": self.node, "kind": self.kind, "group": self.group,
                               "probability": round(float(self.probability), 4),
                               "expected": round(float(self.expected), 2), "recent": int(self.recent)}
        if watch_level is not None:
            out["watch"] = self.kind == "grid" and self.probability >= watch_level
        out["factors"] = [f.to_json() for f in self.factors]
        return out


@dataclass
class Forecast:
    made_at: float
    horizon_days: int
    model_version: str | None
    window: tuple[float, float] | None
    reason: str | None  # why there is no model (too little history), else None
    rows: list[NodeRisk]  # sorted by probability, highest first

    def to_json(self, watch_level: float | None = None, drill: str | None = None) -> dict[str, Any]:
        """The API body (``watch_level`` adds each row's ``watch``: a grid at or above it)."""
        return {"made_at": iso(self.made_at), "horizon_days": self.horizon_days, "model_version": self.model_version,
                "window": None if self.window is None else {"from": iso(self.window[0]), "to": iso(self.window[1])},
                "reason": self.reason, "drill": drill, "watch_level": watch_level,
                "rows": [r.to_json(watch_level) for r in self.rows]}

    def grid_rows(self, group: str = "all") -> list[NodeRisk]:
        return [r for r in self.rows if r.kind == "grid" and r.group == group]


def rollup(ps: Sequence[float]) -> float:
    """The chance that at least one of independent events happens."""
    return float(1.0 - np.prod(1.0 - np.asarray(ps, dtype=float))) if len(ps) else 0.0


def forecast(model: RiskModel | None, cases: Sequence[Case], alerts: Sequence[AlertMark], tree: GridTree,
             params: RiskForecastParams, at: float, horizon_days: int, tz: str, data: Data | None = None) -> Forecast:
    """The forecast made at ``at`` for ``[at, at + horizon_days)`` from the cases and alerts before ``at``."""
    d = data if data is not None else prepare(cases, alerts, tree, params, tz)
    reason = why_not(d.first_ts, at, params)
    if reason is None and model is None:
        reason = "模型尚未训练 (no model trained yet)"
    if reason is None and model is not None and model.groups != d.groups:
        reason = "类别组已变更，等待重新训练 (the category groups changed: waiting for the model to be retrained)"
    if reason is not None or model is None:
        return Forecast(at, horizon_days, None if model is None else model.version,
                        None if model is None else model.window, reason, [])
    f = frame(d, at, model.horizon_days, model.history_days)
    n_k = len(d.groups)
    gidx = np.tile(np.arange(n_k), len(d.grids))
    p = horizon_probability(model.probability(f.X, gidx), model.horizon_days, horizon_days)
    expected = f.expected if horizon_days == model.horizon_days else frame(d, at, horizon_days,
                                                                          model.history_days).expected
    contrib, unit = contributions(model, f.X, gidx)
    rows: list[NodeRisk] = []
    by_node: dict[tuple[str, str], list[NodeRisk]] = {}
    for i, grid in enumerate(d.grids):
        if not f.active[i * n_k]:  # no complaint in the window (a river gauge's grid): not forecast, as in training
            continue
        for k, group in enumerate(d.groups):
            r = i * n_k + k
            nr = NodeRisk(grid, "grid", group, float(p[r]), float(expected[r]), int(f.recent[r]),
                          top_factors(contrib[r], f.shown[r], unit))
            rows.append(nr)
            for node in tree.chain(grid)[1:]:
                by_node.setdefault((node.id, group), []).append(nr)
    for (node_id, group), members in by_node.items():
        riskiest = max(members, key=lambda m: m.probability)
        rows.append(NodeRisk(node_id, tree.nodes[node_id].kind, group, rollup([m.probability for m in members]),
                             sum(m.expected for m in members), sum(m.recent for m in members),
                             list(riskiest.factors)))
    rows.sort(key=lambda r: (-r.probability, r.node, r.group))
    return Forecast(at, horizon_days, model.version, model.window, None, rows)
