"""CAP warnings through the HTTP API of the embedded service, over the example configuration: a red rain-flood
warning POSTed as CAP XML becomes one alert on the node above its grids and is listed with its area; its Update
and Cancel (following references) change and resolve that alert; bad bodies are answered 4xx with reasons and
kept as dead letters, beside the good ones of the same batch."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from fenghuo.api.app import create_app
from fenghuo.api.auth import ensure_keys
from fenghuo.core.clock import FixedClock
from fenghuo.core.config import load_config
from fenghuo.core.settings import Settings
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.runtime.embedded import Pipeline
from tests.support import ROOT, free_port

FIXTURES = ROOT / "tests" / "fixtures" / "cap"
KEYS = {"viewer": "viewer-key-0000000000", "responder": "responder-key-00000000", "analyst": "analyst-key-0000000000"}
CAP = {"Content-Type": "application/cap+xml"}


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class Api:
    def __init__(self, tmp: Path) -> None:
        settings = Settings(data_dir=tmp, api_keys=",".join(f"{r}:{r}:{k}" for r, k in KEYS.items()))
        keyring, _ = ensure_keys(settings)
        self.clock = FixedClock(ts("2020-01-22T06:10:00+01:00"))
        self.p = Pipeline(settings, load_config(ROOT / "fenghuo" / "demo" / "fenghuo.example.yaml"),
                          SqliteStore(tmp / "db.sqlite"), clock=self.clock, notifiers={})
        port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(create_app(lambda: self.p, keyring, settings=settings),
                                                    host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)

    def post(self, content: bytes, role: str = "responder", headers: dict[str, str] | None = None,
             **params: str) -> httpx.Response:
        return self.http.post("/v1/warnings", content=content, params=params,
                              headers={**CAP, **(headers or {}), "Authorization": f"Bearer {KEYS[role]}"})

    def get(self, path: str, role: str = "viewer", **params: Any) -> Any:
        r = self.http.get(path, params=params, headers={"Authorization": f"Bearer {KEYS[role]}"})
        assert r.status_code == 200, r.text
        return r.json()

    def stop(self) -> None:
        self.http.close()
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("FENGHUO_WEBHOOK_SECRET", "test-only")
    a = Api(tmp_path)
    try:
        yield a
    finally:
        a.stop()


def test_a_posted_red_warning_is_one_alert_listed_with_its_area_and_its_update_and_cancel_follow(api: Api) -> None:
    r = api.post(body("gloria-red-rain.xml"))
    assert r.status_code == 200, r.text
    [raised] = r.json()["results"]
    assert (raised["outcome"], raised["grids"]) == ("raised", ["FR-l-agly", "FR-l-aude", "FR-l-orbieu", "FR-le-tech"])
    [w] = api.get("/v1/warnings")["warnings"]
    assert (w["sender"], w["level"], w["event"], w["origin"], w["state"]) == (
        "vigilance@meteo.example.fr", "red", "暴雨洪涝", "http", "open")
    assert w["areas"][0]["polygons"][0][0] == [42.35, 2.1] and w["expires"] == ts("2020-01-23T06:00:00+01:00")
    [alert] = api.get("/v1/alerts", feed="warning")["alerts"]
    assert (alert["grid"], alert["level"], alert["status"], alert["source"]) == (
        "OCC-Y", "red", "open", "vigilance@meteo.example.fr")
    assert api.post(body("gloria-red-rain.xml")).json()["results"][0]["outcome"] == "duplicate"
    api.clock.set(ts("2020-01-22T16:05:00+01:00"))
    assert api.post(body("gloria-update-orange.xml"), headers={"Content-Type": "text/xml"}).json()[
        "results"][0]["outcome"] == "updated"
    assert api.get(f"/v1/alerts/{alert['id']}")["level"] == "orange"
    api.clock.set(ts("2020-01-23T00:05:00+01:00"))
    assert api.post(body("gloria-cancel.xml")).json()["results"][0]["outcome"] == "cancelled"
    done = api.get(f"/v1/alerts/{alert['id']}")
    assert done["status"] == "resolved" and [e["actor"] for e in done["timeline"] if e["kind"] == "resolved"] == [
        "cap:vigilance@meteo.example.fr"]
    assert api.get("/v1/warnings")["warnings"] == []
    assert [x["state"] for x in api.get("/v1/warnings", status="all")["warnings"]] == [
        "cancelled", "cancelled", "superseded"]


def test_bad_bodies_are_refused_with_reasons_and_dead_lettered_and_a_batch_keeps_its_good_ones(api: Api) -> None:
    assert api.post(body("gloria-red-rain.xml"), role="viewer").status_code == 403
    assert api.post(body("gloria-red-rain.xml"), headers={"Content-Type": "application/json"}).status_code == 415
    assert api.post(body("gloria-red-rain.xml"), drill="gloria-r1").status_code == 403  # may not mark drills
    not_xml = api.post(body("not-xml.xml"))
    assert not_xml.status_code == 422 and "not well-formed XML" in not_xml.text
    invalid = api.post(body("invalid-msgtype.xml"))
    assert invalid.status_code == 422
    assert "msgType" in invalid.json()["detail"]["results"][0]["reason"]
    too_big = api.post(b"<alert>" + b" " * 1_100_000 + b"</alert>")
    assert too_big.status_code == 413
    good, bad = body("gloria-red-rain.xml"), body("invalid-msgtype.xml")
    batch = api.post(b"<batch>" + good[good.index(b"<alert"):] + bad[bad.index(b"<alert"):] + b"</batch>")
    assert batch.status_code == 200, batch.text
    assert [x["outcome"] for x in batch.json()["results"]] == ["raised", "rejected"]
    assert [x["identifier"] for x in batch.json()["rejected"]] == ["BFD-2015-03-04-BAD-1"]
    dead = api.get("/v1/deadletters", role="analyst")
    assert dead["total"] == 3 and all(d["record"]["feed"] == "warning" for d in dead["items"])
    assert api.http.get("/v1/warnings", params={"status": "nope"},
                        headers={"Authorization": f"Bearer {KEYS['viewer']}"}).status_code == 422
