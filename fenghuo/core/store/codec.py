"""Alert <-> JSON document, shared by the SQLite and PostgreSQL stores."""

from __future__ import annotations

import json
from typing import Any

from fenghuo.core.levels import Level
from fenghuo.core.models import Alert, Certainty, Risk, Status, TimelineEntry
from fenghuo.core.store import AlertQuery

_PLAIN = ("id", "fingerprint", "feed", "grid", "source", "series", "rule", "drill", "created_at", "updated_at",
          "title_zh", "title_en", "cleared", "cleared_at", "acked_at", "acked_by", "resolved_at", "resolved_by",
          "deadline_s", "escalation_tier", "escalate_at", "evidence")


def alert_to_doc(a: Alert) -> str:
    doc: dict[str, Any] = {k: getattr(a, k) for k in _PLAIN}
    doc["risk"] = str(a.risk)
    doc["level"] = int(a.level)
    doc["max_level"] = int(a.max_level)
    doc["status"] = str(a.status)
    doc["certainty"] = str(a.certainty)
    doc["timeline"] = [[e.ts, e.kind, e.level, e.actor, e.channel, e.detail] for e in a.timeline]
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def alert_from_doc(text: str | bytes | dict[str, Any]) -> Alert:
    doc = text if isinstance(text, dict) else json.loads(text)
    kw = {k: doc.get(k) for k in _PLAIN}
    kw["evidence"] = kw["evidence"] or []
    return Alert(
        **kw,
        risk=Risk(doc["risk"]),
        level=Level(doc["level"]),
        max_level=Level(doc["max_level"]),
        status=Status(doc["status"]),
        certainty=Certainty(doc["certainty"]),
        timeline=[TimelineEntry(*row) for row in doc["timeline"]],
    )


def alert_query_sql(q: AlertQuery, mark: str) -> tuple[str, list[Any]]:
    """The SELECT for an alert listing; ``mark`` is the driver's placeholder (``?`` or ``%s``).

    >>> alert_query_sql(AlertQuery(status="open", drill="true", limit=5), "?")[1]
    ['open', 5, 0]
    """
    sql, args = "SELECT doc FROM alerts WHERE 1=1", []
    if q.status:
        sql += f" AND status = {mark}"
        args.append(q.status)
    if q.level:
        sql += f" AND level = {mark}"
        args.append(int(Level.parse(q.level)))
    for col, val in (("grid", q.grid), ("feed", q.feed), ("risk", q.risk)):
        if val:
            sql += f" AND {col} = {mark}"
            args.append(val)
    if q.drill == "true":
        sql += " AND drill IS NOT NULL"
    elif q.drill == "false":
        sql += " AND drill IS NULL"
    elif q.drill:
        sql += f" AND drill = {mark}"
        args.append(q.drill)
    sql += f" ORDER BY (status = 'resolved'), level DESC, updated_at DESC LIMIT {mark} OFFSET {mark}"
    return sql, [*args, q.limit, q.offset]
