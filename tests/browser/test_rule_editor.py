"""The rule editor in a real headless Chromium: edit a rule, backtest it beside the current one, save.

The service runs as a subprocess with real Hub'Eau readings of one station (Storm Gloria) posted
through the API. An analyst opens 规则 / Rules, picks the river rule, makes it stricter, sees the
backtest (summary, chart with both sets of thresholds and two lanes of alerts, episode table), checks
that an invalid change is refused with its errors, and saves; a responder cannot backtest.
Screenshots go to tests/artifacts/board/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.browser_support import CHROMIUM, shot, sign_in
from tests.flood_support import CURRENT, station_rows
from tests.support import Service

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium): apt-get install chromium")

GRID = {"id": "G-AGLY", "name": "阿格利河网格", "name_en": "Agly river", "kind": "grid", "parent": "D-PO",
        "centroid": [42.745, 2.5885]}


@pytest.fixture
def service(tmp_path: Path, shared_data: Path) -> Iterator[Service]:
    district = {"id": "D-PO", "name": "东比利牛斯", "name_en": "Pyrénées-Orientales", "kind": "district"}
    config = {"nodes": [district, GRID],
              "rules": [{**CURRENT, "title_zh": "河道水位", "title_en": "river level"}]}
    svc = Service(tmp_path / "data", config, env={"FENGHUO_CLOCK": "event"}).start()
    rows = [{**r, "grid": "G-AGLY"} for r in station_rows()]
    admin = svc.client("admin")
    for i in range(0, len(rows), 1000):
        assert admin.post("/v1/events", content="\n".join(map(json.dumps, rows[i:i + 1000]))).status_code == 200
    try:
        yield svc
    finally:
        svc.stop()




def test_edit_backtest_and_save_a_rule(service: Service, browser: Any) -> None:
    from playwright.sync_api import expect

    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN", timezone_id="UTC")
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and "422" not in msg.text else None)
    sign_in(page, service.url, service.keys["analyst"])
    page.click("#nav a[data-nav='rules']")
    expect(page.locator("h1.page-title")).to_have_text("规则与回测")
    row = page.locator("tr.rule-row[data-rule='river-level']")
    expect(row).to_have_count(1)
    row.click()
    expect(page.locator("#lv-red")).to_have_value("12")
    expect(page.locator("#save")).to_be_disabled()  # nothing backtested yet

    # the range: the whole month; a stricter rule
    page.fill("#start", "2020-01-07T00:00")
    page.fill("#end", "2020-02-08T00:00")
    for level, value in (("blue", "8"), ("yellow", "10"), ("orange", "12"), ("red", "14")):
        page.fill(f"#lv-{level}", value)
    page.fill("#for-seconds", "3600")
    page.click("#backtest")
    expect(page.locator(".save-msg.ok")).to_contain_text("回测完成", timeout=30000)
    chart = page.locator("svg.backtest-chart")
    expect(chart).to_have_count(1)
    expect(chart.locator("line.th-proposed")).to_have_count(4)
    expect(chart.locator("line.th-current")).to_have_count(4)
    expect(chart.locator("line.th-proposed.th-red")).to_have_attribute("data-value", "14")
    expect(chart.locator("line.th-current.th-red")).to_have_attribute("data-value", "12")
    proposed = chart.locator("g.lane[data-lane='proposed'] g.ep")
    current = chart.locator("g.lane[data-lane='current'] g.ep")
    assert 1 <= proposed.count() <= current.count()
    first = lambda lane: min(lane.nth(i).get_attribute("data-raised") for i in range(lane.count()))  # noqa: E731
    assert first(proposed) > first(current)  # stricter: later
    total = page.locator(".bt-summary td.bt-total")
    assert int(total.nth(0).inner_text()) == proposed.count() and int(total.nth(1).inner_text()) == current.count()
    expect(page.locator("table.episodes tr[data-lane='proposed']")).to_have_count(proposed.count())
    expect(page.locator("table.episodes tr[data-lane='current']")).to_have_count(current.count())
    expect(page.locator("#save")).to_be_enabled()
    shot(page, "10-rule-backtest-stricter-zh")

    # English; then an edit after the backtest disables saving until backtested again
    page.click("#lang")
    expect(page.locator("h1.page-title")).to_have_text("Rules and backtests")
    page.locator("tr.rule-row[data-rule='river-level']").click()
    page.fill("#start", "2020-01-07T00:00")
    page.fill("#end", "2020-02-08T00:00")
    page.fill("#lv-blue", "6")
    page.fill("#lv-yellow", "7")
    page.fill("#lv-orange", "9")
    page.fill("#lv-red", "11")
    page.fill("#for-seconds", "0")
    page.fill("#hysteresis", "0")
    page.click("#backtest")
    expect(page.locator(".save-msg.ok")).to_contain_text("Backtest done", timeout=30000)
    assert proposed.count() > current.count()  # looser: more
    assert first(proposed) < first(current)  # and earlier
    shot(page, "11-rule-backtest-looser-en")

    # an invalid rule: the errors are listed, nothing to save
    page.fill("#lv-red", "1")
    expect(page.locator("#save")).to_be_disabled()
    page.click("#backtest")
    expect(page.locator("ul.errors li").first).to_contain_text("must rise")
    expect(page.locator("#save")).to_be_disabled()
    shot(page, "12-rule-invalid-en")

    # back to the looser rule, backtest, save: the rule is now version 2 with those levels
    page.fill("#lv-red", "11")
    page.click("#backtest")
    expect(page.locator(".save-msg.ok")).to_contain_text("Backtest done", timeout=30000)
    page.click("#save")
    expect(page.locator(".save-msg.ok")).to_contain_text("version 2")
    saved = service.client("viewer").get("/v1/rules/thresholds/river-level").json()
    assert saved["levels"] == {"blue": 6.0, "yellow": 7.0, "orange": 9.0, "red": 11.0}
    assert saved["for_seconds"] == 0 and saved["hysteresis"] == 0
    expect(page.locator("tr.rule-row[data-rule='river-level'] td").nth(4)).to_have_text("2")
    shot(page, "13-rule-saved-en")
    assert not errors, errors


def test_responder_cannot_backtest(service: Service, browser: Any) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN", timezone_id="UTC")
    sign_in(page, service.url, service.keys["responder"])
    page.click("#nav a[data-nav='rules']")
    page.locator("tr.rule-row[data-rule='river-level']").click()
    page.click("#backtest")
    expect(page.locator(".save-msg.bad")).to_contain_text("分析员")
    expect(page.locator("#save")).to_be_disabled()
