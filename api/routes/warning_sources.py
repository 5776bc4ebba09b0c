"""The polled CAP sources and their health: ``GET /v1/warnings/sources`` (viewer).

Each source of ``warnings.sources`` (polled by :mod:`fenghuo.ingest.cap_poll`): ok / failing / pending, the
last poll, the last success, the last error and its reason, consecutive failures, the next poll, the messages
taken (by outcome) and the ETag last seen. API keys are never shown (only the name of their variable is
configured, and not listed).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from fenghuo.api.deps import ServiceDep, Viewer

router = APIRouter(prefix="/v1/warnings", tags=["warnings"])


@router.get("/sources", summary="The polled CAP feeds and their health")
def sources(service: ServiceDep, who: Viewer) -> dict[str, Any]:
    return {"sources": service.warning_sources()}
