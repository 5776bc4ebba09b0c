"""The HTTP API's defences, each finding of issue 9 replayed against a real server on loopback.

The app runs in uvicorn (in a thread) over a real pipeline and SQLite store. The failed sign-in limiter's
clock is a list the test moves, so no test sleeps. Uvicorn trusts X-Forwarded-For from 127.0.0.1 here,
which lets one test speak from many addresses.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
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
from fenghuo.core.config import parse_config
from fenghuo.core.settings import Settings
from fenghuo.runtime.embedded import build_pipeline
from tests.support import ROOT, free_port

KEYS = {"viewer": "viewer-key-000000000", "responder": "responder-key-0000000",
        "analyst": "analyst-key-000000000", "admin": "admin-key-00000000000"}
NAMES = {"viewer": "wang.viewer", "responder": "li.duty", "analyst": "zhao.analyst", "admin": "ops"}
TREE = [
    {"id": "D", "name": "区", "kind": "district"},
    {"id": "S", "name": "街道", "kind": "street", "parent": "D"},
    {"id": "C", "name": "社区", "kind": "community", "parent": "S"},
    {"id": "G1", "name": "一号网格", "name_en": "Grid 1", "kind": "grid", "parent": "C", "centroid": [42.05, 2.05]},
]
RULE = {"feed": "sensor", "metric": "gas_ppm", "levels": {"blue": 10, "red": 50}}
LIMIT = 20
WINDOW = 60.0


class Served:
    """create_app over a real pipeline, served by uvicorn on a free loopback port."""

    def __init__(self, data_dir: Path, **settings: Any) -> None:
        self.now = [1000.0]  # the limiter's clock (monotonic seconds)
        keys = ",".join(f"{role}:{NAMES[role]}:{key}" for role, key in KEYS.items())
        self.settings = Settings(data_dir=data_dir, api_keys=keys, auth_fail_limit=LIMIT,
                                 auth_fail_window_seconds=WINDOW, tick_seconds=0.1, **settings)
        config = parse_config({"nodes": TREE, "rules": [{"id": "gas", **RULE}]})
        keyring, _ = ensure_keys(self.settings)
        self.app = create_app(lambda: build_pipeline(self.settings, config), keyring, settings=self.settings,
                              clock=lambda: self.now[0])
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    proxy_headers=True, forwarded_allow_ips="127.0.0.1"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def client(self, role: str | None = None, **headers: str) -> httpx.Client:
        auth = {"Authorization": f"Bearer {KEYS[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers={**auth, **headers}, timeout=30)

    @property
    def pipeline(self) -> Any:
        """The embedded Pipeline behind the app (the tests publish to its broadcaster)."""
        return self.app.state.service


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = Served(tmp_path).start()
    yield s
    s.stop()


def raw_request(port: int, head: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send a request by hand (to declare a body larger than what is sent, or send it chunked); the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        header, _, rest = data.partition(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        want = int(headers.get("content-length", "0"))
        while len(rest) < want:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return int(lines[0].split()[1]), headers, rest


def reading(value: float, ts: str, **kw: Any) -> dict[str, Any]:
    return {"feed": "sensor", "source": "gas-1", "ts": ts, "grid": "G1", "metric": "gas_ppm", "value": value, **kw}


def red_alert(s: Served, ts: str = "2024-05-02T00:00:00Z", source: str = "gas-1") -> str:
    r = s.client("responder").post("/v1/events", json=[reading(60.0, ts, source=source)])
    assert r.json()["accepted"] == 1, r.text
    alerts = s.client("viewer").get("/v1/alerts", params={"status": "open"}).json()["alerts"]
    return str(next(a["id"] for a in alerts if a["source"] == source))


# -- 1. the key before the body; body limits while reading ---------------------------------------------

@pytest.mark.parametrize("path", ["/v1/events", "/v1/alerts/x/ack", "/v1/rules/thresholds/backtest"])
def test_a_request_without_a_valid_key_is_refused_before_its_body_is_read(served: Served, path: str) -> None:
    # 97 MB declared, 1 KiB sent: the answer comes without waiting for the rest
    status, headers, body = raw_request(served.port, f"POST {path} HTTP/1.1\nHost: x\nContent-Type: application/json\n"
                                                     f"Content-Length: 97000000\n", b"[" * 1024)
    assert status == 401 and "missing API key" in json.loads(body)["detail"]
    status, _, body = raw_request(served.port, f"POST {path} HTTP/1.1\nHost: x\nAuthorization: Bearer nope-nope-nope\n"
                                               f"Content-Length: 97000000\n", b"[" * 1024)
    assert status == 401 and json.loads(body)["detail"] == "invalid API key"


def test_a_role_too_low_for_a_body_route_is_refused_before_the_body(served: Served) -> None:
    status, _, body = raw_request(served.port, f"POST /v1/events HTTP/1.1\nHost: x\nAuthorization: Bearer "
                                               f"{KEYS['viewer']}\nContent-Length: 97000000\n", b"[" * 1024)
    assert status == 403 and "responder role" in json.loads(body)["detail"]


@pytest.mark.parametrize("method, path, role, limit", [
    ("POST", "/v1/alerts/x/ack", "responder", 64 * 1024),
    ("POST", "/v1/alerts/x/resolve", "responder", 64 * 1024),
    ("PUT", "/v1/rules/thresholds/gas", "analyst", 1024 * 1024),
    ("POST", "/v1/rules/thresholds/backtest", "analyst", 1024 * 1024),
    ("POST", "/v1/events", "responder", 64 * 1024 * 1024),
])
def test_bodies_over_the_route_limit_get_413_by_declared_length(served: Served, method: str, path: str, role: str,
                                                                limit: int) -> None:
    status, _, body = raw_request(served.port, f"{method} {path} HTTP/1.1\nHost: x\nAuthorization: Bearer {KEYS[role]}"
                                               f"\nContent-Type: application/json\nContent-Length: {limit + 1}\n", b"{")
    assert status == 413 and "limit of this route" in json.loads(body)["detail"]


def test_a_chunked_body_is_counted_as_it_streams(served: Served) -> None:
    comment = "x" * (70 * 1024)
    payload = json.dumps({"comment": comment}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(payload[i:i + 8192]), payload[i:i + 8192])
                      for i in range(0, len(payload), 8192)) + b"0\r\n\r\n"
    status, _, body = raw_request(served.port, f"POST /v1/alerts/x/ack HTTP/1.1\nHost: x\nAuthorization: Bearer "
                                               f"{KEYS['responder']}\nContent-Type: application/json\n"
                                               "Transfer-Encoding: chunked\n", chunks)
    assert status == 413 and "64 KiB" in json.loads(body)["detail"]
    # under the limit, chunked, the same route works (404: no such alert)
    small = json.dumps({"comment": "ok"}).encode()
    one_chunk = b"%x\r\n%s\r\n0\r\n\r\n" % (len(small), small)
    status, _, _ = raw_request(served.port, f"POST /v1/alerts/x/ack HTTP/1.1\nHost: x\nAuthorization: Bearer "
                                            f"{KEYS['responder']}\nContent-Type: application/json\n"
                                            "Transfer-Encoding: chunked\n", one_chunk)
    assert status == 404


def test_events_take_a_large_batch_under_the_limit(served: Served) -> None:
    batch = [reading(1.0, f"2024-05-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z") for i in range(20000)]
    r = served.client("responder").post("/v1/events", content="\n".join(json.dumps(x) for x in batch))
    assert r.status_code == 200 and r.json()["accepted"] == 20000


# -- 4. rate limits on failed sign-ins; 3. and their audit rows ------------------------------------------

def test_failed_sign_ins_from_one_address_get_429_with_retry_after(served: Served) -> None:
    with httpx.Client(base_url=served.url) as c:
        statuses = [c.get("/v1/alerts", headers={"Authorization": f"Bearer wrong-{i:04d}-xxxxxxxxxxxx"}).status_code
                    for i in range(LIMIT + 5)]
        assert statuses == [401] * LIMIT + [429] * 5
        r = c.get("/v1/alerts", headers={"Authorization": f"Bearer {KEYS['viewer']}"})
        assert r.status_code == 429 and r.headers["Retry-After"] == "60"  # the address is held, whatever the key
        served.now[0] += 45
        assert c.get("/v1/alerts", headers={"Authorization": "Bearer wrong"}).headers["Retry-After"] == "15"
        served.now[0] += 15  # the window is over
        assert c.get("/v1/alerts", headers={"Authorization": f"Bearer {KEYS['viewer']}"}).status_code == 200
    # another address was never held
    other = served.client("viewer", **{"X-Forwarded-For": "203.0.113.9"})
    assert other.get("/v1/alerts").status_code == 200


def test_failed_sign_ins_with_one_key_prefix_from_many_addresses_get_429(served: Served) -> None:
    with httpx.Client(base_url=served.url) as c:
        statuses = [c.get("/v1/alerts", headers={"Authorization": f"Bearer admin-ke-guess-{i}",
                                                 "X-Forwarded-For": f"198.51.100.{i}"}).status_code
                    for i in range(LIMIT + 3)]
    assert statuses == [401] * LIMIT + [429] * 3


def test_failed_sign_ins_reach_the_audit_log_without_flooding_it(served: Served) -> None:
    with httpx.Client(base_url=served.url) as c:
        for i in range(400):  # 2 tries from each of 200 addresses: under the per-address limit
            c.get("/v1/alerts", headers={"Authorization": f"Bearer w{i}-not-a-key",
                                         "X-Forwarded-For": f"192.0.2.{i % 200}"})
    admin = served.client("admin")
    rows = [r for r in admin.get("/v1/audit", params={"limit": 1000}).json()["items"]
            if r["action"].startswith("auth.")]
    assert 1 <= len(rows) <= 30  # one row per address, at most 30 a window
    first = next(r for r in rows if r["action"] == "auth.failed")
    assert first["target"].startswith("192.0.2.") and json.loads(first["detail"])["reason"] == "invalid API key"
    assert "not-a-key" not in first["detail"]  # never the presented key
    served.now[0] += WINDOW  # the next failure after the window writes what was held back
    httpx.get(served.url + "/v1/alerts", headers={"Authorization": "Bearer again-xxxxxxxx"})
    items = admin.get("/v1/audit", params={"limit": 1000}).json()["items"]
    summary = next(r for r in items if r["action"] == "auth.failed.summary")
    assert json.loads(summary["detail"])["failures"] == 400 - len(rows)


def test_an_expired_key_is_refused_as_expired(tmp_path: Path) -> None:
    from fenghuo.api.keyfile import KeyFile

    past_soon = time.time() + 3600
    key = KeyFile(tmp_path / "api-keys").add("temp", "viewer", time.time(), expires=past_soon)
    s = Served(tmp_path)
    s.app.state.keyring.clock = lambda: past_soon + 1  # the key ring's wall clock, an hour on
    s.start()
    try:
        r = httpx.get(s.url + "/v1/alerts", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 401 and r.json()["detail"] == "key expired"
    finally:
        s.stop()


# -- 3. identity: the actor is the key's name; ack/resolve/rules audited --------------------------------

def test_the_actor_is_the_keys_name_and_by_is_only_a_note(served: Served) -> None:
    alert_id = red_alert(served)
    r = served.client("responder").post(f"/v1/alerts/{alert_id}/ack",
                                        json={"by": "system: auto-resolved", "comment": "on my way"})
    assert r.status_code == 200
    alert = served.client("analyst").get(f"/v1/alerts/{alert_id}").json()
    assert alert["acknowledged_by"] == "li.duty"
    ack = next(e for e in alert["timeline"] if e["kind"] == "acknowledged")
    assert ack["actor"] == "li.duty" and ack["detail"] == "by system: auto-resolved: on my way"
    assert served.client("responder").post(f"/v1/alerts/{alert_id}/resolve").json()["resolved_by"] == "li.duty"
    audit = served.client("admin").get("/v1/audit").json()["items"]
    acts = [(a["actor"], a["action"], a["target"]) for a in audit if a["action"].startswith("alert.")]
    assert acts == [("li.duty", "alert.resolve", alert_id), ("li.duty", "alert.ack", alert_id)]


def test_rule_changes_are_made_and_audited_as_the_keys_name(served: Served) -> None:
    analyst = served.client("analyst")
    assert analyst.put("/v1/rules/thresholds/co", json={**RULE, "metric": "co_ppm"}).json()["changed_by"] == \
        "zhao.analyst"
    assert analyst.delete("/v1/rules/thresholds/co").status_code == 200
    audit = served.client("admin").get("/v1/audit").json()["items"]
    assert [(a["actor"], a["action"]) for a in audit[:2]] == [("zhao.analyst", "rule.delete"),
                                                              ("zhao.analyst", "rule.put")]


# -- 2. drills need a key allowed to run them -------------------------------------------------------------

def test_marking_events_as_a_drill_needs_a_key_that_may(served: Served) -> None:
    body = [reading(60.0, "2024-05-03T00:00:00Z", source="gas-drill")]
    r = served.client("responder").post("/v1/events", params={"drill": "d1"}, json=body)
    assert r.status_code == 403 and "may not mark events as a drill" in r.json()["detail"]
    assert served.client("analyst").post("/v1/events", params={"drill": "d1"}, json=body).json()["accepted"] == 1
    # a drill named inside the record is refused the same way, record by record
    r = served.client("responder").post("/v1/events", json=[reading(61.0, "2024-05-03T00:01:00Z", drill="sneaky"),
                                                             reading(1.0, "2024-05-03T00:01:00Z", source="gas-2")])
    assert r.json()["accepted"] == 1 and [x["index"] for x in r.json()["rejected"]] == [0]
    assert "drill" in r.json()["rejected"][0]["error"]


def test_a_responder_key_flagged_for_drills_may_run_them(tmp_path: Path) -> None:
    from fenghuo.api.keyfile import KeyFile

    key = KeyFile(tmp_path / "api-keys").add("drill.lead", "responder", time.time(), drill=True)
    s = Served(tmp_path).start()
    try:
        r = httpx.post(s.url + "/v1/events", params={"drill": "d1"}, headers={"Authorization": f"Bearer {key}"},
                       json=[reading(60.0, "2024-05-03T00:00:00Z", source="gas-drill")])
        assert r.status_code == 200 and r.json()["accepted"] == 1
    finally:
        s.stop()


# -- 5. headers, /healthz, /metrics ---------------------------------------------------------------------

def test_security_headers_on_the_board_and_the_api(served: Served) -> None:
    board = httpx.get(served.url + "/")
    assert board.status_code == 200 and "烽火" in board.text
    csp = board.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert board.headers["X-Frame-Options"] == "DENY" and board.headers["X-Content-Type-Options"] == "nosniff"
    assert board.headers["Referrer-Policy"] == "no-referrer"
    api = served.client("viewer").get("/v1/alerts")
    assert api.headers["Cache-Control"] == "no-store" and api.headers["X-Content-Type-Options"] == "nosniff"
    refused = httpx.get(served.url + "/v1/alerts")
    assert refused.status_code == 401 and refused.headers["Cache-Control"] == "no-store"
    docs_csp = httpx.get(served.url + "/docs").headers["Content-Security-Policy"]
    assert "script-src 'self' 'unsafe-inline';" in docs_csp and "https:" not in docs_csp  # nothing from a CDN


def test_healthz_is_liveness_only_without_a_key_and_metrics_need_one(served: Served) -> None:
    assert httpx.get(served.url + "/healthz").json() == {"status": "ok"}
    assert "events_stored" in served.client("viewer").get("/healthz").json()
    assert httpx.get(served.url + "/metrics").status_code == 401
    m = served.client("viewer").get("/metrics")
    assert m.status_code == 200 and "# TYPE fenghuo_events_total counter" in m.text


def test_metrics_can_be_made_public(tmp_path: Path) -> None:
    s = Served(tmp_path, metrics_public=True).start()
    try:
        assert "fenghuo_events_total" in httpx.get(s.url + "/metrics").text
    finally:
        s.stop()


# -- 6. bounds on queries and bodies ---------------------------------------------------------------------

@pytest.mark.parametrize("path, role", [("/v1/alerts", "viewer"), ("/v1/deadletters", "analyst"),
                                        ("/v1/audit", "admin")])
@pytest.mark.parametrize("query", ["offset=99999999999999999999", "limit=-1", "limit=0",
                                   "limit=99999999999999999999"])
def test_integer_queries_out_of_range_get_422(served: Served, path: str, role: str, query: str) -> None:
    r = served.client(role).get(f"{path}?{query}")
    if path == "/v1/audit" and query.startswith("offset"):
        assert r.status_code == 200  # the audit log takes no offset
    else:
        assert r.status_code == 422, r.text


def test_series_refuses_a_century_of_hourly_buckets(served: Served) -> None:
    viewer = served.client("viewer")
    r = viewer.get("/v1/series", params={"feed": "complaint", "grid": "G1", "start": "0", "end": "100000000000"})
    assert r.status_code == 422 and "between 1970-01-01 and 2100-01-01" in r.json()["detail"]
    r = viewer.get("/v1/series", params={"feed": "complaint", "grid": "G1", "start": "0", "end": "4000000000"})
    assert r.status_code == 422 and "hourly buckets" in r.json()["detail"] and "narrow" in r.json()["detail"]
    r = viewer.get("/v1/series", params={"feed": "complaint", "grid": "G1", "start": "2024-01-01T00:00:00Z",
                                         "end": "2024-01-08T00:00:00Z"})
    assert r.status_code == 200 and len(r.json()["points"]) == 7 * 24 + 1
    assert viewer.get("/v1/series", params={"feed": "complaint", "start": "nan", "end": "1"}).status_code == 422


def test_series_within_bounds_answers_with_each_filter(served: Served) -> None:
    served.client("responder").post("/v1/events", json=[reading(1.5, "2024-05-01T00:00:00Z"),
                                                        reading(2.5, "2024-05-01T00:10:00Z", source="gas-2")])
    r = served.client("viewer").get("/v1/series", params={
        "feed": "sensor", "source": "gas-1", "metric": "gas_ppm", "start": "2024-04-30T23:00:00.000Z",
        "end": "2024-05-01T01:00:00.000Z"})  # as the board asks (milliseconds, Z)
    assert r.status_code == 200 and [p["value"] for p in r.json()["points"]] == [1.5]
    r = served.client("viewer").get("/v1/series", params={"feed": "sensor", "grid": "G1", "metric": "gas_ppm",
                                                          "start": "1714521600", "end": "1714525200"})
    assert [p["value"] for p in r.json()["points"]] == [1.5, 2.5]


@pytest.mark.parametrize("raw", [b'{"comment": "\\ud800"}', b'{"by": "\\udfff x"}',
                                 b'{"comment": "' + b"x" * 3000 + b'"}', b'{"unknown": 1}', b"[1, 2]", b"not json",
                                 b'{"comment": 5}', b"\x00" * 9])
def test_bad_ack_bodies_get_422_and_change_nothing(served: Served, raw: bytes) -> None:
    alert_id = red_alert(served)
    r = served.client("responder").post(f"/v1/alerts/{alert_id}/ack", content=raw,
                                        headers={"Content-Type": "application/json"})
    assert r.status_code == (400 if raw.startswith(b"\x00") else 422), r.text  # 400: not even JSON text
    assert "x" * 300 not in r.text  # the input is not echoed back
    assert served.client("viewer").get(f"/v1/alerts/{alert_id}").json()["status"] == "open"
    assert served.client("responder").post(f"/v1/alerts/{alert_id}/ack").status_code == 200  # still ackable


@pytest.mark.parametrize("raw", [
    b'{"feed": "sensor", "metric": "m", "title": "\\ud800", "levels": {"red": 5}}',
    b'{"feed": "sensor", "metric": "' + b"m" * 20000 + b'", "levels": {"red": 5}}',
    b'[{"feed": "sensor"}]', b"not json", b'{"feed": "sensor", "metric": "m", "levels": {"red": 1e999}}',
])
def test_bad_rule_bodies_get_422(served: Served, raw: bytes) -> None:
    r = served.client("analyst").put("/v1/rules/thresholds/bad", content=raw,
                                     headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert served.client("viewer").get("/v1/rules/thresholds/bad").status_code == 404


@pytest.mark.parametrize("body", [
    {"rule": {**RULE, "title": "\ud800"}, "start": "2024-01-01T00:00:00Z", "end": "2024-02-01T00:00:00Z"},
    {"rule": RULE, "start": "\ud800", "end": "2024-02-01T00:00:00Z"},
    {"rule": RULE, "start": 0, "end": 1e300},
    {"rule": RULE, "start": "2024-01-01T00:00:00Z", "end": "2024-02-01T00:00:00Z", "grid": "g" * 5000},
    {"rule": "not an object", "start": 0, "end": 1},
    {"rule": RULE, "start": "2000-01-01T00:00:00Z", "end": "2024-01-01T00:00:00Z"},  # 24 years of rows
])
def test_bad_backtest_bodies_get_422(served: Served, body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()  # ensure_ascii keeps a lone surrogate as the escape "\ud800"
    r = served.client("analyst").post("/v1/rules/thresholds/backtest", content=raw,
                                      headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text


# -- 7. the documented body of POST /v1/events ---------------------------------------------------------

def test_post_events_documents_its_body_in_the_openapi_schema(served: Served) -> None:
    op = httpx.get(served.url + "/openapi.json").json()["paths"]["/v1/events"]["post"]
    content = op["requestBody"]["content"]
    assert set(content) == {"application/json", "application/x-ndjson"}
    one, many = content["application/json"]["schema"]["oneOf"]
    assert one["type"] == "object" and many["type"] == "array" and many["maxItems"] == 100_000
    assert many["items"] == one and "feed" in one.get("properties", {"feed": None})
    drill = next(p for p in op["parameters"] if p["name"] == "drill")
    assert drill["schema"]["anyOf"][0]["maxLength"] == 256


# -- 8. personal data masked below analyst ----------------------------------------------------------

def test_phone_and_id_numbers_are_masked_for_roles_below_analyst(served: Served) -> None:
    alert_id = red_alert(served)
    note = "回电 13812345678，身份证 11010119900307123X"
    served.client("responder").post(f"/v1/alerts/{alert_id}/ack", json={"comment": note})
    detail = lambda role: next(e["detail"] for e in served.client(role).get(f"/v1/alerts/{alert_id}").json()[  # noqa: E731
        "timeline"] if e["kind"] == "acknowledged")
    assert detail("viewer") == detail("responder") == "回电 138****5678，身份证 110101********123X"
    assert detail("analyst") == detail("admin") == note


def test_a_number_in_a_complaint_category_is_masked_in_alert_listings(served: Served) -> None:
    analyst = served.client("analyst")
    assert analyst.put("/v1/rules/thresholds/noise", json={"feed": "complaint", "kind": "count", "category": "*",
                                                           "window_seconds": 3600, "levels": {"blue": 2}}
                       ).status_code == 200
    served.client("responder").post("/v1/events", json=[
        {"feed": "complaint", "source": "12345", "grid": "G1", "ts": f"2024-05-04T00:0{i}:00Z",
         "category": "噪音(来电13812345678)", "text": "楼上很吵"} for i in range(3)])
    seen = {role: json.dumps(served.client(role).get("/v1/alerts", params={"feed": "complaint"}).json(),
                             ensure_ascii=False) for role in ("viewer", "analyst")}
    assert "13812345678" in seen["analyst"] and "138****5678" in seen["viewer"]
    assert "13812345678" not in seen["viewer"]


def test_the_stream_masks_for_viewers(served: Served) -> None:
    got: list[dict[str, Any]] = []
    ready = threading.Event()

    def listen() -> None:
        with served.client("viewer").stream("GET", "/v1/alerts/stream") as r:
            for line in r.iter_lines():
                ready.set()
                if line.startswith("data: ") and ("13812345678" in line or "138****5678" in line):
                    got.append(json.loads(line[6:]))
                    return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    assert ready.wait(10)
    served.pipeline.broadcaster.publish({"type": "acknowledged", "alert": {
        "id": "x", "timeline": [{"kind": "acknowledged", "detail": "call 13812345678"}]}})
    t.join(10)
    assert got and got[0]["alert"]["timeline"][0]["detail"] == "call 138****5678"


def test_the_board_needs_nothing_its_content_security_policy_forbids() -> None:
    """No inline script, style or handler and nothing from another origin (Chromium runs the board itself in
    tests/browser/ when it is installed)."""
    static = ROOT / "api" / "static"
    html = (static / "index.html").read_text(encoding="utf-8")
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []  # every script from a file
    assert not re.search(r"<style|\sstyle=|\son[a-z]+=", html)
    for path in [static / "index.html", *static.rglob("*.js"), *static.rglob("*.css")]:
        text = path.read_text(encoding="utf-8").replace("http://www.w3.org/", "")
        assert not re.search(r"https?://|innerHTML|\beval\(|new Function|setAttribute\(\s*[\"']style", text), path
    assert re.findall(r'(?:src|href)="([^"#]+)"', html) == ["data:,", "style.css", "rules.css", "js/app.js"]


def test_metrics_render_in_kafka_mode_without_delivery_counters(tmp_path: Path) -> None:
    """The API's KafkaFront delivers nothing (the alert service does): its figures have no delivery outcomes,
    and /metrics leaves them out. Built for real, without a broker: nothing here connects."""
    from fenghuo.api.routes.health import render_metrics
    from fenghuo.core.store.sqlite import SqliteStore
    from fenghuo.runtime.kafka.front import KafkaFront
    from fenghuo.runtime.kafka.ingest_worker import make_kafka_ingest

    settings = Settings(data_dir=tmp_path, bus="kafka", kafka_bootstrap="127.0.0.1:9")
    config = parse_config({"nodes": TREE})
    front = KafkaFront(settings, config, SqliteStore(tmp_path / "db.sqlite"), make_kafka_ingest(settings, config))
    try:
        text = render_metrics(front.metrics())
    finally:
        front.store.close()
    assert "fenghuo_open_alerts{level=\"red\"} 0" in text and "fenghuo_notifications_total" not in text


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make a test certificate")
def test_run_serves_https_with_tls_cert_and_key(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    port = free_port()
    env = {**os.environ, "FENGHUO_API_KEYS": f"viewer:{KEYS['viewer']}"}
    with open(tmp_path / "log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "fenghuo", "run", "--port", str(port), "--data-dir",
                                 str(tmp_path / "data"), "--tls-cert", str(cert), "--tls-key", str(key)],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "log").read_text()
            try:
                r = httpx.get(f"https://127.0.0.1:{port}/v1/alerts", verify=ssl.create_default_context(cafile=cert),
                              headers={"Authorization": f"Bearer {KEYS['viewer']}"})
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert r.status_code == 200 and r.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert f"serving on https://127.0.0.1:{port}" in (tmp_path / "log").read_text()
    finally:
        proc.terminate()
        proc.wait(30)
