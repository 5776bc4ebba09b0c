"""Incidents (docs/incidents.md): the alerts of one risk under one node grouped and notified together.

List and show them (any role), acknowledge or resolve one with every member alert (responder role), add a note.
Each act is done as the key's name and goes to the audit log.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from fenghuo.alerts.service import AlertConflict, AlertNotFound
from fenghuo.api.auth import Principal
from fenghuo.api.bounds import CleanStr
from fenghuo.api.deps import Responder, ServiceDep, Viewer, sees_personal_data
from fenghuo.api.errors import _doc
from fenghuo.core.privacy import mask_doc
from fenghuo.runtime.service import Service

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])
IncidentId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
ACTED = {404: _doc("no such incident"), 409: _doc("the incident is not in a state that allows this")}
log = logging.getLogger("fenghuo.api.incidents")


class IncidentAct(BaseModel):
    """The body of ack and resolve (optional)."""

    model_config = ConfigDict(extra="forbid")
    comment: CleanStr = Field("", max_length=2000, description="a note for the timelines")


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: CleanStr = Field(..., min_length=1, max_length=2000, description="the note (the author is the key's name)")


def _masked(doc: dict[str, Any], whole: bool) -> dict[str, Any]:
    """Roles below analyst see phone and ID numbers masked in the members' titles and the timeline."""
    return doc if whole else {k: mask_doc(v) if k in ("timeline", "members") else v for k, v in doc.items()}


@router.get("", summary="Incidents, most recently changed first")
def listing(service: ServiceDep, who: Viewer,
            status: Literal["open", "acknowledged", "resolved"] | None = Query(None),
            limit: int = Query(200, ge=1, le=1000)) -> dict[str, Any]:
    whole = sees_personal_data(who)
    return {"incidents": [_masked(d, whole) for d in service.list_incidents(status, limit)]}


@router.get("/{incident_id}", summary="One incident: summary, members and its timeline", responses=ACTED)
def show(service: ServiceDep, who: Viewer, incident_id: IncidentId) -> dict[str, Any]:
    doc = service.get_incident(incident_id)
    if doc is None:
        raise HTTPException(404, f"no incident {incident_id}")
    return _masked(doc, sees_personal_data(who))


def _act(service: Service, op: str, incident_id: str, who: Principal, text: str) -> dict[str, Any]:
    try:
        doc = service.act_incident(incident_id, op, who.name, text)
    except AlertNotFound:
        raise HTTPException(404, f"no incident {incident_id}") from None
    except AlertConflict as exc:
        raise HTTPException(409, str(exc)) from None
    try:
        service.audit(who.name, f"incident.{op}", incident_id,
                      json.dumps({"members": doc.get("summary", {}).get("alerts"), "level": doc.get("level"),
                                  "text": text[:500]}, ensure_ascii=False))
    except Exception:  # the change is made and kept; a missing audit row is an error in the log
        log.exception("the %s of incident %s by %s is done but could not be audited", op, incident_id, who.name)
    return _masked(doc, sees_personal_data(who))


@router.post("/{incident_id}/ack", summary="Acknowledge the incident and its open members (audited)",
             responses=ACTED)
async def ack(service: ServiceDep, who: Responder, incident_id: IncidentId,
              body: IncidentAct | None = Body(None)) -> dict[str, Any]:
    return await run_in_threadpool(_act, service, "ack", incident_id, who, body.comment if body else "")


@router.post("/{incident_id}/resolve", summary="Resolve the incident and every member (audited)", responses=ACTED)
async def resolve(service: ServiceDep, who: Responder, incident_id: IncidentId,
                  body: IncidentAct | None = Body(None)) -> dict[str, Any]:
    return await run_in_threadpool(_act, service, "resolve", incident_id, who, body.comment if body else "")


@router.post("/{incident_id}/notes", status_code=201, summary="Add a note to the incident's timeline (audited)",
             responses=ACTED)
async def note(service: ServiceDep, who: Responder, incident_id: IncidentId, body: NoteBody) -> dict[str, Any]:
    return await run_in_threadpool(_act, service, "note", incident_id, who, body.text)
