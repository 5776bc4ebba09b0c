"""The risk forecast's tables, the same on SQLite and both PostgreSQL flavours (fenghuo/core/store/risk_sql.py).

Forecasts read back newest first per domain (the real data, or one drill run) and horizon; a forecast too large is
stored bounded, its riskiest rows kept; a watch notice is recorded once per key with its outbox rows, which the
outbox delivers like any other (``due_notifications``) and which no alert owns; alert marks and the newest complaint
are read per domain.
"""

from __future__ import annotations

from typing import Any

from fenghuo.core.levels import Level
from fenghuo.core.models import Risk
from fenghuo.core.store import Notification, Store
from fenghuo.core.store.risk_sql import MAX_DOC_BYTES
from tests.contracts.store_support import T0, alert, ev

DAY = 86400.0


def doc(at: float, horizon: int = 7, rows: int = 3, version: str | None = "risk-logistic-1:ab") -> dict[str, Any]:
    return {"made_at_ts": at, "horizon_days": horizon, "model_version": version, "window_ts": [at - 365 * DAY, at],
            "reason": None if version else "too little history",
            "rows": [{"node": f"G{i}", "kind": "grid", "group": "all", "probability": round(1 - i / (rows + 1), 4),
                      "factors": [{"name": "recent_count", "label_zh": "近7天诉求量", "value": i}]}
                     for i in range(rows)]}


def test_forecasts_read_back_newest_first_per_domain_and_horizon(store: Store) -> None:
    first = store.save_risk_forecast(doc(T0), None, T0)
    second = store.save_risk_forecast(doc(T0 + DAY), None, T0 + 1)
    store.save_risk_forecast(doc(T0 + 2 * DAY, horizon=14), None, T0 + 2)
    store.save_risk_forecast(doc(T0 + 3 * DAY), "flood-r1", T0 + 3)
    assert second > first
    got = store.risk_forecasts(None, 7)
    assert [(f["id"], f["made_at_ts"]) for f in got] == [(second, T0 + DAY), (first, T0)]
    assert got[0]["rows"][0]["factors"][0]["label_zh"] == "近7天诉求量"  # Chinese read back whole
    assert [f["horizon_days"] for f in store.risk_forecasts(None)] == [14, 7, 7]
    assert [f["made_at_ts"] for f in store.risk_forecasts(None, 7, before=T0 + DAY)] == [T0]
    assert [f["made_at_ts"] for f in store.risk_forecasts("flood-r1")] == [T0 + 3 * DAY]
    assert store.risk_forecasts("flood-r2") == []
    assert len(store.risk_forecasts(None, limit=1)) == 1


def test_a_forecast_too_large_keeps_its_riskiest_rows(store: Store) -> None:
    big = doc(T0, rows=40_000)
    for r in big["rows"]:
        r["factors"] = r["factors"] * 5
    store.save_risk_forecast(big, None, T0)
    (got,) = store.risk_forecasts(None)
    kept = got["rows"]
    assert 0 < len(kept) < 40_000 and got["truncated_rows"] == 40_000 - len(kept)
    assert kept[0]["node"] == "G0" and kept == big["rows"][:len(kept)]
    assert len(str(got)) < 2 * MAX_DOC_BYTES


def watch(key: str, grid: str = "G1", drill: str | None = None) -> dict[str, Any]:
    return {"key": key, "id": f"watch:{key}", "grid": grid, "group": "all", "horizon_days": 7,
            "window": [T0, T0 + 7 * DAY], "drill": drill, "node": "C1", "probability": 0.7, "made_at": T0}


def watch_note(nid: str, key: str) -> Notification:
    return Notification(id=nid, alert_id=f"watch:{key}", channel="webhook", responder="r1", kind="watch", tier=1,
                        payload={"event": "watch", "alert": {"id": f"watch:{key}", "level": "blue"}},
                        created_at=T0, priority=2)


def test_a_watch_notice_is_recorded_and_queued_once(store: Store) -> None:
    new = store.save_risk_watch([(watch("k1"), [watch_note("n1", "k1"), watch_note("n2", "k1")])])
    assert [w["key"] for w in new] == ["k1"]
    again = store.save_risk_watch([(watch("k1"), [watch_note("n1b", "k1")]), (watch("k2", "G2"), [])])
    assert [w["key"] for w in again] == ["k2"]  # k1 was sent before: neither recorded nor queued again
    due = store.due_notifications(T0 + 10, 10)
    assert sorted(n.id for n in due) == ["n1", "n2"] and {n.kind for n in due} == {"watch"}
    assert store.get_alert("watch:k1") is None  # a watch is never an alert
    assert store.all_alerts() == []
    assert [n.id for n in store.notifications_for("watch:k1")] == ["n1", "n2"]
    assert {w["key"] for w in store.risk_watches()} == {"k1", "k2"}
    store.save_risk_watch([(watch("d1", drill="flood-r1"), [])])
    assert [w["key"] for w in store.risk_watches("flood-r1")] == ["d1"]


def test_alert_marks_and_the_newest_complaint_per_domain(store: Store) -> None:
    store.add_events([ev("c1", T0, feed="complaint", metric=None, value=None, category="Noise"),
                      ev("c2", T0 + 50, feed="complaint", metric=None, value=None, category="Noise"),
                      ev("d1", T0 + 99, feed="complaint", metric=None, value=None, drill="flood-r1"),
                      ev("s1", T0 + 500)], T0)
    assert store.risk_latest_complaint(None) == T0 + 50
    assert store.risk_latest_complaint("flood-r1") == T0 + 99
    assert store.risk_latest_complaint("flood-r2") is None
    red = alert("a-red", level=Level.RED, grid="G2", risk=Risk.CONTRADICTION)
    store.save_alerts([alert("a-blue"), red, alert("a-drill", drill="flood-r1")], [])
    marks = store.risk_alert_marks(T0 - 1, T0 + 1, None)
    assert sorted((m["grid"], m["level"], m["risk"], m["rule"]) for m in marks) == [
        ("G-1", 1, "safety", "river-level"), ("G2", 4, "contradiction", "river-level")]
    assert [m["grid"] for m in store.risk_alert_marks(T0 - 1, T0 + 1, "flood-r1")] == ["G-1"]
    assert store.risk_alert_marks(T0 + 1, T0 + 2, None) == []


def test_a_drills_complaints_are_paged_by_its_name(store: Store) -> None:
    def complaint(i: str, ts: float, drill: str | None) -> Any:
        return ev(i, ts, feed="complaint", metric=None, value=None, category="Noise", drill=drill)

    store.add_events([complaint("r", T0, None), complaint("a1", T0 + 1, "flood-r1"), complaint("b", T0 + 2, "flood-r2"),
                      complaint("a2", T0 + 3, "flood-r1"), complaint("a3", T0 + 3, "flood-r1")], T0)
    first = store.complaint_page(start=T0, end=T0 + 10, drill="flood-r1", limit=2)
    rest = store.complaint_page(start=T0, end=T0 + 10, drill="flood-r1", after=first[-1][:2], limit=2)
    assert [e.id for _, _, e in first + rest] == ["a1", "a2", "a3"]
    assert {e.id for _, _, e in store.complaint_page(start=T0, end=T0 + 10, drill=True)} == {"a1", "a2", "a3", "b"}
    assert [e.id for _, _, e in store.complaint_page(start=T0, end=T0 + 10, drill=False)] == ["r"]
    assert store.complaint_page(start=T0, end=T0 + 10, drill="flood-r9") == []
