"""Drill runs: start a scenario, watch it, end it, read and compare scorecards, purge a run's data.

Starting and ending a run needs the analyst role and a key that may run drills; purging a run's data needs
admin. A scenario sent whole (``spec``) may name only the data files the service ships with (and those in
``drills.data_dir``): never a path on the server. See docs/drills.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Path, Query

from fenghuo.api.bounds import check_json
from fenghuo.api.deps import Admin, Analyst, ServiceDep, Viewer
from fenghuo.api.errors import _doc
from fenghuo.drills.control import DrillControl, DrillRefused
from fenghuo.drills.scenario import SCENARIO_ID, ScenarioError
from fenghuo.runtime.service import Service

router = APIRouter(prefix="/v1/drills", tags=["drills"])
RUN_ID = r"^[a-z0-9][a-z0-9-]{0,47}-r[0-9]{1,9}$"
RunId = Annotated[str, Path(min_length=4, max_length=64, pattern=RUN_ID)]
ScenarioId = Annotated[str, Path(min_length=1, max_length=48, pattern=SCENARIO_ID)]
NO_RUN = {404: _doc("no such drill run")}


def _control(service: Service) -> DrillControl:
    control = getattr(service, "drills", None)
    if not isinstance(control, DrillControl):
        raise HTTPException(409, "this service has no drill runs (replay a drill with "
                                 "`fenghuo replay --drill NAME` instead)")
    return control


def _refused(exc: DrillRefused) -> HTTPException:
    return HTTPException(exc.status, str(exc))


@router.get("", summary="Drill runs (newest first) and the scenarios that can be started")
def listing(service: ServiceDep, who: Viewer,
            scenario: Annotated[str | None, Query(max_length=48, pattern=SCENARIO_ID)] = None,
            status: Literal["running", "ended", "interrupted", "failed"] | None = None,
            limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    control = _control(service)
    return {"runs": control.runs(scenario, status, limit), "scenarios": control.scenarios(),
            "can_start": who.can_drill and who.can("analyst")}


@router.post("", status_code=202, summary="Start a run of a scenario (analyst, a key that may run drills)",
             responses={403: _doc("the key may not run drills"), 404: _doc("no such scenario"),
                        422: _doc("the scenario is not valid or cannot run here"),
                        429: _doc("too many runs are going")})
def start(service: ServiceDep, who: Analyst, body: dict[str, Any] = Body(
        ..., description='{"scenario": "gloria-flood"} (a bundled scenario) or {"spec": {...}} (a whole scenario, '
                         'as docs/drills.md); optional "speed" (scenario seconds per second, or "max")')
          ) -> dict[str, Any]:
    if not who.can_drill:
        raise HTTPException(403, f"the key {who.name} may not run drills")
    check_json(body)
    unknown = set(body) - {"scenario", "spec", "speed"}
    if unknown:
        raise HTTPException(422, f"unknown field(s): {', '.join(sorted(str(k)[:40] for k in unknown)[:5])}")
    name, spec, speed = body.get("scenario"), body.get("spec"), body.get("speed")
    if (name is None) == (spec is None):
        raise HTTPException(422, "send either scenario (a name) or spec (a whole scenario)")
    if name is not None and not isinstance(name, str):
        raise HTTPException(422, "scenario must be a scenario's name")
    if spec is not None and not isinstance(spec, dict):
        raise HTTPException(422, "spec must be a scenario (an object)")
    if speed is not None and not (speed == "max" or (isinstance(speed, int | float) and not isinstance(speed, bool))):
        raise HTTPException(422, 'speed must be a number (scenario seconds per second) or "max"')
    control = _control(service)
    try:
        return control.start(name=name, spec=spec, actor=who.name, speed=speed)
    except ScenarioError as exc:
        raise HTTPException(422, {"message": "the scenario cannot run", "errors": exc.errors[:50]}) from None
    except DrillRefused as exc:
        raise _refused(exc) from None


@router.get("/scenarios/{scenario}/runs", summary="The runs of one scenario compared: a table and a trend")
def compare(service: ServiceDep, who: Viewer, scenario: ScenarioId,
            limit: Annotated[int, Query(ge=2, le=200)] = 50) -> dict[str, Any]:
    return _control(service).compare(scenario, limit)


@router.get("/{run}", summary="A run: status, progress and scorecard (live while it runs)", responses=NO_RUN)
def get(service: ServiceDep, who: Viewer, run: RunId) -> dict[str, Any]:
    doc = _control(service).get(run)
    if doc is None:
        raise HTTPException(404, f"no drill run {run}")
    return doc


@router.post("/{run}/end", summary="End a run now: its clock stops and it is scored (analyst, drills)",
             responses={**NO_RUN, 409: _doc("the run has ended already")})
def end(service: ServiceDep, who: Analyst, run: RunId) -> dict[str, Any]:
    if not who.can_drill:
        raise HTTPException(403, f"the key {who.name} may not run drills")
    try:
        return _control(service).end(run, who.name)
    except DrillRefused as exc:
        raise _refused(exc) from None


@router.delete("/{run}", summary="Purge a run's events, alerts and notifications (admin; audited)",
               responses={**NO_RUN, 409: _doc("the run is still going")})
def purge(service: ServiceDep, who: Admin, run: RunId) -> dict[str, Any]:
    try:
        return _control(service).purge(run, who.name)
    except DrillRefused as exc:
        raise _refused(exc) from None
