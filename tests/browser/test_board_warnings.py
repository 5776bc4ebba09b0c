"""The board's external-warnings page in a real headless Chromium: a weather office's red rainstorm warning (CAP 1.2,
a polygon and a circle) is posted; the page lists it with its sender, event, red level, origin and the grids it
covers, draws both of its areas over the grids on the map, and lists the subscribed source that cannot be reached
as failing with the reason; in Chinese and English. Screenshots: tests/artifacts/board/ and /tmp/shots/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.browser.browser_support import CHROMIUM, shot, sign_in
from tests.support import Service, free_port

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium): apt-get install chromium")
SHOTS = Path("/tmp/shots")
SENDER = "gz-weather@cma.example.cn"


def square(lon0: float, lat0: float, d: float) -> list[list[float]]:
    return [[lon0, lat0], [lon0 + d, lat0], [lon0 + d, lat0 + d], [lon0, lat0 + d]]


def config(dead_port: int) -> dict[str, Any]:
    """Four grids in a row along 23.1 N (113.00 to 113.08 E); a neighbour's feed nobody answers."""
    nodes: list[dict[str, Any]] = [{"id": "D-1", "name": "天河区", "name_en": "Tianhe", "kind": "district"},
                                   {"id": "C-1", "name": "沿江社区", "name_en": "Riverside", "kind": "community",
                                    "parent": "D-1"}]
    for i in range(4):
        nodes.append({"id": f"G-{i + 1}", "name": f"第{i + 1}网格", "name_en": f"Grid {i + 1}", "kind": "grid",
                      "parent": "C-1", "polygon": square(113.0 + 0.02 * i, 23.1, 0.02)})
    return {"nodes": nodes, "warnings": {"sender": "fenghuo@tianhe.example", "sources": [
        {"name": "neighbour-panyu", "url": f"http://127.0.0.1:{dead_port}/v1/cap/feed.atom", "every": 5}]}}


def rainstorm(now: float) -> bytes:
    """A red rainstorm warning: a polygon over grids 1 and 2, a 1 km circle in grid 4."""
    def ts(t: float) -> str:
        return datetime.fromtimestamp(int(t), UTC).isoformat()
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>GZ-RAIN-{int(now)}</identifier><sender>{SENDER}</sender><sent>{ts(now)}</sent>
  <status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
  <info><language>zh-CN</language><category>Met</category><event>暴雨红色预警</event>
    <urgency>Immediate</urgency><severity>Extreme</severity><certainty>Observed</certainty>
    <expires>{ts(now + 6 * 3600)}</expires><senderName>广州市气象台</senderName>
    <headline>广州市气象台发布暴雨红色预警信号</headline><description>过去3小时降雨量已达100毫米以上。</description>
    <area><areaDesc>天河区沿江一带</areaDesc>
      <polygon>23.105,113.005 23.105,113.035 23.115,113.035 23.115,113.005 23.105,113.005</polygon></area>
    <area><areaDesc>东部</areaDesc><circle>23.11,113.07 1</circle></area>
  </info>
</alert>""".encode()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = Service(tmp_path / "data", config(free_port())).start()
    try:
        yield svc
    finally:
        svc.stop()


def snap(page: Any, name: str) -> None:
    shot(page, name)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_a_posted_cap_warning_is_listed_with_its_sender_and_drawn_on_the_map(service: Service, browser: Any) -> None:
    from playwright.sync_api import expect

    with service.client("responder") as c:
        r = c.post("/v1/warnings", content=rainstorm(time.time()), headers={"Content-Type": "application/cap+xml"})
        assert r.status_code == 200, r.text
        assert [x["outcome"] for x in r.json()["results"]] == ["raised"]

    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1360, "height": 1100}, locale="zh-CN")
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, service.url, service.keys["viewer"])
    page.click('#nav a[data-nav="warnings"]')
    expect(page.locator("h1.page-title")).to_have_text("外部预警与联动")

    row = page.locator(f'#wrn-table tr[data-sender="{SENDER}"]')
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-level", "red")
    expect(row.locator(".badge")).to_have_text("红色预警")
    expect(row).to_contain_text("暴雨红色预警")
    expect(row).to_contain_text("广州市气象台")
    expect(row).to_contain_text(SENDER)
    expect(row).to_contain_text("直接推送（HTTP）")
    expect(row.locator(".wrn-grids")).to_have_text("第1网格、第2网格、第4网格")

    areas = page.locator(f'#wrn-map .wrn-area[data-sender="{SENDER}"]')
    expect(areas).to_have_count(2)
    expect(page.locator('#wrn-map .wrn-area[data-shape="polygon"]')).to_have_count(1)
    expect(page.locator('#wrn-map .wrn-area[data-shape="circle"]')).to_have_count(1)
    expect(page.locator("#wrn-map .wrn-grid")).to_have_count(4)
    # the polygon is drawn where grids 1 and 2 are: it overlaps them on screen, and not grid 3
    box = page.locator('#wrn-map .wrn-area[data-shape="polygon"]').bounding_box()
    g1, g3 = (page.locator(f'#wrn-map .wrn-grid[data-grid="G-{i}"]').bounding_box() for i in (1, 3))
    assert box is not None and g1 is not None and g3 is not None
    assert box["x"] < g1["x"] + g1["width"] and box["x"] + box["width"] <= g3["x"] + 1

    src = page.locator('#wrn-sources tr[data-source="neighbour-panyu"]')
    expect(src.locator("[data-health]")).to_have_attribute("data-health", "failing", timeout=15_000)
    expect(src).to_contain_text("拉取失败")
    expect(src.locator(".wrn-reason")).to_contain_text("Connect")  # httpx's reason: the connection was refused
    snap(page, "warnings-zh")

    page.click("#lang")
    expect(page.locator("h1.page-title")).to_have_text("External warnings and federation")
    expect(row).to_contain_text("Posted (HTTP)")
    expect(row.locator(".badge")).to_have_text("Red warning")
    expect(row.locator(".wrn-grids")).to_have_text("Grid 1, Grid 2, Grid 4")
    expect(src).to_contain_text("Failing")
    snap(page, "warnings-en")

    page.click('#nav a[data-nav="alerts"]')  # the alert it raised, in the alert list, marked with its sender
    listed = page.locator("tr.alert-row", has_text=SENDER)
    expect(listed).to_have_count(1)
    expect(listed).to_have_attribute("data-level", "red")
    assert errors == []
