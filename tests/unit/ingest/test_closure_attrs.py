"""Complaint closure and satisfaction attrs at ingest: good ones pass, bad ones are rejected with a reason."""

from __future__ import annotations

from typing import Any

import pytest

from fenghuo.ingest.events import parse_records

NOW = 1_600_000_000.0  # 2020-09-13


def complaint(feed: str = "complaint", **attrs: Any) -> dict[str, Any]:
    rec = {"feed": feed, "source": "311", "ts": "2020-01-22T10:00:00Z", "grid": "G1", "text": "a hole",
           "attrs": attrs}
    if feed == "complaint":
        rec["category"] = "pothole"
    return rec


@pytest.mark.parametrize("attrs", [
    {"closed": "2020-01-23T10:00:00Z", "target": "2020-02-01T00:00:00", "on_time": True, "outcome": "fixed",
     "satisfaction": 5, "responder": "PWD"},
    {"closed": 1_579_780_000, "target": 1_579_800_000.5, "satisfaction": "unsatisfied"},
    {"closed": None, "target": None, "on_time": None, "satisfaction": None, "outcome": None},
    {"satisfaction": 1}, {"satisfaction": "satisfied"},
    {"target": "2099-12-31T00:00:00Z"},  # a due date may lie ahead
])
def test_good_closure_attrs_are_accepted(attrs: dict[str, Any]) -> None:
    good, bad = parse_records([complaint(**attrs)], None, now=NOW)
    assert bad == [] and good[0].attrs == attrs


@pytest.mark.parametrize("attrs, reason", [
    ({"satisfaction": 0}, "attrs.satisfaction must be an integer 1-5, 'satisfied' or 'unsatisfied', got 0"),
    ({"satisfaction": 6}, "attrs.satisfaction must be an integer 1-5, 'satisfied' or 'unsatisfied', got 6"),
    ({"satisfaction": 4.5}, "attrs.satisfaction must be an integer 1-5, 'satisfied' or 'unsatisfied', got 4.5"),
    ({"satisfaction": True}, "attrs.satisfaction must be an integer 1-5, 'satisfied' or 'unsatisfied', got True"),
    ({"satisfaction": "happy"}, "attrs.satisfaction must be an integer 1-5, 'satisfied' or 'unsatisfied', got 'happy'"),
    ({"satisfaction": ["satisfied"]}, "attrs.satisfaction must be an integer 1-5, 'satisfied' or 'unsatisfied', "
                                      "got a list"),
    ({"closed": "soon"}, "attrs.closed must be an ISO 8601 time or epoch seconds, got 'soon'"),
    ({"closed": "2" * 100}, "attrs.closed must be an ISO 8601 time or epoch seconds, got '" + "2" * 60 + "'…"),
    ({"closed": "2021-01-01T00:00:00Z"}, "attrs.closed '2021-01-01T00:00:00Z' is before 1970 or after now "
                                         "(limits.max_future_seconds)"),
    ({"closed": -5}, "attrs.closed -5 is before 1970 or after now (limits.max_future_seconds)"),
    ({"target": "2100-01-02T00:00:00Z"}, "attrs.target '2100-01-02T00:00:00Z' is before 1970 or after 2100"),
    ({"target": {"at": 1}}, "attrs.target must be an ISO 8601 time or epoch seconds, got a dict"),
    ({"on_time": "ONTIME"}, "attrs.on_time must be true or false, got 'ONTIME'"),
    ({"outcome": 3}, "attrs.outcome must be a string, got int"),
    ({"responder": "x" * 300}, "attrs.responder longer than 256 characters"),
])
def test_bad_closure_attrs_are_rejected_with_the_reason(attrs: dict[str, Any], reason: str) -> None:
    good, bad = parse_records([complaint(**attrs), complaint(satisfaction=3)], None, now=NOW)
    assert [e.attrs for e in good] == [{"satisfaction": 3}]  # the rest of the batch is unaffected
    assert [(i, why) for i, why, _ in bad] == [(0, reason)]


def test_the_keys_mean_nothing_on_other_feeds() -> None:
    good, bad = parse_records([complaint("opinion", satisfaction="meh", closed="soon")], None, now=NOW)
    assert bad == [] and len(good) == 1
