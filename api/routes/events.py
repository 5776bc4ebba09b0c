"""POST /v1/events (JSON array, one object, or NDJSON) and the dead-letter store.

The body is at most 64 MiB (enforced while it streams, by :class:`fenghuo.api.guard.Guard`) and at most
:data:`MAX_ITEMS` records; its shape is documented in the OpenAPI schema from
``fenghuo.ingest.events.event_json_schema()``. Marking events as a drill (``?drill=NAME``) needs a key that may
run drills; records that carry their own ``drill`` field are refused by the service unless the key may.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from fenghuo.api.bounds import MAX_INT_OFFSET
from fenghuo.api.deps import Analyst, Responder, ServiceDep
from fenghuo.ingest.events import event_json_schema
from fenghuo.runtime.service import IngestResult

router = APIRouter(prefix="/v1", tags=["events"])
MAX_BODY = 64 * 1024 * 1024
MAX_ITEMS = 100_000
NDJSON = "application/x-ndjson"


def split_body(raw: bytes) -> tuple[list[Any], list[tuple[int, str, Any]]]:
    """Records from a JSON array, a JSON object or NDJSON; lines that are not JSON come back as errors.

    >>> split_body(b'[{"a": 1}, {"a": 2}]')[0]
    [{'a': 1}, {'a': 2}]
    >>> recs, bad = split_body(b'{"a": 1}\\n{oops\\n')
    >>> recs, bad[0][:2]
    ([{'a': 1}, None], (1, 'line 2: not valid JSON'))
    """
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return [], []
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        doc = None
    else:
        if isinstance(doc, list):
            return doc, []
        if isinstance(doc, dict):
            return [doc], []
    records: list[Any] = []
    bad: list[tuple[int, str, Any]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            bad.append((len(records), f"line {len(records) + 1}: not valid JSON", line[:2000]))
            records.append(None)
    return records, bad


def _event_schema() -> dict[str, Any]:
    return {k: v for k, v in event_json_schema().items() if k != "$schema"}  # OpenAPI 3.1 has its own dialect


def body_doc() -> dict[str, Any]:
    """The request body of POST /v1/events for the OpenAPI schema."""
    event = _event_schema()
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"oneOf": [event, {"type": "array", "items": event, "maxItems": MAX_ITEMS}]}},
        NDJSON: {"schema": {"type": "string", "maxLength": MAX_BODY,
                            "description": "one JSON event per line (each line as the application/json object)"}},
    }}}


@router.post("/events", summary="Ingest events (one JSON object, a JSON array, or NDJSON)", openapi_extra=body_doc(),
             responses={403: {"description": "the key's role is below responder, or it may not mark drills"},
                        413: {"description": f"larger than {MAX_BODY // 2**20} MiB or {MAX_ITEMS} records"},
                        422: {"description": "an empty body, or one with no JSON in it (its lines are kept as dead "
                                             "letters); a record that is JSON but invalid is listed in `rejected` "
                                             "of a 200 answer instead"}})
async def post_events(request: Request, service: ServiceDep, who: Responder,
                      drill: str | None = Query(None, min_length=1, max_length=256,
                                                description="stamp every event as part of this drill "
                                                            "(needs a key that may run drills)")
                      ) -> dict[str, Any]:
    if drill is not None and not who.can_drill:
        raise HTTPException(403, f"the key {who.name} may not mark events as a drill")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise HTTPException(413, f"body larger than {MAX_BODY // 2**20} MiB: send smaller batches")
    if not raw.strip():
        raise HTTPException(422, "empty body: send one JSON event object, a JSON array of them, or NDJSON")
    records, bad = split_body(raw)
    if len(records) > MAX_ITEMS:
        raise HTTPException(413, f"{len(records)} records; at most {MAX_ITEMS} a call: send smaller batches")
    # the service dead-letters every rejected record, the lines that were not JSON among them
    result: IngestResult = await run_in_threadpool(
        lambda: service.ingest(records, drill, may_drill=who.can_drill, refused=bad))
    if bad and len(bad) == len(records):  # not one line of it is JSON: a bad request (the lines are dead letters)
        raise HTTPException(422, {"error": "the body is not JSON: send one JSON event object, a JSON array of "
                                           "them, or NDJSON (one object a line)", **result.to_json()})
    return result.to_json()


@router.get("/deadletters", summary="Rejected records with their reasons")
def dead_letters(service: ServiceDep, who: Analyst, limit: int = Query(100, ge=1, le=1000),
                 offset: int = Query(0, ge=0, le=MAX_INT_OFFSET)) -> dict[str, Any]:
    total, items = service.dead_letters(limit, offset)
    return {"total": total, "items": items}
