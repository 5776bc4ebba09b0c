"""What the browser tests share: Debian's Chromium and its flags, screenshots, signing in to the board."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support import ROOT

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "tests" / "artifacts" / "board"


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, url: str, key: str) -> None:
    page.goto(url + "/")
    page.fill("#key", key)
    page.click("#signin")
    page.wait_for_selector('#live[data-state="live"]')
