"""The drill scorecard, on alerts the embedded pipeline really raised, upgraded, escalated, acknowledged and
resolved (their timelines and outbox rows as dedup, escalation, notify and delivery write them): verdicts per
expectation, false alarms, per-tier response against the deadlines, escalations that ran out, notification delays,
and the comparison of runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fenghuo.core.clock import FixedClock
from fenghuo.core.config import parse_config
from fenghuo.core.levels import Level
from fenghuo.core.models import Alert, Risk, Status, TimelineEntry, iso
from fenghuo.core.settings import Settings
from fenghuo.core.store import Notification
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.drills.scorecard import compare, raise_tier, score
from fenghuo.runtime.embedded import Pipeline

T = 1_800_000_000.0  # the run's start

CONFIG: dict[str, Any] = {
    "timezone": "UTC",
    # grid G (tier 0, 张 answers there) -> community C (tier 1, nobody: passed over) -> district D (tier 2, 甲)
    "nodes": [{"id": "D", "name": "区", "kind": "district"},
              {"id": "C", "name": "社区", "kind": "community", "parent": "D"},
              {"id": "G", "name": "网格", "kind": "grid", "parent": "C", "centroid": [30.0, 114.0]},
              {"id": "G2", "name": "网格二", "kind": "grid", "parent": "C", "centroid": [30.5, 114.5]},
              {"id": "X", "name": "别区", "kind": "district"},
              {"id": "GX", "name": "别网格", "kind": "grid", "parent": "X", "centroid": [31.0, 115.0]}],
    "channels": [{"name": n, "type": "log"} for n in ("g-zhang", "d-a", "x-wu")],
    "responders": [{"id": "g-zhang", "name": "张", "node": "G", "channels": ["g-zhang"]},
                   {"id": "d-a", "name": "甲", "node": "D", "channels": ["d-a"]},
                   {"id": "x-wu", "name": "吴", "node": "X", "channels": ["x-wu"]}],
    "rules": [{"id": "river", "metric": "water_level_m", "levels": {"blue": 3, "yellow": 4, "orange": 5, "red": 6}},
              {"id": "gas", "metric": "gas_ppm", "levels": {"yellow": 50, "red": 100}}],
    "escalation": {"deadlines": {"red": 900, "orange": 900, "yellow": 1800, "blue": 3600}},
}


class Run:
    """The embedded pipeline on a fixed clock: readings in, ticks, acks and resolves, and the scorecard out."""

    def __init__(self, tmp: Path) -> None:
        self.clock = FixedClock(T)
        ids = iter(f"A{i}" for i in range(1000))
        self.p = Pipeline(Settings(data_dir=tmp), parse_config(CONFIG), SqliteStore(tmp / "db.sqlite"),  # type: ignore[call-arg]
                          clock=self.clock, new_id=lambda: next(ids))
        self.p.recover()
        self.kinds = {n.id: n.kind for n in self.p.config.nodes}

    def reading(self, at: float, value: float, grid: str = "G", metric: str = "water_level_m") -> None:
        self.clock.set(T + at)
        self.p.ingest([{"feed": "sensor", "source": f"{grid}-{metric}", "ts": T + at, "grid": grid,
                        "metric": metric, "value": value}])

    def tick(self, at: float) -> None:
        self.clock.set(T + at)
        with self.p.lock:
            self.p.alerts.tick(self.p.clocks.domains())

    def ack(self, at: float, alert_id: str = "A0", who: str = "d-a") -> None:
        self.clock.set(T + at)
        self.p.ack(alert_id, who)

    def resolve(self, at: float, alert_id: str = "A0", who: str = "d-a") -> None:
        self.clock.set(T + at)
        self.p.resolve(alert_id, who)

    def deliver(self, at: float) -> None:
        self.clock.set(T + at)
        assert self.p.delivery.flush(5.0) == 0

    def alerts(self) -> list[Alert]:
        out = [self.p.store.get_alert(f"A{i}") for i in range(20)]
        return [a for a in out if a is not None]

    def notifications(self) -> dict[str, list[Notification]]:
        return {a.id: self.p.store.notifications_for(a.id) for a in self.alerts()}

    def tiers(self, alert: Alert) -> list[tuple[str, str]]:
        return [(node, self.kinds[node]) for node in self.p.router.tiers(alert)]

    def score(self, expect: list[dict[str, Any]], end: float | None = 86400.0, now: float | None = None,
              extra: list[Alert] | None = None, **kw: Any) -> dict[str, Any]:
        expect = [{**x, "by": T + x["by"]} for x in expect]
        card = score(expect, self.alerts() + (extra or []), self.notifications(), start=T,
                     end=None if end is None else T + end, now=None if now is None else T + now,
                     tiers=self.tiers, under=self.p.tree.under, **kw)
        assert json.loads(json.dumps(card)) == card  # JSON as it stands
        return card


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    r = Run(tmp_path)
    yield r
    r.p.delivery.close()
    r.p.store.close()


def verdicts(card: dict[str, Any]) -> list[tuple[str, str | None, float | None]]:
    return [(x["verdict"], x["alert"], x["lead_seconds"]) for x in card["expectations"]]


def tier(card: dict[str, Any], index: int) -> dict[str, Any]:
    return next(t for t in card["tiers"] if t["tier"] == index)


# -- expectations ----------------------------------------------------------------------------------------------

def river_and_second_grid(run: Run) -> None:
    run.reading(0, 4.2)  # A0: river in G, yellow at +0
    run.reading(100, 4.5, grid="G2")  # A1: river in G2, yellow at +100, never more
    run.reading(3600, 6.3)  # A0 red at +1 h


EXPECT = [
    {"grid": "G", "level": "yellow", "by": 600, "label": "G yellow"},
    {"rule": "river", "node": "C", "level": "red", "by": 1800},
    {"grid": "G2", "level": "orange", "by": 7200},
    {"rule": "gas", "level": "blue", "by": 0},
    {"node": "D", "level": "yellow", "by": 50},  # both match: the earlier to reach yellow counts
]


def test_met_late_low_and_missed_with_their_leads(run: Run) -> None:
    river_and_second_grid(run)
    card = run.score(EXPECT)
    assert verdicts(card) == [("met", "A0", 600.0), ("late", "A0", -1800.0), ("low", "A1", None),
                              ("missed", None, None), ("met", "A0", 50.0)]
    late = card["expectations"][1]
    assert (late["level"], late["reached_at"], late["by"]) == ("red", iso(T + 3600), iso(T + 1800))
    assert card["expectations"][2]["level"] == "yellow"  # the highest the matching alert got to
    assert card["expectations"][0]["label"] == "G yellow"
    s = card["summary"]
    assert (s["expected"], s["met"], s["late"], s["low"], s["missed"], s["pending"]) == (5, 2, 1, 1, 1, 0)
    assert card["verdict"] == s["verdict"] == "fail"
    assert card["false_alarms"] == []  # every alert was expected (A1 at a higher level than it reached)


def test_while_running_an_expectation_still_ahead_is_pending_not_failed(run: Run) -> None:
    river_and_second_grid(run)
    card = run.score(EXPECT, end=None, now=5000)
    assert [x["verdict"] for x in card["expectations"]] == ["met", "late", "pending", "missed", "met"]
    assert card["verdict"] == "running" and card["summary"]["pending"] == 1
    assert card["end"] is None and card["now"] == iso(T + 5000)
    ended = run.score(EXPECT, end=5000)
    assert ended["expectations"][2]["verdict"] == "low" and ended["verdict"] == "fail"


def test_a_run_that_meets_every_expectation_passes(run: Run) -> None:
    river_and_second_grid(run)
    card = run.score([EXPECT[0], {"rule": "river", "grid": "G", "level": "red", "by": 3600}])
    assert [x["verdict"] for x in card["expectations"]] == ["met", "met"]
    assert card["verdict"] == "pass"
    assert card["expectations"][1]["lead_seconds"] == 0.0  # reached exactly by the time: met, no lead
    assert [f["alert"] for f in card["false_alarms"]] == ["A1"]
    assert run.score([])["verdict"] == "fail"  # nothing expected proves nothing


def test_unexpected_alerts_are_false_alarms_and_system_alerts_are_listed_apart(run: Run) -> None:
    run.reading(0, 4.2)  # A0 river G: expected red, only got yellow: low, but not a false alarm
    run.reading(200, 120.0, grid="GX", metric="gas_ppm")  # A1 gas in another district: nobody expected it
    system = Alert("S1", "system|channel-failing|D|d-a", Risk.SYSTEM, "system", "D", "d-a", "d-a",
                   "channel-failing", Level.ORANGE, Status.OPEN, None, T + 300, T + 300, max_level=Level.ORANGE,
                   timeline=[TimelineEntry(T + 300, "raised", "orange", "delivery")])
    card = run.score([{"risk": "safety", "node": "C", "level": "red", "by": 3600}], extra=[system])
    assert verdicts(card) == [("low", "A0", None)]
    assert card["false_alarms"] == [{"alert": "A1", "risk": "safety", "rule": "gas", "feed": "sensor",
                                     "grid": "GX", "level": "red", "at": iso(T + 200), "status": "open"}]
    assert [a["alert"] for a in card["system_alerts"]] == ["S1"]
    assert (card["summary"]["false_alarms"], card["summary"]["system_alerts"]) == (1, 1)
    assert all(t["nodes"] != ["D"] or t["alerts"] == 0 for t in card["tiers"])  # the system alert has no tier


# -- tiers, escalations ----------------------------------------------------------------------------------------

def test_a_tier_that_never_acknowledges_escalates_and_the_next_tier_is_timed_from_the_escalation(run: Run) -> None:
    run.reading(0, 6.5)  # A0 red: grid G's 张 is told (tier 0); deadline 900 s
    run.tick(899)
    run.tick(900)  # nobody acknowledged: the community has nobody, so up to the district (tier 2)
    run.ack(1000)  # 甲 acknowledges 100 s after the district was told
    run.resolve(4600)
    card = run.score([{"grid": "G", "level": "red", "by": 60}])
    t0, t2 = tier(card, 0), tier(card, 2)
    assert (t0["kind"], t0["nodes"], t0["alerts"], t0["acknowledged"]) == ("grid", ["G"], 1, 0)
    assert (t0["on_time"], t0["on_time_rate"], t0["escalated"], t0["mtta_seconds"]) == (0, 0.0, 1, None)
    assert (t2["kind"], t2["alerts"], t2["acknowledged"], t2["mtta_seconds"], t2["mtta_p50_seconds"]) == \
        ("district", 1, 1, 100.0, 100.0)
    assert (t2["on_time"], t2["on_time_rate"]) == (1, 1.0)
    assert (t2["resolved"], t2["mttr_seconds"]) == (1, 4600.0)  # raise to resolve
    assert [t["tier"] for t in card["tiers"]] == [0, 2]  # the community was passed over: no row
    assert card["escalations"] == {"escalated": 1, "alerts_escalated": 1, "ran_out": 0, "ran_out_alerts": []}
    s = card["summary"]
    assert (s["mtta_seconds"], s["mttr_seconds"], s["on_time_rate"]) == (1000.0, 4600.0, 0.5)


def test_the_tier_of_the_raise_comes_from_its_notifications_not_from_counting_escalations(run: Run) -> None:
    run.reading(0, 6.5)
    run.tick(900)
    a = run.alerts()[0]
    assert a.escalation_tier == 2 and sum(e.kind == "escalated" for e in a.timeline) == 1
    assert raise_tier(a, run.notifications()["A0"]) == 0  # not 2 - 1: the escalation passed over tier 1
    run.deliver(905)  # the delivery outcomes go to the timeline: "raised tier 0: ..." without the outbox rows
    assert raise_tier(run.alerts()[0]) == 0


def test_an_escalation_with_nobody_left_runs_out_and_counts_as_late_at_the_top(run: Run) -> None:
    run.reading(0, 6.5)  # A0 red
    run.reading(10, 4.3, grid="G2")  # A1 yellow in G2: tier 0 there has nobody, it is raised at the district
    run.tick(900)  # A0 up to the district
    run.tick(1800)  # A0: nobody at the district either, nothing above: ran out. A1 reaches its deadline later
    card = run.score([], end=1810)
    assert card["escalations"] == {"escalated": 1, "alerts_escalated": 1, "ran_out": 1, "ran_out_alerts": ["A0"]}
    t2 = tier(card, 2)
    assert (t2["alerts"], t2["acknowledged"], t2["on_time"], t2["decided"]) == (2, 0, 0, 1)  # A1 still in time
    later = run.score([], end=1811)  # A1's deadline (raised +10, 1800 s) has passed unanswered
    assert (tier(later, 2)["decided"], tier(later, 2)["on_time_rate"]) == (2, 0.0)


def test_an_upgrade_re_arms_the_deadline_at_the_tier(run: Run) -> None:
    run.reading(0, 4.2)  # yellow: 1800 s
    run.reading(1700, 6.4)  # red at +1700: the deadline is now +1700 + 900
    run.ack(2500, who="g-zhang")  # past the first deadline, within the re-armed one
    card = run.score([])
    assert (tier(card, 0)["on_time"], tier(card, 0)["mtta_seconds"]) == (1, 2500.0)


# -- notifications and events ----------------------------------------------------------------------------------

def test_notifications_counted_by_status_and_channel_with_their_delivery_delay(run: Run) -> None:
    run.reading(0, 6.5)
    run.deliver(2)  # 张's raise notification delivered 2 s after it was made
    run.tick(900)
    run.deliver(900.5)  # 甲's escalation, 0.5 s after
    run.reading(1000, 4.4, grid="GX")  # A1: 吴 told, not delivered yet
    failed = Notification("n-f", "A1", "x-wu", "x-wu", "raised", 0, {}, T + 1000, status="failed", attempts=5)
    expired = Notification("n-e", "A1", "x-wu", "x-wu", "raised", 0, {}, T + 1000, status="expired")
    notes = run.notifications()
    notes["A1"] = notes["A1"] + [failed, expired]
    card = score([], run.alerts(), notes, start=T, end=T + 3600, tiers=run.tiers, under=run.p.tree.under,
                 events={"planned": 3, "accepted": 3})
    n = card["notifications"]
    assert (n["total"], n["sent"], n["failed"], n["pending"], n["expired"]) == (5, 2, 1, 1, 1)
    assert n["by_channel"]["g-zhang"]["sent"] == 1 and n["by_channel"]["d-a"]["sent"] == 1
    assert (n["by_channel"]["x-wu"]["pending"], n["by_channel"]["x-wu"]["failed"]) == (1, 1)
    assert (n["delay_p50_seconds"], n["delay_max_seconds"]) == (1.2, 2.0)  # median of 0.5 and 2.0 is 1.25
    assert card["events"] == {"planned": 3, "accepted": 3}
    assert run.score([])["events"] == {}


# -- comparing runs --------------------------------------------------------------------------------------------

def test_compare_orders_the_runs_and_says_which_way_each_figure_went(tmp_path: Path) -> None:
    expect = [{"grid": "G", "level": "red", "by": 600, "label": "red in G"}, {"grid": "G", "level": "yellow", "by": 60}]
    first = Run(tmp_path / "r1")  # late red, a false alarm, acknowledged after escalating
    first.reading(0, 4.2)
    first.reading(1200, 6.3)
    first.reading(100, 120.0, grid="GX", metric="gas_ppm")
    first.tick(2100)
    first.ack(2200)
    first.resolve(3000)
    second = Run(tmp_path / "r2")  # red in time, no false alarm, acknowledged at once
    second.reading(0, 6.3)
    second.ack(300, who="g-zhang")
    second.resolve(3000, who="g-zhang")
    cards = [first.score(expect), second.score(expect)]
    for r in (first, second):
        r.p.store.close()
    runs = [{"run": "s-r3", "number": 3, "started_at": "2026-12-05T12:00:00Z", "status": "ended",
             "scorecard": cards[1]},
            {"run": "s-r1", "number": 1, "started_at": "2026-12-05T10:00:00Z", "status": "ended",
             "scorecard": cards[0]},
            {"run": "s-r2", "number": 2, "started_at": "2026-12-05T11:00:00Z", "status": "failed",
             "scorecard": None}]
    c = compare(runs)
    assert json.loads(json.dumps(c)) == c
    assert [r["run"] for r in c["runs"]] == ["s-r1", "s-r2", "s-r3"]
    assert [r["verdict"] for r in c["runs"]] == ["fail", None, "pass"]
    assert c["runs"][0]["expectations"] == [{"key": "red in G", "verdict": "late", "lead_seconds": -600.0},
                                            {"key": "yellow grid=G", "verdict": "met", "lead_seconds": 60.0}]
    trend = c["trend"]
    assert trend["met_share"]["values"] == [0.5, None, 1.0] and trend["met_share"]["change"] == "better"
    assert trend["false_alarms"]["values"] == [1, None, 0] and trend["false_alarms"]["change"] == "better"
    assert trend["mtta_seconds"]["values"] == [2200.0, None, 300.0]
    assert trend["mtta_seconds"]["change"] == "better"  # lower is better
    assert trend["mttr_seconds"]["change"] == "same"
    # run 1: A0 late at the grid, on time at the district; the false alarm never answered
    assert trend["on_time_rate"]["values"] == [0.3333, None, 1.0] and trend["on_time_rate"]["change"] == "better"
    assert [(x["key"], x["stable"]) for x in c["expectations"]] == [("red in G", False), ("yellow grid=G", True)]
    assert c["stable"] is False
    worse = compare([{**runs[0], "number": 1}, {**runs[1], "number": 2}])  # the good run first, then the bad one
    assert {k: v["change"] for k, v in worse["trend"].items()} == {
        "met_share": "worse", "false_alarms": "worse", "mtta_seconds": "worse", "mttr_seconds": "same",
        "on_time_rate": "worse"}


def test_resolving_without_acknowledging_answers_in_time_but_is_no_acknowledgement(run: Run) -> None:
    run.reading(0, 4.2)  # A0 yellow in G: 张 resolves it at +600 without acknowledging
    run.resolve(600, who="g-zhang")
    card = run.score([])
    t0 = tier(card, 0)
    assert (t0["acknowledged"], t0["mtta_seconds"], t0["on_time"], t0["resolved"], t0["mttr_seconds"]) == \
        (0, None, 1, 1, 600.0)
    assert (card["summary"]["mtta_seconds"], card["summary"]["mttr_seconds"]) == (None, 600.0)


def test_a_run_still_going_takes_no_part_in_the_trend() -> None:
    def card(met: int, mtta: float | None) -> dict[str, Any]:
        return {"verdict": "pass" if met == 2 else "fail",
                "expectations": [{"label": "river red", "verdict": "met" if met else "pending"}],
                "summary": {"expected": 2, "met": met, "false_alarms": 0, "mtta_seconds": mtta}}

    c = compare([{"run": "s-r1", "number": 1, "status": "ended", "scorecard": card(1, 900.0)},
                 {"run": "s-r2", "number": 2, "status": "ended", "scorecard": card(2, 600.0)},
                 {"run": "s-r3", "number": 3, "status": "running", "scorecard": card(0, None)}])
    assert c["trend"]["met_share"]["values"] == [0.5, 1.0, 0.0]  # listed, with its figures so far
    assert c["trend"]["met_share"]["change"] == "better"  # r2 against r1: the running r3 is not judged yet
    assert c["expectations"][0]["stable"] is True
