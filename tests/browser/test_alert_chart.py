"""The alert page's chart draws the thresholds in force for the alert's own gauge (the rule's ``sources`` entry,
a gauge's own datum), not the rule's default levels (issue 14: evidence said "4.29 >= 4.14 (red)" while the red
line stood at 4.5). Screenshot: tests/artifacts/board/alert-chart-own-levels.png."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.browser_support import CHROMIUM, shot, sign_in
from tests.browser.test_board import config, readings
from tests.support import Receiver, Service

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium): apt-get install chromium")

OWN = {"blue": 1.2, "yellow": 1.6, "orange": 2.1, "red": 2.6}  # gauge-own's datum sits lower


@pytest.fixture
def service(tmp_path: Path, receiver: Receiver) -> Iterator[Service]:
    cfg = config(receiver.url)
    cfg["rules"][0]["sources"] = {"gauge-own": {"levels": OWN}}
    svc = Service(tmp_path / "data", cfg, env={"FENGHUO_CLOCK": "event"}).start()
    try:
        yield svc
    finally:
        svc.stop()


def test_the_chart_shows_the_gauges_own_levels(service: Service, browser: Any) -> None:
    client = service.client("responder")
    values = [1.0, 1.1, 1.3, 1.5, 1.8, 2.0, 2.2, 2.4, 2.7, 2.8, 2.9, 2.9]  # crosses its own red (2.6), not 4.5
    r = client.post("/v1/events", content="\n".join(json.dumps(x) for x in readings("G-101", "gauge-own", values)))
    assert r.status_code == 200 and r.json()["accepted"] == len(values), r.text
    (alert,) = client.get("/v1/alerts").json()["alerts"]
    assert alert["level"] == "red"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, service.url, service.keys["responder"])
    page.goto(service.url + f"/#/alert/{alert['id']}")
    page.wait_for_selector("svg .th-label.th-red")
    labels = {lv: page.locator(f"svg .th-label.th-{lv}").text_content() or "" for lv in OWN}
    for lv, value in OWN.items():
        assert labels[lv].endswith(f"{value:g}") or str(value) in labels[lv], labels
    assert "4.5" not in labels["red"]
    shot(page, "alert-chart-own-levels")
