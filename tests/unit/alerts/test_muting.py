"""Silences, maintenance windows and inhibition as pure logic: matchers over the grid tree, windows in local time
(clock injected), inhibition between open alerts, and the config checks that name what is wrong."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fenghuo.alerts.inhibit import Inhibitor, InhibitStage
from fenghuo.alerts.matchers import matches
from fenghuo.alerts.mute import MaintenanceWindows, MuteStage, Silence
from fenghuo.alerts.silences import MAX_OPEN, SilenceBook, SilenceConflict, SilenceInvalid, SilenceNotFound
from fenghuo.alerts.stages import Change, Context
from fenghuo.core.config import AlertMatch, ConfigError, InhibitRule, Maintenance, Node, parse_config
from fenghuo.core.grids import GridTree
from fenghuo.core.levels import Level
from fenghuo.core.models import Alert, Risk, Status
from fenghuo.core.store.sqlite import SqliteStore

NODES = [Node(id="D", name="区", kind="district"), Node(id="S", name="街道", kind="street", parent="D"),
         Node(id="C", name="社区", kind="community", parent="S"),
         Node(id="G1", name="一", kind="grid", parent="C", centroid=(30.0, 114.0)),
         Node(id="G2", name="二", kind="grid", parent="C", centroid=(30.1, 114.0)),
         Node(id="D2", name="另一区", kind="district"),
         Node(id="G9", name="九", kind="grid", parent="D2", centroid=(31.0, 114.0))]
TREE = GridTree(NODES)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def alert(grid: str = "G1", rule: str = "river", level: Level = Level.YELLOW, *, id: str = "A1",
          feed: str = "sensor", source: str = "gauge-7", drill: str | None = None, risk: Risk = Risk.SAFETY,
          cleared: bool = False) -> Alert:
    return Alert(id=id, fingerprint=f"{id}|{rule}|{grid}", risk=risk, feed=feed, grid=grid, source=source,
                 series=f"{source}/level", rule=rule, level=level, status=Status.OPEN, drill=drill, created_at=0.0,
                 updated_at=0.0, cleared=cleared)


def local(text: str) -> float:
    """A Shanghai local time as epoch seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp()


# -- matchers --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("match", "a", "expected"), [
    ({}, alert(), True),
    ({"grid": "S"}, alert(grid="G1"), True),  # a street covers its grids
    ({"grid": "S"}, alert(grid="G9"), False),
    ({"grid": "G1"}, alert(grid="G2"), False),
    ({"grid": "G1"}, alert(grid="S"), False),  # a grid does not cover its street
    ({"node_kind": "district"}, alert(grid="D"), True),
    ({"node_kind": "district"}, alert(grid="G1"), False),
    ({"rule": "anomaly:*"}, alert(rule="anomaly:level_m"), True),
    ({"rule": "anomaly:*"}, alert(rule="river"), False),
    ({"risk": "contradiction"}, alert(), False),
    ({"feed": "complaint"}, alert(feed="complaint"), True),
    ({"source": "gauge-7"}, alert(source="gauge-8"), False),
    ({"level_at_most": "yellow"}, alert(level=Level.YELLOW), True),
    ({"level_at_most": "yellow"}, alert(level=Level.RED), False),  # a red goes through a silence of the low ones
    ({"level_at_least": "red"}, alert(level=Level.ORANGE), False),
    ({"drill": True}, alert(drill="flood-2026"), True),
    ({"drill": True}, alert(), False),
    ({"drill": False}, alert(drill="flood-2026"), False),
    ({"grid": "C", "rule": "river", "level_at_most": "orange"}, alert(grid="G2", level=Level.ORANGE), True),
])
def test_a_matcher_selects_by_node_subtree_rule_risk_feed_level_and_drill(match: dict[str, Any], a: Alert,
                                                                          expected: bool) -> None:
    assert matches(AlertMatch.model_validate(match), a, TREE) is expected


def test_a_matcher_that_cannot_match_is_refused() -> None:
    with pytest.raises(ValueError, match="level_at_least red is above level_at_most yellow"):
        AlertMatch.model_validate({"level_at_least": "red", "level_at_most": "yellow"})


# -- silences --------------------------------------------------------------------------------------------
def test_a_silence_mutes_matching_alerts_only_between_its_start_and_end() -> None:
    s = Silence(id="s1", start=100.0, end=200.0, match=AlertMatch(grid="C"), created_by="alice", comment="works")
    assert s.mutes(alert(grid="G1"), 99.0, TREE) is None
    muted = s.mutes(alert(grid="G1"), 100.0, TREE)
    assert muted is not None and muted.by == "silence:s1" and "works" in muted.reason
    assert s.mutes(alert(grid="G9"), 150.0, TREE) is None
    assert s.mutes(alert(grid="G1"), 200.0, TREE) is None


class Now:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def book(tmp_path: Path) -> SilenceBook:
    ids = iter(f"s{i}" for i in range(10_000))
    return SilenceBook(SqliteStore(tmp_path / "db.sqlite"), TREE, Now(1000.0), new_id=lambda: next(ids))


def test_silences_are_kept_in_the_store_audited_and_read_back_by_another_book(book: SilenceBook,
                                                                              tmp_path: Path) -> None:
    s = book.create({"match": {"grid": "S", "level_at_most": "orange"}, "duration_s": 3600, "comment": "dyke works"},
                    "alice")
    assert (s.created_by, s.start, s.end, s.comment) == ("alice", 1000.0, 4600.0, "dyke works")
    later = book.create({"starts_at": 2000.0, "ends_at": 3000.0}, "bob")
    assert [x["id"] for x in book.listing("active")] == [s.id]
    assert [x["id"] for x in book.listing("pending")] == [later.id]
    other = SilenceBook(book.store, TREE, Now(1000.0))  # another process (the distributed alert service)
    assert other.mutes(alert(grid="G2", level=Level.ORANGE), 1500.0) is not None
    assert other.mutes(alert(grid="G2", level=Level.RED), 1500.0) is None
    done = book.expire(s.id, "carol")
    assert (done.end, done.expired_by) == (1000.0, "carol")
    assert other.mutes(alert(grid="G2"), 1500.0) is not None  # not read yet ...
    assert other.refresh() == 1
    assert other.mutes(alert(grid="G2"), 1500.0) is None  # ... read: expired
    assert [x["state"] for x in other.listing("expired")] == ["expired"]
    audit = [(a["actor"], a["action"], a["target"]) for a in book.store.audit_log(10)]
    assert audit == [("carol", "silence.expire", s.id), ("bob", "silence.create", later.id),
                     ("alice", "silence.create", s.id)]
    with pytest.raises(SilenceConflict):
        book.expire(s.id, "carol")
    with pytest.raises(SilenceNotFound):
        book.expire("nope", "carol")


@pytest.mark.parametrize(("body", "says"), [
    ({"duration_s": 60, "ends_at": 5000}, "exactly one of ends_at or duration_s"),
    ({"starts_at": 3000, "ends_at": 2000}, "must be after the start"),
    ({"starts_at": 0, "ends_at": 500}, "already past"),
    ({"duration_s": 91 * 86_400}, "duration_s"),
    ({"starts_at": 1000, "ends_at": 1000 + 91 * 86_400}, "at most 90 days"),
    ({"duration_s": 60, "match": {"grid": "nowhere"}}, "unknown node 'nowhere'"),
    ({"duration_s": 60, "match": {"grid": "x" * 129}}, "match.grid"),
    ({"duration_s": 60, "match": {"colour": "red"}}, "match.colour"),
    ({"duration_s": 60, "comment": "x" * 1001}, "comment"),
    ({"ends_at": "not a time"}, "ends_at: not an ISO 8601 time"),
    ({"duration_s": float("nan")}, "duration_s"),
    ([1, 2], "(body)"),
])
def test_a_bad_silence_is_refused_with_the_reason_and_nothing_is_stored(book: SilenceBook, body: Any,
                                                                         says: str) -> None:
    with pytest.raises(SilenceInvalid) as exc:
        book.create(body, "alice")
    assert says in str(exc.value)
    assert book.store.silences() == [] and book.store.audit_log(10) == []


def test_at_most_max_open_silences_pending_or_active(book: SilenceBook, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("fenghuo.alerts.silences.MAX_OPEN", 3)
    made = [book.create({"duration_s": 60}, "alice") for _ in range(3)]
    with pytest.raises(SilenceInvalid, match="3 silences are pending or active"):
        book.create({"duration_s": 60}, "alice")
    book.expire(made[0].id, "alice")
    book.create({"duration_s": 60}, "alice")
    assert MAX_OPEN >= 100


def test_a_silence_the_store_refuses_does_not_apply(book: SilenceBook, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(book.store, "put_silence", refuse)
    with pytest.raises(OSError):
        book.create({"duration_s": 600, "match": {"grid": "G1"}}, "alice")
    assert book.mutes(alert(grid="G1"), 1100.0) is None and book.listing() == []


# -- maintenance windows ---------------------------------------------------------------------------------------
def windows(*items: dict[str, Any], timezone: str = "Asia/Shanghai") -> MaintenanceWindows:
    return MaintenanceWindows(Maintenance.model_validate({"timezone": timezone, "windows": list(items)}), TREE)


def test_a_weekly_window_mutes_every_tuesday_from_two_to_four_local_time() -> None:
    w = windows({"name": "gauge-7", "match": {"source": "gauge-7"},
                 "weekly": {"days": ["tue"], "start": "02:00", "end": "04:00"}})
    a = alert(source="gauge-7")
    assert w.mutes(a, local("2026-12-01 01:59")) is None  # a Tuesday
    muted = w.mutes(a, local("2026-12-01 02:00"))
    assert muted is not None and muted.by == "maintenance:gauge-7" and "every tue 02:00-04:00" in muted.reason
    assert w.mutes(a, local("2026-12-01 03:59")) is not None
    assert w.mutes(a, local("2026-12-01 04:00")) is None
    assert w.mutes(a, local("2026-12-08 03:00")) is not None  # the next Tuesday
    assert w.mutes(a, local("2026-12-02 03:00")) is None  # a Wednesday
    assert w.mutes(alert(source="gauge-8"), local("2026-12-01 03:00")) is None
    # 02:00-04:00 in Shanghai is 18:00-20:00 UTC on the Monday
    assert w.mutes(a, datetime(2026, 11, 30, 18, 30, tzinfo=UTC).timestamp()) is not None


def test_a_weekly_window_past_midnight_belongs_to_the_day_it_starts() -> None:
    w = windows({"name": "night", "weekly": {"days": ["fri"], "start": "22:00", "end": "02:00"}})
    assert w.mutes(alert(), local("2026-12-04 23:00")) is not None  # Friday night
    assert w.mutes(alert(), local("2026-12-05 01:30")) is not None  # Saturday early: still Friday's window
    assert w.mutes(alert(), local("2026-12-05 23:00")) is None
    assert w.mutes(alert(), local("2026-12-04 01:30")) is None  # Friday early: Thursday has no window


def test_a_dated_window_covers_whole_local_days_from_start_to_end() -> None:
    w = windows({"name": "street-works", "match": {"grid": "S"}, "dates": {"start": "2026-12-01", "end": "2026-12-14"}})
    assert w.mutes(alert(grid="G2"), local("2026-11-30 23:59")) is None
    assert w.mutes(alert(grid="G2"), local("2026-12-01 00:00")) is not None
    assert w.mutes(alert(grid="G2"), local("2026-12-14 23:59")) is not None
    assert w.mutes(alert(grid="G2"), local("2026-12-15 00:00")) is None
    assert w.mutes(alert(grid="G9"), local("2026-12-05 12:00")) is None


def test_a_window_in_its_own_timezone() -> None:
    w = windows({"name": "paris", "timezone": "Europe/Paris", "weekly": {"days": ["mon"], "start": "09:00",
                                                                       "end": "10:00"}})
    assert w.mutes(alert(), datetime(2026, 11, 30, 8, 30, tzinfo=UTC).timestamp()) is not None  # 09:30 in Paris
    assert w.mutes(alert(), local("2026-11-30 09:30")) is None


def test_the_mute_stage_records_the_muted_change_and_sends_nothing() -> None:
    w = windows({"name": "street-works", "match": {"grid": "S"}, "dates": {"start": "2026-12-01", "end": "2026-12-14"}})
    a, b = alert(grid="G1"), alert(grid="G9", id="A2")
    changes = MuteStage([w]).exec(Context(now=local("2026-12-03 10:00")),
                                  [Change(a, "raised", notify=True), Change(b, "raised", notify=True)])
    assert [c.notify for c in changes] == [False, True]
    entry = a.timeline[-1]
    assert (entry.kind, entry.actor) == ("muted", "maintenance:street-works") and "raised" in (entry.detail or "")
    assert b.timeline == []


# -- inhibition ---------------------------------------------------------------------------------------------
DISTRICT_RED = InhibitRule.model_validate({
    "name": "district-red", "under_source": True,
    "source": {"node_kind": "district", "level_at_least": "red", "rule": "flood*"},
    "target": {"node_kind": "grid", "rule": "river*"}})
SILENT_SENSOR = InhibitRule.model_validate({
    "name": "sensor-silent", "equal": ["source"],
    "source": {"rule": "sensor-silent"}, "target": {"rule": "anomaly:*"}})


def test_an_open_district_red_holds_back_grid_river_alerts_in_its_district_only() -> None:
    inh = Inhibitor([DISTRICT_RED], TREE)
    red = alert(grid="D", rule="flood-complaints", level=Level.RED, id="RED", feed="complaint")
    assert inh.inhibiting(alert(grid="G1", id="A2"), [red]) == (red, DISTRICT_RED)
    assert inh.inhibiting(alert(grid="G9", id="A3"), [red]) is None  # another district
    assert inh.inhibiting(alert(grid="G1", rule="gas", id="A4"), [red]) is None  # not a river alert
    assert inh.inhibiting(alert(grid="G1", id="A5"), [alert(grid="D", rule="flood", level=Level.ORANGE)]) is None
    assert inh.inhibiting(alert(grid="G1", id="A6"), [alert(grid="D", rule="flood", level=Level.RED,
                                                            cleared=True)]) is None  # cleared: no longer firing
    assert inh.inhibiting(alert(grid="G1", id="A7", drill="ex"), [red]) is None  # a real red holds back no drill


def test_an_open_sensor_silent_alert_holds_back_that_sensors_anomaly_alerts() -> None:
    inh = Inhibitor([SILENT_SENSOR], TREE)
    silent = alert(rule="sensor-silent", source="gauge-7", id="SIL")
    assert inh.inhibiting(alert(rule="anomaly:level", source="gauge-7", id="A2"), [silent]) == (silent, SILENT_SENSOR)
    assert inh.inhibiting(alert(rule="anomaly:level", source="gauge-8", id="A3"), [silent]) is None
    assert inh.inhibiting(alert(rule="river", source="gauge-7", id="A4"), [silent]) is None


def test_the_inhibit_stage_records_the_inhibiting_alert_and_sends_nothing() -> None:
    red = alert(grid="D", rule="flood", level=Level.RED, id="RED")
    target = alert(grid="G2", id="A2")
    stage = InhibitStage(Inhibitor([DISTRICT_RED], TREE), lambda: [red, target])
    out = stage.exec(Context(now=5.0), [Change(target, "raised", notify=True), Change(red, "raised", notify=True)])
    assert [c.notify for c in out] == [False, True]
    entry = target.timeline[-1]
    assert (entry.kind, entry.actor, entry.ts) == ("inhibited", "RED", 5.0)
    assert "inhibit rule district-red" in (entry.detail or "")


# -- the config -------------------------------------------------------------------------------------------
BASE: dict[str, Any] = {"nodes": [n.model_dump(exclude_none=True) for n in NODES]}


def errors_of(extra: dict[str, Any]) -> list[str]:
    try:
        parse_config({**BASE, **extra})
    except ConfigError as exc:
        return exc.errors
    return []


def test_check_config_takes_windows_and_inhibit_rules() -> None:
    assert errors_of({
        "maintenance": {"timezone": "Asia/Shanghai", "windows": [
            {"name": "gauge-7", "match": {"source": "gauge-7"},
             "weekly": {"days": ["tue"], "start": "02:00", "end": "04:00"}},
            {"name": "street-works", "match": {"grid": "S"}, "dates": {"start": "2026-12-01", "end": "2026-12-14"}}]},
        "inhibit_rules": [DISTRICT_RED.model_dump(exclude_none=True), SILENT_SENSOR.model_dump(exclude_none=True)],
    }) == []


@pytest.mark.parametrize(("extra", "says"), [
    ({"maintenance": {"timezone": "Mars/Olympus"}}, "maintenance.timezone: unknown timezone 'Mars/Olympus'"),
    ({"maintenance": {"windows": [{"name": "w", "weekly": {"days": ["tue"], "start": "02:00", "end": "04:00"},
                                   "dates": {"start": "2026-12-01", "end": "2026-12-02"}}]}},
     "maintenance.windows[0]: give exactly one of weekly"),
    ({"maintenance": {"windows": [{"name": "w"}]}}, "maintenance.windows[0]: give exactly one of weekly"),
    ({"maintenance": {"windows": [{"name": "w", "weekly": {"days": ["tue"], "start": "2:00", "end": "04:00"}}]}},
     "maintenance.windows[0].weekly.start"),
    ({"maintenance": {"windows": [{"name": "w", "weekly": {"days": ["tuesday"], "start": "02:00", "end": "04:00"}}]}},
     "maintenance.windows[0].weekly.days[0]"),
    ({"maintenance": {"windows": [{"name": "w", "weekly": {"days": ["tue"], "start": "02:00", "end": "02:00"}}]}},
     "empty window"),
    ({"maintenance": {"windows": [{"name": "w", "dates": {"start": "2026-12-14", "end": "2026-12-01"}}]}},
     "maintenance.windows[0].dates: end 2026-12-01 is before start 2026-12-14"),
    ({"maintenance": {"windows": [{"name": "w", "match": {"grid": "X"},
                                   "dates": {"start": "2026-12-01", "end": "2026-12-02"}}]}},
     "maintenance.windows[0].match.grid: unknown node 'X'"),
    ({"maintenance": {"windows": [{"name": "w", "timezone": "Nowhere",
                                   "dates": {"start": "2026-12-01", "end": "2026-12-02"}}]}},
     "maintenance.windows[0].timezone: unknown timezone"),
    ({"inhibit_rules": [{"name": "r", "source": {"grid": "X"}, "target": {}}]},
     "inhibit_rules[0].source.grid: unknown node 'X'"),
    ({"inhibit_rules": [{"name": "r", "source": {}, "target": {}, "equal": ["colour"]}]}, "inhibit_rules[0].equal[0]"),
    ({"inhibit_rules": [{"name": "r", "source": {}}]}, "inhibit_rules[0].target"),
    ({"inhibit_rules": [{"name": "r", "source": {}, "target": {}}, {"name": "r", "source": {}, "target": {}}]},
     "inhibit_rules[1].name: duplicate inhibit rule 'r'"),
])
def test_check_config_says_where_a_window_or_inhibit_rule_is_wrong(extra: dict[str, Any], says: str) -> None:
    assert any(says in e for e in errors_of(extra)), errors_of(extra)
