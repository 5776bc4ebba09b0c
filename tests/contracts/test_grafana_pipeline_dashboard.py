"""The pipeline-health dashboard (deploy/grafana/pipeline): it reads Prometheus, not the database (the consumer lag
is measured by the API, never stored), so its queries cannot run here as the SQL dashboards' do
(test_grafana_dashboards_sql.py). What is checked instead: the JSON is a dashboard Grafana loads (uid, title, unique
panel ids, every target on the provisioned Prometheus datasource), and every metric its queries name is one the
API's /metrics shows in Kafka mode, with the labels the queries group by."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from fenghuo.api.routes.health import render_metrics
from fenghuo.runtime.kafka.lag import LagReport, PartitionLag, prometheus_lines
from fenghuo.runtime.service import MetricFigures
from tests.support import ROOT

FOLDER = ROOT / "deploy" / "grafana" / "pipeline"


def dashboard() -> dict[str, Any]:
    return json.loads((FOLDER / "fenghuo-pipeline.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def exprs() -> list[tuple[str, str]]:
    return [(f"{p['title']}/{t['refId']}", t["expr"]) for p in dashboard()["panels"] for t in p["targets"]]


def kafka_mode_metrics() -> str:
    """/metrics as the Kafka front renders it (fenghuo/runtime/kafka/front.py: KafkaFront.metrics)."""
    report = LagReport(10.0, True, [PartitionLag("f-store", "f.events.sensor", 0, 1, 3, 4.0)], {"f-store": 1.0})
    return render_metrics(MetricFigures(1, 0, 0, 0, 0, [], 0, {}, outbox_by_level={},
                                        extra=prometheus_lines(report, 11.0)))


def test_the_dashboard_loads_on_the_provisioned_prometheus_datasource() -> None:
    d = dashboard()
    (ds,) = yaml.safe_load((FOLDER / "prometheus.yaml").read_text(encoding="utf-8"))["datasources"]
    assert ds["type"] == "prometheus" and d["uid"] == "fenghuo-pipeline" and d["title"]
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids)) >= 6
    for p in d["panels"]:
        assert p["type"] in {"stat", "timeseries", "table"} and set(p["gridPos"]) == {"h", "w", "x", "y"}
        assert p["datasource"]["uid"] == ds["uid"] and p["targets"], p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)) and all(t["datasource"]["uid"] == ds["uid"] for t in p["targets"])
        assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24, p["title"]


def test_every_metric_and_label_the_queries_read_is_in_kafka_mode_metrics() -> None:
    text = kafka_mode_metrics()
    types = dict(re.findall(r"^# TYPE (\w+) (\w+)$", text, re.M))
    labels = {name: set(re.findall(r"(\w+)=", lbl)) for name, lbl in re.findall(r"^(\w+)\{([^}]*)\}", text, re.M)}
    seen = set()
    for where, expr in exprs():
        for name in re.findall(r"\bfenghuo_\w+", expr):
            assert name in types, f"{where}: /metrics has no {name}"
            if "rate(" + name in expr:
                assert types[name] == "counter", f"{where}: rate() of a {types[name]}"
            seen.add(name)
        for group in re.findall(r"by \(([^)]*)\)", expr):
            wanted = {g.strip() for g in group.split(",")} - {"instance"}
            named = [n for n in re.findall(r"\bfenghuo_\w+", expr) if n in labels]
            assert any(wanted <= labels[n] for n in named), f"{where}: no metric with labels {wanted}"
    assert {"fenghuo_kafka_consumer_lag", "fenghuo_kafka_consumer_lag_seconds", "fenghuo_stage_events_per_second",
            "fenghuo_outbox_pending_by_level"} <= seen
