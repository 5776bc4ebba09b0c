"""Two fenghuo instances on loopback, each subscribed to the other's CAP feed (polled every second).

The upstream district's river gauge crosses red: its flood alert appears, within seconds, at the downstream
district's river grids (its area mapped by polygon), and the downstream feed re-publishes it under its own
sender with the upstream origin in it; the upstream, subscribed to the downstream, refuses that echo. The
upstream resolves its alert: the Cancel clears the warning downstream, and the downstream's own Cancel is
refused upstream too. Embedded runtimes with SQLite (``fenghuo run``), real HTTP between them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from tests.support import Service

UP_SENDER, DOWN_SENDER = "fenghuo@upstream.example", "fenghuo@downstream.example"
RULE = {"id": "river", "metric": "water_level_m", "levels": {"blue": 3, "yellow": 4, "orange": 5, "red": 6}}
T = TypeVar("T")


def square(lon0: float, lat0: float, dlon: float, dlat: float) -> list[list[float]]:
    return [[lon0, lat0], [lon0 + dlon, lat0], [lon0 + dlon, lat0 + dlat], [lon0, lat0 + dlat]]


def tree(district: str, communities: dict[str, dict[str, list[list[float]]]]) -> list[dict[str, Any]]:
    """A district, one street, the given communities with their grids' polygons ((lon, lat) rings)."""
    nodes: list[dict[str, Any]] = [{"id": district, "name": f"{district}区", "kind": "district"},
                                   {"id": f"{district}-S", "name": "街道", "kind": "street", "parent": district}]
    for community, grids in communities.items():
        nodes.append({"id": community, "name": community, "kind": "community", "parent": f"{district}-S"})
        nodes += [{"id": g, "name": g, "kind": "grid", "parent": community, "polygon": ring}
                  for g, ring in grids.items()]
    return nodes


# the river leaves the upstream grid U-RIVER and runs on through the downstream grids D-R1 and D-R2 (which overlap
# the upstream grid's edge); the downstream town D-TOWN is far from it
UPSTREAM_NODES = tree("UP", {"UP-C": {"U-RIVER": square(113.00, 23.00, 0.02, 0.02),
                                      "U-HILL": square(112.90, 23.10, 0.02, 0.02)}})
DOWNSTREAM_NODES = tree("DOWN", {"C-RIVER": {"D-R1": square(113.015, 23.00, 0.015, 0.01),
                                             "D-R2": square(113.015, 23.01, 0.015, 0.01)},
                                 "C-TOWN": {"D-TOWN": square(113.10, 23.10, 0.02, 0.02)}})


def config(nodes: list[dict[str, Any]], sender: str, source: str, peer_url: str, key_env: str) -> dict[str, Any]:
    return {"nodes": nodes, "rules": [RULE],
            "warnings": {"sender": sender, "sources": [
                {"name": source, "url": f"{peer_url}/v1/cap/feed.atom", "every": 1, "key_env": key_env}]}}


def keys(prefix: str) -> dict[str, str]:
    return {role: f"{prefix}-{role}-key-0000000000" for role in ("viewer", "responder", "analyst", "admin")}


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Service, Service]]:
    up_keys, down_keys = keys("up"), keys("down")
    up = Service(tmp_path / "up", {}, keys=up_keys,
                 env={"FENGHUO_CAP_SENDER": UP_SENDER, "FENGHUO_DOWNSTREAM_KEY": down_keys["viewer"]})
    down = Service(tmp_path / "down", {}, keys=down_keys,
                   env={"FENGHUO_CAP_SENDER": DOWN_SENDER, "FENGHUO_UPSTREAM_KEY": up_keys["viewer"]})
    for svc, cfg in ((up, config(UPSTREAM_NODES, UP_SENDER, "downstream", down.url, "FENGHUO_DOWNSTREAM_KEY")),
                     (down, config(DOWNSTREAM_NODES, DOWN_SENDER, "upstream", up.url, "FENGHUO_UPSTREAM_KEY"))):
        assert svc.config_path is not None
        svc.config_path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    with ThreadPoolExecutor(2) as pool:  # both start at once (each waits for its /healthz)
        starts = [pool.submit(svc.start) for svc in (up, down)]
    try:
        for f in starts:
            f.result()
        yield up, down
    finally:
        for svc in (up, down):
            if svc.proc is not None and svc.proc.poll() is None:
                svc.stop()


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 15.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def warnings_of(client: httpx.Client, status: str = "open") -> list[dict[str, Any]]:
    r = client.get("/v1/warnings", params={"status": status})
    assert r.status_code == 200, r.text
    return list(r.json()["warnings"])


def source_health(client: httpx.Client) -> dict[str, Any]:
    (src,) = client.get("/v1/warnings/sources").json()["sources"]
    return dict(src)


def test_a_red_flood_upstream_reaches_the_river_grids_downstream_and_its_cancel_clears_it(
        pair: tuple[Service, Service]) -> None:
    up, down = pair
    with up.client("responder") as upc, down.client("viewer") as downc:
        # both pollers are up and reach each other (keys from their environment variables)
        wait_for("both sources polled", lambda: source_health(upc)["status"] == "ok"
                 and source_health(downc)["status"] == "ok")
        r = upc.post("/v1/events", json=[{"feed": "sensor", "source": "gauge-1", "ts": time.time(), "grid": "U-RIVER",
                                          "metric": "water_level_m", "value": 7.4}])
        assert r.status_code == 200, r.text
        def red_upstream() -> dict[str, Any] | None:
            alerts = upc.get("/v1/alerts").json()["alerts"]
            return next((a for a in alerts if a["grid"] == "U-RIVER" and a["level"] == "red"), None)
        flood = wait_for("the upstream red alert", red_upstream)

        # downstream: the warning lands on its river grids, not its town, as one red alert above them
        (warning,) = wait_for("the warning downstream", lambda: warnings_of(downc))
        assert (warning["sender"], warning["identifier"]) == (UP_SENDER, f"fenghuo.{flood['id']}.1")
        assert (warning["origin"], warning["level"], sorted(warning["grids"])) == ("upstream", "red", ["D-R1", "D-R2"])
        (held,) = [a for a in downc.get("/v1/alerts").json()["alerts"] if a["feed"] == "warning"]
        assert (held["grid"], held["level"], held["status"]) == ("C-RIVER", "red", "open")

        # the downstream feed re-publishes it as its own sender, with the upstream origin in it
        cap = downc.get(f"/v1/cap/alerts/{held['id']}.xml")
        assert cap.status_code == 200
        assert f"<sender>{DOWN_SENDER}</sender>".encode() in cap.content
        assert f"{UP_SENDER},fenghuo.{flood['id']}.1,".encode() in cap.content  # FENGHUO_ORIGIN
        # ... which the upstream, polling the downstream, refuses as its own echo
        wait_for("the echo refused upstream", lambda: source_health(upc)["outcomes"].get("ignored_loop"))
        assert warnings_of(upc, "all") == []

        # the upstream resolves its alert: its feed now carries the Cancel, which clears the warning downstream
        r = upc.post(f"/v1/alerts/{flood['id']}/resolve", json={"comment": "水位回落 the river fell"})
        assert r.status_code == 200, r.text
        wait_for("the warning cleared downstream", lambda: not warnings_of(downc))
        cleared = downc.get(f"/v1/alerts/{held['id']}").json()
        assert cleared["status"] == "resolved"
        cancelled = {w["identifier"]: w["msg_type"] for w in warnings_of(downc, "cancelled")}
        assert cancelled == {f"fenghuo.{flood['id']}.1": "Alert", f"fenghuo.{flood['id']}.2": "Cancel"}
        # the downstream's own Cancel (its alert resolved) is refused upstream as well: nothing taken back there
        wait_for("the downstream Cancel refused upstream",
                 lambda: source_health(upc)["outcomes"].get("ignored_loop", 0) >= 2)
        assert warnings_of(upc, "all") == []
        assert source_health(downc)["failures"] == 0
