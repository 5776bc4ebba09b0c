"""The risk forecast's tables (issue 17): the SQL both stores share (``mark`` is the driver's placeholder).

``risk_forecasts`` keeps every forecast made (:mod:`fenghuo.runtime.risk_job`): when (``made_at``, by the clock
of its domain), the horizon, the drill run it was made for (NULL: the real data), the model's version and
training window, why there was no model (``reason``), and the forecast itself as JSON, bounded
(:func:`bounded_doc`: a forecast larger than :data:`MAX_DOC_BYTES` keeps its riskiest rows and says so).

``risk_watch`` keeps every blue "watch" notice sent to a community office: one row per grid, category group,
horizon window and domain (its primary key), written in the same transaction as the notice's outbox rows, so a
notice goes out once however often the forecast is made. A watch notice is never an alert: its outbox rows carry
``kind = 'watch'`` and an ``alert_id`` of ``watch:...`` that no alert has.
"""

from __future__ import annotations

import json
from typing import Any

from fenghuo.core.store import Notification

MAX_DOC_BYTES = 4_000_000  # a stored forecast's JSON, at most; Boston's ~200 grids x 6 groups stay well under
MAX_ALERT_MARKS = 100_000  # alerts read for one forecast, at most (newest kept)

DDL = """
CREATE TABLE risk_forecasts (id {serial} PRIMARY KEY, made_at {real} NOT NULL, horizon_days INTEGER NOT NULL,
                             drill TEXT, model_version TEXT, window_from {real}, window_to {real}, reason TEXT,
                             created_at {real} NOT NULL, doc TEXT NOT NULL);
CREATE INDEX risk_forecasts_made ON risk_forecasts (horizon_days, made_at);
CREATE TABLE risk_watch (key TEXT PRIMARY KEY, grid TEXT NOT NULL, grp TEXT NOT NULL, horizon_days INTEGER NOT NULL,
                         window_from {real} NOT NULL, window_to {real} NOT NULL, drill TEXT, node TEXT,
                         probability {real} NOT NULL, made_at {real} NOT NULL, notified INTEGER NOT NULL,
                         doc TEXT NOT NULL);
CREATE INDEX risk_watch_made ON risk_watch (made_at);
"""

_OUTBOX_COLS = ("id, alert_id, channel, responder, kind, tier, payload, created_at, status, attempts, "
                "next_attempt_at, last_error, delivered_at, priority")


def ddl(real: str, serial: str) -> str:
    """The tables' DDL: SQLite ``ddl("REAL", "INTEGER")``, PostgreSQL ``ddl("float8", "bigserial")``."""
    return DDL.format(real=real, serial=serial)


def bounded_doc(doc: dict[str, Any], max_bytes: int = MAX_DOC_BYTES) -> str:
    """The forecast as stored JSON, at most ``max_bytes``: rows beyond that are dropped from the least likely
    up (rows are highest probability first), and ``truncated_rows`` says how many went.

    >>> doc = {"rows": [{"node": f"G{i}", "probability": 1 - i / 100} for i in range(50)]}
    >>> len(json.loads(bounded_doc(doc))["rows"])
    50
    >>> out = json.loads(bounded_doc(doc, 400))
    >>> len(out["rows"]) < 50, out["truncated_rows"] == 50 - len(out["rows"]), out["rows"][0]["node"]
    (True, True, 'G0')
    """
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    if len(text.encode()) <= max_bytes:
        return text
    rows = list(doc.get("rows") or [])
    keep = len(rows)
    while keep > 0:
        keep //= 2
        out = {**doc, "rows": rows[:keep], "truncated_rows": len(rows) - keep}
        text = json.dumps(out, ensure_ascii=False, separators=(",", ":"))
        if len(text.encode()) <= max_bytes:
            return text
    return json.dumps({**doc, "rows": [], "truncated_rows": len(rows)}, ensure_ascii=False)[:max_bytes]


def save_forecast(cur: Any, mark: str, doc: dict[str, Any], drill: str | None, created_at: float) -> int:
    """Store one forecast (``doc``: :meth:`Forecast.to_json` with ``made_at_ts``, ``window_ts`` and the rest the
    API serves); its id."""
    window = doc.get("window_ts") or (None, None)
    row = (float(doc["made_at_ts"]), int(doc["horizon_days"]), drill, doc.get("model_version"),
           window[0], window[1], doc.get("reason"), created_at, bounded_doc(doc))
    cols = "made_at, horizon_days, drill, model_version, window_from, window_to, reason, created_at, doc"
    cur.execute(f"INSERT INTO risk_forecasts ({cols}) VALUES ({', '.join([mark] * 9)}) RETURNING id", row)
    return int(cur.fetchone()[0])


def forecasts(cur: Any, mark: str, drill: str | None, horizon_days: int | None, before: float | None,
              limit: int) -> list[dict[str, Any]]:
    """Stored forecasts of one domain (``drill`` None: the real data), newest first (by ``made_at``, then id);
    ``horizon_days``: of that horizon only; ``before``: made before that time. Each is the stored document
    with ``id`` set."""
    where = ["drill IS NULL" if drill is None else f"drill = {mark}"]
    args: list[Any] = [] if drill is None else [drill]
    if horizon_days is not None:
        where.append(f"horizon_days = {mark}")
        args.append(int(horizon_days))
    if before is not None:
        where.append(f"made_at < {mark}")
        args.append(float(before))
    cur.execute(f"SELECT id, doc FROM risk_forecasts WHERE {' AND '.join(where)} ORDER BY made_at DESC, id DESC "
                f"LIMIT {mark}", (*args, int(limit)))
    return [{**json.loads(doc), "id": int(i)} for i, doc in cur.fetchall()]


def save_watch(cur: Any, mark: str, notices: list[tuple[dict[str, Any], list[Notification]]],
               conflict_free: str) -> list[dict[str, Any]]:
    """Record each watch notice not recorded before (by its ``key``) and queue its notifications; the notices
    that were new. ``conflict_free``: the dialect's "insert unless the key exists" prefix and suffix, joined by
    ``|`` (SQLite ``INSERT OR IGNORE INTO|``, PostgreSQL ``INSERT INTO|ON CONFLICT DO NOTHING``)."""
    head, tail = conflict_free.split("|")
    new: list[dict[str, Any]] = []
    for notice, notes in notices:
        cur.execute(f"{head} risk_watch VALUES ({', '.join([mark] * 12)}) {tail}",
                    (notice["key"], notice["grid"], notice["group"], int(notice["horizon_days"]),
                     float(notice["window"][0]), float(notice["window"][1]), notice.get("drill"), notice.get("node"),
                     float(notice["probability"]), float(notice["made_at"]), len(notes),
                     json.dumps(notice, ensure_ascii=False)))
        if cur.rowcount != 1:
            continue  # sent before: once per grid, group and horizon window
        new.append(notice)
        for n in notes:
            cur.execute(f"{head} outbox ({_OUTBOX_COLS}) VALUES ({', '.join([mark] * 14)}) {tail}",
                        (n.id, n.alert_id, n.channel, n.responder, n.kind, n.tier,
                         json.dumps(n.payload, ensure_ascii=False), n.created_at, n.status, n.attempts,
                         n.next_attempt_at, n.last_error, n.delivered_at, n.priority))
    return new


def watches(cur: Any, mark: str, drill: str | None, limit: int) -> list[dict[str, Any]]:
    """Watch notices recorded for one domain, newest first."""
    where, args = ("drill IS NULL", []) if drill is None else (f"drill = {mark}", [drill])
    cur.execute(f"SELECT doc FROM risk_watch WHERE {where} ORDER BY made_at DESC, key LIMIT {mark}",
                (*args, int(limit)))
    return [json.loads(r[0]) for r in cur.fetchall()]


def alert_marks(cur: Any, mark: str, start: float, end: float, drill: str | None) -> list[dict[str, Any]]:
    """Alerts raised ``start <= created_at < end`` in one domain (drill None: real ones only; else that drill
    run's), oldest first, at most :data:`MAX_ALERT_MARKS` (the newest): ``ts, grid, level`` (the highest the
    alert reached), ``risk``, ``rule`` and ``series``."""
    where = "drill IS NULL" if drill is None else f"drill = {mark}"
    args: list[Any] = [float(start), float(end)] + ([] if drill is None else [drill])
    cur.execute(f"SELECT created_at, grid, level, risk, doc FROM alerts WHERE created_at >= {mark} AND "
                f"created_at < {mark} AND {where} ORDER BY created_at DESC LIMIT {MAX_ALERT_MARKS}", args)
    out = []
    for ts, grid, level, risk, doc in cur.fetchall():
        d = json.loads(doc)
        out.append({"ts": float(ts), "grid": grid, "level": int(d.get("max_level") or level), "risk": str(risk),
                    "rule": str(d.get("rule") or ""), "series": str(d.get("series") or "")})
    out.reverse()
    return out


def latest_complaint(cur: Any, mark: str, drill: str | None) -> float | None:
    """The time of the newest complaint of one domain (None: none), where the forecast's clock has not run."""
    where, args = ("drill IS NULL", []) if drill is None else (f"drill = {mark}", [drill])
    cur.execute(f"SELECT max(ts) FROM events WHERE feed = 'complaint' AND {where}", args)
    row = cur.fetchone()
    return float(row[0]) if row and row[0] is not None else None
