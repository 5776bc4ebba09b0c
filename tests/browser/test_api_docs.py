"""/docs (Swagger UI) and /redoc (ReDoc) render in a real Chromium with every request to another host refused:
the API documentation works offline, as the board does (issue 14: both were blank, loading from a CDN).
Screenshots: tests/artifacts/board/api-docs-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.browser.browser_support import CHROMIUM, SHOTS, shot
from tests.support import Service

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium): apt-get install chromium")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    svc = Service(Path(tmp_path_factory.mktemp("docs")) / "data").start()
    try:
        yield svc
    finally:
        svc.stop()


def offline_page(browser: Any, service: Service) -> tuple[Any, list[str]]:
    """A page whose requests to any host but the service are aborted (and listed)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    elsewhere: list[str] = []

    def guard(route: Any) -> None:
        host = urlparse(route.request.url).netloc
        if host != urlparse(service.url).netloc:
            elsewhere.append(route.request.url)
            route.abort()
        else:
            route.continue_()
    page.route("**/*", guard)
    return page, elsewhere


def test_swagger_ui_renders_every_route_offline(browser: Any, service: Service) -> None:
    page, elsewhere = offline_page(browser, service)
    page.goto(service.url + "/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock-summary-path", has_text="/v1/events").count() >= 1
    assert page.locator(".opblock").count() >= 15
    shot(page, "api-docs-swagger")
    assert elsewhere == []


def test_redoc_renders_offline(browser: Any, service: Service) -> None:
    page, elsewhere = offline_page(browser, service)
    page.goto(service.url + "/redoc")
    page.get_by_text("/v1/events", exact=True).first.wait_for(timeout=30_000)
    assert page.locator("h1").first.inner_text().startswith("fenghuo")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "api-docs-redoc.png"))  # the first screen (the whole page is ~26,000 px)
    assert elsewhere == []
