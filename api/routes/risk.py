"""The per-grid risk forecast (issue 17, docs/risk-forecast.md): the latest forecast, its track record, one now.

``GET /v1/risk/forecast`` and ``GET /v1/risk/track-record`` need the viewer role and only read stored forecasts;
``POST /v1/risk/forecast`` (analyst) makes one now (202 with it), at most one per domain every 30 s (429 with
Retry-After). No forecast yet is a 200 with ``rows: []`` and ``reason``; an unknown node, group or drill run is a
404. Forecasts never raise alerts; a grid at the watch level notifies its community office (a "watch" notice).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool

from fenghuo.api.deps import Analyst, ServiceDep, Viewer
from fenghuo.api.errors import _doc
from fenghuo.core.config import ConfigError
from fenghuo.runtime.risk_job import RiskBusy, RiskJob, for_service

router = APIRouter(prefix="/v1/risk", tags=["risk"])
DRILL = r"^[A-Za-z0-9][A-Za-z0-9._:~-]{0,63}$"  # a drill run (as /v1/drills/{run}) or a replayed drill's name
MAX_HORIZON = 28
HorizonQ = Annotated[str | None, Query(max_length=4, description="1d .. 28d (default: the configured horizon)")]
DrillQ = Annotated[str | None, Query(min_length=1, max_length=64, pattern=DRILL,
                                     description="a drill run: its forecast, from its own history only")]
NOT_FOUND = {404: _doc("no such node, category group or drill run")}


def job_of(request: Request, service: Any) -> RiskJob:
    """The app's forecast job (started with the app), or one made over the service for an app built by hand."""
    job = getattr(request.app.state, "risk", None)
    if not isinstance(job, RiskJob):
        try:
            job = request.app.state.risk = for_service(service)
        except ConfigError as exc:
            raise HTTPException(503, f"the risk forecast is off: its configuration is not valid: {exc}") from None
    return job


def horizon_days(text: str | None, default: int) -> int:
    """``"7d"`` -> 7; a 422 outside 1d .. 28d or not of that shape.

    >>> horizon_days("14d", 7), horizon_days(None, 7)
    (14, 7)
    """
    if text is None:
        return default
    m = re.fullmatch(r"([0-9]{1,2})d", text)
    if not m or not 1 <= int(m.group(1)) <= MAX_HORIZON:
        raise HTTPException(422, f"horizon takes 1d .. {MAX_HORIZON}d (days), e.g. 7d")
    return int(m.group(1))


def check_drill(job: RiskJob, drill: str | None) -> None:
    """A 404 for a drill that is neither a drill run nor the name of stored drill complaints."""
    if drill is None or job.store.get_drill_run(drill) is not None:
        return
    if job.store.risk_latest_complaint(drill) is None and not job.store.risk_forecasts(drill, limit=1):
        raise HTTPException(404, f"no drill run or drill complaints named {drill}")


def filtered(job: RiskJob, doc: dict[str, Any], node: str | None, group: str | None) -> dict[str, Any]:
    """The rows of ``node`` and every node under it, of ``group``; 404 for a node or group that does not exist."""
    rows = doc.get("rows") or []
    if group is not None:
        if group not in job.params.group_names():
            raise HTTPException(404, f"no category group {group!r}: the groups are "
                                     f"{', '.join(job.params.group_names())}")
        rows = [r for r in rows if r.get("group") == group]
    if node is not None:
        known = job.tree.known(node)
        if known is None:
            raise HTTPException(404, f"no node {node!r} in the grid tree")
        rows = [r for r in rows if known in job.tree.chain_ids(str(r.get("node")))]
    return {**doc, "rows": rows}


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """The API body: the stored document without the store's own keys."""
    return {k: v for k, v in doc.items() if k not in ("made_at_ts", "window_ts", "id", "dispersion")}


@router.get("/forecast", summary="The latest risk forecast per grid and category group (viewer)",
            responses=NOT_FOUND)
def get_forecast(request: Request, service: ServiceDep, who: Viewer, horizon: HorizonQ = None,
                 node: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
                 group: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
                 drill: DrillQ = None) -> dict[str, Any]:
    job = job_of(request, service)
    days = horizon_days(horizon, job.params.horizon_days)
    check_drill(job, drill)
    # can_forecast: whether this key may ask for one now (the board shows its button only then)
    return {**public(filtered(job, job.latest(drill, days), node, group)), "can_forecast": who.can("analyst")}


@router.get("/track-record", summary="How the top grids of past forecasts turned out (viewer)", responses=NOT_FOUND)
async def track_record(request: Request, service: ServiceDep, who: Viewer,
                       weeks: Annotated[int, Query(ge=1, le=52)] = 12, drill: DrillQ = None) -> dict[str, Any]:
    job = job_of(request, service)
    check_drill(job, drill)
    return await run_in_threadpool(job.track_record, drill, weeks)


@router.post("/forecast", status_code=202, summary="Make a forecast now (analyst; at most one per 30 s)",
             responses={**NOT_FOUND, 429: _doc("a forecast is being made or was made a moment ago; see Retry-After")})
async def make_forecast(request: Request, service: ServiceDep, who: Analyst, horizon: HorizonQ = None,
                        drill: DrillQ = None) -> Any:
    job = job_of(request, service)
    days = horizon_days(horizon, job.params.horizon_days)
    check_drill(job, drill)
    try:
        doc = await run_in_threadpool(job.demand, drill, days)
    except RiskBusy as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": str(max(1, round(exc.retry_after)))}) from None
    return public(doc)
