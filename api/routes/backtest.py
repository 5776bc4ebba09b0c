"""POST /v1/rules/thresholds/backtest: what a proposed rule would have raised on stored history.

The route checks the request (the rule, the range) and asks the service; the backtest itself (beside the
proposed rule's episodes, the current rule with the same id over the same events, and the alerts that rule
really raised in the range) is :func:`fenghuo.detectors.backtest.compare` and
:func:`~fenghuo.detectors.backtest.report`, which ``fenghuo backtest`` runs too.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field, StringConstraints

from fenghuo.api.bounds import Clean, CleanStr, check_json, when
from fenghuo.api.deps import Analyst, ServiceDep
from fenghuo.core.rulebook import RuleError, validate_rule

router = APIRouter(prefix="/v1/rules/thresholds", tags=["rules"])
MAX_RANGE_DAYS = 366  # the rows of a longer range may not fit a request's memory budget


TimeText = Annotated[str, StringConstraints(max_length=64), Clean]


class BacktestRequest(BaseModel):
    rule: dict[str, Any] = Field(..., description="the proposed rule, as for PUT /v1/rules/thresholds/{id}")
    start: TimeText | float = Field(..., description="ISO 8601 time or epoch seconds (1970..2100)")
    end: TimeText | float = Field(..., description="ISO 8601 time or epoch seconds (1970..2100)")
    grid: CleanStr | None = Field(None, max_length=200, description="only series in this node of the grid tree")
    source: CleanStr | None = Field(None, max_length=200, description="only events of this source")
    series: CleanStr | None = Field(None, max_length=400,
                                    description="only this series (e.g. 'hubeau:Y063402001/water_level_m')")
    charts: int = Field(1, ge=0, le=20, description="series to return values for (most alerts first)")
    drill: CleanStr | None = Field(None, min_length=1, max_length=256,
                                   description="replay this drill's stored events instead of the real ones")


@router.post("/backtest", summary="What a proposed rule would have raised on stored history, beside the current rule")
def backtest(req: BacktestRequest, service: ServiceDep, who: Analyst) -> dict[str, Any]:
    check_json(req.rule, "rule")
    try:
        rule = validate_rule(req.rule, service.tree)
    except RuleError as exc:
        raise HTTPException(422, {"message": "the proposed rule is not valid", "errors": exc.errors}) from None
    t0, t1 = when(req.start, "start"), when(req.end, "end")
    if t1 <= t0:
        raise HTTPException(422, "end must be after start")
    if t1 - t0 > MAX_RANGE_DAYS * 86400:
        raise HTTPException(422, f"a backtest covers at most {MAX_RANGE_DAYS} days: narrow start and end")
    return service.backtest(rule, t0, t1, grid=req.grid, source=req.source, series=req.series, charts=req.charts,
                            drill=req.drill)
