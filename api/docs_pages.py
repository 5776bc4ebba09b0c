"""The API's documentation pages (Swagger UI at /docs, ReDoc at /redoc) served from packaged assets.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so they were blank offline while the board worked.
The assets come from the ``fastapi-offline`` package (Swagger UI's bundle and CSS, ReDoc's standalone
script, MIT-licensed) and are served under ``/docs-assets/``; ReDoc is told not to fetch Google Fonts.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
PREFIX = "/docs-assets"


def add_docs(app: FastAPI) -> None:
    """/docs, /docs/oauth2-redirect and /redoc from local assets (the app is built with docs_url=None)."""
    title = f"{app.title} — API"
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=openapi_url, title=title,
                                   oauth2_redirect_url="/docs/oauth2-redirect",
                                   swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{PREFIX}/swagger-ui.css",
                                   swagger_favicon_url=f"{PREFIX}/favicon.png")

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=openapi_url, title=title, redoc_js_url=f"{PREFIX}/redoc.standalone.js",
                              redoc_favicon_url=f"{PREFIX}/favicon.png", with_google_fonts=False)

    app.mount(PREFIX, StaticFiles(directory=ASSETS), name="docs-assets")
