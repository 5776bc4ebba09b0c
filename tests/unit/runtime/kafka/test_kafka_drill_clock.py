"""A drill run's clock reaches the distributed alert service (no broker: the AlertWorker's steps in process, on
SQLite): after the run's last record no event carries the drill's time, yet its alert escalates when the run's
clock passes the deadline, and a simulated ack is stamped on the run's clock. A clock command on another
partition, or of another drill, moves nothing; the real clock never moves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fenghuo.core.config import parse_config
from fenghuo.core.levels import Level
from fenghuo.core.models import Risk, Signal
from fenghuo.core.settings import Settings
from fenghuo.core.store import open_store
from fenghuo.runtime.kafka.alert_service.commands import drill_clock_command, grid_partition
from fenghuo.runtime.kafka.alert_service.worker import AlertWorker
from fenghuo.runtime.kafka.bus import Topics, batch_to_wire
from tests.flood_support import TIERS, config


def drill_config(receiver_url: str) -> dict[str, Any]:
    """The flood config with a drill participant at every tier (a drill alert escalates only to those)."""
    cfg = config(receiver_url)
    cfg["responders"] += [{"id": f"drill-{node}", "name": f"drill-{node}", "node": node, "channels": ["drill-hook"],
                           "drill": True} for node in TIERS]
    return cfg


CONFIG = parse_config(drill_config("http://127.0.0.1:9/hook"))
GRID, RUN, T = "G-AGLY", "flood-r1", 1_579_651_200.0  # 2020-01-22T00:00Z
PARTITIONS = 2


def red_batch() -> bytes:
    sig = Signal("threshold", "river-level", Risk.SAFETY, "sensor", GRID, "gauge/water_level_m", "gauge", T,
                 Level.RED, 14.0, "river at red", drill=RUN)
    return batch_to_wire(GRID, [sig], {RUN: T}, [None], [[("x.events.sensor", 1, 7)]])


def test_the_run_clock_escalates_and_stamps_acks_after_the_last_record(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    w = AlertWorker(Settings(data_dir=tmp_path / "w", clock="event", store_url=url), CONFIG, open_store(url, tmp_path),
                    Topics("x"), notifiers={})
    mine = grid_partition(GRID, PARTITIONS)
    try:
        w.apply_record(red_batch())  # the run's last record raised red; a red alert escalates after 300 s
        (alert,) = w.store.all_alerts()
        assert alert.drill == RUN and alert.escalation_tier == 0

        w.apply_command(drill_clock_command(RUN, T + 299, PARTITIONS), partition=mine)
        w.apply_command(drill_clock_command(RUN, T + 3600, PARTITIONS), partition=1 - mine)  # not this grid's
        w.apply_command(drill_clock_command("other-r1", T + 3600, PARTITIONS), partition=mine)  # another run
        w.tick()
        assert w.store.get_alert(alert.id).escalation_tier == 0  # type: ignore[union-attr]

        w.apply_command(drill_clock_command(RUN, T + 301, PARTITIONS), partition=mine)
        got = w.store.get_alert(alert.id)
        assert got is not None and got.escalation_tier == 1
        assert [(e.kind, e.ts) for e in got.timeline if e.kind == "escalated"] == [("escalated", T + 300)]

        w.apply_command(drill_clock_command(RUN, T + 301 + 600, PARTITIONS), partition=mine)
        w.apply_command(json.dumps({"id": "c1", "op": "ack", "alert": alert.id, "grid": GRID,
                                    "actor": "drill-responder@C-AGLY"}).encode(), partition=mine)
        got = w.store.get_alert(alert.id)
        assert got is not None and got.acked_at == T + 901 and str(got.status) == "acknowledged"
        assert w.clocks.of(GRID).now_of(None) == 0.0  # the real clock (event time) never moved
    finally:
        w.store.close()
