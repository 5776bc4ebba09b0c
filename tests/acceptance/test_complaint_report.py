"""The complaint closure report through the running embedded service, against the real Boston 311 file.

Two weeks of Boston 311 cases (2015-03-02 to 2015-03-16 local time, across the change to daylight time) are
written to a slice file and replayed into ``fenghuo run`` with ``fenghuo replay --url``, as an operator would.
``GET /v1/reports/complaints`` must then give the counts this test computes on its own, straight from the CSV
with the csv module: cases, resolved (a CLOSED_DT or status Closed), on time (OnTime_Status; else closed by
TARGET_DT), per category (TYPE) and per responder (Department, else QUEUE), and the median time to close.
Boston's file has no satisfaction; a few complaints with ratings are posted in another month to check those.
"""

from __future__ import annotations

import csv
import gzip
import json
import statistics
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fenghuo.ingest.adapters.boston311 import grid_id
from tests.support import DATA, ROOT, Service

BOSTON = DATA / "boston311-2015" / "boston_311_2015.csv.gz"
FIRST, LAST = "2015-03-02", "2015-03-16"  # local days [FIRST, LAST)
TZ = ZoneInfo("America/New_York")
CATEGORIES = ("Pothole Repair (Internal)", "Space Savers", "Street Light Outages", "Abandoned Vehicles",
              "Unsatisfactory Living Conditions")
pytestmark = pytest.mark.skipif(not BOSTON.exists(), reason="the shared real data is not present")


def utc(local: str) -> datetime:
    """A Boston local time of the file (ISO, no offset) in UTC; an ambiguous or missing hour as its first reading."""
    return datetime.fromisoformat(local).replace(tzinfo=TZ).astimezone(UTC)


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class Expected:
    """Counts per group, computed from the CSV rows with the rules of docs/reports.md."""

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()
        self.resolved: Counter[str] = Counter()
        self.decided: Counter[str] = Counter()
        self.on_time: Counter[str] = Counter()
        self.close_s: list[float] = []

    def add(self, keys: list[str], row: dict[str, str]) -> None:
        resolved = bool(row["CLOSED_DT"]) or row["CASE_STATUS"] == "Closed"
        flag = {"ONTIME": True, "OVERDUE": False}.get(row["OnTime_Status"])
        if flag is None and row["CLOSED_DT"] and row["TARGET_DT"]:
            flag = utc(row["CLOSED_DT"]) <= utc(row["TARGET_DT"])
        for k in keys:
            self.count[k] += 1
            self.resolved[k] += resolved
            if flag is not None:
                self.decided[k] += 1
                self.on_time[k] += flag
        if row["CLOSED_DT"]:
            seconds = (utc(row["CLOSED_DT"]) - utc(row["OPEN_DT"])).total_seconds()
            if seconds >= 0:
                self.close_s.append(seconds)


@pytest.fixture(scope="module")
def boston(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Expected, Expected, Expected]]:
    tmp = tmp_path_factory.mktemp("complaint-report")
    rows: list[dict[str, str]] = []
    with gzip.open(BOSTON, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames
        assert header is not None
        for row in reader:
            # cases without a neighbourhood have no grid in this config (they would fall back to lat/lon)
            if FIRST <= row["OPEN_DT"][:10] < LAST and row["neighborhood"]:
                rows.append(row)
    slice_file = tmp / "boston311-slice.csv"
    with open(slice_file, "w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, header)
        writer.writeheader()
        writer.writerows(rows)
    by_cat, by_dept, by_hood = Expected(), Expected(), Expected()
    for row in rows:
        by_cat.add([row["TYPE"], "all"], row)
        by_dept.add([row["Department"] or row["QUEUE"] or "(none)"], row)
        by_hood.add([row["neighborhood"]], row)
    hoods = sorted({r["neighborhood"] for r in rows})
    nodes: list[dict[str, Any]] = [{"id": "BOS", "name": "Boston", "kind": "district"}]
    nodes += [{"id": grid_id(h), "name": h, "kind": "grid", "parent": "BOS", "centroid": [42.3 + i / 100, -71.1]}
              for i, h in enumerate(hoods)]
    svc = Service(tmp / "svc", {"nodes": nodes}).start()
    try:
        done = subprocess.run([sys.executable, "-m", "fenghuo", "replay", str(slice_file), "--format", "boston311",
                               "--url", svc.url, "--api-key", svc.keys["responder"]],
                              cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        yield svc, by_cat, by_dept, by_hood
    finally:
        svc.stop()


def report(svc: Service, **params: Any) -> dict[str, Any]:
    start, end = iso(utc(FIRST + "T00:00:00")), iso(utc(LAST + "T00:00:00"))
    with svc.client("viewer") as c:
        r = c.get("/v1/reports/complaints", params={"start": start, "end": end, **params})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_the_range_is_local_days_across_the_change_to_daylight_time() -> None:
    assert iso(utc(FIRST + "T00:00:00")) == "2015-03-02T05:00:00Z" and iso(utc(LAST + "T00:00:00")) == \
        "2015-03-16T04:00:00Z"


def test_totals_and_categories_match_the_file(boston: tuple[Service, Expected, Expected, Expected]) -> None:
    svc, want, _, _ = boston
    got = report(svc, group_by="category")
    total = got["total"]
    assert got["truncated"] is False and got["complaints_read"] == want.count["all"] > 3000
    assert (total["count"], total["resolved"], total["on_time_decided"], total["on_time"]) == \
        (want.count["all"], want.resolved["all"], want.decided["all"], want.on_time["all"])
    assert total["close_median_s"] == pytest.approx(statistics.median(want.close_s), abs=0.001)
    rows = {g["key"]: g for g in got["groups"]}
    assert sum(g["count"] for g in rows.values()) == total["count"]
    for cat in CATEGORIES:
        assert want.count[cat] > 20, cat
        g = rows[cat]
        assert (g["count"], g["resolved"], g["on_time_decided"], g["on_time"]) == \
            (want.count[cat], want.resolved[cat], want.decided[cat], want.on_time[cat]), cat
        assert g["resolution_rate"] == round(want.resolved[cat] / want.count[cat], 4)
    assert total["rated"] == 0 and total["satisfaction_mean"] is None  # Boston's file has no satisfaction
    print(f"\nBoston {FIRST}..{LAST}: {total['count']} cases, resolution {total['resolution_rate']}, "
          f"on time {total['on_time_rate']}, median close {total['close_median_s'] / 3600:.1f} h")


def test_responders_and_grids_match_the_file(boston: tuple[Service, Expected, Expected, Expected]) -> None:
    svc, _, by_dept, by_hood = boston
    rows = {g["key"]: g for g in report(svc, group_by="responder")["groups"]}
    assert {k: (g["count"], g["resolved"], g["on_time"]) for k, g in rows.items()} == \
        {k: (by_dept.count[k], by_dept.resolved[k], by_dept.on_time[k]) for k in by_dept.count}
    grids = {g["key"]: g for g in report(svc, group_by="grid")["groups"]}
    assert {k: (g["count"], g["resolved"], g["on_time"]) for k, g in grids.items()} == \
        {grid_id(h): (by_hood.count[h], by_hood.resolved[h], by_hood.on_time[h]) for h in by_hood.count}
    assert all("alerts" in g for g in grids.values())


def test_satisfaction_and_closure_sent_with_complaints(boston: tuple[Service, Expected, Expected, Expected]) -> None:
    svc, _, _, _ = boston
    grid = grid_id("Roxbury")

    def c(i: int, **attrs: Any) -> dict[str, Any]:
        return {"feed": "complaint", "source": "survey-test", "id": f"s{i}", "ts": "2015-06-10T12:00:00Z",
                "grid": grid, "category": "noise", "text": "loud", "attrs": attrs}

    records = [c(1, satisfaction=5, closed="2015-06-10T14:00:00Z", target="2015-06-11T12:00:00Z", outcome="fixed"),
               c(2, satisfaction=2, closed="2015-06-12T12:00:00Z", target="2015-06-11T12:00:00Z"),
               c(3, satisfaction="satisfied", status="Closed"), c(4, satisfaction="unsatisfied"), c(5),
               c(6, satisfaction=7), c(7, closed="next week")]
    with svc.client("responder") as client:
        r = client.post("/v1/events", json=records)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["accepted"] == 5
        assert [(x["index"], x["error"]) for x in body["rejected"]] == [
            (5, "attrs.satisfaction must be an integer 1-5, 'satisfied' or 'unsatisfied', got 7"),
            (6, "attrs.closed must be an ISO 8601 time or epoch seconds, got 'next week'")]
        # the case sent again once closed: a duplicate (same source and id), the report keeps the first record
        again = client.post("/v1/events", json=[c(4, satisfaction="unsatisfied", closed="2015-06-11T12:00:00Z")])
        assert again.json()["duplicates"] == 1
    with svc.client("viewer") as client:
        got = client.get("/v1/reports/complaints", params={"group_by": "category", "start": "2015-06-01",
                                                           "end": "2015-07-01"}).json()
    (noise,) = [g for g in got["groups"] if g["key"] == "noise"]
    assert (noise["count"], noise["resolved"], noise["on_time_decided"], noise["on_time"]) == (5, 3, 2, 1)
    assert (noise["rated"], noise["satisfaction_mean"], noise["satisfied_share"]) == (4, 3.5, 0.5)


@pytest.mark.parametrize("params, status", [
    ({"group_by": "level"}, 422), ({"start": "yesterday"}, 422), ({"end": "2015-03-01"}, 422),
    ({"start": "2015-03-02", "end": "2015-03-02"}, 422), ({"end": "99999999999999"}, 422),
    ({"group_by": "x" * 21}, 422), ({"drill": "maybe"}, 422), ({"group_by": "responder", "drill": "true"}, 200),
])
def test_bad_parameters_are_422(boston: tuple[Service, Expected, Expected, Expected], params: dict[str, str],
                                status: int) -> None:
    svc, _, _, _ = boston
    query = {"start": "2015-03-02", "end": "2015-03-16", **params}
    with svc.client("viewer") as c:
        r = c.get("/v1/reports/complaints", params=query)
    assert r.status_code == status, r.text
    if status == 200:
        assert r.json()["total"]["count"] == 0  # no drill complaints were sent
    with svc.client("viewer") as c:
        c.headers.pop("Authorization")
        assert c.get("/v1/reports/complaints", params=query).status_code == 401


def test_the_command_line_gives_the_same_report(boston: tuple[Service, Expected, Expected, Expected]) -> None:
    svc, want, _, _ = boston
    start, end = iso(utc(FIRST + "T00:00:00")), iso(utc(LAST + "T00:00:00"))
    args = [sys.executable, "-m", "fenghuo", "report", "complaints", "--data-dir", str(svc.data_dir),
            "--start", start, "--end", end, "--group-by", "category"]
    as_json = subprocess.run([*args, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == report(svc, group_by="category")
    text = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith(f"{want.count['all']:,} real complaints from {start} to {end}\n")
    assert any(line.startswith("Street Light Outages ") for line in text.stdout.splitlines())
    bad = subprocess.run([*args[:-2], "--group-by", "level"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "invalid choice: 'level'" in bad.stderr
