"""Alerts: list, one with its timeline and notifications, ack, resolve, and the live stream.

Roles below analyst see phone and ID numbers in alert texts masked (:mod:`fenghuo.api.masking`). Ack and
resolve are done as the key's name (its identity); a ``by`` in the body is kept as a note in the
timeline, never as the actor. Both go to the audit log.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from fenghuo.alerts.service import AlertConflict, AlertNotFound
from fenghuo.api.auth import Principal
from fenghuo.api.bounds import MAX_INT_OFFSET, CleanStr
from fenghuo.api.deps import Responder, ServiceDep, Viewer, sees_personal_data
from fenghuo.api.errors import CONFLICT, NOT_FOUND
from fenghuo.api.masking import mask_alert, mask_message
from fenghuo.core.levels import LEVEL_NAMES
from fenghuo.core.models import FEEDS, Risk, Status, iso
from fenghuo.core.store import AlertQuery
from fenghuo.runtime.service import Service

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])
HEARTBEAT = 15.0
log = logging.getLogger("fenghuo.api.alerts")


class ActBody(BaseModel):
    """The body of ack and resolve (optional)."""

    model_config = ConfigDict(extra="forbid")
    comment: CleanStr = Field("", max_length=2000, description="a note for the timeline")
    by: CleanStr | None = Field(None, max_length=100,
                                description="who acted, kept as a note: the actor is the key's name")


ALERT_FEEDS = (*FEEDS, "system", "warning")  # system: fenghuo's own health; warning: CAP taken in


@router.get("", summary="Alerts, open and most severe first")
def list_alerts(service: ServiceDep, who: Viewer,
                status: str | None = Query(None, max_length=20, description="|".join(Status)),
                level: str | None = Query(None, max_length=20, description="blue|yellow|orange|red"),
                grid: str | None = Query(None, max_length=200), feed: str | None = Query(None, max_length=20),
                risk: str | None = Query(None, max_length=50),
                drill: str | None = Query(None, max_length=200,
                                          description="true: drills only; false: real only; or a drill name"),
                limit: int = Query(200, ge=1, le=5000), offset: int = Query(0, ge=0, le=MAX_INT_OFFSET)
                ) -> dict[str, Any]:
    for name, value, allowed in (("status", status, tuple(Status)), ("level", level, LEVEL_NAMES),
                                 ("feed", feed, ALERT_FEEDS), ("risk", risk, tuple(Risk))):
        if value is not None and value not in allowed:  # an unknown value matched nothing, silently, before
            raise HTTPException(422, f"{name} must be one of {', '.join(map(str, allowed))}, not {value!r}")
    try:
        alerts = service.list_alerts(AlertQuery(status, level, grid, feed, risk, drill, limit, offset))
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    docs = [a.to_json(full=False) for a in alerts]
    return {"alerts": docs if sees_personal_data(who) else [mask_alert(d) for d in docs]}


@router.get("/stream", summary="Server-sent events of alert changes", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                             "description": "a stream: 'event: <kind>' and 'data: {\"type\", \"alert\"}' blocks"}})
async def stream(request: Request, service: ServiceDep, who: Viewer) -> StreamingResponse:
    q = service.subscribe()
    whole = sees_personal_data(who)

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b": connected\n\n"
            while not await request.is_disconnected():
                try:
                    msg = await asyncio.wait_for(q.get(), HEARTBEAT)
                except TimeoutError:
                    yield b": heartbeat\n\n"
                    continue
                data = json.dumps(msg if whole else mask_message(msg), ensure_ascii=False)
                yield f"event: {msg.get('type', 'message')}\ndata: {data}\n\n".encode()
        finally:
            service.unsubscribe(q)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/{alert_id}", summary="One alert with its timeline, evidence and notifications", responses=NOT_FOUND)
def get_alert(service: ServiceDep, who: Viewer, alert_id: str = Path(..., max_length=200)) -> dict[str, Any]:
    a = service.get_alert(alert_id)
    if a is None:
        raise HTTPException(404, f"no alert {alert_id}")
    out = a.to_json()
    out["notifications"] = [
        {"id": n.id, "channel": n.channel, "responder": n.responder, "kind": n.kind, "tier": n.tier,
         "status": n.status, "attempts": n.attempts, "last_error": n.last_error, "delivered_at": iso(n.delivered_at)}
        for n in service.notifications(alert_id)
    ]
    return out if sees_personal_data(who) else mask_alert(out)


def note_of(body: ActBody | None) -> str:
    """The timeline note: the comment, with the free-text ``by`` kept in front of it.

    >>> note_of(ActBody(comment="on site", by="张伟")), note_of(ActBody()), note_of(None)
    ('by 张伟: on site', '', '')
    """
    if body is None:
        return ""
    if body.by and body.by.strip():
        return f"by {body.by.strip()}: {body.comment}" if body.comment else f"by {body.by.strip()}"
    return body.comment


def _act(service: Service, op: str, alert_id: str, who: Principal, note: str) -> dict[str, Any]:
    fn = service.ack if op == "ack" else service.resolve
    try:
        alert = fn(alert_id, who.name, note)
    except AlertNotFound:
        raise HTTPException(404, f"no alert {alert_id}") from None
    except AlertConflict as exc:
        raise HTTPException(409, str(exc)) from None
    try:
        service.audit(who.name, f"alert.{op}", alert_id,
                      json.dumps({"level": alert.level.name_en, "drill": alert.drill, "note": note[:500]},
                                 ensure_ascii=False))
    except Exception:  # the change is made and kept; a missing audit row is an error in the log
        log.exception("the %s of alert %s by %s is done but could not be written to the audit log", op, alert_id,
                      who.name)
    return alert.to_json()


@router.post("/{alert_id}/ack", summary="Acknowledge: stops escalation (the actor is the key's name)",
             responses={**NOT_FOUND, **CONFLICT})
async def ack(service: ServiceDep, who: Responder, alert_id: str = Path(..., max_length=200),
              body: ActBody | None = Body(None)) -> dict[str, Any]:
    out = await run_in_threadpool(_act, service, "ack", alert_id, who, note_of(body))
    return out if sees_personal_data(who) else mask_alert(out)


@router.post("/{alert_id}/resolve", summary="Resolve (the actor is the key's name)",
             responses={**NOT_FOUND, **CONFLICT})
async def resolve(service: ServiceDep, who: Responder, alert_id: str = Path(..., max_length=200),
                  body: ActBody | None = Body(None)) -> dict[str, Any]:
    out = await run_in_threadpool(_act, service, "resolve", alert_id, who, note_of(body))
    return out if sees_personal_data(who) else mask_alert(out)


class NoteBody(BaseModel):
    """A responder's note (the author is the key's name)."""

    model_config = ConfigDict(extra="forbid")
    text: CleanStr = Field(..., min_length=1, max_length=2000, description="the note")
    public: bool = Field(False, description="carried in the alert's next CAP message (<note>): public text")


def _note(service: Service, alert_id: str, who: Principal, body: NoteBody) -> dict[str, Any]:
    try:
        alert = service.add_note(alert_id, who.name, body.text, body.public)
    except AlertNotFound:
        raise HTTPException(404, f"no alert {alert_id}") from None
    except AlertConflict as exc:
        raise HTTPException(409, str(exc)) from None
    try:
        service.audit(who.name, "alert.note", alert_id,
                      json.dumps({"public": body.public, "text": body.text[:500]}, ensure_ascii=False))
    except Exception:
        log.exception("the note on alert %s by %s is kept but could not be audited", alert_id, who.name)
    return alert.to_json()


@router.post("/{alert_id}/notes", status_code=201, summary="Add a note to the alert's timeline (audited)",
             responses={**NOT_FOUND, **CONFLICT})
async def add_note(service: ServiceDep, who: Responder, body: NoteBody,
                   alert_id: str = Path(..., max_length=200)) -> dict[str, Any]:
    out = await run_in_threadpool(_note, service, alert_id, who, body)
    return out if sees_personal_data(who) else mask_alert(out)
