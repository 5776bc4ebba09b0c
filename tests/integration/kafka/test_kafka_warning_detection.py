"""Upstream warnings take part in detection over Kafka too: an open rainstorm warning in the store (as the alert
service keeps it once the intake raised it) is read by the detector worker, whose river rule's yellow comes
earlier for the warning's grid, and by the alert service, whose corroboration counts it as a second feed.

A reading of 2.45 m in G1 (under the normal yellow of 2.5 m) raises blue. The warning comes: the alert service
corroborates the blue it holds (yellow). The same water again is yellow under the lowered levels (2.4 m), and
corroborated: orange. The evidence names the warning each time."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fenghuo.core.levels import Level
from fenghuo.core.models import Alert
from tests.integration.kafka.kafka_support import deploy, kafka_warnings, needs_kafka, wait_until
from tests.unit.detectors.warning_support import warning_alert

pytestmark = [needs_kafka, *kafka_warnings, pytest.mark.timeout(120)]

RIVER = {"metric": "water_level", "levels": {"blue": 2.0, "yellow": 2.5, "orange": 3.0, "red": 3.5},
         "while_warning": [{"event": "rainstorm", "lower": 0.2}]}
CONFIG: dict[str, Any] = {
    "nodes": [{"id": "D", "name": "越秀区", "kind": "district"},
              {"id": "G1", "name": "G1", "kind": "grid", "parent": "D",
               "polygon": [[113.26, 23.12], [113.28, 23.12], [113.28, 23.14], [113.26, 23.14]]}],
    "detectors": {"fusion": {}}}


def test_the_detector_worker_and_the_alert_service_take_an_open_warning_into_account(tmp_path: Path) -> None:
    cluster, _, store, ingest = deploy(tmp_path, CONFIG, 2, RIVER)

    def river(ok: Callable[[Alert], bool]) -> Alert | None:
        found = [a for a in store.all_alerts() if a.rule == "river-level"]
        return found[0] if found and ok(found[0]) else None

    def send(event_id: str) -> None:
        reading = {"feed": "sensor", "source": "gauge-1", "id": event_id, "grid": "G1", "ts": time.time(),
                   "metric": "water_level", "value": 2.45}
        assert ingest.ingest([reading]).accepted == 1

    try:
        cluster.detector("detectors-1")
        cluster.start("alerts", "alerts")
        cluster.start("store-writer", "store-writer")
        send("r1")  # no warning: blue
        wait_until(lambda: river(lambda a: a.level == Level.BLUE), 60, "the blue river alert", cluster)

        store.save_alerts([warning_alert(grids=("G1",))], [])  # what the alert service keeps of a taken warning
        for name in ("detectors-1", "alerts"):
            wait_until(lambda n=name: "open external warnings: 1" in cluster.log(n), 30, f"{name} to read it",
                       cluster)
        # the alert service corroborates the river's blue, held before the warning came: yellow
        wait_until(lambda: river(lambda a: a.level == Level.YELLOW), 30, "the river corroborated", cluster)
        send("r2")  # the same water under the warning: the rule's lowered yellow (2.4), corroborated: orange
        alert = wait_until(lambda: river(lambda a: a.level == Level.ORANGE), 30, "the river at orange", cluster)
        assert [(e.kind, e.level) for e in alert.timeline if e.kind in ("raised", "upgraded")] == [
            ("raised", "blue"), ("upgraded", "yellow"), ("upgraded", "orange")]
        lowered = next(e for e in alert.evidence if "warning" in e)
        assert (lowered["warning"]["identifier"], lowered["level"], lowered["thresholds"]["yellow"]) == (
            "W-1", "yellow", 2.4)
        corroborations = [e for e in alert.evidence if e.get("kind") == "corroboration"]
        assert [[w["identifier"] for w in e["warnings"]] for e in corroborations] == [["W-1"], ["W-1"]]
    finally:
        cluster.stop()
        ingest.close()
        store.close()
