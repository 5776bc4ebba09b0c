"""A gauge cut off mid-flood, in the embedded service: the real L'Agly readings of Storm Gloria replayed
through the Pipeline on an injected clock that the service's tick loop follows, the gauge falls silent as
the river rises, and a ``sensor-silent`` alert is raised within the configured multiple of its interval (at
the higher level: it went silent while above the rule's blue), shown by the HTTP API, and cleared when the
gauge reports again. A history replayed on the wall clock pages nobody afterwards."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from fenghuo.api.app import create_app
from fenghuo.api.auth import ensure_keys
from fenghuo.core.clock import FixedClock
from fenghuo.core.config import parse_config
from fenghuo.core.models import Alert, parse_ts
from fenghuo.core.settings import Settings
from fenghuo.core.store import AlertQuery
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.runtime.embedded import Pipeline
from tests.flood_support import KINDS, RULE, STATION, TIERS, station_rows, tier_nodes
from tests.support import free_port

SILENT_AFTER = 5  # intervals
VIEWER = "viewer-key-000000000"


def config(health: dict[str, Any]) -> dict[str, Any]:
    return {"nodes": tier_nodes(), "channels": [{"name": k, "type": "log"} for k in KINDS],
            "responders": [{"id": f"duty-{k}", "name": k, "node": n, "channels": [k]}
                           for n, k in zip(TIERS, KINDS, strict=True)],
            "rules": [{"id": "river-level", **RULE}], "detectors": {"health": health}}


class Service:
    """The embedded pipeline on a FixedClock; ``tick`` is what the service's loop does every second."""

    def __init__(self, tmp: Path, health: dict[str, Any]) -> None:
        self.clock = FixedClock(0.0)
        self.p = Pipeline(Settings(data_dir=tmp), parse_config(config(health)), SqliteStore(tmp / "db.sqlite"),
                          clock=self.clock)
        self.p.recover()

    def send(self, rows: list[dict[str, Any]]) -> None:
        """Each reading as the gauge sends it: at its own time, the loop ticking just before it arrives."""
        for r in rows:
            self.at(parse_ts(r["ts"]))
            assert self.p.ingest([{**r, "grid": TIERS[0]}]).accepted == 1

    def at(self, t: float) -> None:
        self.clock.set(t)
        self.p.tick()

    def silent(self) -> list[Alert]:
        return [a for a in self.p.store.list_alerts(AlertQuery(limit=1000)) if a.rule == "sensor-silent"]


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Service]:
    s = Service(tmp_path, {"silent_after": SILENT_AFTER, "silent_min_s": 60})
    yield s
    s.p.stop()


def test_a_gauge_cut_off_mid_flood_raises_sensor_silent_within_the_multiple_and_clears(svc: Service) -> None:
    rows = station_rows()
    cut = next(i for i, r in enumerate(rows) if r["value"] >= RULE["levels"]["orange"])  # rising through 11 m
    svc.send(rows[:cut + 1])
    assert svc.silent() == []  # 2 weeks of 10-minute readings (gaps up to 50 min): never silent
    last = parse_ts(rows[cut]["ts"])
    t = last
    while not svc.silent():
        t += 60.0  # the loop ticks every second; a minute's steps are enough to time it
        svc.at(t)
        assert t - last <= 2 * SILENT_AFTER * 600.0, "no sensor-silent alert"
    assert SILENT_AFTER * 600.0 < t - last <= SILENT_AFTER * 600.0 + 60.0  # 5 x the learned 10 minutes
    [alert] = svc.silent()
    assert (alert.grid, alert.source, alert.series, str(alert.risk)) == (
        TIERS[0], STATION, f"{STATION}/water_level_m", "safety")
    assert alert.level.name_en == "orange"  # silent while above blue (7 m): the higher level
    reason = alert.timeline[0].detail or ""
    assert "no reading for 51 min" in reason and "usual interval of 10 min" in reason and "while high" in reason

    svc.at(t + 600.0)  # the gauge is back, sending the reading it had kept
    assert svc.p.ingest([{**rows[cut + 1], "grid": TIERS[0]}]).accepted == 1
    [alert] = svc.silent()
    assert alert.cleared and alert.level.name_en == "orange"
    assert "water_level_m: reporting again (a reading 10 min after the one before)" in (alert.timeline[-1].detail or "")


def test_the_api_shows_the_silent_alert(tmp_path: Path) -> None:
    """The same silence through the HTTP API of the running service (uvicorn on loopback; its own tick loop
    runs on the same clock, so whichever tick comes first at the set time raises the alert)."""
    settings = Settings(data_dir=tmp_path, api_keys=f"viewer:wang:{VIEWER}")
    keyring, _ = ensure_keys(settings)
    svc = Service(tmp_path, {})
    rows = station_rows()[:200]
    svc.send(rows)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(lambda: svc.p, keyring, settings=settings),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        svc.at(parse_ts(rows[-1]["ts"]) + 3001.0)  # past 5 intervals of 10 min (the default silent_after)
        r = httpx.get(f"http://127.0.0.1:{port}/v1/alerts", params={"status": "open"},
                      headers={"Authorization": f"Bearer {VIEWER}"}, timeout=30)
        assert r.status_code == 200, r.text
        alerts = [a for a in r.json()["alerts"] if a["rule"] == "sensor-silent"]
        assert [(a["level"], a["series"], a["risk"]) for a in alerts] == [
            ("yellow", f"{STATION}/water_level_m", "safety")]  # about 5.5 m: below blue, the default level
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_history_replayed_on_the_wall_clock_pages_nobody(tmp_path: Path) -> None:
    svc = Service(tmp_path, {"silent_after": SILENT_AFTER})
    rows = station_rows()
    end = parse_ts(rows[-1]["ts"])
    svc.at(end + 30 * 86400.0)  # the wall clock a month after the flood
    for i in range(0, len(rows), 500):
        assert svc.p.ingest([{**r, "grid": TIERS[0]} for r in rows[i:i + 500]]).accepted == len(rows[i:i + 500])
        svc.p.tick()
    for hours in range(1, 49):
        svc.at(end + 30 * 86400.0 + 3600.0 * hours)
    assert svc.silent() == []
    assert [a.rule for a in svc.p.open_alerts() if a.rule.endswith("-silent")] == []  # nor the feed watch
    assert svc.p.engine.next_due() == {}
    svc.p.stop()


def test_no_health_detector_no_feed_watch(tmp_path: Path) -> None:
    p = Pipeline(Settings(data_dir=tmp_path), parse_config({"nodes": [{"id": "D", "name": "D", "kind": "district"}]}),
                 SqliteStore(tmp_path / "db.sqlite"), clock=FixedClock(0.0), notifiers={})
    assert p.feed_watch is None and p.engine.next_due() == {}
    p.stop()

