"""CAP warnings in: ``POST /v1/warnings`` (responder) and the list, ``GET /v1/warnings`` (viewer).

The body is CAP 1.2 XML (``application/cap+xml``, ``application/xml`` or ``text/xml``): one ``<alert>`` or a
batch (several in a wrapper element, or an Atom/RSS feed embedding them), at most ``warnings.max_body_bytes``.
Each alert is validated against the OASIS schema; the good ones are taken (200, one result each: raised,
updated, cancelled, expired, duplicate, test, drill, outside, ignored_loop), the bad ones dead-lettered with
their reasons. When none is good the answer is 422 with the reasons. See docs/warnings.md.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from fenghuo.api.deps import Responder, ServiceDep, Viewer
from fenghuo.ingest.cap_in import CapError, parse_cap_each

router = APIRouter(prefix="/v1", tags=["warnings"])
CAP_TYPES = ("application/cap+xml", "application/xml", "text/xml")
DRILL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
BODY_DOC = {"requestBody": {"required": True, "content": {
    t: {"schema": {"type": "string", "description": "a CAP 1.2 <alert>, or a document holding several"}}
    for t in CAP_TYPES}}}


@router.post("/warnings", summary="Take in CAP 1.2 warnings (one <alert> or a batch)", openapi_extra=BODY_DOC,
             responses={403: {"description": "the key's role is below responder, or it may not mark drills"},
                        413: {"description": "the body is larger than warnings.max_body_bytes"},
                        415: {"description": "not a CAP/XML content type"},
                        422: {"description": "no alert of the body could be taken: the reasons (dead-lettered)"}})
async def post_warnings(request: Request, service: ServiceDep, who: Responder,
                        drill: str | None = Query(None, pattern=DRILL_PATTERN,
                                                  description="take every warning as part of this drill (needs a "
                                                              "key that may run drills)")) -> dict[str, Any]:
    if drill is not None and not who.can_drill:
        raise HTTPException(403, f"the key {who.name} may not mark warnings as a drill")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in CAP_TYPES:
        raise HTTPException(415, f"send CAP 1.2 XML as {', '.join(CAP_TYPES)}")
    limit = service.config.warnings.max_body_bytes
    raw = await request.body()
    if len(raw) > limit:
        raise HTTPException(413, f"body of {len(raw)} bytes is larger than {limit} (warnings.max_body_bytes)")
    origin = "http"

    def take() -> list[Any]:  # parsing and schema checks are CPU work: off the event loop, like the taking
        try:
            items: list[Any] = parse_cap_each(raw)
        except CapError as exc:  # the document as a whole: one dead letter
            items = [CapError(exc, None, raw[:20_000])]
        return service.take_warnings(items, origin, drill)

    results = await run_in_threadpool(take)
    out = [r.to_json() for r in results]
    if all(r.outcome == "rejected" for r in results):
        raise HTTPException(422, {"error": "no warning of the body could be taken", "results": out})
    return {"results": out, "rejected": [r for r in out if r["outcome"] == "rejected"]}


@router.get("/warnings", summary="External warnings taken in (open, or all)")
def list_warnings(service: ServiceDep, who: Viewer,
                  status: str = Query("open", pattern="^(open|all|superseded|cancelled|expired|test|outside)$"),
                  drill: str | None = Query(None, pattern=DRILL_PATTERN,
                                            description="true: drills only, false: real only, else a drill's name"),
                  limit: int = Query(200, ge=1, le=1000)) -> dict[str, Any]:
    docs = service.list_warnings(None if status == "all" else status, drill, limit)
    return {"warnings": [_public(d) for d in docs]}


def _public(d: dict[str, Any]) -> dict[str, Any]:
    """A warning as the board shows it: sender, event, level, grids, area (for the map), expires, origin."""
    keep = ("sender", "identifier", "sent", "received_at", "updated_at", "state", "drill", "status", "msg_type",
            "origin", "references", "root", "event", "category", "risk", "level", "severity", "urgency", "certainty",
            "headline", "description", "sender_name", "expires", "onset", "areas", "grids", "alert_ids", "outcome",
            "reason", "unknown_geocodes", "closed_by", "closed_note")
    return {k: d.get(k) for k in keep}
