"""The risk forecast page (#/risk, issue 17) in a real headless Chromium against the running embedded service.

The service runs on the event clock with the Boston grids of the example configuration (23 grids under four
communities, two streets and a district) and its forecast job looking at its schedule every 0.2 s. Before any
complaint, the page shows "no forecast yet" with the service's reason, in Chinese and in English. Fourteen weeks of
complaints (a steady rate per grid, some grid-weeks surging, closure deadlines) are then posted through
``POST /v1/events`` a week at a time, and the job makes its scheduled forecast as the clock passes each week (the
past weeks make the track record). A viewer sees:

- the grids ranked by probability, highest first, exactly as the API ranks them, each with its probability,
  expected and recent counts and its top factors, whose labels are the API's Chinese labels by default and its
  English labels after the language switch, each with a signed contribution and its unit;
- the map's cells coloured by the scale: the riskiest grid's cell in a darker class, and a different fill, than
  the least risky one's; the legend saying what the colours are (a probability within the horizon);
- the statement that forecasts never raise alerts;
- the roll-up rows (district, streets, communities): choosing a community narrows the list to its grids;
- the track record: past weeks' top grids, each marked happened or not, with precision at 5 and the base rate;
- no "forecast now" button (a viewer), where an analyst has one: asked for a 14-day forecast, which is made on
  request only (the page said why there was none), the analyst presses it and the page shows the new forecast.
Screenshots (1366x768 and a 390 px phone, both languages): tests/artifacts/board/risk-*.png.
"""

from __future__ import annotations

import calendar
import math
import random
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from tests.browser.browser_support import CHROMIUM, shot, sign_in
from tests.support import ROOT, Service

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium): apt-get install chromium")

EXAMPLE = ROOT / "fenghuo" / "demo" / "fenghuo.example.yaml"
DAY = 86400.0
START = 1420416000.0  # 2015-01-05 00:00 UTC, a Monday
WEEKS = 14
CATEGORIES = ["Heat - Excessive  Insufficient", "Noise Disturbance", "Pothole Repair", "Street Light Outages",
              "Unsatisfactory Living Conditions", "Graffiti Removal"]
CJK = re.compile(r"[\u2e80-\u9fff]")


def boston_nodes() -> list[dict[str, Any]]:
    """The Boston district of the example configuration: its streets, communities and 23 grids with outlines."""
    config = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return [n for n in config["nodes"] if n["id"].startswith("BOS")]


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def complaints(grids: list[str]) -> list[list[dict[str, Any]]]:
    """Fourteen weeks of complaints, one list per week: each grid has its own daily rate; a grid-week surges (x4) now
    and then, and three grids rise through the last two weeks. Half the cases are closed, some after their deadline."""
    rnd = random.Random(17)
    rate = {g: rnd.uniform(0.3, 2.0) for g in grids}
    rising = set(rnd.sample(grids, 3))
    weeks: list[list[dict[str, Any]]] = []
    n = 0
    for w in range(WEEKS):
        week: list[dict[str, Any]] = []
        for g in grids:
            surge = 4.0 if rnd.random() < 0.12 else 1.0
            if g in rising and w >= WEEKS - 2:
                surge = 3.0 + (w - WEEKS + 3)
            for d in range(7):
                day = START + (w * 7 + d) * DAY
                for _ in range(poisson(rnd, rate[g] * surge)):
                    n += 1
                    ts = day + rnd.uniform(7, 22) * 3600
                    closed = ts + rnd.uniform(0.2, 6) * DAY if rnd.random() < 0.5 else None
                    attrs: dict[str, Any] = {"target": iso(ts + 3 * DAY), "location": f"{g}-{rnd.randint(1, 6)}"}
                    if closed is not None:
                        attrs["closed"] = iso(closed)
                    week.append({"feed": "complaint", "source": "311", "id": f"c-{n}", "ts": iso(ts), "grid": g,
                                 "category": rnd.choice(CATEGORIES), "text": "a resident's report", "attrs": attrs})
        week.sort(key=lambda e: e["ts"])
        weeks.append(week)
    return weeks


def poisson(rnd: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rnd.random()
        if p <= limit:
            return k
        k += 1


def epoch(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))


def made_at(client: httpx.Client) -> float | None:
    """When the latest stored 7-day forecast was made (event time), None before the first."""
    doc = client.get("/v1/risk/forecast").json()
    return epoch(doc["made_at"]) if doc.get("made_at") else None


@pytest.fixture(scope="module")
def boston(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    config = {"nodes": boston_nodes(), "risk_forecast": {"every_hours": 120}}
    svc = Service(tmp_path_factory.mktemp("risk") / "data", config,
                  env={"FENGHUO_CLOCK": "event", "FENGHUO_RISK_POLL_SECONDS": "0.2"}).start()
    try:
        yield svc
    finally:
        svc.stop()


def new_page(browser: Any, width: int = 1366, height: int = 768, lang: str = "zh-CN") -> tuple[Any, list[str]]:
    errors: list[str] = []
    page = browser.new_page(viewport={"width": width, "height": height}, locale=lang, timezone_id="UTC")
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return page, errors


SEEDED: dict[str, dict[str, Any]] = {}  # service url -> its settled 7-day forecast (seeded once per service)


def seed(svc: Service) -> dict[str, Any]:
    """Post the first eight weeks at once, then the last six one by one, each time waiting for the scheduled forecast
    to reach the week's end (the track record's weeks); return the latest 7-day forecast (the API's ranking) once
    no newer one comes."""
    if svc.url in SEEDED:
        return SEEDED[svc.url]
    grids = [n["id"] for n in boston_nodes() if n["kind"] == "grid"]
    with svc.client("responder") as poster, svc.client("viewer") as viewer:
        weeks = complaints(grids)
        early = [e for week in weeks[:WEEKS - 6] for e in week]  # no model yet (too little history): one post
        for week in [early, *weeks[WEEKS - 6:]]:
            assert poster.post("/v1/events", json=week).status_code in (200, 202)
            last = epoch(week[-1]["ts"])
            deadline = time.monotonic() + 30
            while (made_at(viewer) or 0) < last - 2 * DAY and time.monotonic() < deadline:
                time.sleep(0.1)
        seen = None
        for _ in range(100):  # settled: the same forecast twice, a second apart
            doc = viewer.get("/v1/risk/forecast").json()
            if seen is not None and doc["made_at"] == seen:
                SEEDED[svc.url] = dict(doc)
                return SEEDED[svc.url]
            seen = doc["made_at"]
            time.sleep(1.0)
    raise AssertionError("the scheduled forecast did not settle")


def test_no_forecast_yet_says_why_then_the_grids_ranked_with_their_factors(boston: Service, browser: Any) -> None:
    from playwright.sync_api import expect

    # before any complaint: "no forecast yet" and the service's reason, in both languages
    page, errors = new_page(browser)
    sign_in(page, boston.url, boston.keys["viewer"])
    page.click("#nav a[data-nav='risk']")
    expect(page.locator("h1.page-title")).to_contain_text("风险预测")
    expect(page.locator("#rf-empty h2")).to_have_text("还没有风险预测")
    expect(page.locator("#rf-reason")).to_have_text("原因：还没有真实数据的 7 天预测：系统每 120 小时自动预测一次。")
    expect(page.locator("#rf-note")).to_contain_text("不会触发预警")
    expect(page.locator("#rf-track-none")).to_be_visible()
    shot(page, "risk-01-empty-zh")
    page.click("#lang")
    expect(page.locator("#rf-reason")).to_have_text(
        "Why: No 7-day forecast of the real data yet: one is made every 120 h.")
    expect(page.locator("#rf-note")).to_contain_text("Forecasts never raise alerts")
    shot(page, "risk-02-empty-en")
    page.click("#lang")
    page.close()

    doc = seed(boston)
    grid_rows = [r for r in doc["rows"] if r["kind"] == "grid" and r["group"] == "all"]
    assert len(grid_rows) == 23 and doc["reason"] is None, doc.get("reason")
    ranking = [r["node"] for r in sorted(grid_rows, key=lambda r: -r["probability"])]
    by_node = {r["node"]: r for r in grid_rows}

    page, errors = new_page(browser)
    sign_in(page, boston.url, boston.keys["viewer"])
    page.goto(boston.url + "/#/risk")
    rows = page.locator("#rf-list li.rf-row")
    expect(rows.first).to_be_visible()
    expect(page.locator("#rf-now")).to_have_count(0)  # a viewer cannot ask for a forecast: no button
    page.click("#rf-more")  # all 23 grids, not only the top 20
    expect(rows).to_have_count(23)
    shown = [rows.nth(i).get_attribute("data-node") for i in range(23)]
    probabilities = [float(rows.nth(i).get_attribute("data-probability") or "nan") for i in range(23)]
    assert probabilities == sorted(probabilities, reverse=True)
    assert [by_node[n]["probability"] for n in shown] == [by_node[n]["probability"] for n in ranking]
    top, last = shown[0], shown[-1]
    assert by_node[top]["probability"] > by_node[last]["probability"]

    # the top grid's factors: the API's Chinese labels, a signed contribution with its unit
    first = rows.first
    expect(first.locator(".rf-pct")).to_have_text(f"{round(by_node[top]['probability'] * 100)}%")
    factors = by_node[top]["factors"]
    assert factors, "the top grid has factors"
    labels = first.locator(".rf-factor .f-label")
    expect(labels).to_have_text([f["label_zh"] for f in factors])
    assert all(CJK.search(f["label_zh"]) for f in factors)
    contrib = first.locator(".rf-factor .f-contrib").first.inner_text()
    assert re.fullmatch(r"[+−±][\d.]+ (对数几率|个百分点)", contrib), contrib
    expect(first.locator(".rf-counts")).to_contain_text("近 7 天")

    # the map: the riskiest cell darker than the least risky, in another fill; the legend says what colours mean
    top_cell, last_cell = page.locator(f"g.rf-cell[data-grid='{top}']"), page.locator(f"g.rf-cell[data-grid='{last}']")
    assert int(top_cell.get_attribute("data-bin") or -1) > int(last_cell.get_attribute("data-bin") or 99)
    fill = "(el) => getComputedStyle(el.querySelector('polygon, circle')).fill"
    assert top_cell.evaluate(fill) != last_cell.evaluate(fill)
    expect(page.locator("#rf-legend")).to_contain_text("概率")
    expect(page.locator("#rf-note")).to_contain_text("不会触发预警")
    shot(page, "risk-03-ranked-zh")

    # the track record: past weeks' top grids marked happened or not, precision at 5 beside the base rate
    with boston.client("viewer") as viewer:
        record = viewer.get("/v1/risk/track-record").json()
    scored = [w for w in record["weeks"] if w["top"]]
    assert len(scored) >= 3, record
    expect(page.locator("#rf-track tbody tr.tr-scored")).to_have_count(len(scored))
    newest = max(scored, key=lambda w: w["made_at"])
    marks = page.locator(f"#rf-track tr[data-made='{newest['made_at']}'] li.tr-hit")
    expect(marks).to_have_count(len(newest["top"]))
    assert [marks.nth(i).get_attribute("data-happened") for i in range(len(newest["top"]))] == [
        "1" if g["happened"] else "0" for g in newest["top"]]
    expect(page.locator("#rf-track-summary")).to_contain_text(f"已核对 {len(scored)} 周")
    expect(page.locator("#rf-track-summary")).to_contain_text(f"基准率为 {round(record['base_rate'] * 100)}%")

    # English: the same ranking with the API's English labels
    page.click("#lang")
    expect(page.locator("h1.page-title")).to_contain_text("Risk forecast")
    english = page.locator("#rf-list li.rf-row").first.locator(".rf-factor .f-label")
    expect(english).to_have_text([f["label_en"] for f in factors])
    assert not CJK.search(page.locator("#rf-list li.rf-row").first.locator(".rf-factors").inner_text())
    expect(page.locator("#rf-legend")).to_contain_text("probability")
    expect(page.locator("#rf-note")).to_contain_text("Forecasts never raise alerts")
    shot(page, "risk-04-ranked-en")

    # a roll-up row narrows the page to that community's grids
    community = next(r for r in doc["rows"] if r["kind"] == "community" and r["group"] == "all")
    page.click(f"#rf-areas li[data-node='{community['node']}'] button")
    inside = {n["id"] for n in boston_nodes() if n.get("parent") == community["node"]}
    listed = page.locator("#rf-list li.rf-row")
    expect(listed).to_have_count(len(inside))
    assert {listed.nth(i).get_attribute("data-node") for i in range(len(inside))} == inside
    expect(page.locator("#rf-node")).to_have_value(community["node"])
    shot(page, "risk-05-community-en")
    page.click("#lang")
    page.close()

    # a phone, both languages
    page, errors2 = new_page(browser, 390, 844)
    sign_in(page, boston.url, boston.keys["viewer"])
    page.goto(boston.url + "/#/risk")
    expect(page.locator("#rf-list li.rf-row").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "risk-06-phone-zh")
    page.click("#lang")
    expect(page.locator("h1.page-title")).to_contain_text("Risk forecast")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "risk-07-phone-en")
    page.click("#lang")
    page.close()
    assert not errors and not errors2, errors + errors2


def test_an_analyst_may_forecast_now_and_a_viewer_may_not(boston: Service, browser: Any) -> None:
    from playwright.sync_api import expect

    seed(boston)
    page, errors = new_page(browser)
    sign_in(page, boston.url, boston.keys["analyst"])
    page.goto(boston.url + "/#/risk")
    expect(page.locator("#rf-now")).to_be_visible()
    expect(page.locator("#rf-now")).to_have_text("立即预测")
    page.select_option("#rf-horizon", "14")  # no 14-day forecast yet: made on request, the reason says so
    expect(page.locator("#rf-reason")).to_contain_text("只按需预测")
    page.click("#rf-now")
    expect(page.locator("#rf-now-msg")).to_have_text("已生成新的预测。", timeout=60000)
    expect(page.locator("h1.page-title .sub")).to_have_text("未来 14 天")
    expect(page.locator("#rf-list li.rf-row").first).to_be_visible()
    with boston.client("viewer") as viewer:
        doc = viewer.get("/v1/risk/forecast", params={"horizon": "14d"}).json()
    assert doc["horizon_days"] == 14 and doc["rows"], doc.get("reason")
    top = next(r for r in doc["rows"] if r["kind"] == "grid" and r["group"] == "all")
    expect(page.locator("#rf-list li.rf-row").first).to_have_attribute("data-node", top["node"])
    shot(page, "risk-08-analyst-zh")
    page.close()
    with httpx.Client(base_url=boston.url, headers={"Authorization": f"Bearer {boston.keys['viewer']}"}) as viewer:
        assert viewer.post("/v1/risk/forecast").status_code == 403  # the API refuses a viewer too
    assert not errors, errors
