"""Bounds on every field of an ingested event, ids unique per source, drill marking that needs permission.

Each bad record is rejected with its index and a clear reason that never quotes more than about 60
characters of it; the rest of the batch goes on. Timestamps sit in a window around an injected now,
values in a plausible range per metric (a 1e308 reading is a sensor fault, never a red alert).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fenghuo.core.clock import FixedClock
from fenghuo.core.config import Limits, parse_config
from fenghuo.core.models import Event
from fenghuo.core.settings import Settings
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.ingest.events import DRILL_NEEDS_PERMISSION, event_json_schema, parse_event, parse_records
from fenghuo.runtime.embedded import Pipeline

NOW = 1_579_687_200.0  # 2020-01-22T10:00:00Z
GOOD = {"feed": "sensor", "source": "gauge-1", "ts": "2020-01-22T10:00:00Z", "grid": "G1", "metric": "water_level_m",
        "value": 5.2, "id": "gauge-1:2020-01-22T10:00", "attrs": {"river": "Aude"}}
COMPLAINT = {"feed": "complaint", "source": "hotline", "ts": NOW - 60, "grid": "G1", "category": "flooding",
             "text": "水漫进了院子"}
MB = "x" * 1_000_000


def nested(depth: int) -> dict[str, Any]:
    """attrs nested ``depth`` levels deep (attrs itself is level 1)."""
    top: dict[str, Any] = {}
    node = top
    for _ in range(depth - 1):
        node["a"] = {}
        node = node["a"]
    return top


def reason(rec: dict[str, Any], **kw: Any) -> str:
    """The one rejection of ``rec`` in a batch between two good records, which stay accepted."""
    good, bad = parse_records([GOOD, rec, COMPLAINT], None, now=NOW, **kw)
    assert len(good) == 2 and [b[0] for b in bad] == [1], bad
    return bad[0][1]


@pytest.mark.parametrize("change, expected", [
    ({"source": "s" * 257}, "source longer than 256 characters"),
    ({"grid": "g" * 257}, "grid longer than 256 characters"),
    ({"metric": "m" * 257}, "metric longer than 256 characters"),
    ({"drill": "d" * 257}, "drill longer than 256 characters"),
    ({"id": "i" * 129}, "id longer than 128 characters"),
    ({"feed": "complaint", "category": "c" * 257, "text": "t"}, "category longer than 256 characters"),
    ({"feed": "complaint", "category": "c", "text": "t" * 20_001}, "text longer than 20000 characters"),
    ({"source": "gauge\ud800"}, "source is not valid Unicode (a NUL character or a lone surrogate)"),
    ({"metric": "level\x00"}, "metric is not valid Unicode"),
    ({"id": "\udfff"}, "id is not valid Unicode"),
    ({"drill": "d\ud800"}, "drill is not valid Unicode"),
    ({"grid": "G\x00"}, "grid is not valid Unicode"),
    ({"feed": "opinion", "text": "lone \ud800"}, "text is not valid Unicode (a lone surrogate)"),
    ({"attrs": {"k\ud800": 1}}, "attrs holds a key that is not valid Unicode"),
    ({"attrs": {"k": ["ok", "\x00"]}}, "attrs holds a string that is not valid Unicode"),
    ({"attrs": {f"k{i}": i for i in range(65)}}, "attrs has an object with more than 64 keys"),
    ({"attrs": nested(9)}, "attrs nested deeper than 8 levels"),
    ({"attrs": nested(300)}, "attrs nested deeper than 8 levels"),  # orjson refuses >254: was a 500 for all
    ({"attrs": nested(100_000)}, "attrs nested deeper than 8 levels"),
    ({"attrs": {"note": "x" * 17_000}}, "attrs larger than 16384 bytes encoded as JSON"),
    ({"attrs": {"n": list(range(20_000))}}, "attrs larger than 16384 bytes encoded as JSON"),
    ({"attrs": {"n": 2**70}}, "attrs holds an integer beyond 64 bits"),
    ({"attrs": {"n": float("nan")}}, "attrs numbers must be finite"),
    ({"attrs": {"n": b"raw"}}, "attrs values must be JSON"),
    ({"ts": 1e18}, "ts 1e+18 is more than 86400 s after now (limits.max_future_seconds)"),
    ({"ts": 1e308}, "ts 1e+308 is more than 86400 s after now"),
    ({"ts": "1e308"}, "ts is not an ISO 8601 time: '1e308'"),
    ({"ts": "9999-12-31T23:59:59Z"}, "ts 9999-12-31T23:59:59Z is more than 86400 s after now"),
    ({"ts": NOW + 86_401}, "ts 2020-01-23T10:00:01Z is more than 86400 s after now"),
    ({"ts": "1999-12-31T00:00:00Z"}, "ts 1999-12-31T00:00:00Z is older than 7305 days (limits.max_age_days"),
    ({"ts": -1}, "ts -1 is older than 7305 days"),
    ({"ts": float("nan")}, "ts must be finite"),
    ({"ts": float("inf")}, "ts must be finite"),
    ({"ts": 10**400}, "ts is not an ISO 8601 time: an integer of about 401 digits"),
    ({"ts": MB}, "ts is not an ISO 8601 time: 'xxxxxxxx"),
    ({"drill": "flood", "ts": -5}, "ts -5 is before 1970"),
    ({"drill": "flood", "ts": 1e18}, "ts 1e+18 is more than 86400 s after now"),
    ({"value": 1e308}, "implausible value 1e+308 for metric 'water_level_m' (sensor fault?): outside [-20, 60]"),
    ({"value": 60.5}, "implausible value 60.5 for metric 'water_level_m' (sensor fault?)"),
    ({"value": -21}, "implausible value -21 for metric 'water_level_m'"),
    ({"metric": "flow_m3s", "value": 2e9}, "implausible value 2e+09 for metric 'flow_m3s' (sensor fault?): outside "
                                          "[-1e+09, 1e+09]"),
    ({"metric": "gas_ppm", "value": -1}, "implausible value -1 for metric 'gas_ppm'"),
    ({"value": float("inf")}, "value must be finite"),
    ({"lat": 91, "lon": 0}, "lat/lon out of range"),
])
def test_each_bound_rejects_one_record_with_its_reason(change: dict[str, Any], expected: str) -> None:
    got = reason({**GOOD, **change})
    assert got.startswith(expected), got
    assert len(got) < 250


@pytest.mark.parametrize("field", ["source", "grid", "metric", "category", "drill", "id", "text", "feed", "ts"])
def test_reasons_never_echo_more_than_60_characters(field: str) -> None:
    rec = {**GOOD, "feed": "complaint", "category": "c", "text": "t", field: "\ud800" + MB}
    got = reason(rec)
    assert "x" * 61 not in got and len(got) < 250, got
    got = reason({**GOOD, "attrs": {"k": MB}})
    assert "x" * 61 not in got
    many = reason({**GOOD, **{f"{MB}{i}": 1 for i in range(10)}})  # type: ignore[dict-item]
    assert many.startswith("unknown field(s): ") and len(many) < 400


def test_bounds_within_the_limits_are_accepted() -> None:
    edge = {**GOOD, "source": "s" * 256, "id": "i" * 128, "value": 60.0, "ts": NOW + 86_400,
            "attrs": {**nested(8), **{f"k{i}": i for i in range(63)}}}
    old = {**GOOD, "ts": "2000-02-01T00:00:00Z", "value": -20}  # backfill of 20-year-old history
    drill = {**GOOD, "drill": "flood-1975", "ts": "1975-06-01T00:00:00Z"}  # a drill replays its own past
    unknown_metric = {**GOOD, "metric": "flow_m3s", "value": -1e9}
    text = {**COMPLAINT, "text": "第一行\n第二行\t完", "attrs": {"tab\there": "a\tb", "nested": [[1, 2], {"x": None}]}}
    good, bad = parse_records([edge, old, drill, unknown_metric, text], None, now=NOW)
    assert bad == [] and len(good) == 5
    assert good[2].drill == "flood-1975" and good[0].value == 60.0


def test_limits_come_from_the_config() -> None:
    limits = parse_config({"limits": {"max_future_seconds": 0, "max_age_days": 1, "max_abs_value": 100,
                                      "metrics": {"water_level_m": [0, 10]}, "max_id_chars": 16}}).limits
    assert limits.metrics["gas_ppm"] == (0.0, 1_000_000.0)  # the defaults stay for metrics not given
    cases = [({**GOOD, "ts": NOW + 1}, "ts 2020-01-22T10:00:01Z is more than 0 s after now"),
             ({**GOOD, "ts": NOW - 2 * 86_400}, "ts 2020-01-20T10:00:00Z is older than 1 days"),
             ({**GOOD, "value": 11}, "implausible value 11 for metric 'water_level_m' (sensor fault?): "
                                     "outside [0, 10]"),
             ({**GOOD, "metric": "flow", "value": 101}, "implausible value 101 for metric 'flow'"),
             ({**GOOD, "id": "i" * 17}, "id longer than 16 characters")]
    good, bad = parse_records([{**GOOD, "id": "short"}] + [c for c, _ in cases], None, now=NOW, limits=limits)
    assert len(good) == 1
    wanted = [want for _, want in cases]
    assert [(i, r[:len(w)]) for (i, r, _), w in zip(bad, wanted, strict=True)] == list(enumerate(wanted, start=1))


def test_marking_a_drill_needs_permission() -> None:
    drill_rec = {**GOOD, "drill": "flood"}
    good, bad = parse_records([GOOD, drill_rec, {**GOOD, "drill": None}], None, now=NOW, may_drill=False)
    assert [e.drill for e in good] == [None, None]
    assert [(i, r) for i, r, _ in bad] == [(1, DRILL_NEEDS_PERMISSION)]
    good, bad = parse_records([GOOD, COMPLAINT], None, "flood", now=NOW, may_drill=False)  # the batch's drill
    assert good == [] and [r for _, r, _ in bad] == [DRILL_NEEDS_PERMISSION] * 2
    good, bad = parse_records([drill_rec], None, now=NOW)  # allowed by default
    assert bad == [] and good[0].drill == "flood"


# -- the embedded pipeline ---------------------------------------------------------------------------------------
RED_RULE = {"id": "river", "metric": "water_level_m", "levels": {"blue": 10, "red": 14}}


def pipeline(tmp: Path) -> Pipeline:
    config = parse_config({"rules": [RED_RULE]})
    return Pipeline(Settings(data_dir=tmp), config, SqliteStore(tmp / "db"), clock=FixedClock(NOW), notifiers={})


def test_an_implausible_reading_is_a_dead_letter_never_an_alert(tmp_path: Path) -> None:
    p = pipeline(tmp_path)
    result = p.ingest([{**GOOD, "source": "new-gauge", "id": None, "value": 1e308},
                       {**GOOD, "source": "new-gauge", "id": None, "ts": 1e18, "value": 15.0},
                       {**GOOD, "id": None, "attrs": nested(300)},
                       {**GOOD, "id": "ok-1", "value": 5.0}])
    assert result.accepted == 1 and [r["index"] for r in result.rejected] == [0, 1, 2]
    assert "(sensor fault?)" in result.rejected[0]["error"]
    assert p.store.all_alerts() == [] and p.store.dead_letter_count() == 3
    assert [e.value for _, e in p.store.events_after(0, 10)] == [5.0]
    p.store.close()


HOSTILE = [{**GOOD, "source": "s\ud800"}, {**GOOD, "attrs": nested(1000)}, {**GOOD, "attrs": nested(100_000)},
           {**GOOD, "text": MB}, {**GOOD, "value": float("nan")}, {**GOOD, "x\x00\ud800": 1}, {**GOOD, "ts": 10**5000},
           {**GOOD, "attrs": {"n": 2**100}}, {**GOOD, "metric": "\x00"}]


def test_hostile_records_become_dead_letters_that_can_be_listed(store: Any) -> None:
    """Whatever a record holds, keeping it as a dead letter and listing it again never fails."""
    import json

    good, bad = parse_records([*HOSTILE, {**GOOD, "id": "fine"}], None, now=NOW)
    assert [e.id for e in good] == ["fine"] and [i for i, _, _ in bad] == list(range(len(HOSTILE)))
    store.add_dead_letters(bad, NOW)
    listed = store.dead_letters(limit=100)
    assert len(listed) == len(HOSTILE)
    text = json.dumps(listed, allow_nan=False)  # what an API answer holds: strict JSON, bounded
    assert len(text) < 200_000 and "x" * 2001 not in text
    assert [d["error"] for d in sorted(listed, key=lambda d: d["index"])] == [r for _, r, _ in bad]


def test_a_forged_id_from_another_source_does_not_hide_the_real_reading(tmp_path: Path) -> None:
    p = pipeline(tmp_path)
    forged = p.ingest([{**GOOD, "source": "forger", "value": 1.0}])  # under the real gauge's id
    real = p.ingest([{**GOOD, "value": 14.9}])
    assert (forged.accepted, real.accepted, real.duplicates) == (1, 1, 0)
    again = p.ingest([{**GOOD, "value": 14.9}])
    assert (again.accepted, again.duplicates) == (0, 1)  # the gauge's own repeat is still a duplicate
    (alert,) = p.store.all_alerts()
    assert alert.level.name_en == "red" and alert.grid == "G1"
    p.store.close()


def test_pipeline_refuses_drills_without_permission(tmp_path: Path) -> None:
    p = pipeline(tmp_path)
    result = p.ingest([{**GOOD, "value": 14.9, "drill": "flood"}, {**GOOD, "id": "x", "value": 1.0}], may_drill=False)
    assert result.accepted == 1 and result.rejected == [{"index": 0, "error": DRILL_NEEDS_PERMISSION}]
    assert p.store.all_alerts() == []
    p.store.close()


def test_kafka_ingest_applies_the_same_bounds_and_keys(tmp_path: Path) -> None:
    """Kafka mode validates like the embedded pipeline (no broker runs here: what it would send is kept)."""
    from fenghuo.runtime.kafka.ingest_worker import KafkaIngest, make_kafka_ingest

    class Kept(KafkaIngest):
        def send(self, events: list[Event], bad: list[Any] | None = None) -> None:
            self.sent = (events, bad or [])

    config = parse_config({"limits": {"metrics": {"water_level_m": [0, 10]}}})
    base = make_kafka_ingest(Settings(data_dir=tmp_path), config)
    kafka = Kept(base.bootstrap, base.resolve, base.topics, limits=base.limits, clock=FixedClock(NOW))
    result = kafka.ingest([{**GOOD, "source": "forger"}, GOOD, GOOD, {**GOOD, "id": "y", "value": 11},
                           {**GOOD, "id": "z", "drill": "d"}], may_drill=False)
    assert (result.accepted, result.duplicates) == (2, 1)
    assert [e.source for e in kafka.sent[0]] == ["forger", "gauge-1"]
    assert [(i, err[:17]) for i, err, _ in kafka.sent[1]] == [(3, "implausible value"), (4, "marking events as")]


# -- stores: ids are unique per source ----------------------------------------------------------------------------
PG_DSN = os.environ.get("FENGHUO_TEST_PG_DSN")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.skipif(
    not PG_DSN, reason="FENGHUO_TEST_PG_DSN is not set"))])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "sqlite":
        s: Any = SqliteStore(tmp_path / "db")
    else:
        from fenghuo.core.store.postgres import PostgresStore

        s = PostgresStore(request.getfixturevalue("pg_database"))
    yield s
    s.close()


def _ev(source: str, eid: str, value: float = 1.0) -> Event:
    return Event(feed="sensor", source=source, ts=NOW, grid="G1", id=eid, metric="water_level_m", value=value)


def test_stores_keep_ids_unique_per_source(store: Any) -> None:
    forged, real = _ev("forger", "gauge-1:t0"), _ev("gauge-1", "gauge-1:t0", 14.9)
    assert store.add_events([forged], NOW) == [forged]
    assert store.add_events([real, _ev("gauge-1", "gauge-1:t0", 3.0)], NOW) == [real]  # first of repeats wins
    assert store.add_events([_ev("gauge-1", "gauge-1:t0"), _ev("forger", "gauge-1:t0")], NOW) == []
    odd = [_ev("a\tb", "c"), _ev("a", "b\tc"), _ev("a\\", "n")]  # COPY escapes: distinct keys stay distinct
    assert store.add_events(odd + [_ev("a\tb", "c")], NOW) == odd
    stored = [(e.source, e.id, e.value) for _, e in store.events_after(0, 10)]
    assert stored[:2] == [("forger", "gauge-1:t0", 1.0), ("gauge-1", "gauge-1:t0", 14.9)] and len(stored) == 5


def test_an_upgraded_sqlite_store_keeps_old_rows_duplicates_of_themselves(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from fenghuo.core.store import sqlite as mod

    before = mod.MIGRATIONS[:mod.MIGRATIONS.index(mod._events_unique_per_source)]
    with monkeypatch.context() as m:
        m.setattr(mod, "MIGRATIONS", before)  # the version before ids were per source
        old = SqliteStore(tmp_path / "old.db")
    rows = [_ev("gauge-1", "a"), _ev("gauge-2", "b"), _ev("gauge-3", "c")]
    assert old.add_events(rows, NOW) == rows
    old._db.execute("DELETE FROM events WHERE id = 'c'")  # the AUTOINCREMENT high mark stays at 3
    old.close()
    upgraded = SqliteStore(tmp_path / "old.db")
    assert upgraded.add_events([_ev("gauge-1", "a"), _ev("gauge-2", "b")], NOW) == []  # still duplicates
    fresh = [_ev("forger", "a"), _ev("gauge-3", "d")]
    assert upgraded.add_events(fresh, NOW) == fresh
    stored = upgraded.events_after(0, 10)
    assert [(q, e.source, e.id) for q, e in stored[:2]] == [(1, "gauge-1", "a"), (2, "gauge-2", "b")]
    assert min(q for q, _ in stored[2:]) > 3  # a seq is never reused
    upgraded.close()


@pytest.mark.skipif(not PG_DSN, reason="FENGHUO_TEST_PG_DSN is not set")
def test_an_upgraded_postgres_store_keeps_old_rows_duplicates_of_themselves(pg_database: str,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from fenghuo.core.store import pg_migrations, postgres

    before = pg_migrations.MIGRATIONS[:pg_migrations.MIGRATIONS.index(pg_migrations.event_ids_per_source)]
    with monkeypatch.context() as m:
        m.setattr(postgres, "MIGRATIONS", before)
        old = postgres.PostgresStore(pg_database)
    with old._tx() as cur:  # rows as the version before wrote them: ids claimed alone
        for source, eid in (("gauge-1", "a"), ("gauge-2", "b\tc")):
            cur.execute("INSERT INTO event_ids (id) VALUES (%s)", (eid,))
            cur.execute("INSERT INTO events (id, feed, source, ts, grid, metric, value, received_at) "
                        "VALUES (%s, 'sensor', %s, %s, 'G1', 'water_level_m', 1.0, %s)", (eid, source, NOW, NOW))
        cur.execute("INSERT INTO event_ids (id) VALUES ('gone')")  # its event was deleted (retention)
    old.close()
    upgraded = postgres.PostgresStore(pg_database)
    assert upgraded.add_events([_ev("gauge-2", "b\tc"), _ev("gauge-1", "a")], NOW) == []  # still duplicates
    fresh = [_ev("forger", "a"), _ev("gauge-1", "d")]
    assert upgraded.add_events(fresh, NOW) == fresh
    assert [(e.source, e.id) for _, e in upgraded.events_after(0, 10)] == [
        ("gauge-1", "a"), ("gauge-2", "b\tc"), ("forger", "a"), ("gauge-1", "d")]
    upgraded.close()


# -- the JSON Schema of an event ----------------------------------------------------------------------------------
def _violations(schema: dict[str, Any], doc: Any, where: str = "") -> list[str]:
    """The subset of JSON Schema the event schema uses (type, enum, lengths, ranges, anyOf, properties)."""
    out: list[str] = []
    if "anyOf" in schema:
        if all(_violations(s, doc, where) for s in schema["anyOf"]):
            out.append(f"{where}: matches no alternative")
        return out
    types = schema.get("type")
    if types is not None:
        kinds = {"string": str, "number": (int, float), "object": dict, "null": type(None)}
        wanted = types if isinstance(types, list) else [types]
        if not any(isinstance(doc, kinds[t]) and not isinstance(doc, bool) for t in wanted):
            return [f"{where}: not {types}"]
    if "enum" in schema and doc not in schema["enum"]:
        out.append(f"{where}: not in enum")
    if isinstance(doc, str):
        if len(doc) > schema.get("maxLength", math.inf) or len(doc) < schema.get("minLength", 0):
            out.append(f"{where}: length")
    if isinstance(doc, int | float) and not schema.get("minimum", -math.inf) <= doc <= schema.get("maximum", math.inf):
        out.append(f"{where}: range")
    if isinstance(doc, dict):
        if len(doc) > schema.get("maxProperties", math.inf):
            out.append(f"{where}: too many properties")
        out += [f"{where}.{k}: required" for k in schema.get("required", []) if k not in doc]
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            out += [f"{where}.{k}: not allowed" for k in doc if k not in props]
        for k, v in doc.items():
            if k in props:
                out += _violations(props[k], v, f"{where}.{k}")
    return out


def test_the_event_schema_accepts_valid_events_and_documents_the_bounds() -> None:
    schema = event_json_schema()
    for example in [*schema["examples"], GOOD, COMPLAINT]:
        assert _violations(schema, example) == [], example
        parse_event(example, now=NOW)  # and the validator takes them too
    props = schema["properties"]
    for field, n in (("id", 128), ("source", 256), ("metric", 256), ("drill", 256)):
        assert props[field]["maxLength"] == n
        at, beyond = {**GOOD, field: "k" * n}, {**GOOD, field: "k" * (n + 1)}
        assert _violations(schema, at) == [] and parse_event(at, now=NOW)
        assert _violations(schema, beyond) and reason(beyond) == f"{field} longer than {n} characters"
    assert props["text"]["maxLength"] == 20_000 and props["attrs"]["maxProperties"] == 64
    too_big = {**GOOD, "metric": "flow", "value": 1e9 + 1}
    assert _violations(schema, too_big) and reason(too_big).startswith("implausible value")
    assert props["value"]["maximum"] == 1e9 and schema["x-metric-ranges"]["water_level_m"] == [-20, 60]
    assert _violations(schema, {**GOOD, "ts": 1e308}) and _violations(schema, {**GOOD, "seq": 1})
    small = event_json_schema(Limits(max_id_chars=16, max_attrs_keys=3))
    assert small["properties"]["id"]["maxLength"] == 16 and small["properties"]["attrs"]["maxProperties"] == 3
