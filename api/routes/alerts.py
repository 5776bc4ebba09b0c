"""Alerts: list, one with its timeline and notifications, ack, resolve, and the live stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Body, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from alerts.service import AlertConflict, AlertNotFound
from api.deps import PipelineDep, Responder, Viewer
from fenghuo.models import iso
from fenghuo.store import AlertQuery

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])
HEARTBEAT = 15.0


@router.get("", summary="Alerts, open and most severe first")
def list_alerts(pipeline: PipelineDep, who: Viewer, status: str | None = None, level: str | None = None,
                grid: str | None = None, feed: str | None = None, risk: str | None = None,
                drill: str | None = Query(None, description="true: drills only; false: real only; or a drill name"),
                limit: int = Query(200, le=5000), offset: int = 0) -> dict[str, Any]:
    try:
        alerts = pipeline.store.list_alerts(AlertQuery(status, level, grid, feed, risk, drill, limit, offset))
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"alerts": [a.to_json(full=False) for a in alerts]}


@router.get("/stream", summary="Server-sent events of alert changes")
async def stream(request: Request, pipeline: PipelineDep, who: Viewer) -> StreamingResponse:
    q = pipeline.broadcaster.subscribe()

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b": connected\n\n"
            while not await request.is_disconnected():
                try:
                    msg = await asyncio.wait_for(q.get(), HEARTBEAT)
                except TimeoutError:
                    yield b": heartbeat\n\n"
                    continue
                data = json.dumps(msg, ensure_ascii=False)
                yield f"event: {msg['type']}\ndata: {data}\n\n".encode()
        finally:
            pipeline.broadcaster.unsubscribe(q)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/{alert_id}", summary="One alert with its timeline, evidence and notifications")
def get_alert(alert_id: str, pipeline: PipelineDep, who: Viewer) -> dict[str, Any]:
    a = pipeline.store.get_alert(alert_id)
    if a is None:
        raise HTTPException(404, f"no alert {alert_id}")
    out = a.to_json()
    out["notifications"] = [
        {"id": n.id, "channel": n.channel, "responder": n.responder, "kind": n.kind, "tier": n.tier,
         "status": n.status, "attempts": n.attempts, "last_error": n.last_error, "delivered_at": iso(n.delivered_at)}
        for n in pipeline.store.notifications_for(alert_id)
    ]
    return out


def _act(fn: Any, alert_id: str, actor: str, comment: str) -> dict[str, Any]:
    try:
        return fn(alert_id, actor, comment).to_json()  # type: ignore[no-any-return]
    except AlertNotFound:
        raise HTTPException(404, f"no alert {alert_id}") from None
    except AlertConflict as exc:
        raise HTTPException(409, str(exc)) from None


@router.post("/{alert_id}/ack", summary="Acknowledge: stops escalation")
async def ack(alert_id: str, pipeline: PipelineDep, who: Responder,
              body: dict[str, Any] | None = Body(None)) -> dict[str, Any]:
    actor = str((body or {}).get("by") or who.name)
    return await run_in_threadpool(_act, pipeline.alerts.ack, alert_id, actor, str((body or {}).get("comment", "")))


@router.post("/{alert_id}/resolve", summary="Resolve")
async def resolve(alert_id: str, pipeline: PipelineDep, who: Responder,
                  body: dict[str, Any] | None = Body(None)) -> dict[str, Any]:
    actor = str((body or {}).get("by") or who.name)
    return await run_in_threadpool(_act, pipeline.alerts.resolve, alert_id, actor,
                                   str((body or {}).get("comment", "")))
