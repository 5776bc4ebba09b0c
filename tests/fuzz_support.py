"""Support for the fuzz pass over the HTTP API (tests/acceptance/test_fuzz_api.py).

The service under test is ``fenghuo run`` (a real subprocess on 127.0.0.1, :class:`tests.support.Service`)
with the example configuration, its webhook channels pointed at a local receiver; it holds a few events
that raised real alerts, so the fuzzer hits real alert and rule ids besides random ones.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from tests.support import ROOT, Service

EXAMPLE = ROOT / "fenghuo" / "demo" / "fenghuo.example.yaml"
WEBHOOK_SECRET = "fuzz-webhook-secret-0123456789"
FUZZ_KEYS = {"viewer": "fuzz-viewer-key-00000000", "responder": "fuzz-responder-key-00000",
             "analyst": "fuzz-analyst-key-0000000", "admin": "fuzz-admin-key-000000000"}
# who sends the request: each role's key, no key at all, and a key nobody issued
CALLERS = ["admin", "analyst", "responder", "viewer", "none", "wrong"]
WRONG_KEY = "not-an-issued-key-000000"
NDJSON = "application/x-ndjson"


def operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation in the schema the app builds (no pipeline is started for this)."""
    from fenghuo.api.app import create_app
    from fenghuo.api.auth import KeyRing

    def no_pipeline() -> Any:
        raise AssertionError("only the schema is asked for")

    doc = create_app(no_pipeline, KeyRing({})).openapi()
    return [(method.upper(), path) for path, ops in doc["paths"].items() for method in ops]


def example_config(receiver_url: str) -> dict[str, Any]:
    """fenghuo/demo/fenghuo.example.yaml with every webhook channel sent to ``receiver_url`` and a fixed secret."""
    config: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for channel in config.get("channels", []):
        if channel.get("type") == "webhook":
            channel["url"] = f"{receiver_url}/{channel['name']}"
            channel["secret"] = WEBHOOK_SECRET
    return config


def start_service(data_dir: Path, receiver_url: str) -> Service:
    """The service with the four fuzz keys; failed sign-ins are not rate limited here, so that the wrong-key
    cases do not lock the other callers out of the same address (429 is covered by its own tests)."""
    env = {"FENGHUO_AUTH_FAIL_LIMIT": "100000000", "FENGHUO_WEBHOOK_SECRET": WEBHOOK_SECRET}
    return Service(data_dir, example_config(receiver_url), env=env, keys=dict(FUZZ_KEYS)).start()


def headers_for(caller: str) -> dict[str, str]:
    """
    >>> headers_for("none"), headers_for("wrong")["Authorization"][:10]
    ({}, 'Bearer not')
    """
    if caller == "none":
        return {}
    key = WRONG_KEY if caller == "wrong" else FUZZ_KEYS[caller]
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Known:
    """Values that exist in the seeded service, to steer part of the generated requests past "not found":
    ``params`` by parameter name (path or query), ``bodies`` by ``"METHOD path"``."""

    params: dict[str, list[Any]] = field(default_factory=dict)
    bodies: dict[str, list[Any]] = field(default_factory=dict)

    def fixed(self, operation: Any) -> st.SearchStrategy[dict[str, Any]] | None:
        """Keyword arguments for ``operation.as_strategy``: known path and query values and a known body
        (the rest is generated); None when the operation has nothing known.

        >>> class Op:  # the parts of a schemathesis APIOperation used here
        ...     method, path, query = "get", "/a/{alert_id}", []
        ...     path_parameters = [type("P", (), {"name": "alert_id"})()]
        >>> Known().fixed(Op()) is None
        True
        >>> Known(params={"alert_id": ["A-1"]}).fixed(Op())
        fixed_dictionaries({'path_parameters': fixed_dictionaries({'alert_id': just('A-1')})}).map(with_media_type)
        """
        parts: dict[str, st.SearchStrategy[Any]] = {}
        for kind, params in (("path_parameters", operation.path_parameters), ("query", operation.query)):
            known = {p.name: st.sampled_from(self.params[p.name]) for p in params if p.name in self.params}
            if known:
                parts[kind] = st.fixed_dictionaries(known)
        bodies = self.bodies.get(f"{operation.method.upper()} {operation.path}")
        if bodies:  # a str is sent as NDJSON, anything else as JSON
            parts["body"] = st.sampled_from(bodies)
        return st.fixed_dictionaries(parts).map(with_media_type) if parts else None


def with_media_type(kwargs: dict[str, Any]) -> dict[str, Any]:
    """
    >>> with_media_type({"body": "{}"})["media_type"], with_media_type({"body": {}})["media_type"]
    ('application/x-ndjson', 'application/json')
    """
    if "body" not in kwargs:
        return kwargs
    return {**kwargs, "media_type": NDJSON if isinstance(kwargs["body"], str) else "application/json"}


def iso(ts: float) -> str:
    """
    >>> iso(0.0)
    '1970-01-01T00:00:00Z'
    """
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# inputs of the kinds issue 9 found answering 500 or accepted unchecked: a lone surrogate, a forged actor,
# attrs nested too deep, 1e308 values, far-future times (sent as JSON: Python's json writes "\ud800" escapes)
HOSTILE_NOTES: list[Any] = [{"comment": "seen \ud800"}, {"comment": "done", "by": "system: auto-resolved"},
                            {"comment": "\x00" * 10}]


def hostile_events(now: float) -> list[Any]:
    deep: dict[str, Any] = {}
    for _ in range(300):
        deep = {"a": deep}
    base = {"feed": "sensor", "source": "fuzz-hostile", "ts": now, "grid": "BOS-back-bay", "metric": "gas_ppm",
            "value": 1.0}
    return [[{**base, "value": 1e308}], [{**base, "ts": 1e18}], [{**base, "attrs": deep}],
            [{**base, "source": "fuzz-\udfff"}], [{**base, "id": "fuzz-gauge-1-3", "source": "forger"}],
            [{**base, "drill": "fuzz-drill"}], [{**base, "metric": "m" * 300}]]


def ndjson(records: list[Any]) -> str:
    """
    >>> ndjson([{"a": 1}, {"b": "\\ud800"}])
    '{"a": 1}\\n{"b": "\\\\ud800"}'
    """
    return "\n".join(json.dumps(r) for r in records)


GAS_RULE = {"feed": "sensor", "metric": "gas_ppm", "grid": "*", "levels": {"blue": 10, "red": 50}}


def seed(svc: Service, now: float | None = None) -> Known:
    """A river gauge above the example's red level for 20 minutes (a red alert), a rule of our own and a
    reading above it (a second alert), and two complaints; returns what now exists."""
    now = time.time() if now is None else now
    responder, analyst, viewer = svc.client("responder"), svc.client("analyst"), svc.client("viewer")
    gauge = [{"feed": "sensor", "source": "fuzz-gauge-1", "ts": now - 1200 + 60 * i, "grid": "FR-l-agly",
              "metric": "water_level_m", "value": 9.0 + i / 10, "id": f"fuzz-gauge-1-{i}"} for i in range(21)]
    r = analyst.put("/v1/rules/thresholds/fuzz-gas", json=GAS_RULE)
    assert r.status_code == 200, r.text
    gas = {"feed": "sensor", "source": "fuzz-gas-1", "ts": now - 30, "grid": "BOS-back-bay", "metric": "gas_ppm",
           "value": 80.0}
    complaints = [{"feed": "complaint", "source": "12345", "ts": now - 60 * k, "grid": "BOS-back-bay",
                   "category": "噪音", "text": f"fuzz complaint {k}: call 13800138000"} for k in range(2)]
    r = responder.post("/v1/events", json=[*gauge, gas, *complaints])
    assert r.status_code == 200 and not r.json()["rejected"], r.text
    deadline = time.monotonic() + 30
    alerts: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        alerts = viewer.get("/v1/alerts").json()["alerts"]
        if len(alerts) >= 2:
            break
        time.sleep(0.1)
    assert len(alerts) >= 2, alerts
    listing = viewer.get("/v1/rules/thresholds").json()
    rules = next((v for v in listing.values() if isinstance(v, list)), []) if isinstance(listing, dict) else listing
    span = [iso(now - 86_400), iso(now - 3_600), iso(now + 60)]
    fresh = [{"feed": "sensor", "source": "fuzz-gas-2", "ts": now, "grid": "BOS-back-bay", "metric": "gas_ppm",
              "value": 20.0}, {**complaints[0], "ts": now, "text": "fuzz complaint: 110101199003074477"}]
    return Known(
        params={"alert_id": [a["id"] for a in alerts], "rule_id": sorted(r["id"] for r in rules),
                "feed": ["sensor", "complaint"], "grid": ["FR-l-agly", "BOS-back-bay"], "source": ["fuzz-gauge-1"],
                "metric": ["water_level_m", "gas_ppm"], "start": span[:2], "end": span[1:],
                "status": ["open", "acknowledged", "resolved"], "level": ["red", "blue"]},
        bodies={"POST /v1/events": [fresh, fresh[0], *hostile_events(now), ndjson(fresh),
                                    ndjson(fresh) + "\n{not json\n" + ndjson(hostile_events(now)[0])],
                "POST /v1/alerts/{alert_id}/ack": HOSTILE_NOTES,
                "POST /v1/alerts/{alert_id}/resolve": HOSTILE_NOTES,
                "PUT /v1/rules/thresholds/{rule_id}": [GAS_RULE, {**GAS_RULE, "title_zh": "燃气\ud800"},
                                                       {**GAS_RULE, "levels": {"blue": 10, "red": 1e308}}],
                "POST /v1/rules/thresholds/backtest": [
                    {"rule": {"id": "fuzz-gas", **GAS_RULE}, "start": span[0], "end": span[2]},
                    {"rule": {"id": "fuzz-river", "feed": "sensor", "metric": "water_level_m", "grid": "*",
                              "levels": {"blue": 8, "red": 9.5}}, "start": now - 86_400, "end": now + 60,
                     "grid": "FR-l-agly", "charts": 2}]})
