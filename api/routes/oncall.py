"""GET /v1/oncall: who is on duty now (or at ``?at=``) per node, until when, and who takes over next."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from fenghuo.api.bounds import when
from fenghuo.api.deps import ServiceDep, Viewer
from fenghuo.core.models import iso

router = APIRouter(prefix="/v1", tags=["oncall"])


@router.get("/oncall", summary="Who is on duty per node (duty rotations), until when, and the next hand-over",
            responses={422: {"description": "a bad time"}})
def oncall(service: ServiceDep, who: Viewer,
           at: str | None = Query(None, max_length=64,
                                  description="ISO 8601 time or epoch seconds (1970..2100); default: now")
           ) -> dict[str, Any]:
    t = service.now() if at is None else when(at, "at")
    out = service.oncall(t)
    for node in out["nodes"]:
        for row in node["rotations"]:
            row["since"], row["until"] = iso(row["since"]), iso(row["until"])
            row["next"]["at"] = iso(row["next"]["at"])
    return {**out, "at": iso(out["at"])}
