"""The gate in front of every route (a pure ASGI middleware): key, rate limit, body size, security headers.

For each HTTP request, before any route code runs and before one byte of the body is read:

1. the route's policy (:data:`POLICIES`): the role it needs (None: public) and its largest body;
2. a client address or key prefix over its failed sign-in limit gets 429 + Retry-After;
3. a missing key (on a route that needs one) gets 401; an unknown or expired key gets 401 and counts as a
   failed sign-in (for the limit, and for the audit log: see :class:`fenghuo.api.ratelimit.FailureAudit`);
   a key whose role is too low for a route with a body gets 403;
4. a body larger than the route allows gets 413: at once when Content-Length says so, else while it
   streams (chunked bodies too) — the bytes are counted as the route reads them;
5. every response gets the security headers (:func:`security_headers`).

The caller (:class:`fenghuo.api.auth.Principal`) is left in ``scope["state"]["principal"]`` for the routes.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fenghuo.api.auth import KeyRefused, KeyRing, Principal
from fenghuo.api.ratelimit import FailureAudit, FailureLimiter

if TYPE_CHECKING:
    from fenghuo.runtime.service import Service

log = logging.getLogger("fenghuo.guard")
KiB, MiB = 1024, 1024 * 1024


@dataclass(frozen=True, slots=True)
class Policy:
    role: str | None  # None: no key needed (a key, if sent, is still checked)
    max_body: int


DEFAULT_API = Policy("viewer", 64 * KiB)
PUBLIC = Policy(None, 64 * KiB)
# (method, path pattern, policy): first match wins; anything else under /v1/ is DEFAULT_API, the rest PUBLIC
POLICIES: list[tuple[str, re.Pattern[str], Policy]] = [
    ("POST", re.compile(r"/v1/events"), Policy("responder", 64 * MiB)),
    ("POST", re.compile(r"/v1/warnings"), Policy("responder", 1 * MiB)),  # CAP XML (api/routes/warnings.py)
    ("POST", re.compile(r"/v1/alerts/[^/]+/(ack|resolve)"), Policy("responder", 64 * KiB)),
    ("POST", re.compile(r"/v1/rules/thresholds/backtest"), Policy("analyst", 1 * MiB)),
    ("PUT", re.compile(r"/v1/rules/thresholds/[^/]+"), Policy("analyst", 1 * MiB)),
    ("DELETE", re.compile(r"/v1/rules/thresholds/[^/]+"), Policy("analyst", 64 * KiB)),
    ("POST", re.compile(r"/v1/drills(/[^/]+/end)?"), Policy("analyst", 1 * MiB)),
    ("DELETE", re.compile(r"/v1/drills/[^/]+"), Policy("admin", 64 * KiB)),
    ("*", re.compile(r"/v1/.*"), DEFAULT_API),
]
DOCS_PATHS = ("/docs", "/redoc", "/docs/oauth2-redirect")

BOARD_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
             "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# Swagger UI and ReDoc pages (api/docs_pages.py): FastAPI's page with its inline start-up script, the assets
# served from this server (nothing from a CDN)
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def policy_for(method: str, path: str, metrics_public: bool = False) -> Policy:
    """
    >>> policy_for("POST", "/v1/events").max_body // MiB, policy_for("GET", "/v1/alerts").role
    (64, 'viewer')
    >>> policy_for("GET", "/index.html").role is None, policy_for("GET", "/metrics").role
    (True, 'viewer')
    """
    if path == "/metrics":
        return PUBLIC if metrics_public else DEFAULT_API
    for m, pattern, policy in POLICIES:
        if (m == "*" or m == method) and pattern.fullmatch(path):
            return policy
    return PUBLIC


def security_headers(path: str, https: bool) -> list[tuple[bytes, bytes]]:
    """Headers every response carries (a route's own Cache-Control is kept)."""
    api = path.startswith("/v1/") or path in ("/healthz", "/metrics", "/openapi.json")
    out = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
           (b"referrer-policy", b"no-referrer"), (b"cross-origin-opener-policy", b"same-origin"),
           (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
           (b"content-security-policy", (DOCS_CSP if path in DOCS_PATHS else BOARD_CSP).encode())]
    if api:
        out.append((b"cache-control", b"no-store"))
    if https:
        out.append((b"strict-transport-security", b"max-age=31536000"))
    return out


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        size = f"{limit // MiB} MiB" if limit >= MiB else f"{limit // KiB} KiB"
        super().__init__(413, f"request body larger than {size}, the limit of this route: send less")


def _json_response(status: int, detail: str, headers: dict[str, str] | None = None) -> list[Message]:
    body = json.dumps({"detail": detail}).encode()
    hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    hdrs += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return [{"type": "http.response.start", "status": status, "headers": hdrs},
            {"type": "http.response.body", "body": body}]


class Guard:
    """The ASGI middleware. ``state`` is the app's state (``keyring``, and ``service`` once started, which
    takes the audit rows)."""

    def __init__(self, app: ASGIApp, state: Any, limit: int = 20, window: float = 60.0,
                 metrics_public: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        self.app, self.state, self.metrics_public = app, state, metrics_public
        self.limiter = FailureLimiter(limit, window, clock)
        self.audit = FailureAudit(period=window, clock=clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        extra = security_headers(path, scope.get("scheme") == "https")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *((k, v) for k, v in extra if k not in have)]
            await send(message)

        refusal = await self._admit(scope, path)
        if refusal is not None:
            for message in refusal:
                await send_with_headers(message)
            return
        limit = self._policy(scope, path).max_body
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            for message in _json_response(413, BodyTooLarge(limit).detail):
                await send_with_headers(message)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send_with_headers(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge as exc:  # raised where no handler turned it into a response
            if started:
                raise
            for message in _json_response(413, exc.detail):
                await send_with_headers(message)

    def _policy(self, scope: Scope, path: str) -> Policy:
        return policy_for(scope["method"], path, self.metrics_public)

    async def _admit(self, scope: Scope, path: str) -> list[Message] | None:
        """None to go on (the principal, if any, is in the scope), else the refusal to send."""
        policy = self._policy(scope, path)
        header = _header(scope, b"authorization")
        if header is None and policy.role is None:
            return None
        scheme, _, token = (header or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return _json_response(401, "missing API key: send 'Authorization: Bearer <key>'",
                                  {"WWW-Authenticate": "Bearer"})
        address = (scope.get("client") or ("unknown", 0))[0]
        prefix = token[:8]
        wait = max(self.limiter.retry_after(f"addr:{address}") or 0.0, self.limiter.retry_after(f"key:{prefix}") or 0.0)
        if wait > 0:
            return _json_response(429, f"too many failed sign-ins; try again in {math.ceil(wait)} s",
                                  {"Retry-After": str(math.ceil(wait))})
        keyring: KeyRing = self.state.keyring
        try:
            who: Principal = keyring.check(token)
        except KeyRefused as exc:
            await self._failed(address, prefix, str(exc), path)
            return _json_response(401, str(exc), {"WWW-Authenticate": "Bearer"})
        if policy.role is not None and not who.can(policy.role):
            return _json_response(403, f"this needs the {policy.role} role; your key has {who.role}")
        scope.setdefault("state", {})["principal"] = who
        return None

    async def _failed(self, address: str, prefix: str, reason: str, path: str) -> None:
        self.limiter.failed(f"addr:{address}")
        self.limiter.failed(f"key:{prefix}")
        if self.limiter.retry_after(f"addr:{address}") is not None:
            log.warning("failed sign-ins from %s over the limit: refused for a while", address)
        rows = self.audit.failed(address, reason, prefix[:4], path)
        service: Service | None = getattr(self.state, "service", None)  # None until the app has started
        if rows and service is not None:
            try:
                await run_in_threadpool(_write, service, rows)
            except Exception:  # the refusal stands even if the audit write fails; the trace goes to the log
                log.exception("could not write failed sign-ins to the audit log")


def _write(service: Service, rows: list[tuple[str, str, str]]) -> None:
    for action, target, detail in rows:
        service.audit("anonymous", action, target, detail)


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k.lower() == name:
            return bytes(v).decode("latin-1")
    return None


def _content_length(scope: Scope) -> int | None:
    raw = _header(scope, b"content-length")
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw)
