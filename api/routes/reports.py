"""Response-time reports and the audit log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query

from fenghuo.alerts import closure
from fenghuo.alerts.reports import GROUPS
from fenghuo.api.bounds import when
from fenghuo.api.deps import Admin, ServiceDep, Viewer
from fenghuo.core.models import iso

router = APIRouter(prefix="/v1", tags=["reports"])


@router.get("/reports/response-times", summary="Count, MTTA, MTTR, resolution and on-time rates")
def report(service: ServiceDep, who: Viewer,
           group_by: str = Query("level", max_length=20, description="|".join(GROUPS)),
           drill: bool = Query(False, description="report drills instead of real alerts")) -> dict[str, Any]:
    try:
        return service.response_times(group_by, drill)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/reports/complaints", summary="Complaints: resolution, on-time and satisfaction rates, time to close",
            responses={422: {"description": "a bad group_by or time, or end not after start"}})
def complaints(service: ServiceDep, who: Viewer,
               group_by: str = Query("grid", max_length=20, description="|".join(closure.GROUPS)),
               start: str = Query(..., max_length=64, description="ISO 8601 time or epoch seconds (1970..2100)"),
               end: str = Query(..., max_length=64, description="ISO 8601 time or epoch seconds (1970..2100); "
                                                                 "complaints with start <= time < end"),
               drill: bool = Query(False, description="report drills instead of real complaints")) -> dict[str, Any]:
    if group_by not in closure.GROUPS:
        raise HTTPException(422, f"group_by must be one of {', '.join(closure.GROUPS)}")
    t0, t1 = when(start, "start"), when(end, "end")
    if t1 <= t0:
        raise HTTPException(422, "end must be after start")
    try:
        out = service.complaint_report(group_by, t0, t1, drill)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    covered = out.get("covered_until")
    return {**out, "start": iso(t0), "end": iso(t1), "covered_until": None if covered is None else iso(covered)}


@router.get("/audit", summary="Who changed what")
def audit(service: ServiceDep, who: Admin, limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
    return {"items": service.audit_log(limit)}
