"""Silences: create (matchers, start and end, a comment), list by state, expire early.

A silence is made and expired as the key's name (its identity, never a name in the body); every change is
written to the store with its audit row before it applies. A muted change is still recorded in the alert's
timeline (``muted``, with the silence's id); it only sends nothing. Bounds: :mod:`fenghuo.alerts.silences`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Path, Query

from fenghuo.alerts.silences import SilenceConflict, SilenceInvalid, SilenceNotFound
from fenghuo.api.bounds import check_json
from fenghuo.api.deps import Responder, ServiceDep, Viewer
from fenghuo.api.errors import _doc
from fenghuo.runtime.service import Service

router = APIRouter(prefix="/v1/silences", tags=["silences"])
SilenceId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
EXPIRED = {404: _doc("no such silence"), 409: _doc("the silence has expired already")}


@router.post("", status_code=201, summary="Create a silence (the author is the key's name; audited)")
def create(service: ServiceDep, who: Responder, body: dict[str, Any] = Body(
        ..., description="match: {grid, node_kind, rule, risk, feed, source, level_at_most, level_at_least, drill}; "
                         "starts_at (default now); ends_at or duration_s; comment")) -> dict[str, Any]:
    check_json(body)
    try:
        return service.create_silence(body, who.name)
    except SilenceInvalid as exc:
        raise HTTPException(422, {"message": "the silence is not valid", "errors": exc.errors}) from None


@router.get("", summary="Silences: active, pending or expired (the most recent), or all")
def listing(service: ServiceDep, who: Viewer,
            state: Literal["active", "pending", "expired"] | None = Query(None)) -> dict[str, Any]:
    return {"silences": service.list_silences(state)}


def _expire(service: Service, silence_id: str, actor: str) -> dict[str, Any]:
    try:
        return service.expire_silence(silence_id, actor)
    except SilenceNotFound:
        raise HTTPException(404, f"no silence {silence_id}") from None
    except SilenceConflict as exc:
        raise HTTPException(409, str(exc)) from None


@router.post("/{silence_id}/expire", summary="Expire a silence now (audited)", responses=EXPIRED)
def expire(service: ServiceDep, who: Responder, silence_id: SilenceId) -> dict[str, Any]:
    return _expire(service, silence_id, who.name)


@router.delete("/{silence_id}", summary="Expire a silence now (the same as POST .../expire)", responses=EXPIRED)
def delete(service: ServiceDep, who: Responder, silence_id: SilenceId) -> dict[str, Any]:
    return _expire(service, silence_id, who.name)
