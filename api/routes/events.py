"""POST /v1/events (JSON array, one object, or NDJSON) and the dead-letter store."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from api.deps import Analyst, PipelineDep, Responder

router = APIRouter(prefix="/v1", tags=["events"])
MAX_BODY = 64 * 1024 * 1024


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


@router.post("/events", summary="Ingest events (JSON array or NDJSON)")
async def post_events(request: Request, pipeline: PipelineDep, who: Responder,
                      drill: str | None = Query(None, description="stamp every event as part of this drill")
                      ) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise HTTPException(413, f"body larger than {MAX_BODY // 2**20} MiB: send smaller batches")
    records, bad = split_body(raw)
    unparsable = {i for i, _, _ in bad}
    good = [r for i, r in enumerate(records) if i not in unparsable]
    index = [i for i in range(len(records)) if i not in unparsable]
    result = await run_in_threadpool(pipeline.ingest, good, drill)
    rejected = [{"index": index[r["index"]], "error": r["error"]} for r in result.rejected]
    if bad:
        pipeline.store.add_dead_letters(bad, pipeline.clocks.wall_now())
        pipeline.stats.rejected += len(bad)
        rejected += [{"index": i, "error": e} for i, e, _ in bad]
        rejected.sort(key=lambda r: r["index"])
    return {"accepted": result.accepted, "duplicates": result.duplicates, "rejected": rejected}


@router.get("/deadletters", summary="Rejected records with their reasons")
def dead_letters(pipeline: PipelineDep, who: Analyst, limit: int = Query(100, le=1000),
                 offset: int = 0) -> dict[str, Any]:
    return {"total": pipeline.store.dead_letter_count(),
            "items": pipeline.store.dead_letters(limit, offset)}
