"""On-call duty: rotation arithmetic, hand-overs across daylight-saving changes, overrides, nobody on duty, and
escalation that reaches who is on duty at that tier at that moment (the alert's clock; drills on theirs)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from fenghuo.alerts.oncall import Plan, Roster
from fenghuo.core.clock import FixedClock
from fenghuo.core.config import ConfigError, parse_config
from fenghuo.core.oncall_config import Rotation
from fenghuo.core.settings import Settings
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.runtime.embedded import Pipeline


def ts(text: str) -> float:
    """An ISO time with its offset to epoch seconds."""
    return datetime.fromisoformat(text).timestamp()


def rotation(**kw: Any) -> Rotation:
    base: dict[str, Any] = {"node": "C", "responders": ["a", "b", "c"], "start": date(2026, 11, 2)}
    return Rotation.model_validate({**base, **kw})


# -- rotation arithmetic ---------------------------------------------------------------------------------------

def test_weekly_rotation_hands_over_on_the_day_and_time_in_member_order() -> None:
    plan = Plan(rotation(handover="09:00", handover_day="monday"), "Asia/Shanghai")  # 2026-11-02 is a Monday
    who = [plan.shift_at(ts(f"2026-11-{d:02d}T10:00+08:00")).responder for d in (2, 8, 9, 16, 23, 30)]
    assert who == ["a", "a", "b", "c", "a", "b"]
    s = plan.shift_at(ts("2026-11-12T15:00+08:00"))
    assert (s.responder, s.since, s.until) == ("b", ts("2026-11-09T09:00+08:00"), ts("2026-11-16T09:00+08:00"))
    assert plan.shift_at(ts("2026-11-16T08:59+08:00")).responder == "b"
    assert plan.shift_at(ts("2026-11-16T09:00+08:00")).responder == "c"


def test_the_first_shift_begins_at_the_first_hand_over_on_or_after_start() -> None:
    plan = Plan(rotation(start=date(2026, 11, 4), handover_day="friday", handover="18:30"), "UTC")  # a Wednesday
    assert plan.shift_at(ts("2026-11-06T18:30+00:00")).responder == "a"  # Friday 6th
    assert plan.shift_at(ts("2026-11-06T18:29+00:00")).responder == "c"  # the pattern extends before start
    assert plan.shift_at(ts("2026-11-13T18:30+00:00")).responder == "b"


def test_daily_rotation_and_the_next_hand_over() -> None:
    plan = Plan(rotation(rotation="daily", handover="08:00", responders=["a", "b"]), "Asia/Shanghai")
    assert [plan.shift_at(ts(f"2026-11-0{d}T12:00+08:00")).responder for d in (2, 3, 4, 5)] == ["a", "b", "a", "b"]
    nxt = plan.next_shift(ts("2026-11-03T07:00+08:00"))
    assert (nxt.responder, nxt.since) == ("b", ts("2026-11-03T08:00+08:00"))


@pytest.mark.parametrize(("tz", "before", "after"), [
    # Paris: spring change on 2026-03-29 (UTC+1 -> +2), autumn on 2026-10-25 (+2 -> +1)
    ("Europe/Paris", "2026-03-28T09:00+01:00", "2026-03-29T09:00+02:00"),
    ("Europe/Paris", "2026-10-24T09:00+02:00", "2026-10-25T09:00+01:00"),
    # New York: 2026-03-08 (-5 -> -4), 2026-11-01 (-4 -> -5)
    ("America/New_York", "2026-03-07T09:00-05:00", "2026-03-08T09:00-04:00"),
    ("America/New_York", "2026-10-31T09:00-04:00", "2026-11-01T09:00-05:00"),
])
def test_a_hand_over_at_nine_local_stays_at_nine_across_the_dst_change(tz: str, before: str, after: str) -> None:
    plan = Plan(rotation(rotation="daily", handover="09:00", start=date(2026, 1, 1)), tz)
    first, second = plan.shift_at(ts(before)), plan.shift_at(ts(after))
    assert first.since == ts(before) and first.until == ts(after) == second.since
    assert second.responder != first.responder
    assert abs((ts(after) - ts(before)) - 86400) == 3600  # the shift over the change is 23 h or 25 h long
    assert plan.local(second.since) == after[:10] + " 09:00"


def test_a_hand_over_in_the_skipped_or_repeated_hour_happens_once() -> None:
    plan = Plan(rotation(rotation="daily", handover="02:30", start=date(2026, 1, 1)), "Europe/Paris")
    # spring: 02:30 does not exist on 2026-03-29: the hand-over happens as the clock jumps, at 03:30 CEST
    assert plan.shift_at(ts("2026-03-29T03:29:59+02:00")).since == ts("2026-03-28T02:30+01:00")
    assert plan.shift_at(ts("2026-03-29T03:30+02:00")).since == ts("2026-03-29T03:30+02:00")
    # autumn: 02:30 comes twice on 2026-10-25: the first time, and the duty does not change at the second
    first = plan.shift_at(ts("2026-10-25T02:30+02:00"))
    assert first.since == ts("2026-10-25T02:30+02:00") and first.until == ts("2026-10-26T02:30+01:00")
    assert plan.shift_at(ts("2026-10-25T02:30+01:00")).responder == first.responder


def test_a_weekly_hand_over_keeps_its_local_time_over_the_change() -> None:
    plan = Plan(rotation(handover="09:00", handover_day="monday", start=date(2026, 3, 2)), "Europe/Paris")
    s = plan.shift_at(ts("2026-03-25T12:00+01:00"))  # the week holding the spring change (Sunday 29th)
    assert (s.since, s.until) == (ts("2026-03-23T09:00+01:00"), ts("2026-03-30T09:00+02:00"))


# -- overrides --------------------------------------------------------------------------------------------------

def test_overrides_take_precedence_dates_whole_days_and_local_times() -> None:
    plan = Plan(rotation(overrides=[
        {"from": "2026-11-10", "to": "2026-11-11", "responder": "c", "note": "a on leave"},  # whole days, both
        {"from": "2026-11-12 18:00", "to": "2026-11-13 08:00"},  # nobody: the office is closed
    ]), "Asia/Shanghai")
    on = plan.shift_at(ts("2026-11-11T23:59+08:00"))
    assert (on.responder, on.override, on.note) == ("c", True, "a on leave")
    assert (on.since, on.until) == (ts("2026-11-10T00:00+08:00"), ts("2026-11-12T00:00+08:00"))
    assert plan.shift_at(ts("2026-11-12T00:00+08:00")).responder == "b"  # the rotation again
    before = plan.shift_at(ts("2026-11-09T12:00+08:00"))
    assert (before.responder, before.until) == ("b", ts("2026-11-10T00:00+08:00"))  # until the override begins
    after = plan.shift_at(ts("2026-11-12T12:00+08:00"))
    assert after.since == ts("2026-11-12T00:00+08:00")  # since the override ended
    gap = plan.shift_at(ts("2026-11-12T20:00+08:00"))
    assert (gap.responder, gap.override) == (None, True)
    assert plan.next_shift(ts("2026-11-12T20:00+08:00")).responder == "b"


def config(**kw: Any) -> dict[str, Any]:
    return {
        "timezone": "Asia/Shanghai",
        "nodes": [{"id": "D", "name": "区", "kind": "district"},
                  {"id": "S", "name": "街道", "kind": "street", "parent": "D"},
                  {"id": "C", "name": "社区", "kind": "community", "parent": "S"},
                  {"id": "G", "name": "网格", "kind": "grid", "parent": "C", "centroid": [30.0, 114.0]}],
        "channels": [{"name": n, "type": "log"} for n in ("c-wang", "c-li", "c-zhou", "s-zhao", "d-a", "d-b",
                                                          "d-chief", "drill")],
        "responders": [
            {"id": "c-wang", "name": "王", "node": "C", "channels": ["c-wang"]},
            {"id": "c-li", "name": "李", "node": "C", "channels": ["c-li"], "drill": True},
            {"id": "c-zhou", "name": "周", "node": "C", "channels": ["c-zhou"]},
            {"id": "s-zhao", "name": "赵", "node": "S", "channels": ["s-zhao"]},
            {"id": "d-a", "name": "甲", "node": "D", "channels": ["d-a"], "drill": True},
            {"id": "d-b", "name": "乙", "node": "D", "channels": ["d-b"], "drill": True},
            {"id": "d-chief", "name": "主任", "node": "D", "channels": ["d-chief"]},
        ],
        "oncall": [
            {"node": "C", "responders": ["c-wang", "c-li"], "start": "2026-11-02", "handover": "09:00",
             "overrides": [{"from": "2026-12-01", "to": "2026-12-01", "responder": "c-zhou", "note": "王 休假"}]},
            {"node": "S", "responders": ["s-zhao"], "start": "2026-11-02",
             "overrides": [{"from": "2026-11-30", "to": "2026-11-30", "note": "街道办 closed"}]},
            {"node": "D", "responders": ["d-a", "d-b"], "rotation": "daily", "start": "2026-11-01",
             "handover": "09:00"},
        ],
        "rules": [{"id": "river", "metric": "water_level_m",
                   "levels": {"blue": 3, "yellow": 4, "orange": 5, "red": 6}}],
        "drills": {"channels": ["drill"]},
        "escalation": {"deadlines": {"red": 900}},
        **kw,
    }


def test_roster_responders_outside_rotations_are_always_reachable() -> None:
    roster = Roster(parse_config(config()))
    at = ts("2026-11-30T09:05+08:00")
    assert roster.reachable("D", at) == [("d-b", True), ("d-chief", False)]
    assert roster.reachable("S", at) == []  # the street office is closed that day
    assert roster.reachable("C", ts("2026-12-01T10:00+08:00")) == [("c-zhou", True)]  # the override's responder
    assert roster.reachable("C", ts("2026-12-02T10:00+08:00")) == [("c-wang", True)]  # only during the override
    board = roster.board(at, [("C", "社区", "Community"), ("S", "街道", "Street"), ("G", "网格", "Grid")])
    assert [n["node"] for n in board] == ["C", "S"]  # G has neither responders nor rotations
    street = board[1]
    assert street["nobody_on_duty"] is True and street["rotations"][0]["on_duty"] is None  # type: ignore[index]
    assert street["rotations"][0]["next"]["responder"] == {"id": "s-zhao", "name": "赵"}  # type: ignore[index]
    assert street["rotations"][0]["next"]["at_local"] == "2026-12-01 00:00"  # type: ignore[index]


# -- check-config ---------------------------------------------------------------------------------------------------

def errors_of(**kw: Any) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(config(**kw))
    return exc.value.errors


def test_check_config_names_the_path_of_each_error() -> None:
    bad = config()["oncall"]
    bad[0] = {**bad[0], "responders": ["c-wang", "nobody", "s-zhao", "c-wang"], "timezone": "Asia/Atlantis",
              "overrides": [{"from": "2026-12-01", "to": "2026-12-03", "responder": "c-li"},
                            {"from": "2026-12-03 08:00", "to": "2026-12-04", "responder": "ghost"},
                            {"from": "2026-12-10", "to": "2026-12-09"}]}
    bad[1] = {**bad[1], "node": "X"}
    assert errors_of(oncall=bad) == [
        "oncall[0].timezone: unknown timezone 'Asia/Atlantis' (an IANA name such as Asia/Shanghai)",
        "oncall[0].responders[1]: unknown responder 'nobody'",
        "oncall[0].responders[2]: responder 's-zhao' is at node 'S', not at the rotation's node 'C'",
        "oncall[0].responders[3]: 'c-wang' is twice in the rotation",
        "oncall[0].overrides[1].responder: unknown responder 'ghost'",
        "oncall[0].overrides[2]: 'to' (2026-12-09) must be after 'from' (2026-12-10)",
        "oncall[0].overrides[1]: overlaps overrides[0] (one override at a time)",
        "oncall[1].node: unknown node 'X'",
        "oncall[1].responders[0]: responder 's-zhao' is at node 'S', not at the rotation's node 'X'",
    ]


@pytest.mark.parametrize(("change", "where", "says"), [
    ({"handover": 540}, "oncall[0].handover", 'in quotes, as "09:00"'),
    ({"handover": "9h"}, "oncall[0].handover", "not a time of day HH:MM"),
    ({"rotation": "monthly"}, "oncall[0].rotation", "'weekly' or 'daily'"),
    ({"handover_day": "mon"}, "oncall[0].handover_day", "'monday'"),
    ({"start": "soon"}, "oncall[0].start", "date"),
    ({"responders": []}, "oncall[0].responders", "at least 1"),
    ({"responders": [f"r{i}" for i in range(101)]}, "oncall[0].responders", "at most 100"),
    ({"overrides": [{"from": "tomorrow", "to": "2026-12-01"}]}, "oncall[0].overrides[0].from", "not a date"),
    ({"overrides": [{"from": "2026-12-01T08:00:00+08:00", "to": "2026-12-02"}]}, "oncall[0].overrides[0].from",
     "without an offset"),
    ({"overrides": [{"from": "2026-12-01", "to": "2026-12-02", "who": "x"}]}, "oncall[0].overrides[0].who",
     "Extra inputs"),
])
def test_malformed_rotations_are_refused_with_their_path(change: dict[str, Any], where: str, says: str) -> None:
    rot = {**config()["oncall"][0], **change}
    errs = errors_of(oncall=[rot])
    assert any(e.startswith(where + ":") and says in e for e in errs), errs


def test_bad_default_timezone_and_too_many_rotations() -> None:
    assert errors_of(timezone="Beijing") == [
        "timezone: unknown timezone 'Beijing' (an IANA name such as Asia/Shanghai)"]
    many = [{"node": "D", "name": f"r{i}", "responders": ["d-a"], "start": "2026-11-01"} for i in range(501)]
    assert any(e.startswith("oncall: List should have at most 500") for e in errors_of(oncall=many))


def test_a_config_without_oncall_is_unchanged() -> None:
    cfg = config()
    del cfg["oncall"], cfg["timezone"]
    parsed = parse_config(cfg)
    assert parsed.oncall == [] and parsed.timezone == "UTC"
    assert Roster(parsed).reachable("C", 0.0) == [("c-wang", False), ("c-li", False), ("c-zhou", False)]


# -- escalation through the embedded pipeline ----------------------------------------------------------------------

class Harness:
    def __init__(self, tmp: Path, cfg: dict[str, Any], start: float) -> None:
        self.clock = FixedClock(start)
        ids = iter(f"A{i}" for i in range(1000))
        self.p = Pipeline(Settings(data_dir=tmp), parse_config(cfg), SqliteStore(tmp / "db.sqlite"),  # type: ignore[call-arg]
                          clock=self.clock, new_id=lambda: next(ids))
        self.p.recover()

    def level(self, value: float, at: float, drill: str | None = None) -> None:
        if drill is None:
            self.clock.set(at)
        self.p.ingest([{"feed": "sensor", "source": "gauge", "ts": at, "grid": "G", "metric": "water_level_m",
                        "value": value}], drill)

    def at(self, t: float) -> None:
        self.clock.set(t)
        with self.p.lock:
            self.p.alerts.tick(self.p.clocks.domains())

    def sent(self, alert_id: str = "A0") -> list[tuple[str, str, float]]:
        return [(n.kind, n.channel, n.created_at) for n in self.p.store.notifications_for(alert_id)]

    def timeline(self, alert_id: str = "A0") -> list[tuple[str, float, str | None]]:
        a = self.p.store.get_alert(alert_id)
        assert a is not None
        return [(e.kind, e.ts, e.detail) for e in a.timeline]


RAISE = ts("2026-11-30T08:50+08:00")  # a Monday: the community's week of c-li ends at 09:00, d-a's day too


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, config(), RAISE)
    yield harness
    harness.p.store.close()


def test_escalation_reaches_whoever_is_on_duty_at_that_moment_and_passes_over_nobody(h: Harness) -> None:
    h.level(6.5, RAISE)  # red: the grid has nobody, the community's c-li is on duty until 09:00
    assert h.sent() == [("raised", "c-li", RAISE)]
    h.at(RAISE + 899)
    assert len(h.sent()) == 1
    h.at(RAISE + 900)  # 09:05: not acknowledged; the street is closed today, the district's d-b took over at 09:00
    assert h.sent()[1:] == [("escalated", "d-b", RAISE + 900), ("escalated", "d-chief", RAISE + 900)]
    kinds = [(k, t - RAISE, d) for k, t, d in h.timeline()]
    assert kinds[1:] == [("no_one_on_duty", 900, "no one on duty at S: passed over"),
                         ("escalated", 900, "not acknowledged within 900 s: tier 3 (D)")]


def test_a_late_tick_notifies_who_was_on_duty_at_the_escalations_deadline(h: Harness) -> None:
    h.clock.set(RAISE)
    h.level(6.5, RAISE)
    h.at(RAISE - 1)  # nothing due
    # the next tick comes late, at 09:30 the next day: the escalation is stamped at 09:05 on the 30th (d-b's day);
    # on the 1st at 09:30 d-a would be on duty
    h.at(ts("2026-12-01T09:30+08:00"))
    assert h.sent()[1] == ("escalated", "d-b", ts("2026-12-01T09:30+08:00"))


def test_a_drill_is_routed_on_its_own_event_clock(h: Harness) -> None:
    old = ts("2026-11-10T10:00+08:00")  # a week of c-li (a drill participant) and a day of d-b
    h.level(6.5, old, drill="flood")
    assert sorted((k, c) for k, c, _ in h.sent()) == [("raised", "c-li"), ("raised", "drill")]
    h.level(6.6, old + 900, drill="flood")  # the drill's clock moves with its events, the wall clock does not
    assert sorted((k, c) for k, c, _ in h.sent()) == [("escalated", "d-b"), ("escalated", "drill"),
                                                       ("raised", "c-li"), ("raised", "drill")]
    # the street's s-zhao is on duty that day but takes no part in drills: passed over as before, nothing to record
    assert [k for k, _, _ in h.timeline()] == ["raised", "escalated"]


def test_an_upgrade_while_the_tiers_above_are_unstaffed_still_escalates_later(tmp_path: Path) -> None:
    cfg = config()
    cfg["responders"] = [r for r in cfg["responders"] if r["node"] in ("C", "S")]  # no district responders
    cfg["oncall"] = cfg["oncall"][:2]
    late = ts("2026-11-30T23:40+08:00")
    h = Harness(tmp_path, cfg, late)
    h.level(4.5, late)  # yellow at the community; the street is closed all day on the 30th
    h.level(6.5, late + 600)  # red at 23:50: nobody above right now, but the street reopens at midnight
    h.at(late + 1499)
    assert [k for k, _, _ in h.sent()] == ["raised", "upgraded"]
    h.at(late + 1500)  # 00:05 on the 1st: the red deadline
    assert h.sent()[-1] == ("escalated", "s-zhao", late + 1500)
    h.p.store.close()
