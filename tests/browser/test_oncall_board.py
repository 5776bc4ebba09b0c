"""The board's "on duty now" panel (on the grid map) in a real headless Chromium: who is on duty per node of the
district, a cover for leave marked as such, a node with nobody on duty in red, who takes over next, in Chinese and
English; and an escalation's "nobody on duty" entry in an alert's timeline. Screenshots: tests/artifacts/board/.

The rotations are set around today (UTC) so the names on duty now are known whatever the hour: the district's
daily rotation starts today at 00:00 (d-a until tomorrow, then d-b), the community's only member is on leave
today with c-zhou covering, the street's office is closed today with nobody on duty.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.browser_support import CHROMIUM, shot, sign_in
from tests.support import Service

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium): apt-get install chromium")

TODAY = datetime.now(UTC).date()


def square(lon: float, lat: float, d: float = 0.01) -> list[list[float]]:
    return [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d]]


def config() -> dict[str, Any]:
    people = {"c-wang": ("C", "王芳", "Wang Fang"), "c-zhou": ("C", "周强", "Zhou Qiang"),
              "s-zhao": ("S", "赵敏", "Zhao Min"), "d-a": ("D", "陈刚", "Chen Gang"), "d-b": ("D", "刘洋", "Liu Yang"),
              "d-chief": ("D", "区应急办主任", "district chief")}
    return {
        "timezone": "UTC",
        "nodes": [{"id": "D", "name": "滨江区", "name_en": "Binjiang District", "kind": "district"},
                  {"id": "S", "name": "江岸街道", "name_en": "Jiang'an Street", "kind": "street", "parent": "D"},
                  {"id": "C", "name": "临江社区", "name_en": "Linjiang Community", "kind": "community", "parent": "S"},
                  {"id": "G", "name": "临江一网格", "name_en": "Linjiang 1", "kind": "grid", "parent": "C",
                   "polygon": square(2.58, 42.74)}],
        "channels": [{"name": "log", "type": "log"}],
        "responders": [{"id": k, "name": zh, "node": node, "channels": ["log"]} for k, (node, zh, _) in people.items()],
        "oncall": [
            {"node": "C", "responders": ["c-wang"], "start": "2026-01-05",
             "overrides": [{"from": str(TODAY), "to": str(TODAY), "responder": "c-zhou", "note": "王芳 年假"}]},
            {"node": "S", "responders": ["s-zhao"], "start": "2026-01-05",
             "overrides": [{"from": str(TODAY), "to": str(TODAY), "note": "街道办 closed"}]},
            {"node": "D", "responders": ["d-a", "d-b"], "rotation": "daily", "start": str(TODAY), "handover": "00:00"},
        ],
        "escalation": {"deadlines": {"red": 900}},
        "rules": [{"id": "river", "metric": "water_level_m", "levels": {"yellow": 4, "red": 6},
                   "title_zh": "河道水位", "title_en": "river level"}],
    }


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = Service(tmp_path / "data", config(), env={"FENGHUO_CLOCK": "event"}).start()
    try:
        yield svc
    finally:
        svc.stop()


def post(client: httpx.Client, minutes: int, value: float) -> None:
    at = datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(minutes=minutes)
    rec = {"feed": "sensor", "source": "gauge", "grid": "G", "metric": "water_level_m", "value": value,
           "ts": at.isoformat()}
    r = client.post("/v1/events", content=json.dumps(rec))
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text


def test_the_map_shows_who_is_on_duty_now_per_node(service: Service, browser: Any) -> None:
    from playwright.sync_api import expect

    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1360, "height": 1100}, locale="zh-CN", timezone_id="UTC")
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    # an alert at 00:30 today nobody acknowledges: at 00:45 the street has nobody on duty, so it goes to the district
    responder = service.client("responder")
    post(responder, 30, 6.5)
    post(responder, 50, 6.6)

    sign_in(page, service.url, service.keys["viewer"])
    page.goto(service.url + "/#/map")
    panel = page.locator("#oncall")
    expect(panel.locator("h2")).to_have_text("当前值班")
    district = panel.locator('tr[data-node="D"]').first
    expect(district.locator(".on-duty")).to_have_attribute("data-responder", "d-a", timeout=15000)
    expect(district.locator(".on-duty")).to_have_text("陈刚")
    expect(district.locator("[data-next]")).to_contain_text("刘洋")
    expect(district.locator(".c-time")).to_have_text(f"{TODAY + timedelta(days=1)} 00:00")
    expect(panel.locator('tr[data-node="D"] .always')).to_contain_text("区应急办主任")
    community = panel.locator('tr[data-node="C"] .on-duty')
    expect(community).to_contain_text("周强")
    expect(community.locator(".tag")).to_have_text("王芳 年假")
    street = panel.locator('tr[data-node="S"] .on-duty')
    expect(street).to_contain_text("无人值班")
    expect(street.locator(".tag")).to_have_text("街道办 closed")
    expect(street).to_have_class("on-duty nobody")
    panel.scroll_into_view_if_needed()
    shot(page, "oncall-01-map-zh")
    Path("/tmp/shots").mkdir(parents=True, exist_ok=True)
    page.screenshot(path="/tmp/shots/oncall-map-zh.png", full_page=True)

    page.click("#lang")
    expect(panel.locator("h2")).to_have_text("On duty now")
    expect(page.locator('#oncall tr[data-node="S"] .on-duty')).to_contain_text("Nobody on duty")
    expect(page.locator('#oncall tr[data-node="D"] .always')).to_contain_text("Always reachable")
    shot(page, "oncall-02-map-en")
    page.screenshot(path="/tmp/shots/oncall-map-en.png", full_page=True)

    # the alert's timeline says the street was passed over
    [alert] = responder.get("/v1/alerts").json()["alerts"]
    page.goto(service.url + f"/#/alert/{alert['id']}")
    entry = page.locator(".timeline li[data-kind='no_one_on_duty']")
    expect(entry).to_have_count(1, timeout=15000)
    expect(entry.locator(".tl-kind")).to_have_text("Nobody on duty: passed over")
    expect(entry).to_contain_text("no one on duty at Jiang'an Street")
    shot(page, "oncall-alert-en")
    assert errors == []
