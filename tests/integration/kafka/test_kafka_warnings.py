"""CAP warnings in the Kafka runtime: a warning POSTed to the API becomes one alert through the alert service
(its signals on the signals topic, keyed by the node that covers its grids), and its Cancel, following its
references, clears it and resolves it by the sender (a ``resolve`` command), as in the embedded runtime."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from fenghuo.api.app import create_app
from fenghuo.api.auth import KeyRing
from fenghuo.core.config import parse_config
from fenghuo.core.models import Alert, Status
from fenghuo.core.settings import Settings
from fenghuo.core.store import open_store
from fenghuo.runtime.kafka.front import KafkaFront
from fenghuo.runtime.kafka.ingest_worker import make_kafka_ingest
from tests.integration.kafka.kafka_support import KAFKA, deploy, kafka_warnings, needs_kafka, wait_until
from tests.support import free_port

pytestmark = [needs_kafka, *kafka_warnings, pytest.mark.timeout(120)]

SENDER = "warning@gd-met.example.cn"
CONFIG: dict[str, Any] = {
    "nodes": [{"id": "D", "name": "越秀区", "kind": "district"},
              {"id": "S", "name": "北京街道", "kind": "street", "parent": "D"},
              {"id": "G1", "name": "一号网格", "kind": "grid", "parent": "S",
               "polygon": [[113.26, 23.12], [113.28, 23.12], [113.28, 23.14], [113.26, 23.14]]},
              {"id": "G2", "name": "二号网格", "kind": "grid", "parent": "S",
               "polygon": [[113.28, 23.12], [113.30, 23.12], [113.30, 23.14], [113.28, 23.14]]}],
    "channels": [{"name": "duty", "type": "log"}],
    "responders": [{"id": "duty-d", "name": "值班", "node": "D", "channels": ["duty"]}],
    "warnings": {"geocodes": {"440104": ["S"]}}}
KEY = "responder-key-00000000"


def cap(identifier: str, msg_type: str = "Alert", references: str = "") -> bytes:
    """A CMA-shaped red rainstorm warning for the geocode of the street (both grids), or its Cancel."""
    info = "" if msg_type == "Cancel" else (
        "<info><language>zh-CN</language><category>Met</category><event>暴雨</event><urgency>Immediate</urgency>"
        "<severity>Extreme</severity><certainty>Observed</certainty><headline>广州市越秀区暴雨红色预警</headline>"
        "<area><areaDesc>北京街道</areaDesc><geocode><valueName>GB2260</valueName><value>440104</value></geocode>"
        "</area></info>")
    refs = f"<references>{references}</references>" if references else ""
    return (f'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>{identifier}</identifier>'
            f"<sender>{SENDER}</sender><sent>2026-07-01T08:00:00+08:00</sent><status>Actual</status>"
            f"<msgType>{msg_type}</msgType><scope>Public</scope>{refs}{info}</alert>").encode()


def test_a_posted_warning_becomes_an_alert_over_kafka_and_its_cancel_resolves_it(tmp_path: Path) -> None:
    cluster, _, store, ingest = deploy(tmp_path, CONFIG, 2, {"metric": "water_level", "levels": {"red": 5.0}})
    ingest.close()
    assert KAFKA
    settings = Settings(data_dir=tmp_path / "api", bus="kafka", kafka_bootstrap=KAFKA, topic_prefix=cluster.prefix,
                        store_url=cluster.url)
    config = parse_config(CONFIG)
    front = KafkaFront(settings, config, open_store(settings.store_url, settings.data_dir),
                       make_kafka_ingest(settings, config))
    try:
        cluster.start("alerts", "alerts")
        cluster.start("store-writer", "store-writer")
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(lambda: front, KeyRing({KEY: "responder"}),
                                                          settings=settings),
                                               host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_until(lambda: server.started, 30, "the API to start")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/cap+xml"}
            r = client.post("/v1/warnings", content=cap("GD-RAIN-1"), headers=headers)
            assert r.status_code == 200, r.text
            assert [(x["outcome"], x["grids"]) for x in r.json()["results"]] == [("raised", ["G1", "G2"])]

            def warning_alerts() -> list[Alert]:
                return [a for a in store.all_alerts() if a.feed == "warning"]

            [alert] = wait_until(warning_alerts, 60, "the warning's alert", cluster)
            assert (alert.grid, alert.level.name_en, alert.source) == ("S", "red", SENDER)
            assert alert.evidence[-1]["cap"]["grids"] == ["G1", "G2"]
            cancel = client.post("/v1/warnings", content=cap("GD-RAIN-1-C", "Cancel",
                                                             f"{SENDER},GD-RAIN-1,2026-07-01T08:00:00+08:00"),
                                 headers=headers)
            assert cancel.status_code == 200 and cancel.json()["results"][0]["outcome"] == "cancelled", cancel.text
            done = wait_until(lambda: [a for a in warning_alerts() if a.status == Status.RESOLVED], 60,
                              "the warning's alert resolved", cluster)
            assert [a.id for a in done] == [alert.id]
            # (the clear on the signals topic and the resolve command may reach the alert service in either order)
            assert [e.actor for e in done[0].timeline if e.kind == "resolved"] == [f"cap:{SENDER}"]
            assert len(warning_alerts()) == 1
        server.should_exit = True
        thread.join(30)
    finally:
        cluster.stop()
        store.close()
