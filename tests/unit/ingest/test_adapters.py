"""The file adapters on the real data in ../shared/data and on the bundled demo data."""

from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

from fenghuo.core.config import load_config
from fenghuo.core.grids import GridTree
from fenghuo.demo import demo_files
from fenghuo.ingest.adapters import ReadStats, detect_format, read_records
from fenghuo.ingest.adapters.boston311 import grid_id, local_to_utc, slug
from fenghuo.ingest.events import EventError, make_resolver, parse_event
from tests.support import DATA, ROOT

HUBEAU = DATA / "hubeau-river-levels-2020" / "hubeau_water_level_10min_2020-01-07_2020-02-07.csv.gz"
BOSTON = DATA / "boston311-2015" / "boston_311_2015.csv.gz"
NAB = DATA / "nab" / "data" / "realKnownCause" / "nyc_taxi.csv"
real = pytest.mark.skipif(not HUBEAU.exists(), reason="the shared real data is not present")


@pytest.fixture(scope="module")
def resolve():
    os.environ.setdefault("FENGHUO_WEBHOOK_SECRET", "test-secret")
    config = load_config(ROOT / "fenghuo" / "demo" / "fenghuo.example.yaml")
    return make_resolver(GridTree(config.nodes, config.grid_match_km))


def _csv_rows(path: Path) -> int:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


@real
def test_hubeau_every_reading_is_a_valid_event_in_its_rivers_grid(resolve) -> None:
    stats = ReadStats()
    grids: dict[str, set[str]] = {}
    first = None
    for rec in read_records(HUBEAU, stats=stats):
        event = parse_event(rec, resolve)
        grids.setdefault(rec["attrs"]["river"], set()).add(event.grid)
        first = first or rec
    assert stats.rows == stats.yielded == 185_446  # the file's data rows (SOURCES.md)
    assert stats.skipped == 0
    # the file's first row: O1432910,O143291001,H,2020-01-08 15:45:00+00:00,600.0,...,Le Grand Hers
    assert first == {"feed": "sensor", "source": "hubeau:O143291001", "ts": "2020-01-08T15:45:00Z",
                     "metric": "water_level_m", "value": 0.6, "id": "hubeau:O143291001:2020-01-08T15:45:00Z",
                     "attrs": {"river": "Le Grand Hers", "site": "O1432910"},
                     "lat": 42.905022451731, "lon": 1.9366190619787567}
    assert grids == {river: {f"FR-{slug(river)}"} for river in grids} and len(grids) == 6


def test_hubeau_skips_and_counts_rows_without_a_value(tmp_path: Path) -> None:
    path = tmp_path / "hubeau_x.csv"
    path.write_text(
        "code_site,code_station,grandeur_hydro,date_obs,resultat_obs,libelle_qualification_obs,longitude,latitude,river\n"
        "S1,S101,H,2020-01-22 10:00:00+00:00,15490.0,q,2.5,42.7,L'Agly\n"
        "S1,S101,H,2020-01-22 10:10:00+00:00,,q,2.5,42.7,L'Agly\n"
        "S1,S101,H,2020-01-22 11:20:00+01:00,1234.5,q,2.5,42.7,L'Agly\n", encoding="utf-8")
    stats = ReadStats()
    recs = list(read_records(path, stats=stats))
    assert [(r["ts"], r["value"]) for r in recs] == [("2020-01-22T10:00:00Z", 15.49), ("2020-01-22T10:20:00Z", 1.2345)]
    assert (stats.rows, stats.yielded, stats.skipped) == (3, 2, 1)
    assert stats.reasons == Counter({"empty resultat_obs": 1})


def test_boston_local_times_become_utc() -> None:
    assert local_to_utc("2015-01-27T10:00:00") == "2015-01-27T15:00:00Z"  # EST, UTC-5
    assert local_to_utc("2015-07-04T00:35:00") == "2015-07-04T04:35:00Z"  # EDT, UTC-4
    assert local_to_utc("2015-03-08T01:59:59") == "2015-03-08T06:59:59Z"  # just before the spring change
    assert local_to_utc("2015-03-08T03:00:00") == "2015-03-08T07:00:00Z"
    assert local_to_utc("2015-11-01T00:59:00") == "2015-11-01T04:59:00Z"
    assert local_to_utc("2015-11-01T02:00:00") == "2015-11-01T07:00:00Z"
    assert local_to_utc("") is None
    assert grid_id("South Boston / South Boston Waterfront") == "BOS-south-boston-south-boston-waterfront"


@real
def test_boston_every_case_is_a_valid_complaint(resolve) -> None:
    stats = ReadStats()
    by_id = {}
    no_hood = Counter()
    for rec in read_records(BOSTON, stats=stats):
        event = parse_event(rec, resolve)
        assert event.grid.startswith("BOS-")
        if rec["attrs"]["neighborhood"]:
            assert event.grid == grid_id(rec["attrs"]["neighborhood"])
        else:
            assert "grid" not in rec
            no_hood[event.grid] += 1
        if rec["id"] in ("boston311:101001240734", "boston311:101001422839"):
            by_id[rec["id"]] = rec
    assert stats.rows == stats.yielded == 121_145  # the file's cases (SOURCES.md)
    assert sum(no_hood.values()) == 10_955
    winter, summer = by_id["boston311:101001240734"], by_id["boston311:101001422839"]
    assert winter["ts"] == "2015-01-01T05:20:09Z"  # OPEN_DT 2015-01-01T00:20:09 EST
    assert winter["attrs"]["closed"] == "2015-01-02T14:08:42Z" and winter["attrs"]["target"] is None
    assert winter["category"] == "Notification" and winter["text"] == "Notification / Other"
    assert summer["ts"] == "2015-07-04T04:35:00Z"  # OPEN_DT 2015-07-04T00:35:00 EDT
    assert summer["attrs"] == {
        "opened": "2015-07-04T04:35:00Z", "target": "2015-07-20T12:30:00Z", "closed": "2015-07-07T16:55:04Z",
        "on_time": True, "status": "Closed", "channel": "Citizens Connect App",
        "queue": "PWDx_Street Light_Pending_Contractor (Internal)", "department": "PWDx",
        "neighborhood": "Roslindale", "outcome": "Case Closed. Closed date : 2015-07-07 12:55:04.213 Case Resolved "
        "Replaced Photocell Light is on"}
    assert summer["text"] == "Street Lights / Street Light Outages / Street Light Outages  // SENT TO MAVERICK //"
    assert summer["grid"] == "BOS-roslindale" and (summer["lat"], summer["lon"]) == (42.2834, -71.1427)


@real
def test_nab_file() -> None:
    stats = ReadStats()
    recs = list(read_records(NAB, stats=stats, grid="G-TAXI"))
    assert len(recs) == stats.rows == 10_320
    assert recs[0] == {"feed": "sensor", "source": "nab:realKnownCause/nyc_taxi", "ts": "2014-07-01T00:00:00Z",
                       "grid": "G-TAXI", "metric": "value", "value": 10844.0,
                       "id": "nab:realKnownCause/nyc_taxi:2014-07-01T00:00:00Z", "attrs": {}}
    assert all(parse_event(r).grid == "G-TAXI" for r in recs)
    assert next(read_records(NAB))["grid"] == "NAB"


def test_demo_data_is_valid_and_holds_the_peaks(resolve) -> None:
    files = demo_files()
    assert [fmt for _, fmt in files] == ["hubeau", "boston311"]
    assert sum(p.stat().st_size for p, _ in files) < 300_000
    (gloria, _), (blizzard, _) = files
    river = [parse_event(r, resolve) for r in read_records(gloria, fmt="hubeau")]
    assert len(river) == 5_565 == _csv_rows(gloria)
    assert len({e.source for e in river}) == 8
    peak = max(river, key=lambda e: e.value or 0)
    assert (peak.source, peak.value, peak.grid) == ("hubeau:Y063402001", 15.49, "FR-l-agly")
    assert min(e.ts for e in river) >= 1579478400 and max(e.ts for e in river) < 1579910400  # 20th..25th Jan
    cases = [parse_event(r, resolve) for r in read_records(blizzard, fmt="boston311")]
    assert len(cases) == 1_274 == _csv_rows(blizzard)
    snow = Counter(e.ts // 86400 for e in cases if e.category == "Misc. Snow Complaint")
    assert max(snow.values()) >= 80


def test_format_detection(tmp_path: Path) -> None:
    demo = dict((fmt, p) for p, fmt in demo_files())
    assert detect_format(demo["hubeau"]) == "hubeau" and detect_format(demo["boston311"]) == "boston311"
    for fmt, src in demo.items():  # a neutral name: told apart by the CSV header
        neutral = tmp_path / f"{fmt}.csv.gz"
        shutil.copy(src, neutral)
        assert detect_format(neutral) == fmt
    nab = tmp_path / "series.csv"
    nab.write_text("timestamp,value\n2014-07-01 00:00:00,1.5\n")
    assert detect_format(nab) == "nab"
    with pytest.raises(ValueError, match="hold sensor events, not complaint"):
        read_records(nab, feed="complaint")
    odd = tmp_path / "odd.csv"
    odd.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ValueError, match="cannot tell the format"):
        detect_format(odd)


def _record(i: int) -> dict:
    return {"source": f"s{i}", "ts": f"2020-01-22T10:{i % 60:02d}:00Z", "grid": "G1", "metric": "m",
            "value": i, "text": "x" * (i % 50)}


def test_json_array_and_ndjson_stream(tmp_path: Path) -> None:
    records = [_record(i) for i in range(3000)]  # > one 64 KiB chunk
    array = tmp_path / "events.json.gz"
    with gzip.open(array, "wt", encoding="utf-8") as fh:
        fh.write("\n [\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n")
    lines = tmp_path / "events.ndjson"
    lines.write_text("\n".join(json.dumps(r) for r in records) + "\n\n", encoding="utf-8")
    for path in (array, lines):
        got = list(read_records(path, feed="sensor"))
        assert [r["value"] for r in got] == list(range(3000))
        assert all(parse_event(r).feed == "sensor" for r in got)
    numbers = tmp_path / "n.json"
    numbers.write_text("[1234567, {\"feed\": \"opinion\"}, 2]")
    assert list(read_records(numbers, feed="sensor")) == [1234567, {"feed": "opinion"}, 2]
    with pytest.raises(EventError):  # non-objects reach the service and are rejected there
        parse_event(1234567)


def test_json_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"feed": "sensor"}\n{"feed": \n')
    with pytest.raises(ValueError, match=r"bad.ndjson:2: not valid JSON"):
        list(read_records(bad))
    unclosed = tmp_path / "unclosed.json"
    unclosed.write_text('[{"feed": "sensor"}, {"feed": "sensor"}')
    with pytest.raises(ValueError, match="not closed"):
        list(read_records(unclosed))
    empty = tmp_path / "empty.json"
    empty.write_text("  \n")
    assert list(read_records(empty)) == []
