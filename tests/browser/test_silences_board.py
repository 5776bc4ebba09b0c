"""The board's silences page in a real headless Chromium: a responder creates a silence with its matchers and sees
it listed as active, an alert it matches shows a "muted" entry naming the silence (nothing was sent), an alert
held back by an open district red shows an "inhibited" entry linking to that red alert, and the silence is ended
early from the page; in Chinese and English. Screenshots: tests/artifacts/board/ and /tmp/shots/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.browser_support import CHROMIUM, shot, sign_in
from tests.silence_support import alert_of, config, post, reading
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


def test_a_silence_made_on_the_board_is_listed_mutes_its_alert_and_ends_early(service: Service, browser: Any) -> None:
    from playwright.sync_api import expect

    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1360, "height": 1000}, locale="zh-CN")
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, service.url, service.keys["responder"])
    page.click('#nav a[data-nav="silences"]')
    expect(page.locator("h1.page-title")).to_have_text("静默与维护")
    expect(page.locator("#sil-empty")).to_have_text("当前没有生效的静默。")
    page.select_option("#sil-grid", "C")
    page.fill("#sil-rule", "river")
    page.select_option("#sil-level", "orange")
    page.select_option("#sil-duration", "7200")
    page.fill("#sil-comment", "临江社区 堤防施工")
    page.click("#sil-create")
    expect(page.locator("#sil-msg")).to_contain_text("已创建静默")
    row = page.locator("#sil-table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-state", "active")
    expect(row).to_contain_text("社区及下级，规则 river，橙色及以下")
    expect(row).to_contain_text("临江社区 堤防施工")
    expect(row).to_contain_text("responder")
    sid = row.get_attribute("data-silence")
    snap(page, "silences-01-created-zh")

    # a matching alert is muted (its timeline names the silence), one under an open district red is inhibited
    admin = service.client("admin")
    now = time.time()
    post(admin, [reading("G1", "water_level_m", 5.0, now), reading("D", "flood_index", 150.0, now)])
    g1, red = alert_of(admin, "G1", "river"), alert_of(admin, "D", "flood")
    assert g1["notifications"] == []
    page.goto(service.url + f"/#/alert/{g1['id']}")
    muted = page.locator(".timeline li[data-kind='muted']")
    expect(muted).to_have_count(1, timeout=15000)
    expect(muted.locator(".tl-kind")).to_have_text("已静默（未发送通知）")
    expect(muted.locator("a.tl-actor")).to_have_text(f"silence:{sid}")
    expect(muted).to_contain_text("临江社区 堤防施工")
    snap(page, "silences-02-muted-alert-zh")
    post(admin, [reading("G2", "water_level_m", 7.0, now + 2)])
    g2 = alert_of(admin, "G2", "river")
    page.goto(service.url + f"/#/alert/{g2['id']}")
    held = page.locator(".timeline li[data-kind='inhibited']")
    expect(held).to_have_count(1, timeout=15000)
    expect(held.locator("a.tl-actor")).to_have_attribute("href", f"#/alert/{red['id']}")
    page.click("#lang")
    expect(held.locator(".tl-kind")).to_have_text("Inhibited (not notified)")
    snap(page, "silences-03-inhibited-alert-en")

    # English: the list, then end the silence early; it moves to the expired list
    page.goto(service.url + "/#/silences")
    expect(page.locator("h1.page-title")).to_have_text("Silences and maintenance")
    page.click(f'button[data-expire="{sid}"]')
    expect(page.locator("#sil-empty")).to_have_text("No silence is active.")
    page.click('button[data-value="expired"]')
    expired = page.locator(f'#sil-table tr[data-silence="{sid}"]')
    expect(expired).to_have_attribute("data-state", "expired")
    expect(expired).to_contain_text("ended early by responder")
    snap(page, "silences-04-expired-en")
    assert errors == []
