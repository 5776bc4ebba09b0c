"""A drill's delivery plan: every injected fault does what docs/drills.md says, ids are re-keyed per run,
bounds hold, and what the service would refuse is still sent (and refused) rather than hidden."""

from __future__ import annotations

from typing import Any

import pytest

from fenghuo.core.models import parse_ts
from fenghuo.drills.inject import Plan, iso, plan
from fenghuo.drills.scenario import parse_scenario
from fenghuo.ingest.events import parse_records

T0 = parse_ts("2020-01-22T00:00:00Z")
H = 3600.0


def sensor(t: float, value: float, source: str = "S1", metric: str = "level", grid: str = "G1",
           **extra: Any) -> dict[str, Any]:
    return {"feed": "sensor", "source": source, "ts": iso(T0 + t), "grid": grid, "metric": metric, "value": value,
            **extra}


def hourly(n: int, source: str = "S1", metric: str = "level", **extra: Any) -> list[dict[str, Any]]:
    """``n`` hourly readings 0, 1, 2... of one source from T0, with ids ``{source}-{metric}-{i}``."""
    return [sensor(i * H, float(i), source, metric, id=f"{source}-{metric}-{i}", **extra) for i in range(n)]


def make(records: list[Any], *injections: dict[str, Any], run: str = "t-r1", **kw: Any) -> Plan:
    """The plan of a scenario with these injections, parsed as a scenario file's are."""
    scenario = parse_scenario({"scenario": "t", "sources": [{"file": "x.csv"}], "injections": list(injections)})
    return plan(records, scenario.injections, start=T0, run=run, **kw)


def values(p: Plan, source: str = "S1", metric: str = "level") -> list[tuple[float, Any]]:
    """(hours from T0, value) of the source's deliveries, in delivery order."""
    return [((parse_ts(d.record["ts"]) - T0) / H, d.record["value"]) for d in p.deliveries
            if d.record.get("source") == source and d.record.get("metric") == metric]


def by_id(p: Plan) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for d in p.deliveries:
        out.setdefault(d.record["id"], []).append(d.at)
    return out


def assert_consistent(p: Plan) -> None:
    """Sorted by delivery time; the counts add up to the deliveries; first/last are the delivery times."""
    ats = [d.at for d in p.deliveries]
    assert ats == sorted(ats)
    c = p.counts
    assert len(p.deliveries) == c["planned"] + c["injected"] + c["duplicated"] - c["dropped"]
    assert all("drill" not in d.record for d in p.deliveries)


# --- re-keying -------------------------------------------------------------------------------------------


def test_every_run_re_keys_the_ids_so_a_scenario_can_run_again() -> None:
    records = hourly(3)
    first, second = make(records, run="flood-r1"), make(records, run="flood-r2")
    assert [d.record["id"] for d in first.deliveries] == ["flood-r1~S1-level-0", "flood-r1~S1-level-1",
                                                          "flood-r1~S1-level-2"]
    assert not {d.record["id"] for d in first.deliveries} & {d.record["id"] for d in second.deliveries}
    assert [d.record["id"] for d in make(records, run="flood-r1").deliveries] == \
        [d.record["id"] for d in first.deliveries]  # the same within a run
    assert records[0]["id"] == "S1-level-0"  # the caller's records are not changed


def test_a_record_without_id_gets_the_content_id_the_service_gives_its_original_values() -> None:
    original = {"feed": "sensor", "source": "S1", "ts": "2020-01-22T02:00:00+01:00", "grid": "G1",
                "metric": "level", "value": 3}
    service_id = parse_records([dict(original)], None, now=T0)[0][0].id
    p = make([original], {"kind": "spike", "source": "S1", "at": "+0h", "factor": 10})
    (d,) = p.deliveries
    assert d.record["value"] == 30.0  # the spike changed the value, not the id
    assert d.record["id"] == f"t-r1~{service_id}"
    assert d.record["ts"] == "2020-01-22T02:00:00+01:00" and d.at == T0 + H  # ISO text is sent as it came
    (epoch,) = make([original | {"ts": T0 + H}]).deliveries
    assert epoch.record["ts"] == "2020-01-22T01:00:00Z"  # epoch seconds are sent as ISO text


def test_the_planned_records_are_what_the_service_accepts_as_a_drill() -> None:
    records = [*hourly(4), {"feed": "complaint", "source": "hotline", "ts": T0 + 60, "grid": "G1",
                            "category": "flooding", "text": "water in the street", "drill": "old-run"}]
    p = make(records, {"kind": "duplicate", "at": "+1h", "for": "1h"})
    good, bad = parse_records([{**d.record, "drill": "t-r1"} for d in p.deliveries], None, now=T0 + 10 * H)
    assert bad == []
    assert len({e.id for e in good}) == 5 and len(good) == 6  # the duplicate keeps its id: stored once


def test_an_id_too_long_with_the_run_prefix_is_hashed_and_one_the_service_refuses_is_kept() -> None:
    long_id, too_long = "x" * 125, "y" * 129
    p = make([sensor(0, 1.0, id=long_id), sensor(H, 2.0, id=too_long), sensor(2 * H, 3.0, id=7)])
    ids = [d.record["id"] for d in p.deliveries]
    assert ids[0].startswith("t-r1~") and len(ids[0]) <= 128
    assert ids[0] == make([sensor(0, 1.0, id=long_id)]).deliveries[0].record["id"]  # stable
    assert ids[0] != make([sensor(0, 1.0, id="x" * 126)]).deliveries[0].record["id"]
    assert ids[1:] == [too_long, 7]  # refused by the service, as they would be outside a drill
    with pytest.raises(ValueError, match="too long"):
        make([], run="r" * 120)


# --- faults ----------------------------------------------------------------------------------------------


def test_drop_removes_the_sources_records_in_the_half_open_window() -> None:
    records = hourly(6) + hourly(6, "S2")
    p = make(records, {"kind": "drop", "source": "S1", "at": "+2h", "for": "2h"})
    assert [h for h, _ in values(p)] == [0, 1, 4, 5]
    assert len(values(p, "S2")) == 6
    assert p.counts["dropped"] == 2 and p.counts["planned"] == 12
    assert_consistent(p)


def test_drop_by_grid_or_metric_and_to_the_end_when_no_for() -> None:
    records = hourly(4, grid="G1") + hourly(4, "S2", grid="G2") + hourly(4, "S1", "rain", grid="G1")
    by_grid = make(records, {"kind": "drop", "grid": "G2", "at": "+1h"})
    assert [h for h, _ in values(by_grid, "S2")] == [0] and len(values(by_grid)) == 4
    by_metric = make(records, {"kind": "drop", "source": "S1", "metric": "rain", "at": "+0h", "for": "3h"})
    assert [h for h, _ in values(by_metric, "S1", "rain")] == [3] and len(values(by_metric)) == 4
    assert by_metric.counts["dropped"] == 3


def test_stuck_repeats_the_last_value_before_the_window() -> None:
    p = make(hourly(6) + hourly(6, "S2"), {"kind": "stuck", "source": "S1", "metric": "level", "at": "+2h",
                                           "for": "3h"})
    assert values(p) == [(0, 0.0), (1, 1.0), (2, 1.0), (3, 1.0), (4, 1.0), (5, 5.0)]
    assert values(p, "S2")[2:5] == [(2, 2.0), (3, 3.0), (4, 4.0)]
    assert p.counts["stuck"] == 3


def test_stuck_with_nothing_before_holds_the_first_value_and_each_metric_its_own() -> None:
    records = hourly(4) + [sensor(i * H, 100.0 + i, metric="rain") for i in range(4)]
    p = make(records, {"kind": "stuck", "source": "S1", "at": "+0h"})  # every metric, to the end
    assert [v for _, v in values(p)] == [0.0] * 4
    assert [v for _, v in values(p, metric="rain")] == [100.0] * 4
    assert p.counts["stuck"] == 8


def test_a_spike_changes_one_reading_or_every_reading_of_a_span() -> None:
    records = hourly(5)
    one = make(records, {"kind": "spike", "source": "S1", "metric": "level", "at": "+90m", "value": 80})
    assert values(one) == [(0, 0.0), (1, 1.0), (2, 80.0), (3, 3.0), (4, 4.0)]
    assert one.counts["spiked"] == 1
    span = make(records, {"kind": "spike", "source": "S1", "at": "+1h", "for": "2h", "factor": 3})
    assert [v for _, v in values(span)] == [0.0, 3.0, 6.0, 3.0, 4.0]
    assert span.counts["spiked"] == 2


def test_delay_sends_late_but_keeps_the_time_of_the_reading() -> None:
    p = make(hourly(4) + hourly(4, "S2"), {"kind": "delay", "source": "S1", "at": "+1h", "for": "2h", "by": "3h"})
    sent = by_id(p)
    assert sent["t-r1~S1-level-1"] == [T0 + 4 * H] and sent["t-r1~S1-level-2"] == [T0 + 5 * H]
    assert sent["t-r1~S1-level-3"] == [T0 + 3 * H] and sent["t-r1~S2-level-1"] == [T0 + H]
    assert [h for h, _ in values(p)] == [0, 3, 1, 2]  # the late ones arrive after a newer reading
    assert p.counts["delayed"] == 2 and p.last == T0 + 5 * H
    assert_consistent(p)


def test_reorder_permutes_delivery_times_within_each_bucket_deterministically() -> None:
    records = [sensor(i * 60.0, float(i), id=f"r{i}") for i in range(120)]  # one a minute for 2 h
    spec = {"kind": "reorder", "at": "+0h", "for": "1h", "window": "20m", "seed": 7}
    p = make(records, spec)
    order = [int(d.record["id"].split("~r")[1]) for d in p.deliveries]
    assert order == [int(d.record["id"].split("~r")[1]) for d in make(records, spec).deliveries]  # seeded
    assert order != [int(d.record["id"].split("~r")[1]) for d in make(records, {**spec, "seed": 8}).deliveries]
    for lo in (0, 20, 40):  # each 20-minute bucket is sent in the same minutes, in another order
        bucket = order[lo:lo + 20]
        assert sorted(bucket) == list(range(lo, lo + 20)) and bucket != sorted(bucket)
    assert order[60:] == list(range(60, 120))  # after the span: in order
    assert sorted(d.at for d in p.deliveries) == [T0 + i * 60.0 for i in range(120)]
    assert 0 < p.counts["reordered"] <= 60
    assert all(d.record["ts"] == iso(T0 + int(d.record["id"].split("~r")[1]) * 60.0) for d in p.deliveries)


def test_duplicate_sends_each_record_twice_a_second_apart_with_the_same_id() -> None:
    p = make(hourly(4), {"kind": "duplicate", "at": "+1h", "for": "2h"})
    sent = by_id(p)
    assert sent["t-r1~S1-level-1"] == [T0 + H, T0 + H + 1] and sent["t-r1~S1-level-2"] == [T0 + 2 * H, T0 + 2 * H + 1]
    assert sent["t-r1~S1-level-0"] == [T0]
    assert p.counts["duplicated"] == 2 and len(p.deliveries) == 6
    copies = [d.record for d in p.deliveries if d.record["id"] == "t-r1~S1-level-1"]
    assert copies[0] == copies[1] and copies[0] is not copies[1]
    assert_consistent(p)


def test_complaints_are_synthesised_evenly_over_their_span() -> None:
    p = make([], {"kind": "complaints", "grid": "G7", "category": "gas smell", "count": 4, "at": "+3h",
                  "over": "1h", "text": "燃气味"})
    assert [d.at - T0 for d in p.deliveries] == [3 * H, 3 * H + 900, 3 * H + 1800, 3 * H + 2700]
    first = p.deliveries[0].record
    assert first == {"feed": "complaint", "source": "drill-hotline", "grid": "G7", "category": "gas smell",
                     "text": "燃气味", "ts": "2020-01-22T03:00:00Z", "id": "t-r1~inj0-0"}
    assert [d.record["id"] for d in p.deliveries][-1] == "t-r1~inj0-3"
    assert p.counts["injected"] == 4 and p.counts["planned"] == 0
    good, bad = parse_records([{**d.record, "drill": "t-r1"} for d in p.deliveries], None, now=T0 + 10 * H)
    assert bad == [] and len({e.id for e in good}) == 4


def test_injections_apply_in_order() -> None:
    records = hourly(4)
    drop_first = make(records, {"kind": "drop", "source": "S1", "at": "+1h", "for": "1h"},
                      {"kind": "delay", "source": "S1", "at": "+0h", "by": "10m"})
    assert drop_first.counts["delayed"] == 3 and drop_first.counts["dropped"] == 1  # the dropped one is not delayed
    dup_then_drop = make(records, {"kind": "duplicate", "at": "+1h", "for": "1h"},
                         {"kind": "drop", "source": "S1", "at": "+1h", "for": "1h"})
    assert len(dup_then_drop.deliveries) == 3 and dup_then_drop.counts["dropped"] == 2  # both copies lost
    assert_consistent(dup_then_drop)
    complaint = {"kind": "complaints", "grid": "G1", "category": "c", "count": 2, "at": "+0h", "over": "1h"}
    earlier_drop = make([], {"kind": "drop", "source": "drill-hotline", "at": "+0h"}, complaint)
    later_drop = make([], complaint, {"kind": "drop", "source": "drill-hotline", "at": "+0h"})
    assert len(earlier_drop.deliveries) == 2 and later_drop.deliveries == []
    stuck_after_spike = make(records, {"kind": "spike", "source": "S1", "at": "+1h", "value": 50},
                             {"kind": "stuck", "source": "S1", "at": "+2h", "for": "2h"})
    assert [v for _, v in values(stuck_after_spike)] == [0.0, 50.0, 50.0, 50.0]


def test_runtime_faults_and_responder_faults_do_not_change_the_records() -> None:
    p = make(hourly(3), {"kind": "no_ack", "tier": 0}, {"kind": "kill", "target": "detector-worker", "at": "+1h"},
             {"kind": "pause_broker", "at": "+1h"})
    assert [d.at for d in p.deliveries] == [T0, T0 + H, T0 + 2 * H]
    assert {k for k, v in p.counts.items() if v} == {"planned"}


# --- what the service would refuse, bounds, order --------------------------------------------------------


def test_a_record_with_an_unreadable_time_is_sent_unchanged_at_the_start() -> None:
    bad = {"feed": "sensor", "source": "S1", "ts": "yesterday", "grid": "G1", "metric": "level", "value": 1,
           "id": "b1", "drill": "old"}
    before_1970 = sensor(0, 1.0, id="b2") | {"ts": -5}
    p = make([*hourly(2), bad, before_1970], {"kind": "drop", "at": "+0h"})
    assert [d.record for d in p.deliveries] == [{k: v for k, v in bad.items() if k != "drill"}, before_1970]
    assert all(d.at == T0 for d in p.deliveries)
    assert p.counts["planned"] == 4 and p.counts["unreadable"] == 2 and p.counts["dropped"] == 2
    assert p.first is None and p.last is None  # no record with a time is sent
    _, rejected = parse_records([{**d.record, "drill": "t-r1"} for d in p.deliveries], None, now=T0)
    assert len(rejected) == 2  # the service refuses (and dead-letters) both


def test_the_plan_is_bounded() -> None:
    with pytest.raises(ValueError, match="more than 5 records"):
        make(hourly(6), max_records=5)
    with pytest.raises(ValueError, match=r"injections\[0\] \(complaints\)"):
        make(hourly(3), {"kind": "complaints", "grid": "G1", "category": "c", "count": 3, "at": "+0h"}, max_records=5)
    with pytest.raises(ValueError, match=r"injections\[2\] \(duplicate\)"):
        make(hourly(3), {"kind": "drop", "at": "+2h"}, {"kind": "duplicate", "at": "+0h"},
             {"kind": "duplicate", "at": "+0h"}, max_records=5)
    p = make(hourly(3), {"kind": "drop", "at": "+2h"}, {"kind": "duplicate", "at": "+0h"}, max_records=4)
    assert len(p.deliveries) == 4  # exactly at the bound is fine


def test_deliveries_are_sorted_by_time_whatever_order_the_sources_come_in() -> None:
    records = list(reversed(hourly(5) + hourly(5, "S2")))
    p = make(records, {"kind": "delay", "source": "S2", "at": "+0h", "by": "90m"},
             {"kind": "duplicate", "source": "S1", "at": "+2h"})
    assert_consistent(p)
    assert p.counts["planned"] == 10 and p.counts["duplicated"] == 3 and len(p.deliveries) == 13
    assert p.first == T0 and p.last == T0 + 4 * H + 90 * 60
    assert [d.record["ts"] for d in p.deliveries[:2]] == [iso(T0), iso(T0 + H)]  # S1 at 0h, S1 at 1h; S2 later
    assert set(p.counts) == {"planned", "dropped", "stuck", "spiked", "delayed", "reordered", "duplicated", "injected",
                             "unreadable"}
