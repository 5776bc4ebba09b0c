"""Alert <-> JSON document, shared by the SQLite and PostgreSQL stores."""

from __future__ import annotations

import json
from typing import Any

from fenghuo.levels import Level
from fenghuo.models import Alert, Certainty, Risk, Status, TimelineEntry

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
