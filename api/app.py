"""The FastAPI application: built by :func:`create_app`; the service (either runtime) starts and stops in lifespan.

Every request passes :class:`fenghuo.api.guard.Guard` first (key, failed sign-in limits, body size, security
headers); the routes then check roles and bounds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from fenghuo import __version__
from fenghuo.api.auth import KeyRing
from fenghuo.api.docs_pages import add_docs
from fenghuo.api.errors import ERRORS, safe_error
from fenghuo.api.guard import Guard
from fenghuo.api.routes import alerts, audit, backtest, cap, events, health, oncall, reports, rules, series
from fenghuo.api.routes import drills as drill_routes
from fenghuo.api.routes import incidents as incident_routes
from fenghuo.api.routes import risk as risk_routes
from fenghuo.api.routes import silences as silence_routes
from fenghuo.api.routes import warning_sources as source_routes
from fenghuo.api.routes import warnings as warning_routes
from fenghuo.core.settings import Settings
from fenghuo.runtime.risk_job import start_risk
from fenghuo.runtime.service import AlertsBehind, BusUnavailable, CommandTimeout, Service

STATIC = Path(__file__).parent / "static"


def create_app(make_service: Callable[[], Service], keyring: KeyRing,
               on_started: Callable[[Service], None] | None = None, settings: Settings | None = None,
               clock: Callable[[], float] | None = None, *, started: bool = False) -> FastAPI:
    """The app over the service ``make_service`` builds (at startup; ``started``: one already started, which
    the app stops at shutdown). ``settings`` gives the failed sign-in limit and whether /metrics is public;
    ``clock`` (monotonic seconds) is the rate limiter's, so tests can step it."""
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = make_service()
        if not started:
            service.start()
        risk = None
        try:
            app.state.service = service
            risk = start_risk(service)  # the risk forecast's schedule, off the hot path (fenghuo/runtime/risk_job.py)
            app.state.risk = risk.job if risk else None
            if on_started:
                on_started(service)
            yield
        finally:
            if risk is not None:
                risk.stop()
            service.stop()

    app = FastAPI(title="fenghuo 烽火", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Risk early warning and emergency response for grid-based community governance.")
    add_docs(app)  # /docs and /redoc from packaged assets: they work offline, as the board does
    app.state.keyring = keyring
    s = settings or Settings()
    app.add_middleware(Guard, state=app.state, limit=s.auth_fail_limit, window=s.auth_fail_window_seconds,
                       metrics_public=s.metrics_public, **({"clock": clock} if clock else {}))

    @app.exception_handler(RequestValidationError)  # never echo the input: it may be huge or not valid Unicode
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": [safe_error(e) for e in exc.errors()[:20]]}, status_code=422)

    @app.exception_handler(BusUnavailable)  # Kafka mode: nothing was accepted, send it again later
    async def bus_unavailable(request: Request, exc: BusUnavailable) -> JSONResponse:
        return JSONResponse({"detail": f"the event bus is unavailable: {exc}"}, status_code=503,
                            headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(AlertsBehind)  # embedded: the store refuses alert changes; nothing was accepted
    async def alerts_behind(request: Request, exc: AlertsBehind) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(CommandTimeout)  # Kafka mode: queued, the alert service has not confirmed it yet
    async def command_timeout(request: Request, exc: CommandTimeout) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=504)

    for r in (events.router, alerts.router, backtest.router, rules.router, reports.router, series.router, cap.router):
        app.include_router(r, responses=ERRORS)
    app.include_router(oncall.router, responses=ERRORS)  # GET /v1/oncall: who is on duty per node
    app.include_router(silence_routes.router, responses=ERRORS)  # /v1/silences
    app.include_router(source_routes.router, responses=ERRORS)  # GET /v1/warnings/sources: polled CAP feeds
    app.include_router(warning_routes.router, responses=ERRORS)  # POST|GET /v1/warnings: CAP warnings taken in
    app.include_router(incident_routes.router, responses=ERRORS)  # /v1/incidents
    app.include_router(drill_routes.router, responses=ERRORS)  # /v1/drills: scenario runs and scorecards
    app.include_router(risk_routes.router, responses=ERRORS)  # /v1/risk: the per-grid risk forecast
    app.include_router(audit.router, responses=ERRORS)  # GET /v1/audit/verify, /v1/audit/head (admin)
    app.include_router(health.router, responses=ERRORS)  # /healthz: 401/429 for a wrong key sent anyway
    if (STATIC / "index.html").exists():
        app.mount("/", StaticFiles(directory=STATIC, html=True), name="board")
    return app
