"""Dependency aliases for the routes: the pipeline, the caller and role checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from api.auth import KeyRing, Principal
from fenghuo.pipeline import Pipeline


def get_pipeline(request: Request) -> Pipeline:
    return request.app.state.pipeline  # type: ignore[no-any-return]


def get_principal(request: Request) -> Principal:
    keyring: KeyRing = request.app.state.keyring
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "missing API key: send 'Authorization: Bearer <key>'",
                            headers={"WWW-Authenticate": "Bearer"})
    who = keyring.find(token.strip())
    if who is None:
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    return who


def require(role: str):  # type: ignore[no-untyped-def]
    def check(who: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not who.can(role):
            raise HTTPException(403, f"this needs the {role} role; your key has {who.role}")
        return who

    return check


PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]
Viewer = Annotated[Principal, Depends(require("viewer"))]
Responder = Annotated[Principal, Depends(require("responder"))]
Analyst = Annotated[Principal, Depends(require("analyst"))]
Admin = Annotated[Principal, Depends(require("admin"))]
