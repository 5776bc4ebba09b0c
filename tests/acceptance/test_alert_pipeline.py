"""Acceptance tests of the alert stages, Alertmanager style: events at fake times, then which
alerts and which outbox notifications exist in which windows. No sleeping: the clock is injected.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fenghuo.core.clock import FixedClock
from fenghuo.core.config import parse_config
from fenghuo.core.models import parse_ts
from fenghuo.core.settings import Settings
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.runtime.embedded import Pipeline

T0 = 1_579_651_200.0  # 2020-01-22T00:00:00Z
NODES = [
    {"id": "D", "name": "区应急办", "kind": "district"},
    {"id": "S", "name": "街道", "kind": "street", "parent": "D"},
    {"id": "C", "name": "社区", "kind": "community", "parent": "S"},
    {"id": "G1", "name": "一号网格", "name_en": "Grid 1", "kind": "grid", "parent": "C", "centroid": [42.0, 2.0]},
    {"id": "G2", "name": "二号网格", "kind": "grid", "parent": "C", "centroid": [43.0, 2.0]},
]
CONFIG = {
    "nodes": NODES,
    "channels": [{"name": n, "type": "log"} for n in ("grid", "community", "street", "district", "drill", "exercise")],
    "responders": [
        {"id": "g", "name": "网格员", "node": "G1", "channels": ["grid"]},
        {"id": "c", "name": "社区", "node": "C", "channels": ["community"]},
        {"id": "s", "name": "街道", "node": "S", "channels": ["street"]},
        {"id": "d", "name": "区", "node": "D", "channels": ["district"]},
        {"id": "dp", "name": "演练员", "node": "C", "channels": ["exercise"], "drill": True},
    ],
    "drills": {"channels": ["drill"]},
    "rules": [{"id": "river", "metric": "water_level_m", "levels": {"blue": 3, "yellow": 4, "orange": 5, "red": 6}}],
}


class Harness:
    def __init__(self, tmp: Path, config: dict[str, Any] = CONFIG, clock_mode: str = "wall") -> None:
        self.clock = FixedClock(T0)
        self.tmp = tmp
        self.config = parse_config(config)
        self.settings = Settings(data_dir=tmp, clock=clock_mode)  # type: ignore[arg-type]
        self.ids = iter(f"A{i}" for i in range(1000))
        self.open()

    def open(self) -> None:
        self.p = Pipeline(self.settings, self.config, SqliteStore(self.tmp / "db.sqlite"), clock=self.clock,
                          new_id=lambda: next(self.ids))
        self.p.recover()

    def level(self, value: float, at: float, grid: str = "G1", drill: str | None = None) -> dict[str, Any]:
        self.clock.set(T0 + at)
        rec = {"feed": "sensor", "source": f"st-{grid}", "ts": T0 + at, "grid": grid, "metric": "water_level_m",
               "value": value}
        return self.p.ingest([rec], drill).to_json()

    def at(self, seconds: float) -> None:
        self.clock.set(T0 + seconds)
        with self.p.lock:
            self.p.alerts.tick(self.p.clocks.domains())

    def sent(self, alert_id: str = "A0") -> list[tuple[str, str, float]]:
        """(kind, channel, seconds after T0) of every notification decided for the alert."""
        return [(n.kind, n.channel, n.created_at - T0) for n in self.p.store.notifications_for(alert_id)]

    def alert(self, alert_id: str = "A0") -> Any:
        a = self.p.store.get_alert(alert_id)
        assert a is not None
        return a


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    yield harness
    harness.p.store.close()


def test_escalation_walks_up_tier_by_tier_until_acknowledged(h: Harness) -> None:
    h.level(6.5, 0)  # red: deadline 300 s
    assert h.sent() == [("raised", "grid", 0)]
    h.at(299)
    assert len(h.sent()) == 1
    h.at(300)
    assert h.sent()[1:] == [("escalated", "community", 300), ("escalated", "exercise", 300)]
    h.at(650)
    assert h.sent()[3:] == [("escalated", "street", 650)]
    assert [e.ts - T0 for e in h.alert().timeline if e.kind == "escalated"] == [300, 600]
    h.p.alerts.ack("A0", "网格员王")
    h.at(5000)
    assert [k for k, *_ in h.sent()] == ["raised", "escalated", "escalated", "escalated"]
    assert h.alert().acked_by == "网格员王"


def test_upgrade_restarts_escalation_at_the_new_deadline(h: Harness) -> None:
    h.level(3.5, 0)  # blue: 3600 s
    h.level(6.5, 3000)  # red at 3000 s: next escalation at 3300, not 3600
    assert h.sent() == [("raised", "grid", 0), ("upgraded", "grid", 3000)]
    h.at(3299)
    assert len(h.sent()) == 2
    h.at(3300)
    assert h.sent()[2] == ("escalated", "community", 3300)
    kinds = [(e.kind, e.level) for e in h.alert().timeline]
    assert kinds[:2] == [("raised", "blue"), ("upgraded", "red")]


def test_one_open_alert_per_fingerprint_clear_then_resolve_then_new(h: Harness) -> None:
    h.level(3.5, 0)
    h.level(3.6, 60)
    h.level(2.0, 120)
    a = h.alert()
    assert a.cleared and a.status == "open" and a.level.name_en == "blue"
    assert h.p.store.get_alert("A1") is None
    h.p.alerts.resolve("A0", "wang")
    h.level(3.5, 600)
    assert h.alert("A1").status == "open" and h.alert("A0").status == "resolved"


def test_ack_and_resolve_record_who_and_when(h: Harness) -> None:
    h.level(4.5, 0)
    h.clock.set(T0 + 120)
    h.p.alerts.ack("A0", "li")
    h.clock.set(T0 + 900)
    h.p.alerts.resolve("A0", "zhao", "水位回落")
    a = h.alert()
    assert (a.acked_by, a.acked_at - T0, a.resolved_by, a.resolved_at - T0) == ("li", 120, "zhao", 900)
    assert [e.kind for e in a.timeline] == ["raised", "acknowledged", "resolved"]
    from fenghuo.alerts.service import AlertConflict

    with pytest.raises(AlertConflict):
        h.p.alerts.ack("A0", "li")


def test_drill_alerts_reach_only_drill_participants_and_drill_channels(h: Harness) -> None:
    h.level(6.5, 0, drill="flood")
    a = h.alert()
    assert a.drill == "flood"
    # nobody at the grid takes part in drills: the first to hear is the community's drill participant
    assert a.escalation_tier == 1
    assert h.sent() == [("raised", "exercise", 0), ("raised", "drill", 0)]
    assert {n.responder for n in h.p.store.notifications_for("A0")} == {"dp", None}
    # the drill runs on its own event clock (drill time, not the wall clock): nothing to escalate to
    h.clock.set(T0 + 10_000)
    h.at(10_000)
    assert h.alert().escalate_at == T0 + 300
    h.level(6.6, 300, drill="flood")
    assert [e.kind for e in h.alert().timeline][-1] == "escalation_exhausted"
    assert all(n.responder in (None, "dp") for n in h.p.store.notifications_for("A0"))


def test_a_restart_fires_deadlines_that_passed_while_down(h: Harness) -> None:
    h.level(6.5, 0)
    h.p.snapshot()
    h.p.store.close()
    h.clock.set(T0 + 1000)  # down for 1000 s: three red deadlines passed
    h.open()
    h.at(1000)
    assert [c for _, c, _ in h.sent()] == ["grid", "community", "exercise", "street", "district"]


def test_events_accepted_but_not_processed_before_a_crash_are_processed_at_start(h: Harness) -> None:
    rec = {"feed": "sensor", "source": "st-G1", "ts": T0, "grid": "G1", "metric": "water_level_m", "value": 6.5}
    events, _ = h.p.parse([rec])
    h.p.store.add_events(events, T0)  # stored, then the process died before detection
    h.p.store.close()
    h.open()
    assert h.alert().level.name_en == "red"


def test_a_sensor_and_complaints_in_one_grid_corroborate_each_other(tmp_path: Path) -> None:
    config = {**CONFIG, "detectors": {"fusion": {"window_hours": 2}}, "rules": [
        {"id": "gas", "metric": "gas_ppm", "levels": {"blue": 10, "yellow": 20, "red": 50}, "risk": "safety"},
        {"id": "gas-smell", "kind": "count", "feed": "complaint", "category": "燃气异味", "risk": "safety",
         "levels": {"blue": 2, "yellow": 3}, "window_seconds": 3600}]}
    h = Harness(tmp_path, config)
    for i in range(2):
        h.clock.set(T0 + 60 * i)
        h.p.ingest([{"feed": "complaint", "source": "12345", "ts": T0 + 60 * i, "grid": "G1",
                     "category": "燃气异味", "text": f"楼道里有很重的煤气味 {i}"}])
    complaint_alert = h.alert("A0")
    assert (complaint_alert.level.name_en, complaint_alert.certainty) == ("blue", "Possible")
    h.clock.set(T0 + 600)
    h.p.ingest([{"feed": "sensor", "source": "gas-1", "ts": T0 + 600, "grid": "G1", "metric": "gas_ppm",
                 "value": 25.0}])
    complaint_alert, sensor_alert = h.alert("A0"), h.alert("A1")
    assert complaint_alert.certainty == "Observed" and complaint_alert.level.name_en == "yellow"
    assert [e.kind for e in complaint_alert.timeline][-1] == "upgraded"
    assert complaint_alert.evidence[-1]["kind"] == "corroboration"
    assert {s["feed"] for s in complaint_alert.evidence[-1]["signals"]} == {"sensor", "complaint"}
    assert sensor_alert.level.name_en == "orange"  # yellow, raised one level by the complaints
    # a burst of the same in another grid, 3 hours later, corroborates nothing
    h.clock.set(T0 + 4 * 3600)
    h.p.ingest([{"feed": "sensor", "source": "gas-2", "ts": T0 + 4 * 3600, "grid": "G2", "metric": "gas_ppm",
                 "value": 25.0}])
    assert h.alert("A2").certainty == "Observed" and h.alert("A2").level.name_en == "yellow"


def test_text_risk_raises_a_safety_alert_without_keeping_the_text(tmp_path: Path) -> None:
    h = Harness(tmp_path, {**CONFIG, "detectors": {"text": {}}})
    text = "小区3号楼燃气泄漏，闻到很重的煤气味，楼道里有人在抽烟，随时可能爆炸起火"
    h.p.ingest([{"feed": "complaint", "source": "12345", "ts": T0, "grid": "G1", "category": "燃气", "text": text}])
    alerts = h.p.store.all_alerts()
    assert [(a.risk, a.rule) for a in alerts] == [("safety", "text-risk")]
    assert alerts[0].level >= 2  # at least yellow
    from fenghuo.core.store.codec import alert_to_doc

    doc = alert_to_doc(alerts[0])
    assert text not in doc and "3号楼" not in doc  # only lexicon terms and ids; the text stays in the event store


def test_an_anomaly_model_warns_of_the_real_flood_before_the_thresholds(tmp_path: Path) -> None:
    from fenghuo.ingest.adapters import read_records
    from tests.support import DATA

    path = DATA / "hubeau-river-levels-2020" / "hubeau_water_level_10min_2020-01-07_2020-02-07.csv.gz"
    rows = sorted((r for r in read_records(path, fmt="hubeau") if r["source"] == "hubeau:Y063402001"),
                  key=lambda r: r["ts"])
    for r in rows:
        r["grid"] = "AGLY"
    config = {"nodes": [], "detectors": {"anomaly": {"detector": "records"}},
              "rules": [{"id": "river", "metric": "water_level_m", "levels": {"blue": 7.0}, "for_seconds": 600}]}
    h = Harness(tmp_path, config, clock_mode="event")
    h.p.ingest(rows)
    by_rule = {a.rule: a for a in h.p.store.all_alerts()}
    assert set(by_rule) == {"anomaly:records", "river"}
    threshold_at = by_rule["river"].created_at  # 2020-01-22T03:50Z, the first reading held above 7 m
    warned = [e.ts for e in by_rule["anomaly:records"].timeline if e.kind in ("raised", "recurred")]
    early = [t for t in warned if threshold_at - 24 * 3600 < t < threshold_at]
    assert early and threshold_at - early[0] > 3 * 3600  # the rise was flagged hours before 7 m
    assert by_rule["anomaly:records"].certainty == "Possible"


def test_a_forecast_raises_the_rule_alert_before_the_level_is_crossed(tmp_path: Path) -> None:
    from fenghuo.ingest.adapters import read_records
    from tests.support import DATA

    path = DATA / "hubeau-river-levels-2020" / "hubeau_water_level_10min_2020-01-07_2020-02-07.csv.gz"
    rows = sorted((r for r in read_records(path, fmt="hubeau")
                   if r["source"] == "hubeau:Y063402001" and "2020-01-18" <= r["ts"] < "2020-01-23"),
                  key=lambda r: r["ts"])
    for r in rows:
        r["grid"] = "AGLY"
    rule = {"id": "river", "metric": "water_level_m", "levels": {"blue": 7.0, "yellow": 9.0, "orange": 11.0,
                                                                 "red": 13.0}, "for_seconds": 600}
    config = {"nodes": [], "rules": [rule],
              "detectors": {"forecast": {"model": "fallback", "refit_mode": "inline"}}}
    h = Harness(tmp_path, config, clock_mode="event")
    h.p.ingest(rows)
    alerts = h.p.store.all_alerts()
    assert [a.rule for a in alerts] == ["river"]  # forecasts feed the rule's own alert
    a = alerts[0]
    first = a.timeline[0]
    assert first.actor == "forecast" and "expected" in (first.detail or "")
    red_forecast = next(e.ts for e in a.timeline if e.level == "red" and e.actor == "forecast")
    crossed = next(r["ts"] for r in rows if r["value"] >= 13.0)
    assert parse_ts(crossed) - red_forecast >= 600  # "red expected" came at least 10 minutes ahead
    h.p.stop()
