"""Synthetic complaint logs whose truth is known, for the risk forecast's tests."""

from __future__ import annotations

import numpy as np

from fenghuo.core.config import Node
from fenghuo.core.grids import GridTree
from fenghuo.detectors.risk import Case

DAY = 86400.0
T0 = 1_420_070_400.0  # 2015-01-01 00:00 UTC, a Thursday


def tree(n: int = 10) -> GridTree:
    """A district, one street, two communities, ``n`` grids 1 km apart on a line."""
    nodes = [Node(id="D", name="区", kind="district"), Node(id="S", name="街道", kind="street", parent="D"),
             Node(id="C1", name="社区1", kind="community", parent="S"),
             Node(id="C2", name="社区2", kind="community", parent="S")]
    nodes += [Node(id=f"G{i}", name=f"网格{i}", kind="grid", parent="C1" if i < n // 2 else "C2",
                   centroid=(30.0, 120.0 + 0.0104 * i)) for i in range(n)]
    return GridTree(nodes)


def log(days: int, rates: np.ndarray, seed: int = 0, hot: float = 1.0) -> list[Case]:
    """Poisson complaints per (grid, day) at ``rates`` (grids,); with ``hot`` > 1 each grid has random hot spells
    of 14 days at ``hot`` times its rate (so a busy week foretells a busy next week)."""
    rng = np.random.default_rng(seed)
    n = len(rates)
    factor = np.ones((n, days))
    if hot > 1:
        for g in range(n):
            for start in rng.choice(days, size=max(1, days // 30), replace=False):
                factor[g, start:start + 14] = hot
    out = []
    for g in range(n):
        for d in range(days):
            for _ in range(rng.poisson(rates[g] * factor[g, d])):
                ts = T0 + d * DAY + float(rng.uniform(0, DAY))
                shut = ts + float(rng.exponential(5 * DAY))
                out.append(Case(ts=ts, grid=f"G{g}", category="noise", closed=shut, target=ts + 3 * DAY,
                                place=f"p{rng.integers(0, 10**6)}", flagged=bool(rng.random() < 0.05)))
    out.sort(key=lambda c: c.ts)
    return out
