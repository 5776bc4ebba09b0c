"""Response-time reports and the audit log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query
from fenghuo.alerts.reports import GROUPS, response_times
from fenghuo.api.deps import Admin, PipelineDep, Viewer

router = APIRouter(prefix="/v1", tags=["reports"])


@router.get("/reports/response-times", summary="Count, MTTA, MTTR, resolution and on-time rates")
def report(pipeline: PipelineDep, who: Viewer,
           group_by: str = Query("level", max_length=20, description="|".join(GROUPS)),
           drill: bool = Query(False, description="report drills instead of real alerts")) -> dict[str, Any]:
    try:
        return response_times(pipeline.store.all_alerts(drill=drill), group_by)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/audit", summary="Who changed what")
def audit(pipeline: PipelineDep, who: Admin, limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
    return {"items": pipeline.store.audit_log(limit)}
