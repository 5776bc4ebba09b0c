"""The web board in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

The service runs as a subprocess on the event clock. The test signs in with the responder key, posts
river readings through the HTTP API while the page is open and watches the alert arrive over the
server-sent event stream (no reload), reads its level in Chinese and then in English, acknowledges
it on its page, sees the timeline gain the acknowledgement, then visits the response-time page, the
grid map and the drills view. Screenshots go to tests/artifacts/board/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.browser_support import CHROMIUM, shot, sign_in
from tests.support import Receiver, Service

ORANGE = "rgb(236, 106, 0)"  # --orange in style.css

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium): apt-get install chromium")


def square(lon: float, lat: float, d: float = 0.01) -> list[list[float]]:
    return [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d]]


def config(receiver_url: str) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [
        {"id": "D-BJ", "name": "滨江区", "name_en": "Binjiang District", "kind": "district"},
        {"id": "S-JA", "name": "江岸街道", "name_en": "Jiang'an Street", "kind": "street", "parent": "D-BJ"},
        {"id": "C-LJ", "name": "临江社区", "name_en": "Linjiang Community", "kind": "community", "parent": "S-JA"},
        {"id": "G-101", "name": "临江一网格", "name_en": "Linjiang 1", "kind": "grid", "parent": "C-LJ",
         "polygon": square(2.58, 42.74)},
        {"id": "G-102", "name": "临江二网格", "name_en": "Linjiang 2", "kind": "grid", "parent": "C-LJ",
         "polygon": square(2.59, 42.74)},
        {"id": "G-103", "name": "临江三网格", "name_en": "Linjiang 3", "kind": "grid", "parent": "C-LJ",
         "polygon": square(2.58, 42.75)},
        {"id": "G-104", "name": "渡口网格", "name_en": "Ferry", "kind": "grid", "parent": "C-LJ",
         "centroid": [42.755, 2.595]},
        {"id": "D-BOS", "name": "波士顿", "name_en": "Boston", "kind": "district"},
        {"id": "G-201", "name": "查尔斯河网格", "name_en": "Charles River", "kind": "grid", "parent": "D-BOS",
         "centroid": [42.36, -71.06]},
    ]
    return {
        "nodes": nodes,
        "channels": [{"name": "duty-hook", "type": "webhook", "url": f"{receiver_url}/duty",
                      "secret": "board-secret-123"}],
        "responders": [{"id": "duty-lj", "name": "临江值班", "node": "C-LJ", "channels": ["duty-hook"]}],
        "rules": [{"id": "river-level", "feed": "sensor", "metric": "water_level_m", "grid": "*", "direction": "above",
                   "levels": {"blue": 3.0, "yellow": 3.5, "orange": 4.0, "red": 4.5},
                   "for_seconds": 600, "hysteresis": 0.1, "title_zh": "河道水位", "title_en": "river level"}],
    }


def readings(grid: str, source: str, values: list[float], hour: int = 0) -> list[dict[str, Any]]:
    return [{"feed": "sensor", "source": source, "grid": grid, "metric": "water_level_m", "value": v,
             "ts": f"2020-01-22T{hour + i // 6:02d}:{(i % 6) * 10:02d}:00Z"} for i, v in enumerate(values)]


RISING = [2.0, 2.1, 2.3, 2.6, 2.9, 3.2, 3.4, 3.7, 3.9, 4.1, 4.2, 4.25]  # ends orange


@pytest.fixture
def service(tmp_path: Path, receiver: Receiver) -> Iterator[Service]:
    svc = Service(tmp_path / "data", config(receiver.url), env={"FENGHUO_CLOCK": "event"}).start()
    try:
        yield svc
    finally:
        svc.stop()




def post(client: httpx.Client, records: list[dict[str, Any]], drill: str | None = None) -> None:
    r = client.post("/v1/events", content="\n".join(json.dumps(x) for x in records),
                    params={"drill": drill} if drill else None)
    assert r.status_code == 200 and r.json()["accepted"] == len(records), r.text


def test_board_live_alert_ack_reports_map_drills(service: Service, browser: Any) -> None:
    from playwright.sync_api import expect

    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1360, "height": 900}, locale="zh-CN", timezone_id="UTC")
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    responder = service.client("responder")

    # sign in (Chinese by default); nothing yet
    sign_in(page, service.url, service.keys["responder"])
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("p.empty")).to_have_text("当前没有符合条件的预警。")
    page.evaluate("window.__sameDocument = true")

    # readings arrive while the page is open: the alert shows up through the stream, no reload
    post(responder, readings("G-101", "gauge:linjiang", RISING))
    row = page.locator("tr.alert-row").first
    expect(row).to_have_attribute("data-level", "orange", timeout=15000)
    expect(row.locator(".badge")).to_have_text("橙色预警")
    expect(row.locator(".alert-title")).to_contain_text("临江一网格")
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    expect(row.locator(".badge")).to_have_css("background-color", ORANGE)
    # a second, milder alert elsewhere sorts below the orange one
    post(responder, readings("G-104", "gauge:ferry", [2.0, 3.1, 3.2, 3.3], hour=3))
    expect(page.locator("tr.alert-row")).to_have_count(2, timeout=15000)
    expect(page.locator("tr.alert-row").nth(1)).to_have_attribute("data-level", "blue")
    expect(page.locator('.count[data-level="orange"] .n')).to_have_text("1")
    shot(page, "01-live-alerts-zh")

    # English: level names and titles switch
    page.click("#lang")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(row.locator(".badge")).to_have_text("Orange warning")
    expect(row.locator(".alert-title")).to_contain_text("Linjiang 1")
    expect(page.locator("tr.alert-row").nth(1).locator(".badge")).to_have_text("Blue warning")
    shot(page, "02-live-alerts-en")

    # the alert's page: chart with thresholds, timeline; acknowledge it and watch the timeline update
    row.locator(".alert-title").click()
    expect(page.locator(".alert-head")).to_have_attribute("data-level", "orange")
    expect(page.locator(".timeline li[data-kind='raised']")).to_have_count(1)
    expect(page.locator("svg.chart .threshold")).to_have_count(4, timeout=15000)
    assert page.locator("svg.chart .series-line").get_attribute("d").count("L") == len(RISING) - 1
    expect(page.locator(".timeline li[data-kind='acknowledged']")).to_have_count(0)
    page.fill("#by", "张伟")
    page.fill("#comment", "on my way")
    page.click("#ack")
    expect(page.locator(".action-msg").first).to_have_text("Alert acknowledged.")
    ack = page.locator(".timeline li[data-kind='acknowledged']")
    expect(ack).to_have_count(1)
    expect(ack.locator(".tl-actor")).to_have_text(re.compile(r"^responder-"))  # the key's identity
    expect(ack.locator(".tl-detail")).to_contain_text("张伟")  # the "by" rides along as a note
    expect(page.locator(".alert-head .status")).to_have_attribute("data-status", "acknowledged")
    expect(page.locator("#ack")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True
    shot(page, "03-alert-acknowledged-en")

    # response times: charts by level and by grid
    page.click("#nav a[data-nav='reports']")
    expect(page.locator("section[data-group='level'] svg.bars")).to_have_count(3)
    expect(page.locator("section[data-group='grid'] svg.bars")).to_have_count(3)
    expect(page.locator("section[data-group='level'] .bar.lv-orange.s-median").first).to_be_visible()
    shot(page, "04-response-times-en")

    # back to Chinese; the map: the district holding the alerts, cells coloured by their worst open alert
    page.click("#lang")
    page.click("#nav a[data-nav='map']")
    expect(page.locator("#district")).to_have_value("D-BJ")
    cell = page.locator("g.cell[data-grid='G-101']")
    expect(cell).to_have_attribute("data-level", "orange")
    expect(cell.locator("polygon")).to_have_css("fill", ORANGE)
    expect(page.locator("g.cell[data-grid='G-104']")).to_have_attribute("data-level", "blue")
    expect(page.locator("g.cell[data-grid='G-102']")).to_have_attribute("data-level", "none")
    expect(page.locator("g.cell[data-grid='G-201']")).to_have_count(0)  # Boston is another district
    cell.click()
    expect(page.locator(".panel tr.alert-row")).to_have_count(1)
    shot(page, "05-map-zh")
    page.select_option("#district", "D-BOS")
    expect(page.locator("g.cell[data-grid='G-201'] circle")).to_have_count(1)

    # a drill: listed under its name, apart from the real alerts
    post(service.client("analyst"), readings("G-102", "gauge:drill", RISING[:9]), drill="flood-drill-1")
    page.click("#nav a[data-nav='drills']")
    drill = page.locator("section.drill[data-drill='flood-drill-1']")
    expect(drill.locator("tr.alert-row")).to_have_count(1, timeout=15000)
    shot(page, "06-drills-zh")
    page.click("#nav a[data-nav='alerts']")
    expect(page.locator("tr.alert-row")).to_have_count(2)

    assert not errors, errors


def test_viewer_cannot_acknowledge(service: Service, browser: Any) -> None:
    from playwright.sync_api import expect

    post(service.client("responder"), readings("G-103", "gauge:three", RISING[:8]))
    page = browser.new_page(viewport={"width": 1360, "height": 900}, timezone_id="UTC")
    sign_in(page, service.url, service.keys["viewer"])
    page.locator("tr.alert-row .alert-title").first.click()
    page.click("#ack")
    expect(page.locator(".action-msg.bad")).to_contain_text("权限不足")
    expect(page.locator("#ack")).to_have_count(0)  # a read-only key sees no buttons once refused
    expect(page.locator(".timeline li[data-kind='acknowledged']")).to_have_count(0)
    shot(page, "07-viewer-forbidden-zh")

    # a wrong key is refused at sign-in
    page.click("#signout")
    page.fill("#key", "not-a-key")
    page.click("#signin")
    expect(page.locator(".signin .error")).to_have_text("密钥无效，请检查后重试。")
