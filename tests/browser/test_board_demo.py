"""The board as a new user meets it on the demo (``FENGHUO_DEMO=1``: the example config, 29 grids, every alert a
drill), in a real headless Chromium (issue 14):

- the map draws every grid of the example config so that each can be seen and clicked (the point the board marks
  as the cell's hit-test point belongs to that cell, in both districts), with labels inside the drawing that do
  not overprint each other, over a graticule and a scale bar;
- the alert list opens on the drills, says so, shows the station of each alert and times with their zone;
- the rule editor prints no "null", defaults its range to the drill's data and says so, and keeps an edit and the
  backtest's outcome across a language switch;
- no raw key, no English server sentence in Chinese and no Chinese in English, on the pages walked;
- chart markers that fall close together do not overprint; report bars have a value axis and names that fit.
Screenshots: tests/artifacts/board/demo-*.png.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.browser_support import CHROMIUM, SHOTS, shot, sign_in
from tests.support import Service

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium): apt-get install chromium")

# a raw translation key (tl.escalated, sv.burst) or a raw code word (escalation_exhausted) in the page
RAW_KEY = re.compile(r"\b(?:tl|sv|det|cert|val|field|bt|map|alerts|alert|col|rules|reports|chart|nav|status|level|"
                     r"mode|filter|sil|oncall|ev|nt|unit)\.[a-z_]+\b|\b[a-z]+(?:_[a-z]+)+\b")
# the service's English sentences that the board must say in Chinese
ENGLISH = ["not acknowledged", "expected in", "back within", "count in window", "rate per hour", "value ",
           "anomaly score", "half-width", "passed over", "(attempt", "expired:", "forecast withdrawn", "Likely",
           "threshold rule", "held back"]
CJK = re.compile(r"[\u2e80-\u9fff]")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    # the demo's two drills as fast as they go (a run's alerts do not depend on its speed; `make run` has 6000x)
    svc = Service(tmp_path_factory.mktemp("demo") / "data", None, args=["--demo-speed", "max"],
                  env={"FENGHUO_DEMO": "1", "FENGHUO_WEBHOOK_SECRET": "demo-test-secret-0123456789"}).start()
    try:
        with svc.client("admin") as c:  # wait until both drills have alerts
            for _ in range(600):
                listed = c.get("/v1/alerts", params={"drill": "true", "limit": 500}).json()["alerts"]
                drills = {a["drill"] for a in listed}
                if len(drills) >= 2 and c.get("/healthz").json()["events_stored"] > 6000:
                    break
                time.sleep(0.2)
            for _ in range(900):  # the demo's drill runs end (the pages below are then still)
                if not c.get("/v1/drills", params={"status": "running"}).json()["runs"]:
                    break
                time.sleep(0.2)
        yield svc
    finally:
        svc.stop()


@pytest.fixture(scope="module")
def data_words(demo: Service) -> set[str]:
    """word_word tokens that are data (metrics, series, ids), not untranslated keys."""
    with demo.client("admin") as c:
        dump = json.dumps([c.get("/v1/alerts", params={"drill": "true", "limit": 500}).json(),
                           c.get("/v1/rules/thresholds").json(), c.get("/v1/grids").json()])
    return set(re.findall(r"\b[a-z]+(?:_[a-z]+)+\b", dump))


def new_page(browser: Any, lang: str = "zh-CN") -> tuple[Any, list[str]]:
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1360, "height": 900}, locale=lang, timezone_id="UTC")
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return page, errors


def set_lang(page: Any, lang: str) -> None:
    if page.locator("html").get_attribute("lang") != lang:
        page.click("#lang")
    from playwright.sync_api import expect
    expect(page.locator("html")).to_have_attribute("lang", lang)


def grids_by_district(demo: Service) -> dict[str, set[str]]:
    with demo.client("viewer") as c:
        nodes = {n["id"]: n for n in c.get("/v1/grids").json()["nodes"]}
    out: dict[str, set[str]] = {}
    for n in nodes.values():
        if n["kind"] != "grid":
            continue
        top = n
        while top.get("parent") in nodes:
            top = nodes[top["parent"]]
        out.setdefault(top["id"], set()).add(n["id"])
    return out


HIT_TEST = """() => {
  const svg = document.querySelector("svg.map");
  const box = svg.getBoundingClientRect();
  const m = svg.getScreenCTM();
  const out = [];
  for (const g of svg.querySelectorAll("g.cell")) {
    const [x, y] = g.dataset.hit.split(",").map(Number);
    const p = new DOMPoint(x, y).matrixTransform(m);
    const hit = document.elementFromPoint(p.x, p.y);
    const shape = g.querySelector("polygon, circle").getBoundingClientRect();
    const text = g.querySelector("text");
    const tb = text ? text.getBoundingClientRect() : null;
    out.push({ grid: g.dataset.grid, hit: hit && hit.closest("g.cell") ? hit.closest("g.cell").dataset.grid : null,
      area: shape.width * shape.height,
      label: text ? text.textContent : "",
      inside: !tb || (tb.left >= box.left - 1 && tb.right <= box.right + 1
        && tb.top >= box.top - 1 && tb.bottom <= box.bottom + 1),
      tb: tb && [tb.left, tb.top, tb.right, tb.bottom] });
  }
  return out;
}"""


def overlapping(boxes: list[tuple[str, list[float]]]) -> list[tuple[str, str]]:
    out = []
    for i, (a, ba) in enumerate(boxes):
        for b, bb in boxes[i + 1:]:
            if ba[0] < bb[2] - 1 and bb[0] < ba[2] - 1 and ba[1] < bb[3] - 1 and bb[1] < ba[3] - 1:
                out.append((a, b))
    return out


def test_the_map_shows_every_grid_of_the_example_config(demo: Service, browser: Any) -> None:
    from playwright.sync_api import expect

    districts = grids_by_district(demo)
    assert sum(len(g) for g in districts.values()) == 29
    page, errors = new_page(browser)
    sign_in(page, demo.url, demo.keys["viewer"])
    page.click("#nav a[data-nav='map']")
    for district, grids in sorted(districts.items()):
        page.select_option("#district", district)
        expect(page.locator("g.cell")).to_have_count(len(grids))
        cells = page.evaluate(HIT_TEST)
        assert {c["grid"] for c in cells} == grids
        hidden = [c["grid"] for c in cells if c["hit"] != c["grid"]]
        assert not hidden, f"{district}: cells hidden at their own point: {hidden}"
        assert all(c["area"] > 100 for c in cells), [c for c in cells if c["area"] <= 100]
        clipped = [c["label"] for c in cells if not c["inside"]]
        assert not clipped, f"{district}: labels running out of the drawing: {clipped}"
        labels = [(c["grid"], c["tb"]) for c in cells if c["tb"]]
        assert len(labels) >= len(cells) * 0.8, f"{district}: too few labels: {len(labels)} of {len(cells)}"
        assert not overlapping(labels), f"{district}: labels overprinting: {overlapping(labels)}"
        assert page.locator("svg.map line.graticule").count() >= 4  # the offline background
        expect(page.locator("svg.map .scale-bar text")).to_contain_text("km")
        shot(page, f"demo-map-{district}")
        # every cell answers a click at its point: Downtown in Boston, L'Orbieu under L'Aude
        for grid in ("BOS-downtown-financial-district", "FR-l-orbieu"):
            if grid in grids:
                x, y = page.evaluate("""(id) => { const g = document.querySelector(`g.cell[data-grid="${id}"]`);
                  const [x, y] = g.dataset.hit.split(",").map(Number);
                  const p = new DOMPoint(x, y).matrixTransform(g.ownerSVGElement.getScreenCTM());
                  return [p.x, p.y]; }""", grid)
                page.mouse.click(x, y)
                expect(page.locator(f"g.cell[data-grid='{grid}']")).to_have_class(re.compile(r"\bchosen\b"))
                expect(page.locator(".panel h2").first).to_contain_text(
                    "市中心" if grid.startswith("BOS") else "奥尔比厄河")
    assert not errors, errors


def test_first_use_of_the_demo(demo: Service, browser: Any, data_words: set[str]) -> None:
    from playwright.sync_api import expect

    page, errors = new_page(browser)
    sign_in(page, demo.url, demo.keys["analyst"])
    # the list opens on the drills, and says why
    expect(page.locator(".drill-note")).to_be_visible()
    expect(page.locator(".segmented button[data-value='drill']")).to_have_attribute("aria-pressed", "true")
    rows = page.locator("tr.alert-row")
    assert rows.count() > 10
    # the station tells apart rows with the same title; every time carries its zone
    titles = rows.locator(".alert-title").all_inner_texts()
    rules = rows.locator(".alert-rule").all_inner_texts()
    sources = rows.locator(".c-source").all_inner_texts()
    assert len(titles) > len(set(titles)), "the demo has alerts with the same title"
    seen = list(zip(titles, rules, sources, strict=True))
    assert len(seen) == len(set(seen)), [x for x in seen if seen.count(x) > 1]  # each row tells itself apart
    assert "河道水位超警戒" in rules  # the rule's own title_zh
    assert all(s.strip() and s != "—" for s in sources)
    for text in rows.locator(".c-time").all_inner_texts():
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", text), text
    shot(page, "demo-01-alerts-zh")
    # the choice is the user's once made
    page.click(".segmented button[data-value='real']")
    expect(page.locator(".drill-note")).to_have_count(0)
    expect(page.locator("p.empty")).to_be_visible()
    page.click(".segmented button[data-value='drill']")
    expect(page.locator(".drill-note")).to_have_count(0)

    # the rule editor: no "null", the range of the drill's data, said so
    page.click("#nav a[data-nav='rules']")
    expect(page.locator("#lv-red")).to_be_visible()
    page.click("tr.rule-row[data-rule='river-level']")  # the river rule (the gas drill's rules sort first)
    expect(page.locator("tr.rule-row.on[data-rule='river-level']")).to_be_visible()
    assert "null" not in page.locator("main").inner_text()
    expect(page.locator(".bt-range-note")).to_have_attribute("data-from", "drill")
    assert page.input_value("#start").startswith("2020-01"), page.input_value("#start")
    page.fill("#lv-red", "4.6")
    page.click("#backtest")
    msg = page.locator(".save-msg")
    expect(msg).to_contain_text("回测完成")
    done_zh = msg.inner_text()
    assert not re.search(r"：0 个数据点", done_zh) or "演练" in done_zh, done_zh  # no unexplained 0 points
    shot(page, "demo-02-rules-zh")
    # switching language keeps the edit and the outcome
    set_lang(page, "en")
    assert page.input_value("#lv-red") == "4.6"
    expect(msg).to_contain_text("Backtest done")
    assert not re.search(r": 0 points", msg.inner_text()) or "drill" in msg.inner_text(), msg.inner_text()
    expect(page.locator("#save")).to_be_enabled()
    shot(page, "demo-03-rules-en")
    assert not errors, errors


def walk(page: Any, demo: Service, lang: str, alert_ids: list[str]) -> dict[str, str]:
    """The text of the main pages and of a few alerts' pages, in ``lang``."""
    from playwright.sync_api import expect

    set_lang(page, lang)
    out = {}
    for route, ready in [("#/", "tr.alert-row"), ("#/reports", "svg.bars"), ("#/drills", "#drill-runs tbody tr"),
                         ("#/rules", "#lv-red"), ("#/map", "g.cell")]:
        page.goto(f"{demo.url}/{route}")
        page.wait_for_selector(ready)
        out[route] = page.locator("main").inner_text()
    for aid in alert_ids:
        page.goto(f"{demo.url}/#/alert/{aid}")
        expect(page.locator(".timeline li").first).to_be_visible()
        page.wait_for_selector("svg.chart, p.empty")
        out[aid] = page.locator("main").inner_text()
        shot(page, f"demo-alert-{aid}-{lang}")
    return out


def sample_alerts(demo: Service) -> list[str]:
    """One alert per rule, the forecast- and escalation-rich river alerts first."""
    with demo.client("admin") as c:
        alerts = c.get("/v1/alerts", params={"drill": "true", "limit": 500}).json()["alerts"]
    by_rule: dict[str, str] = {}
    for a in sorted(alerts, key=lambda a: -a["escalation_tier"]):
        by_rule.setdefault(a["rule"], a["id"])
    return list(by_rule.values())


def test_every_message_in_both_languages(demo: Service, browser: Any, data_words: set[str]) -> None:
    page, errors = new_page(browser)
    sign_in(page, demo.url, demo.keys["admin"])
    ids = sample_alerts(demo)
    assert len(ids) >= 5
    zh = walk(page, demo, "zh-CN", ids)
    for where, text in zh.items():
        raw = sorted(set(RAW_KEY.findall(text)) - data_words)
        assert not raw, f"Chinese {where}: raw keys {raw}"
        english = [e for e in ENGLISH if e in text]
        assert not english, f"Chinese {where}: English server text {english}"
    en = walk(page, demo, "en", ids)
    for where, text in en.items():
        raw = sorted(set(RAW_KEY.findall(text)) - data_words)
        assert not raw, f"English {where}: raw keys {raw}"
        if where != "#/map":  # the map's duty panel lists people by their (Chinese) names
            assert not CJK.findall(text), f"English {where}: Chinese text {sorted(set(CJK.findall(text)))[:20]}"
    assert not errors, errors


def test_markers_and_report_bars_fit(demo: Service, browser: Any) -> None:
    page, errors = new_page(browser)
    sign_in(page, demo.url, demo.keys["viewer"])
    # two markers two minutes apart on a 18 h chart: their labels do not overprint
    boxes = page.evaluate("""async () => {
      const { lineChart } = await import("/js/charts.js");
      const t0 = Date.parse("2020-01-21T00:00:00Z");
      const points = Array.from({ length: 100 }, (_, i) => ({ t: t0 + i * 600e3, v: Math.sin(i / 9) }));
      const svg = lineChart({ points, markers: [{ t: t0 + 12 * 3600e3, label: "触发" },
        { t: t0 + 12 * 3600e3 + 120e3, label: "确认" }, { t: t0 + 16.5 * 3600e3, label: "acknowledged" }],
        label: "t" });
      svg.id = "probe"; document.querySelector("main").prepend(svg);
      return [...svg.querySelectorAll(".marker-label")].map((el) => { const b = el.getBoundingClientRect();
        return [el.textContent, [b.left, b.top, b.right, b.bottom]]; });
    }""")
    assert len(boxes) == 3
    assert not overlapping([(n, b) for n, b in boxes]), boxes
    svg_box = page.locator("#probe").bounding_box()
    assert all(b[1] >= svg_box["y"] - 1 for _, b in boxes), (boxes, svg_box)
    page.locator("#probe").screenshot(path=str(SHOTS / "demo-markers.png"))

    # the response-time bars (the drills, as the list follows them): a value axis, names inside the drawing
    page.click("#nav a[data-nav='reports']")
    page.wait_for_selector("section[data-group='grid'] svg.bars")
    for lang in ("zh-CN", "en"):
        set_lang(page, lang)
        page.wait_for_selector("section[data-group='grid'] svg.bars")
        report = page.evaluate("""() => [...document.querySelectorAll("svg.bars")].map((svg) => {
          const box = svg.getBoundingClientRect();
          return { ticks: svg.querySelectorAll(".value-tick").length,
            out: [...svg.querySelectorAll(".bar-key")].filter((k) => k.getBoundingClientRect().left < box.left - 1)
              .map((k) => k.textContent) };
        })""")
        assert len(report) == 6
        assert all(r["ticks"] >= 2 for r in report), report
        assert not [r["out"] for r in report if r["out"]], report
        shot(page, f"demo-reports-{lang}")
    assert not errors, errors
