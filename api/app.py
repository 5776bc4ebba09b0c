"""The FastAPI application: built by :func:`create_app`; the pipeline opens and closes in lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from api.auth import KeyRing
from api.routes import alerts, backtest, cap, events, health, reports, rules, series
from fenghuo import __version__
from fenghuo.kafka_bus import BusUnavailable, CommandTimeout
from fenghuo.pipeline import Pipeline

STATIC = Path(__file__).parent / "static"


def create_app(make_pipeline: Callable[[], Pipeline], keyring: KeyRing,
               on_started: Callable[[Pipeline], None] | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pipeline = make_pipeline()
        pipeline.start()
        app.state.pipeline = pipeline
        if on_started:
            on_started(pipeline)
        try:
            yield
        finally:
            pipeline.stop()

    app = FastAPI(title="fenghuo 烽火", version=__version__, lifespan=lifespan,
                  description="Risk early warning and emergency response for grid-based community governance.")
    app.state.keyring = keyring

    @app.exception_handler(BusUnavailable)  # Kafka mode: nothing was accepted, send it again later
    async def bus_unavailable(request: Request, exc: BusUnavailable) -> JSONResponse:
        return JSONResponse({"detail": f"the event bus is unavailable: {exc}"}, status_code=503,
                            headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(CommandTimeout)  # Kafka mode: queued, the alert service has not confirmed it yet
    async def command_timeout(request: Request, exc: CommandTimeout) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=504)

    for r in (events.router, alerts.router, backtest.router, rules.router, reports.router, series.router, cap.router,
              health.router):
        app.include_router(r)
    if (STATIC / "index.html").exists():
        app.mount("/", StaticFiles(directory=STATIC, html=True), name="board")
    return app
