"""The FastAPI application: built by :func:`create_app`; the pipeline opens and closes in lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.auth import KeyRing
from api.routes import alerts, backtest, cap, events, health, reports, rules, series
from fenghuo import __version__
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
    for r in (events.router, alerts.router, backtest.router, rules.router, reports.router, series.router, cap.router,
              health.router):
        app.include_router(r)
    if (STATIC / "index.html").exists():
        app.mount("/", StaticFiles(directory=STATIC, html=True), name="board")
    return app
