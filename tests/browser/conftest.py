"""A real headless Chromium (Debian's package) driven by Playwright, for every browser test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.browser_support import ARGS, CHROMIUM

EXPECT_TIMEOUT_MS = 20_000  # playwright's expect() waits 5 s by default: too short with make test's two processes


@pytest.fixture(scope="session", autouse=True)
def patient_expect() -> None:
    """What a user would see within a little while, not within 5 s of a loaded 2-core machine: the assertions
    stay the same, they wait longer for the board to show it."""
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()
