"""The corroboration stream the fusion tests replay (in process and over Kafka) and its embedded run: two quiet
weeks of gas complaints over eight grids, a burst of gas complaints in G-1, the gas level of G-1 crossing
yellow, a complaint the next day."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fenghuo.core.config import Config
from fenghuo.core.grids import GridTree
from fenghuo.core.models import Alert
from fenghuo.core.rulebook import RuleBook
from fenghuo.core.settings import Settings
from fenghuo.core.store import open_store
from fenghuo.runtime.embedded import Pipeline
from tests.support import district_of_eight_grids

GRIDS = [f"G-{i}" for i in range(1, 9)]
T0 = 1_699_920_000.0  # a midnight (UTC)
DAY = 86400.0
BURST_START = T0 + 14 * DAY + 3 * 3600
GAS = {"feed": "sensor", "metric": "gas_ppm", "grid": "*", "direction": "above", "risk": "safety",
       "levels": {"blue": 10.0, "yellow": 20.0, "orange": 30.0, "red": 50.0}}
RULE_ID = "river-level"  # the id tests/integration/kafka/kafka_support.deploy gives its rule
DELIVERY = {"notified", "notify_retrying", "notify_failed"}


def fusion_config(receiver_url: str) -> dict[str, Any]:
    """One district, four streets, one community per street, two grids per community; bursts and fusion."""
    return district_of_eight_grids(receiver_url, "/fusion", {"bursts": {"warmup_hours": 24, "min_count": 8},
                                                             "fusion": {"window_hours": 2}})


def complaint(i: str, ts: float, grid: str, place: str) -> dict[str, Any]:
    return {"feed": "complaint", "source": "hotline", "ts": ts, "grid": grid, "id": i, "category": "gas leak",
            "text": "smell of gas", "attrs": {"location": place}}


def gas(i: str, ts: float, value: float) -> dict[str, Any]:
    return {"feed": "sensor", "source": "gas-1", "ts": ts, "grid": "G-1", "id": i, "metric": "gas_ppm",
            "value": value}


def records() -> list[dict[str, Any]]:
    """Two quiet weeks of gas complaints over eight grids; a normal gas reading in G-1; twelve gas complaints in
    G-1 in 30 minutes (a burst of G-1 and of its street); the gas level in G-1 crosses yellow; a complaint the
    next day (clears the bursts)."""
    quiet = [complaint(f"q{k}", T0 + k * 7200.0, GRIDS[k % 8], f"addr-{k}") for k in range(14 * 12)]
    burst = [complaint(f"b{k}", BURST_START + k * 150.0, "G-1", f"burst-{k}") for k in range(12)]
    return [*quiet, gas("s0", BURST_START - 600, 5.0), *burst, gas("s1", BURST_START + 1800, 25.0),
            complaint("late", T0 + 15 * DAY + 3 * 3600, GRIDS[0], "later")]


def outcome(alerts: list[Alert]) -> list[tuple[Any, ...]]:
    """What corroboration changes, per alert: level, certainty, evidence and timeline (no delivery outcomes)."""
    return sorted((a.grid, a.rule, a.level.name_en, str(a.certainty), a.evidence,
                   [(e.kind, e.level, e.ts, e.detail) for e in a.timeline if e.kind not in DELIVERY])
                  for a in alerts)


def embedded_run(tmp: Path, receiver_url: str | None = None) -> list[Alert]:
    """The stream through the embedded pipeline; with a receiver, once every notification is delivered."""
    config = Config.model_validate(fusion_config(receiver_url or "http://127.0.0.1:9"))
    store = open_store("", tmp)
    RuleBook(store, GridTree(config.nodes)).put(RULE_ID, GAS, "analyst", 1.6e9)
    pipeline = Pipeline(Settings(data_dir=tmp, clock="event", tick_seconds=0.05), config, store)
    pipeline.start()
    try:
        for r in records():
            pipeline.ingest([r])
        deadline = time.monotonic() + 60
        while receiver_url and store.pending_notification_count() and time.monotonic() < deadline:
            time.sleep(0.05)
        return store.all_alerts()
    finally:
        pipeline.stop()
        store.close()
