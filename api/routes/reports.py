"""Response-time reports and the audit log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query

from fenghuo.alerts.reports import GROUPS
from fenghuo.api.deps import Admin, ServiceDep, Viewer

router = APIRouter(prefix="/v1", tags=["reports"])


@router.get("/reports/response-times", summary="Count, MTTA, MTTR, resolution and on-time rates")
def report(service: ServiceDep, who: Viewer,
           group_by: str = Query("level", max_length=20, description="|".join(GROUPS)),
           drill: bool = Query(False, description="report drills instead of real alerts")) -> dict[str, Any]:
    try:
        return service.response_times(group_by, drill)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/audit", summary="Who changed what")
def audit(service: ServiceDep, who: Admin, limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
    return {"items": service.audit_log(limit)}
