"""Dependency aliases for the routes: the service (:class:`fenghuo.runtime.service.Service`, either runtime),
the caller and role checks.

The caller is normally settled by :class:`fenghuo.api.guard.Guard` before the route runs (and before the body is
read); without the guard (an app built by hand, as some tests do) the key is checked here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from fenghuo.api.auth import KeyRefused, KeyRing, Principal
from fenghuo.runtime.service import Service


def get_service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


def caller(request: Request) -> Principal | None:
    """The principal the guard admitted, or None (no key sent on a public route)."""
    who = request.scope.get("state", {}).get("principal")
    return who if isinstance(who, Principal) else None


def get_principal(request: Request) -> Principal:
    who = caller(request)
    if who is not None:
        return who
    keyring: KeyRing = request.app.state.keyring
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "missing API key: send 'Authorization: Bearer <key>'",
                            headers={"WWW-Authenticate": "Bearer"})
    try:
        return keyring.check(token.strip())
    except KeyRefused as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None


def require(role: str):  # type: ignore[no-untyped-def]
    def check(who: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not who.can(role):
            raise HTTPException(403, f"this needs the {role} role; your key has {who.role}")
        return who

    return check


def sees_personal_data(who: Principal) -> bool:
    """Analysts and admins see phone and ID numbers in complaint text whole; lower roles see them masked."""
    return who.can("analyst")


ServiceDep = Annotated[Service, Depends(get_service)]
Viewer = Annotated[Principal, Depends(require("viewer"))]
Responder = Annotated[Principal, Depends(require("responder"))]
Analyst = Annotated[Principal, Depends(require("analyst"))]
Admin = Annotated[Principal, Depends(require("admin"))]
OptionalCaller = Annotated[Principal | None, Depends(caller)]
