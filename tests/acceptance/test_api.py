"""The HTTP API as a client sees it: roles, errors, NDJSON, rules at runtime, SSE, docs, metrics.

Every test that takes ``svc`` runs against both runtimes behind the API's Service: the embedded pipeline
(``fenghuo run``) and the Kafka runtime (``fenghuo run`` with FENGHUO_BUS=kafka, its detector, alert and
store-writer workers on a real broker; skipped unless FENGHUO_TEST_KAFKA is set). In Kafka mode alerts
come a moment after the events that raise them, so the tests wait for them (:func:`eventually`).
"""

from __future__ import annotations

import hashlib
import json
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from fenghuo.runtime.kafka.bus import Topics, create_topics
from tests.integration.kafka.kafka_support import KAFKA, Cluster, kafka_warnings, needs_kafka, store_url
from tests.support import Service

TREE = [
    {"id": "D", "name": "区", "kind": "district"},
    {"id": "S", "name": "街道", "kind": "street", "parent": "D"},
    {"id": "C", "name": "社区", "kind": "community", "parent": "S"},
    {"id": "G1", "name": "一号网格", "name_en": "Grid 1", "kind": "grid", "parent": "C",
     "polygon": [[2.0, 42.0], [2.1, 42.0], [2.1, 42.1], [2.0, 42.1]]},
]
RULE = {"feed": "sensor", "metric": "gas_ppm", "levels": {"blue": 10, "red": 50}}


@dataclass
class Api:
    """The API under test: ``fenghuo run`` over one runtime (and, in Kafka mode, the workers)."""

    mode: str
    service: Service
    cluster: Cluster | None = None
    probe_port: int = 0  # Kafka mode: the store writer's /livez and /readyz

    @property
    def url(self) -> str:
        return self.service.url

    @property
    def log(self) -> Path:
        return self.service.log

    def client(self, role: str = "admin") -> httpx.Client:
        return self.service.client(role)

    def rules_in_force(self, *versions: str) -> None:
        """Wait until the detectors run these rule versions ("gas v1"): at once in the embedded runtime, within
        the detector workers' reload period in Kafka mode."""
        if self.cluster is not None:
            eventually(lambda: all(v in self.cluster.log("detectors") for v in versions),  # type: ignore[union-attr]
                       f"the detectors to load {versions}")

    def logs(self) -> str:
        worker_logs = "" if self.cluster is None else "".join(
            (self.cluster.tmp / f"{n}.log").read_text(encoding="utf-8", errors="replace") for n in self.cluster.procs)
        return self.service.log.read_text(encoding="utf-8") + worker_logs


def eventually(predicate: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """``predicate()`` once it is true (the embedded runtime: at the first try), else fail saying ``what``."""
    deadline = time.monotonic() + timeout
    while not (got := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return got


@pytest.fixture(scope="module", params=["embedded", pytest.param("kafka", marks=[needs_kafka, *kafka_warnings])])
def svc(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp(f"api-{request.param}")
    if request.param == "embedded":
        s = Service(tmp, {"nodes": TREE}).start()
        yield Api("embedded", s)
        s.stop()
        return
    assert KAFKA
    cluster = Cluster(tmp / "kafka", {"nodes": TREE}, store_url(tmp), partitions=2)
    create_topics(KAFKA, 2, Topics(cluster.prefix))
    env = {k: cluster.env[k] for k in ("FENGHUO_TOPIC_PREFIX", "FENGHUO_KAFKA_BOOTSTRAP", "FENGHUO_STORE_URL")}
    s = Service(tmp / "api", {"nodes": TREE}, env={**env, "FENGHUO_BUS": "kafka", "FENGHUO_LAG_ALERT_SECONDS": "10"})
    try:
        s.start()
        cluster.detector("detectors")
        cluster.start("alerts", "alerts")
        probe_port = free_port()
        cluster.start("store-writer", "store-writer", "--probe-port", str(probe_port))
        yield Api("kafka", s, cluster, probe_port)
    finally:
        cluster.stop()
        if s.proc is not None:
            s.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reading(value: float, ts: str, **kw: Any) -> dict[str, Any]:
    return {"feed": "sensor", "source": "gas-1", "ts": ts, "lat": 42.05, "lon": 2.05, "metric": "gas_ppm",
            "value": value, **kw}


@pytest.mark.parametrize("method, path, role, status", [
    ("get", "/v1/alerts", None, 401),
    ("get", "/v1/alerts", "viewer", 200),
    ("post", "/v1/events", "viewer", 403),
    ("post", "/v1/events", "responder", 200),
    ("post", "/v1/alerts/nope/ack", "viewer", 403),
    ("post", "/v1/alerts/nope/ack", "responder", 404),
    ("put", "/v1/rules/thresholds/gas", "responder", 403),
    ("delete", "/v1/rules/thresholds/nothing", "analyst", 404),
    ("get", "/v1/deadletters", "responder", 403),
    ("get", "/v1/audit", "analyst", 403),
    ("get", "/v1/audit", "admin", 200),
])
def test_roles(svc: Api, method: str, path: str, role: str | None, status: int) -> None:
    client = svc.client(role) if role else httpx.Client(base_url=svc.url)
    kw: dict[str, Any] = {"json": RULE} if method == "put" else ({"json": []} if path.endswith("events") else {})
    r = getattr(client, method)(path, **kw)
    assert r.status_code == status, r.text
    if status in (401, 403):
        assert r.json()["detail"]  # says why


def test_a_wrong_key_is_refused(svc: Api) -> None:
    r = httpx.get(svc.url + "/v1/alerts", headers={"Authorization": "Bearer not-a-key-at-all-xx"})
    assert r.status_code == 401 and r.json()["detail"] == "invalid API key"


def test_ndjson_with_a_broken_line_keeps_the_rest(svc: Api) -> None:
    body = "\n".join([json.dumps(reading(1.0, "2024-05-01T00:00:00Z")), "{not json",
                      json.dumps(reading(2.0, "2024-05-01T00:01:00Z", lat=10.0, lon=10.0))])
    r = svc.client("responder").post("/v1/events", content=body)
    res = r.json()
    assert res["accepted"] == 1
    assert [x["index"] for x in res["rejected"]] == [1, 2]
    assert "not valid JSON" in res["rejected"][0]["error"]
    assert "no grid within" in res["rejected"][1]["error"]  # lat/lon far from every grid
    # both rejects are dead letters, written by the service (in Kafka mode through the dead-letter topic)
    analyst = svc.client("analyst")

    def dead() -> list[str]:
        return [d["error"] for d in analyst.get("/v1/deadletters", params={"limit": 1000}).json()["items"]]

    eventually(lambda: any("not valid JSON" in e for e in dead()) and any("no grid within" in e for e in dead()),
               "both rejected records in the dead letters")


def test_a_body_that_is_empty_or_not_json_is_a_422_and_its_lines_are_kept(svc: Api) -> None:
    responder = svc.client("responder")
    for body in ("", "   \n  "):
        r = responder.post("/v1/events", content=body)
        assert r.status_code == 422 and "empty body" in r.json()["detail"], r.text
    r = responder.post("/v1/events", content="{this is not json\nnor this")
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "not JSON" in detail["error"] and detail["accepted"] == 0 and len(detail["rejected"]) == 2
    analyst = svc.client("analyst")
    eventually(lambda: sum("not valid JSON" in d["error"] for d in analyst.get(
        "/v1/deadletters", params={"limit": 1000}).json()["items"]) >= 2, "the two lines in the dead letters")


@pytest.mark.parametrize(("name", "value"), [("status", "bogus"), ("level", "purple"), ("feed", "email"),
                                             ("risk", "fun")])
def test_an_unknown_filter_value_is_a_422_naming_the_allowed_ones(svc: Api, name: str, value: str) -> None:
    r = svc.client("viewer").get("/v1/alerts", params={name: value})
    assert r.status_code == 422 and value in r.json()["detail"] and "must be one of" in r.json()["detail"], r.text


def test_rules_change_at_runtime_with_versions_and_audit(svc: Api) -> None:
    analyst, admin = svc.client("analyst"), svc.client("admin")
    bad = analyst.put("/v1/rules/thresholds/gas", json={**RULE, "levels": {"blue": 60, "red": 50}})
    assert bad.status_code == 422 and "thresholds must rise" in bad.json()["detail"]["errors"][0]
    assert analyst.put("/v1/rules/thresholds/gas", json=RULE).json()["version"] == 1
    svc.rules_in_force("gas v1")
    r = svc.client("responder").post("/v1/events", json=[reading(60.0, "2024-05-02T00:00:00Z")])
    assert r.json()["accepted"] == 1
    alerts = eventually(lambda: admin.get("/v1/alerts", params={"grid": "G1"}).json()["alerts"], "the alert")
    assert [a["level"] for a in alerts] == ["red"]
    assert alerts[0]["title"] == {"zh-CN": "一号网格 燃气浓度预警", "en": "Grid 1: gas concentration warning"}
    assert analyst.put("/v1/rules/thresholds/gas", json={**RULE, "levels": {"blue": 5, "red": 500}}).json()[
        "version"] == 2
    hist = admin.get("/v1/rules/thresholds/gas").json()["history"]
    assert [h["version"] for h in hist] == [1, 2] and hist[1]["actor"].startswith("analyst")
    assert [a["action"] for a in admin.get("/v1/audit").json()["items"]][:2] == ["rule.put", "rule.put"]
    assert analyst.delete("/v1/rules/thresholds/gas").json()["deleted"] is True
    assert admin.get("/v1/rules/thresholds/gas").status_code == 404


def test_stream_delivers_alert_changes_live(svc: Api) -> None:
    svc.client("analyst").put("/v1/rules/thresholds/gas2", json={**RULE, "metric": "co_ppm"})
    svc.rules_in_force("gas2 v1")
    got: list[dict[str, Any]] = []
    ready = threading.Event()

    def listen() -> None:
        with svc.client("viewer").stream("GET", "/v1/alerts/stream") as r:
            for line in r.iter_lines():
                ready.set()
                if line.startswith("data: ") and json.loads(line[6:]).get("alert", {}).get("rule") == "gas2":
                    got.append(json.loads(line[6:]))
                    return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    assert ready.wait(10)
    svc.client("responder").post("/v1/events", json=[reading(99.0, "2024-05-03T00:00:00Z", metric="co_ppm",
                                                              source="co-1")])
    t.join(60)
    assert got and got[0]["type"] == "raised" and got[0]["alert"]["level"] == "red"


def test_docs_health_metrics_and_grids(svc: Api) -> None:
    assert httpx.get(svc.url + "/docs").status_code == 200
    paths = httpx.get(svc.url + "/openapi.json").json()["paths"]
    assert {"/v1/events", "/v1/alerts", "/v1/alerts/{alert_id}/ack", "/v1/rules/thresholds/{rule_id}",
            "/v1/reports/response-times"} <= set(paths)
    assert httpx.get(svc.url + "/metrics").status_code == 401  # a viewer key at least
    metrics = svc.client("viewer").get("/metrics").text
    assert "# TYPE fenghuo_events_total counter" in metrics and 'fenghuo_open_alerts{level="red"}' in metrics
    nodes = svc.client("viewer").get("/v1/grids").json()["nodes"]
    assert {n["id"] for n in nodes} == {"D", "S", "C", "G1"}
    assert httpx.get(svc.url + "/healthz").json() == {"status": "ok"}  # no counts without a key
    health = svc.client("viewer").get("/healthz").json()
    assert health["status"] == "ok" and {"events_stored", "open_alerts", "outbox_pending"} <= set(health)
    report = svc.client("viewer").get("/v1/reports/response-times", params={"group_by": "level"})
    assert report.status_code == 200, report.text


def test_complaint_text_stays_out_of_the_logs(svc: Api) -> None:
    secret = "王小明 13800138000 住在幸福小区3号楼"
    svc.client("responder").post("/v1/events", json=[{"feed": "complaint", "source": "12345", "grid": "G1",
                                                       "ts": "2024-05-04T00:00:00Z", "category": "噪音",
                                                       "text": secret}, {"feed": "complaint", "text": secret}])
    assert secret not in svc.logs()  # the API's log and, in Kafka mode, the workers' logs


def test_without_configured_keys_an_admin_key_is_made_and_printed_once(tmp_path: Path) -> None:
    """Embedded only: the key file is made by ``fenghuo run`` before either runtime is built, the same code
    whatever FENGHUO_BUS says."""
    s = Service(tmp_path, env={"FENGHUO_API_KEYS": ""})
    s.start()
    s.stop()
    first = s.log.read_text()
    key = re.search(r"admin API key: (\S+)", first).group(1)  # type: ignore[union-attr]
    stored = (tmp_path / "api-keys").read_text()
    assert key not in stored and hashlib.sha256(key.encode()).hexdigest() in stored  # kept hashed
    assert json.loads(stored)["keys"][0]["name"] == "admin"
    assert oct((tmp_path / "api-keys").stat().st_mode)[-3:] == "600"
    s.start()
    try:
        assert s.log.read_text().count(key) == 1  # not printed again
        r = httpx.get(s.url + "/v1/alerts", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200
    finally:
        s.stop()


# -- every route, in both runtimes ------------------------------------------------------------------------------
SMOKE_RULE = {"feed": "sensor", "metric": "smoke_ppm", "levels": {"blue": 10, "red": 50}}
RANGE = {"start": "2024-04-01T00:00:00Z", "end": "2024-06-01T00:00:00Z"}
# (method, path, role, request keywords, the statuses a user may get); {alert_id} and {silence_id} are filled in
SMOKE: list[tuple[str, str, str, dict[str, Any], set[int]]] = [
    ("get", "/healthz", "viewer", {}, {200}),
    ("get", "/metrics", "viewer", {}, {200}),
    ("get", "/v1/grids", "viewer", {}, {200}),
    ("get", "/v1/alerts", "viewer", {"params": {"grid": "G1"}}, {200}),
    ("get", "/v1/alerts/{alert_id}", "viewer", {}, {200}),
    ("get", "/v1/cap/alerts/{alert_id}.xml", "viewer", {}, {200}),
    ("get", "/v1/cap/feed.atom", "viewer", {}, {200}),
    ("post", "/v1/alerts/{alert_id}/notes", "responder", {"json": {"text": "pump started"}}, {201}),
    ("post", "/v1/alerts/{alert_id}/ack", "responder", {"json": {"comment": "on our way"}}, {200}),
    ("post", "/v1/alerts/{alert_id}/resolve", "responder", {}, {200}),
    ("post", "/v1/events", "responder", {"json": [reading(1.0, "2024-05-05T00:01:00Z", metric="smoke_ppm",
                                                          source="smoke-1")]}, {200}),
    ("get", "/v1/deadletters", "analyst", {}, {200}),
    ("get", "/v1/rules/thresholds", "viewer", {}, {200}),
    ("get", "/v1/rules/thresholds/{rule_id}", "viewer", {}, {200}),
    ("post", "/v1/rules/thresholds/backtest", "analyst", {"json": {"rule": {**SMOKE_RULE, "id": "smoke"}, **RANGE}},
     {200}),
    ("put", "/v1/rules/thresholds/{rule_id}", "analyst", {"json": {**SMOKE_RULE, "metric": "other"}}, {200}),
    ("delete", "/v1/rules/thresholds/{rule_id}", "analyst", {}, {200}),
    ("get", "/v1/reports/response-times", "viewer", {"params": {"group_by": "grid"}}, {200}),
    ("get", "/v1/reports/complaints", "viewer", {"params": RANGE}, {200}),
    ("get", "/v1/audit", "admin", {}, {200}),
    ("get", "/v1/audit/verify", "admin", {}, {200}),
    ("get", "/v1/audit/head", "admin", {}, {200}),
    ("get", "/v1/series", "viewer", {"params": {"feed": "sensor", "source": "smoke-1", "metric": "smoke_ppm",
                                                **RANGE}}, {200}),
    ("get", "/v1/oncall", "viewer", {}, {200}),
    ("post", "/v1/silences", "responder", {"json": {"match": {"grid": "G1"}, "duration_s": 60, "comment": "t"}},
     {201}),
    ("get", "/v1/silences", "viewer", {}, {200}),
    ("post", "/v1/silences/{silence_id}/expire", "responder", {}, {200}),
    ("delete", "/v1/silences/{silence_id}", "responder", {}, {200, 409}),  # expired a moment ago: a conflict
    ("get", "/v1/warnings/sources", "viewer", {}, {200}),
    ("post", "/v1/warnings", "responder", {"content": "<not-cap/>", "headers": {"content-type": "application/xml"}},
     {200, 422}),
    ("get", "/v1/warnings", "viewer", {"params": {"status": "all"}}, {200}),
    ("get", "/v1/incidents", "viewer", {}, {200}),
    ("get", "/v1/incidents/{incident_id}", "viewer", {}, {404}),
    ("post", "/v1/incidents/{incident_id}/ack", "responder", {}, {404}),
    ("post", "/v1/incidents/{incident_id}/resolve", "responder", {}, {404}),
    ("post", "/v1/incidents/{incident_id}/notes", "responder", {"json": {"text": "x"}}, {404}),
    ("get", "/v1/drills", "viewer", {}, {200}),
    ("post", "/v1/drills", "analyst", {"json": {"scenario": "no-such-scenario"}}, {403, 404}),
    ("get", "/v1/drills/scenarios/{scenario}/runs", "viewer", {}, {200, 404}),
    ("get", "/v1/drills/{run}", "viewer", {}, {404}),
    ("post", "/v1/drills/{run}/end", "analyst", {}, {403, 404}),
    ("delete", "/v1/drills/{run}", "admin", {}, {404}),
    ("get", "/v1/risk/forecast", "viewer", {}, {200, 404}),
    ("post", "/v1/risk/forecast", "analyst", {}, {202, 404}),
    ("get", "/v1/risk/track-record", "viewer", {}, {200, 404}),
]
STREAMED = {("get", "/v1/alerts/stream")}  # never ends: test_stream_delivers_alert_changes_live reads it
FILL = {"rule_id": "smoke", "incident_id": "no-such-incident", "scenario": "no-such-scenario",
        "run": "no-such-scenario-r1"}


def test_every_route_answers_without_a_server_error(svc: Api) -> None:
    """Each route of the API, with the role it needs and sane inputs, answers as a user expects in this runtime
    (a 404 where the thing does not exist), never a 5xx; the JSON answers are objects. The list covers every route
    the API has (a new route must be added here)."""
    routes = {(m, p) for p, ops in httpx.get(svc.url + "/openapi.json").json()["paths"].items() for m in ops}
    assert routes == {(m, p) for m, p, *_ in SMOKE} | STREAMED
    analyst = svc.client("analyst")
    assert analyst.put("/v1/rules/thresholds/smoke", json=SMOKE_RULE).status_code == 200
    svc.rules_in_force("smoke v1")
    assert svc.client("responder").post("/v1/events", json=[reading(80.0, "2024-05-05T00:00:00Z", metric="smoke_ppm",
                                                                    source="smoke-1")]).json()["accepted"] == 1
    alert = eventually(lambda: [a for a in svc.client("viewer").get("/v1/alerts", params={"grid": "G1"}).json()[
        "alerts"] if a["rule"] == "smoke" and a["status"] == "open"], "the smoke alert")[0]
    fill = {**FILL, "alert_id": alert["id"], "silence_id": ""}
    for method, path, role, kw, expected in SMOKE:
        url = path.format(**fill)
        r = getattr(svc.client(role), method)(url, **kw)
        assert r.status_code in expected, f"{svc.mode}: {method.upper()} {url} as {role}: {r.status_code} {r.text}"
        if r.headers.get("content-type", "").startswith("application/json"):
            assert isinstance(r.json(), dict), f"{method.upper()} {url}"
        if path == "/v1/silences" and method == "post":
            fill["silence_id"] = r.json()["id"]
    assert svc.client("viewer").get(f"/v1/alerts/{alert['id']}").json()["status"] == "resolved"


def test_kafka_mode_shows_each_stage_lag_and_a_worker_says_when_it_is_ready(svc: Api) -> None:
    """Kafka mode only: /metrics has each stage's consumer lag per partition (the store writer, the detector
    workers, the alert service), drained to 0 once they caught up, their events/s and the outbox backlog by level;
    the store writer answers /livez and, with its partitions assigned, /readyz. With the store writer frozen, a
    record waits past the lag limit (10 s here): the API raises the consumer-lag system alert for that stage.
    (The last test of the module: the store writer rejoins its group afterwards.)"""
    if svc.cluster is None:
        pytest.skip("the consumer lag and the workers' probes are the distributed runtime's")
    prefix = svc.cluster.prefix
    viewer = svc.client("viewer")

    def lag_of(text: str, group: str) -> list[int]:
        return [int(v) for v in re.findall(rf'^fenghuo_kafka_consumer_lag{{group="{prefix}-{group}",[^}}]*}} (\d+)$',
                                           text, re.M)]

    def caught_up() -> str | None:
        text = viewer.get("/metrics").text
        lags = {g: lag_of(text, g) for g in ("store", "detectors", "alerts")}
        ok = all(lags.values()) and not any(sum(v) for v in lags.values()) and "fenghuo_kafka_up 1" in text
        return text if ok and f'fenghuo_stage_events_per_second{{group="{prefix}-store"}}' in text else None

    text = eventually(caught_up, "every stage's lag at 0 in /metrics")
    assert 'fenghuo_kafka_consumer_lag_seconds{group="' + prefix + '-alerts",topic="' + prefix + '.signals"' in text
    assert 'fenghuo_outbox_pending_by_level{level="red"}' in text
    base = f"http://127.0.0.1:{svc.probe_port}"
    assert httpx.get(base + "/livez").json()["ok"] is True
    ready = eventually(lambda: (r := httpx.get(base + "/readyz")).status_code == 200 and r.json(), "/readyz 200")
    assert ready["role"] == "store-writer" and "assigned" in ready["detail"]

    def lag_alerts() -> list[dict[str, Any]]:
        return [a for a in viewer.get("/v1/alerts", params={"risk": "system"}).json()["alerts"]
                if a["rule"] == "consumer-lag"]

    assert lag_alerts() == []
    writer = svc.cluster.procs["store-writer"]
    writer.send_signal(signal.SIGSTOP)
    try:
        assert svc.client("responder").post("/v1/events", json=[reading(1.0, "2024-05-06T00:00:00Z",
                                                                        source="lag-1")]).json()["accepted"] == 1
        (alert,) = eventually(lag_alerts, "the consumer-lag alert", timeout=40)
    finally:
        writer.send_signal(signal.SIGCONT)
    assert (alert["status"], alert["grid"], alert["series"]) == ("open", "D", f"lag:{prefix}-store")  # that stage only
