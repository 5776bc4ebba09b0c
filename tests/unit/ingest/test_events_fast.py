"""The validation fast path and the memoised resolver give exactly what the full validator gives.

``parse_records`` tries ``_fast_event`` first and falls back to ``parse_event``: a record the fast
path takes must become the same Event, and a record it refuses must be rejected (or accepted) by
the full validator with the same reason. Property style: seeded random records, mostly near the
common shape with one or two fields bent (wrong type, empty, out of range, missing, unknown).
SQLite's chunked multi-row insert is checked at the chunk boundaries against the same contract.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from fenghuo.core.config import Limits, Node
from fenghuo.core.grids import GridTree
from fenghuo.core.models import Event
from fenghuo.ingest.events import (
    Bounds,
    EventError,
    GridResolver,
    _fast_event,
    make_resolver,
    parse_event,
    parse_records,
    storable_record,
)

TREE = GridTree([
    Node(id="D", name="区", kind="district"),
    Node(id="S", name="街道", kind="street", parent="D"),
    Node(id="C", name="社区", kind="community", parent="S"),
    Node(id="G1", name="网格1", kind="grid", parent="C", polygon=[(0, 0), (1, 0), (1, 1), (0, 1)],
         aliases=["grid-one"]),
    Node(id="G2", name="网格2", kind="grid", parent="C", centroid=(10.0, 10.0)),
], match_km=50.0)

SENSOR = {"feed": "sensor", "source": "hubeau:O1", "ts": "2020-01-22T10:00:00Z", "metric": "water_level_m",
          "value": 5.2, "id": "hubeau:O1:2020-01-22T10:00:00Z", "attrs": {"river": "Aude"}, "lat": 0.5, "lon": 0.5}
COMPLAINT = {"feed": "complaint", "source": "boston311", "ts": "2015-01-01T05:20:09Z", "category": "Flooding",
             "text": "Water in the street", "id": "boston311:1", "attrs": {"status": "Closed"}, "lat": 10.01,
             "lon": 10.02, "grid": "G1"}
OPINION = {"feed": "opinion", "source": "weibo", "ts": 1579687200, "text": "河水涨了", "grid": "grid-one"}
NOW = 1_600_000_000.0  # 2020-09-13: the complaint (2015) is in the window of 20 years, and 1990 is not
B = Bounds(now=NOW)
TIGHT = Limits(max_name_chars=16, max_id_chars=16, max_text_chars=10, max_attrs_keys=1, max_attrs_depth=1,
               max_attrs_bytes=24, max_future_seconds=0, max_age_days=36500, max_abs_value=100,
               metrics={"water_level_m": (0.0, 5.5)})


def deep(n: int) -> dict[str, Any]:
    top: dict[str, Any] = {}
    node = top
    for _ in range(n - 1):
        node["a"] = node = {}
    return top


ODD_VALUES: list[Any] = [
    None, "", " ", "x", "G1", "G2", "nowhere", "sensor", "complaint", "opinion", "noise", 0, 1, -1, 7, 91, -181,
    10**400, 0.0, -0.0, 0.5, 89.99, 1e308, float("inf"), float("-inf"), float("nan"), True, False, [], {}, [1],
    {"a": 1}, "2020-01-22T10:00:00", "2020-01-22 10:00:00+01:00", "2020-01-22T10:00:00.123456Z", "2020-13-01",
    "yesterday", "a" * 129, "t\x00ext", "x" * 20_001, ("t",), b"bytes",
    # the bounds: lengths, valid Unicode, attrs size and depth, the time window, plausible values
    "a" * 257, "\ud800", "ok\udfff", "tab\there", "第一行\n第二行", "water_level_m", "gas_ppm", 60.0, 60.5, -20, -21,
    1e9, 1e9 + 1, -1e9, 1e18, "1e308", NOW + 86_400, NOW + 86_401, "1990-01-01T00:00:00Z", "1975-06-01T00:00:00Z",
    -1, "2020-09-14T10:00:00Z", deep(8), deep(9), deep(300), {f"k{i}": i for i in range(65)}, {"k": "x" * 17_000},
    {"k": 2**64}, {"k": float("nan")}, {"k\ud800": 1}, {"k": ["\x00"]}, {"k": [1, {"b": None}]},
    {"k": 2**64 - 1, "j": -(2**63), "b": True, "n": None}, {"k": -(2**63) - 1}, {"k": "\\u0000"}, {"k": "a\x00"},
    {1: "x"}, {"k": "\ud800"}, {"k": "a\tb", "j": "第一行\n"}, {"k": 1.5}, {f"k{i}": "x" * 300 for i in range(60)},
]
FIELDS = ["feed", "source", "ts", "grid", "lat", "lon", "metric", "value", "category", "text", "id", "attrs", "drill"]


def _outcome(fn: Any, *args: Any, **kw: Any) -> tuple[str, Any]:
    try:
        return "event", fn(*args, **kw)
    except EventError as exc:
        return "rejected", str(exc)
    except Exception as exc:  # the full validator's other failures must stay what they were
        return "raised", type(exc).__name__


def _same(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN."""
    if isinstance(a, Event) and isinstance(b, Event):
        return type(a) is type(b) and all(_same(getattr(a, f), getattr(b, f)) for f in Event.__slots__)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _records(rng: random.Random, n: int) -> list[Any]:
    out: list[Any] = []
    for _ in range(n):
        rec = dict(rng.choice((SENSOR, COMPLAINT, OPINION)))
        rec["attrs"] = dict(rec.get("attrs", {}))
        for _ in range(rng.choice((0, 0, 1, 1, 1, 2, 3))):
            what = rng.random()
            key = rng.choice(FIELDS)
            if what < 0.15:
                rec.pop(key, None)
            elif what < 0.2:
                rec[rng.choice(("unknown", "Feed", "seq"))] = 1
            else:
                rec[key] = rng.choice(ODD_VALUES)
        out.append(rec)
    out += [None, [], "text", 3, {"feed": "sensor"}]
    return out


@pytest.mark.parametrize("resolve", [make_resolver(TREE), make_resolver(GridTree([])), None],
                         ids=["tree", "no-registry", "no-resolver"])
@pytest.mark.parametrize("drill", [None, "flood-drill"])
@pytest.mark.parametrize("may_drill", [True, False])
@pytest.mark.parametrize("limits", [None, TIGHT], ids=["default-limits", "tight-limits"])
def test_fast_path_agrees_with_the_full_validator(resolve: GridResolver | None, drill: str | None,
                                                  may_drill: bool, limits: Limits | None) -> None:
    rng = random.Random(20200122)
    records = _records(rng, 4000)
    taken = 0
    b = Bounds(limits, now=NOW, may_drill=may_drill)
    kw: dict[str, Any] = {"now": NOW, "may_drill": may_drill, "limits": limits}
    for rec in records:
        fast = _fast_event(rec, resolve, drill, b)
        full = _outcome(parse_event, rec, resolve, drill, **kw)
        if fast is not None:
            taken += 1
            assert full[0] == "event" and _same(fast, full[1]), rec
    assert taken > (500 if (may_drill or not drill) and limits is None else 50 if may_drill or not drill else -1)
    # and the batch entry point: same events, same rejections (index, reason, record)
    reference: list[Event] = []
    rejected: list[tuple[int, str, Any]] = []
    for i, rec in enumerate(records):
        kind, got = _outcome(parse_event, rec, resolve, drill, **kw)
        if kind == "event":
            reference.append(got)
        elif kind == "rejected":
            rejected.append((i, got, storable_record(rec)))  # what the dead-letter store can keep
    safe = [r for r in records if _outcome(parse_event, r, resolve, drill, **kw)[0] != "raised"]
    good, bad = parse_records(safe, resolve, drill, now=NOW, may_drill=may_drill, limits=limits)
    assert len(good) == len(reference) and all(_same(a, b) for a, b in zip(good, reference, strict=True))
    assert [(reason, rec) for _, reason, rec in bad] == [(reason, rec) for _, reason, rec in rejected]


def test_fast_path_takes_the_common_shapes() -> None:
    resolve = make_resolver(TREE)
    for rec in (SENSOR, COMPLAINT, OPINION, {**SENSOR, "value": 3, "lat": 10, "lon": 10}, {**SENSOR, "id": None}):
        fast = _fast_event(rec, resolve, None, B)
        assert fast is not None and _same(fast, parse_event(rec, resolve, None, now=NOW))
    sensor = _fast_event(SENSOR, resolve, None, B)
    assert sensor is not None and sensor.grid == "G1" and sensor.attrs is SENSOR["attrs"]
    no_id = {**SENSOR, "id": None}
    assert _fast_event(no_id, resolve, None, B).id == parse_event(no_id, resolve, now=NOW).id  # type: ignore[union-attr]


@pytest.mark.parametrize("rec, reason", [
    ({**SENSOR, "value": "5.2"}, "value must be a number, got str"),
    ({**SENSOR, "value": True}, "value must be a number, got bool"),
    ({**SENSOR, "lat": float("nan")}, "lat must be finite"),
    ({**SENSOR, "lat": 95.0}, "lat/lon out of range"),
    ({**SENSOR, "value": 10**400}, "value must be finite"),  # beyond any float: rejected, not a crash
    ({**SENSOR, "lon": -10**400}, "lon must be finite"),
    ({**SENSOR, "lon": None}, "lat and lon go together"),
    ({**SENSOR, "metric": ""}, "a sensor event needs metric and value"),
    ({**SENSOR, "ts": "soon"}, "ts is not an ISO 8601 time: 'soon'"),
    ({**SENSOR, "lat": 50.0, "lon": 50.0}, "no grid within 50.0 km of lat=50.0, lon=50.0"),
    ({**COMPLAINT, "grid": "G9"}, "unknown grid 'G9'"),
    ({**COMPLAINT, "text": "a\x00b"}, "text contains a NUL character"),
    ({**COMPLAINT, "id": "x" * 129}, "id longer than 128 characters"),
    ({**COMPLAINT, "attrs": [1]}, "attrs must be an object"),
    ({**OPINION, "extra": 1}, "unknown field(s): extra"),
    ({**SENSOR, "source": "s" * 257}, "source longer than 256 characters"),
    ({**SENSOR, "metric": "m\ud800"}, "metric is not valid Unicode (a NUL character or a lone surrogate)"),
    ({**SENSOR, "value": 1e308}, "implausible value 1e+308 for metric 'water_level_m' (sensor fault?): "
                                 "outside [-20, 60]"),
    ({**SENSOR, "ts": 1e18}, "ts 1e+18 is more than 86400 s after now (limits.max_future_seconds)"),
    ({**SENSOR, "attrs": deep(300)}, "attrs nested deeper than 8 levels"),
])
def test_refused_records_keep_the_full_reason(rec: dict[str, Any], reason: str) -> None:
    resolve = make_resolver(TREE)
    assert _fast_event(rec, resolve, None, B) is None
    good, bad = parse_records([SENSOR, rec], resolve, now=NOW)
    assert len(good) == 1 and bad == [(1, reason, storable_record(rec))]


def test_memoised_resolver_answers_like_the_tree() -> None:
    memo, plain = make_resolver(TREE), make_resolver(GridTree(TREE.nodes.values(), TREE.match_km))
    cases = [("G1", None, None), ("grid-one", 0.5, 0.5), (None, 0.5, 0.5), (None, 10.1, 10.1), (None, 50.0, 50.0),
             ("G9", None, None), (None, None, None), (None, 0.5, 0.5), ("G9", None, None), (None, 50.0, 50.0)]
    for case in cases * 2:
        assert _outcome(memo, *case) == _outcome(plain, *case)

