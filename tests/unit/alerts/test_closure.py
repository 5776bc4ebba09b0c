"""Complaint closure figures (alerts/closure.py): resolution, on-time, time to close, satisfaction, per group."""

from __future__ import annotations

from typing import Any

import pytest

from fenghuo.alerts.closure import ClosureTally, closure_report, with_alert_times
from fenghuo.core.models import Event

T0 = 1_420_070_400.0  # 2015-01-01T00:00:00Z
H = 3600.0


def complaint(i: int, *, grid: str = "G1", category: str = "pothole", ts: float = T0, **attrs: Any) -> Event:
    return Event("complaint", "311", ts, grid, f"c{i}", category=category, text="t", attrs=attrs)


def row(report: dict[str, Any], key: str) -> dict[str, Any]:
    return next(g for g in report["groups"] if g["key"] == key)


def test_resolution_counts_a_closed_time_or_a_closed_status() -> None:
    r = closure_report([complaint(1, closed=T0 + H), complaint(2, status="Closed"), complaint(3, status="RESOLVED"),
                        complaint(4, status="Open"), complaint(5, closed=None),
                        complaint(6, closed="2015-01-01T02:00:00Z")])
    t = r["total"]
    assert (t["count"], t["resolved"], t["resolution_rate"]) == (6, 4, 0.6667)


def test_on_time_prefers_the_sources_flag_then_closed_against_target() -> None:
    events = [complaint(1, closed=T0 + 5 * H, target=T0 + H, on_time=True),  # flag wins over the times
              complaint(2, closed=T0 + H, target=T0 + 2 * H),  # on time by the times
              complaint(3, closed=T0 + 3 * H, target=T0 + 2 * H),  # late by the times
              complaint(4, target=T0 + 2 * H),  # open, no flag: undecided
              complaint(5, on_time=False),  # open and overdue by the flag
              complaint(6, closed=T0 + H)]  # no target: undecided
    t = closure_report(events)["total"]
    assert (t["on_time_decided"], t["on_time"], t["on_time_rate"]) == (4, 2, 0.5)


def test_time_to_close_median_and_p90_leave_out_a_close_before_the_opening() -> None:
    events = [complaint(i, closed=T0 + i * H) for i in range(1, 11)] + [complaint(99, closed=T0 - H)]
    t = closure_report(events)["total"]
    assert t["resolved"] == 11
    assert t["close_median_s"] == 5.5 * H and t["close_p90_s"] == pytest.approx(9.1 * H)


def test_satisfaction_mean_over_numbers_share_over_every_rating() -> None:
    events = [complaint(1, satisfaction=5), complaint(2, satisfaction=3), complaint(3, satisfaction="satisfied"),
              complaint(4, satisfaction="unsatisfied"), complaint(5, satisfaction=4), complaint(6)]
    t = closure_report(events)["total"]
    assert t["rated"] == 5
    assert t["satisfaction_mean"] == 4.0  # (5 + 3 + 4) / 3
    assert t["satisfied_share"] == 0.6  # 5, "satisfied", 4
    assert closure_report([complaint(1)])["total"]["satisfaction_mean"] is None


def test_groups_by_grid_category_and_responder() -> None:
    events = [complaint(1, grid="G1", category="pothole", department="PWDx", closed=T0 + H),
              complaint(2, grid="G2", category="pothole", department="BTDT", queue="BTDT_Parking"),
              complaint(3, grid="G2", category="noise", responder="Officer Li", department="BPD", closed=T0 + H),
              complaint(4, grid="G2", category="noise", queue="INFO_Mass"),
              complaint(5, grid="G2", category="noise")]
    by_grid = closure_report(events, "grid")
    assert [(g["key"], g["count"], g["resolved"]) for g in by_grid["groups"]] == [("G1", 1, 1), ("G2", 4, 1)]
    by_cat = closure_report(events, "category")
    assert row(by_cat, "noise")["count"] == 3 and row(by_cat, "pothole")["resolution_rate"] == 0.5
    by_resp = closure_report(events, "responder")
    assert [g["key"] for g in by_resp["groups"]] == ["(none)", "BTDT", "INFO_Mass", "Officer Li", "PWDx"]
    assert by_resp["total"]["count"] == 5


def test_other_feeds_and_bad_group_are_refused_or_passed_over() -> None:
    with pytest.raises(ValueError, match="group_by must be one of grid, category, responder"):
        ClosureTally("level")
    opinion = Event("opinion", "weibo", T0, "G1", "o1", text="hm", attrs={"closed": T0})
    assert closure_report([opinion])["total"]["count"] == 0


def test_alert_times_beside_matching_rows() -> None:
    r = closure_report([complaint(1, grid="G1"), complaint(2, grid="G2")])
    rt = {"groups": [{"key": "G2", "count": 1, "mtta_median_s": 30.0, "mtta_p90_s": 30.0, "mttr_median_s": 90.0,
                      "mttr_p90_s": 90.0}],
          "total": {"key": "all", "count": 1, "mtta_median_s": 30.0, "mtta_p90_s": 30.0, "mttr_median_s": 90.0,
                    "mttr_p90_s": 90.0}}
    out = with_alert_times(r, rt)
    assert row(out, "G1")["alerts"] is None and row(out, "G2")["alerts"]["mttr_median_s"] == 90.0
    assert out["total"]["alerts"]["count"] == 1
