"""Settings of the per-grid risk forecast (``Config.risk_forecast``) and the category groups it forecasts.

A category group is a name and regexes on the complaint category (case-insensitive, ``re.search``); the group
"all" always exists and takes every complaint. A complaint may belong to several groups.

>>> p = RiskForecastParams()
>>> p.group_names()[0], p.model
('all', 'logistic')
>>> p.in_groups("Heat - Excessive  Insufficient")
['all', 'housing']
>>> RiskForecastParams(groups={"noise": ["噪音|noise"]}).in_groups("夜间施工噪音")
['all', 'noise']
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_GROUPS: dict[str, list[str]] = {
    "all": [],
    # housing and living conditions: landlord-tenant disputes start here (住房、物业、供暖)
    "housing": [r"living conditions|heat\b|heat -|building|mice|rodent|bed bugs|plumbing|maintenance complaint"
                r"|unsanitary|housing|住房|物业|供暖|漏水|房屋"],
    # neighbours, noise and work sites: the classic 邻里 / 施工 contradictions
    "nuisance": [r"noise|contractor|working beyond hours|loud|parking enforcement|space savers|illegal"
                 r"|噪音|扰民|施工|纠纷|邻里|占道|违建"],
    # public works the whole street sees: roads, lights, snow (道路、路灯、积雪)
    "streets": [r"pothole|sidewalk|street light|sign|traffic|snow|plow|pavement|salt|ice\b"
                r"|道路|路灯|积雪|井盖|交通"],
}


class RiskForecastParams(BaseModel):
    """How the risk forecast runs (H2's job reads the timing fields; the model reads the rest)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    horizon_days: int = Field(7, ge=1, le=28)  # default horizon; the API may ask 1..28
    every_hours: float = Field(6, gt=0, le=24 * 7)  # how often the job makes a forecast
    retrain_hours: float = Field(24, gt=0, le=24 * 30)  # how often the model is retrained (off the hot path)
    history_days: int = Field(365, ge=14, le=3660)  # training window
    min_history_days: int = Field(28, ge=14, le=3660)  # fewer than this: no model, the forecast says why
    watch_level: float = Field(0.5, gt=0, le=1)  # probability at which a grid's community office gets a watch notice
    groups: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_GROUPS.items()})
    # logistic: chosen by the rule in docs/benchmarks-risk.md (the simpler model unless boosting wins every figure)
    model: Literal["logistic", "boosting"] = "logistic"
    quantile: float = Field(0.9, gt=0.5, lt=1)  # a count above this quantile of its seasonal expectation is an event
    neighbour_km: float = Field(4.0, ge=0, le=100)  # neighbours: grid centroids this close, and siblings

    @field_validator("groups")
    @classmethod
    def _check_groups(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        if len(v) > 20:
            raise ValueError("at most 20 category groups")
        for name, patterns in v.items():
            if not name or len(name) > 40:
                raise ValueError("a group name has 1 to 40 characters")
            for p in patterns:
                if len(p) > 500:
                    raise ValueError(f"group {name}: a pattern is longer than 500 characters")
                try:
                    re.compile(p)
                except re.error as exc:
                    raise ValueError(f"group {name}: bad regex {p!r}: {exc}") from exc
        return v

    def group_names(self) -> list[str]:
        """The groups, "all" first."""
        return ["all"] + [g for g in self.groups if g != "all"]

    @cached_property
    def _compiled(self) -> list[tuple[str, re.Pattern[str] | None]]:
        out: list[tuple[str, re.Pattern[str] | None]] = []
        for name in self.group_names():
            pats = [] if name == "all" else self.groups.get(name, [])
            out.append((name, re.compile("|".join(f"(?:{p})" for p in pats), re.I) if pats else None))
        return out

    def in_groups(self, category: str | None) -> list[str]:
        """The groups a category belongs to ("all" always; a group without patterns takes nothing else)."""
        out = []
        for name, rx in self._compiled:
            if name == "all" or (rx is not None and category and rx.search(category)):
                out.append(name)
        return out
