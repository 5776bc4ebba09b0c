"""The board's incident page in a real headless Chromium: a storm of alerts under one street is listed as one
incident; its page shows the map of affected grids, the members and the combined timeline; a note and an ack made
on the page apply (every member acknowledged); an alert's timeline links to its incident and takes a note; in
Chinese and English. Screenshots: tests/artifacts/board/ and /tmp/shots/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.browser_support import CHROMIUM, shot, sign_in
from tests.incident_support import STORM, config, statuses
from tests.silence_support import alert_of, poll, post, reading
from tests.support import Receiver, Service

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium): apt-get install chromium")
SHOTS = Path("/tmp/shots")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    rx = Receiver()
    svc = Service(tmp_path / "data", config(rx.url + "/hook")).start()
    try:
        yield svc
    finally:
        svc.stop()
        rx.close()


def snap(page: Any, name: str) -> None:
    shot(page, name)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_an_incident_page_shows_map_members_timeline_and_acks_every_member(service: Service, browser: Any) -> None:
    from playwright.sync_api import expect

    admin = service.client("admin")
    now = time.time()
    post(admin, [reading(g, "water_level_m", 7.0 if i % 3 == 0 else 5.0, now) for i, g in enumerate(STORM[:12])])
    inc = poll(lambda: admin.get("/v1/incidents").json()["incidents"], "an incident")[0]
    poll(lambda: admin.get(f"/v1/incidents/{inc['id']}").json()["notifications"] == 1, "the summary")

    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1360, "height": 1000}, locale="zh-CN")
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, service.url, service.keys["responder"])
    page.click('#nav a[data-nav="incidents"]')
    row = page.locator(f"#incidents tbody tr[data-incident='{inc['id']}']")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("12 条预警")
    snap(page, "incidents-01-list-zh")
    row.locator("a").click()
    expect(page.locator("#incident-title")).to_contain_text("12 条预警")
    expect(page.locator("#inc-members tbody tr")).to_have_count(12)
    expect(page.locator("svg.inc-map g.cell.lv-red")).to_have_count(4)  # G01, G04, G07, G10 red
    expect(page.locator("svg.inc-map g.cell.lv-yellow")).to_have_count(8)
    expect(page.locator("#inc-timeline li[data-kind='incident_joined']")).to_have_count(12)
    expect(page.locator("#inc-timeline li[data-kind='summary_opened']")).to_have_count(1)
    page.fill("#inc-comment", "抽水泵已派往各网格")
    page.click("#inc-note")
    expect(page.locator("#inc-timeline li[data-kind='note']")).to_contain_text("抽水泵已派往各网格")
    page.fill("#inc-comment", "指挥部接手")
    page.click("#inc-ack")
    expect(page.locator(".alert-head .badge.st-acknowledged")).to_have_text("已确认")
    expect(page.locator("#inc-ack")).to_have_count(0)
    snap(page, "incidents-02-page-acked-zh")
    assert statuses(admin) == ["acknowledged"] * 12

    # the member's timeline links to the incident, and takes a note
    g5 = alert_of(admin, "G05", "river")
    page.goto(service.url + f"/#/alert/{g5['id']}")
    joined = page.locator(".timeline li[data-kind='incident_joined']")
    expect(joined.locator("a.tl-actor")).to_have_text(inc["id"])
    page.fill("#note-text", "G05 堤段已加固")
    page.check("#note-public")
    page.click("#note-add")
    expect(page.locator(".timeline li[data-kind='note_public']")).to_contain_text("G05 堤段已加固")
    snap(page, "incidents-03-alert-note-zh")
    joined.locator("a.tl-actor").click()
    expect(page.locator("#incident-title")).to_be_visible()

    page.click("#lang")
    expect(page.locator("#incident-title")).to_contain_text("12 alerts")
    expect(page.locator("#h-inc-map")).to_have_text("Affected grids")
    snap(page, "incidents-04-page-en")
    assert errors == []
