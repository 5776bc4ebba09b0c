"""Upstream warnings take part in detection, in the embedded service through its HTTP API (issue 18, item 4):
a rainstorm warning (CAP 1.2, posted as the weather office sends it) makes the river rule's yellow come earlier
for the grid it covers, only while it is open (its Cancel brings the normal levels back), with the warning and
the thresholds used in the alert's evidence; and it corroborates the local signals of that grid (certainty and
level up, the warning named): a river alert raised before it came, at once, and a complaint signal after it; not
those of a grid it does not cover; and it is never corroborated by itself."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from fenghuo.api.app import create_app
from fenghuo.api.auth import ensure_keys
from fenghuo.core.clock import FixedClock
from fenghuo.core.config import parse_config
from fenghuo.core.models import parse_ts
from fenghuo.core.settings import Settings
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.runtime.embedded import Pipeline
from tests.support import free_port

T0 = parse_ts("2026-07-01T00:00:00Z")
SENDER = "cma@weather.example"
RESPONDER, VIEWER = "responder-key-0000000", "viewer-key-000000000"
SQUARE = [[113.26, 23.12], [113.28, 23.12], [113.28, 23.14], [113.26, 23.14]]
RIVER = {"id": "river", "metric": "water_level", "levels": {"blue": 2.0, "yellow": 2.5, "orange": 3.0, "red": 3.5},
         "while_warning": [{"event": "rainstorm", "lower": 0.2}]}
FLOODING = {"id": "flooding", "kind": "count", "feed": "complaint", "category": "flooding", "risk": "safety",
            "window_seconds": 3600, "levels": {"blue": 2, "yellow": 4}}


def config(fusion: bool) -> dict[str, Any]:
    nodes = [{"id": "D", "name": "越秀区", "kind": "district"},
             {"id": "S", "name": "北京街道", "kind": "street", "parent": "D"}]
    for i, g in enumerate(("G1", "G2")):
        square = [[lon + 0.05 * i, lat] for lon, lat in SQUARE]
        nodes.append({"id": g, "name": g, "kind": "grid", "parent": "S", "polygon": square})
    return {"nodes": nodes, "channels": [{"name": "duty", "type": "log"}],
            "responders": [{"id": "duty-d", "name": "值班", "node": "D", "channels": ["duty"]}],
            "rules": [RIVER, FLOODING], "detectors": {"fusion": {}} if fusion else {},
            "warnings": {"geocodes": {"440104001": ["G1"]}}}


def cap(identifier: str, msg_type: str = "Alert", references: str | None = None) -> bytes:
    """A CMA-shaped rainstorm warning (Severe: orange) for the geocode of G1, or its Cancel."""
    refs = f"<references>{references}</references>" if references else ""
    info = "" if msg_type == "Cancel" else (
        "<info><language>zh-CN</language><category>Met</category><event>暴雨 Rainstorm</event>"
        "<urgency>Immediate</urgency><severity>Severe</severity><certainty>Likely</certainty>"
        "<expires>2026-07-01T06:00:00+00:00</expires><headline>暴雨橙色预警</headline><area><areaDesc>北京街道"
        "</areaDesc><geocode><valueName>GB2260</valueName><value>440104001</value></geocode></area></info>")
    return (f'<?xml version="1.0" encoding="UTF-8"?><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
            f"<identifier>{identifier}</identifier><sender>{SENDER}</sender><sent>2026-07-01T00:10:00+00:00</sent>"
            f"<status>Actual</status><msgType>{msg_type}</msgType><scope>Public</scope>{refs}{info}</alert>").encode()


class Api:
    """The embedded service on a fixed clock behind its HTTP API."""

    def __init__(self, tmp: Path, fusion: bool) -> None:
        settings = Settings(data_dir=tmp, api_keys=f"responder:li:{RESPONDER},viewer:wang:{VIEWER}")
        keyring, _ = ensure_keys(settings)
        self.clock = FixedClock(T0)
        self.p = Pipeline(settings, parse_config(config(fusion)), SqliteStore(tmp / "db.sqlite"), clock=self.clock)
        port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(create_app(lambda: self.p, keyring, settings=settings),
                                                    host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)

    def stop(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(10)

    def post_warning(self, xml: bytes) -> list[dict[str, Any]]:
        r = self.client.post("/v1/warnings", content=xml, headers={"Content-Type": "application/cap+xml",
                                                                   "Authorization": f"Bearer {RESPONDER}"})
        assert r.status_code == 200, r.text
        return list(r.json()["results"])

    def send(self, *records: dict[str, Any]) -> None:
        for rec in records:
            self.clock.set(parse_ts(rec["ts"]))
            r = self.client.post("/v1/events", json=rec, headers={"Authorization": f"Bearer {RESPONDER}"})
            assert r.status_code == 200 and r.json()["accepted"] == 1, r.text

    def alerts(self) -> dict[str, dict[str, Any]]:
        r = self.client.get("/v1/alerts", params={"status": "open"}, headers={"Authorization": f"Bearer {VIEWER}"})
        assert r.status_code == 200, r.text
        out = {}
        for a in r.json()["alerts"]:
            full = self.client.get(f"/v1/alerts/{a['id']}", headers={"Authorization": f"Bearer {VIEWER}"})
            out[f"{a['rule']}@{a['grid']}"] = full.json()
        return out


def serve(tmp: Path, fusion: bool) -> Iterator[Api]:
    a = Api(tmp, fusion)
    a.start()
    try:
        yield a
    finally:
        a.stop()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """Rules only (no corroboration configured)."""
    yield from serve(tmp_path, False)


@pytest.fixture
def fused(tmp_path: Path) -> Iterator[Api]:
    """Rules and corroboration (``detectors.fusion``)."""
    yield from serve(tmp_path, True)


def eventually(get: Callable[[], Any], ok: Callable[[Any], bool], what: str, timeout: float = 20.0) -> Any:
    """``get()`` once ``ok`` of it (the service's tick loop runs every second)."""
    deadline = time.monotonic() + timeout
    while not ok(got := get()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {got}"
        time.sleep(0.1)
    return got


def reading(minute: int, value: float, grid: str = "G1") -> dict[str, Any]:
    return {"feed": "sensor", "source": f"gauge-{grid}", "id": f"{grid}-{minute}", "grid": grid,
            "ts": T0 + 60.0 * minute, "metric": "water_level", "value": value}


def complaint(minute: int, grid: str) -> dict[str, Any]:
    return {"feed": "complaint", "source": "12345", "id": f"c-{grid}-{minute}", "grid": grid, "ts": T0 + 60.0 * minute,
            "category": "flooding", "text": "路面积水"}


def test_a_rainstorm_warning_brings_the_rivers_yellow_earlier_only_while_it_is_open(api: Api) -> None:
    api.send(reading(0, 2.45))  # under the river's yellow (2.5): blue
    assert api.alerts()["river@G1"]["level"] == "blue"
    [raised] = api.post_warning(cap("CMA-440104-001"))
    assert (raised["outcome"], raised["grids"]) == ("raised", ["G1"])
    api.send(reading(20, 2.45), reading(20, 2.45, "G2"))  # G1 under the warning (yellow at 2.4); G2 not
    alerts = api.alerts()
    river = alerts["river@G1"]
    assert river["level"] == "yellow"
    ev = next(e for e in reversed(river["evidence"]) if e.get("detector") == "threshold")
    assert (ev["warning"]["sender"], ev["warning"]["identifier"], ev["warning"]["event"]) == (
        SENDER, "CMA-440104-001", "暴雨 Rainstorm")
    assert (ev["thresholds"]["yellow"], ev["normal_thresholds"]["yellow"]) == (2.4, 2.5)
    assert alerts["river@G2"]["level"] == "blue"

    [cancelled] = api.post_warning(cap("CMA-440104-002", "Cancel", f"{SENDER},CMA-440104-001,2026-07-01T00:10:00Z"))
    assert cancelled["outcome"] == "cancelled"
    api.send(reading(40, 2.45))  # the same water, the warning gone: back to blue
    river = api.alerts()["river@G1"]
    assert [(t["kind"], t["level"]) for t in river["timeline"] if t["kind"] in ("raised", "upgraded", "downgraded")
            ] == [("raised", "blue"), ("upgraded", "yellow"), ("downgraded", "blue")]
    assert "warning" not in river["evidence"][-1]


def test_an_open_warning_corroborates_the_local_signals_of_its_grid_only(fused: Api) -> None:
    api = fused
    api.send(reading(0, 2.6))  # the river at yellow before any warning
    [raised] = api.post_warning(cap("CMA-440104-003"))
    river = eventually(lambda: api.alerts()["river@G1"], lambda a: a["level"] == "orange", "the river corroborated")
    assert river["certainty"] == "Observed"  # a threshold crossing under a warning: one level up
    [corr] = [e for e in river["evidence"] if e.get("kind") == "corroboration"]
    assert [(w["sender"], w["identifier"]) for w in corr["warnings"]] == [(SENDER, "CMA-440104-003")]

    later = 200  # minutes: beyond the window of the river's signal, the warning alone corroborates
    api.send(complaint(later, "G1"), complaint(later + 1, "G1"), complaint(later, "G2"), complaint(later + 1, "G2"))
    alerts = api.alerts()
    g1, g2 = alerts["flooding@G1"], alerts["flooding@G2"]
    assert (g1["level"], g1["certainty"]) == ("yellow", "Likely")  # blue count, one level up: a second feed
    [corr] = [e for e in g1["evidence"] if e.get("kind") == "corroboration"]
    assert [(w["sender"], w["identifier"], w["event"]) for w in corr["warnings"]] == [
        (SENDER, "CMA-440104-003", "暴雨 Rainstorm")]
    assert (g2["level"], g2["certainty"]) == ("blue", "Possible")  # G2 is not under the warning
    warning = next(a for a in alerts.values() if a["feed"] == "warning")
    assert warning["id"] == raised["alert_id"] and warning["level"] == "orange"
    assert not any(e.get("kind") == "corroboration" for e in warning["evidence"])  # never by itself
