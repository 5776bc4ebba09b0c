"""Shared wording of notifications in Chinese and English: levels, change kinds, links.

Every free-text part (titles, grid, drill name, detail) is masked with :func:`fenghuo.core.privacy.mask_pii`:
mobile numbers and resident ID numbers never leave in a notification. :func:`masked_payload` does the
same for the JSON payload a webhook sends.

>>> w = Wording.of({"event": "upgraded", "tier": 1, "drill": None,
...                 "alert": {"id": "a1", "level": "red", "grid": "G1", "title": {"zh-CN": "一号网格 水位预警",
...                           "en": "Grid 1: water level warning"}}}, "http://board.example")
>>> w.level_zh, w.kind_zh, w.kind_en, w.link
('红色', '升级', 'upgraded', 'http://board.example/#/alert/a1')
>>> Wording.of({"event": "raised", "detail": "count: 5 complaints (13812345678)",
...             "alert": {"id": "a1", "title": {"zh-CN": "一号网格 身份证110101199003071234 投诉激增"}}}).title_zh
'一号网格 身份证110101********1234 投诉激增'
>>> p = masked_payload({"notification_id": "n1", "detail": "tel 13812345678",
...                     "alert": {"id": "13912345678", "acknowledged_by": "已联系13912345678"}})
>>> p["notification_id"], p["detail"], p["alert"]
('n1', 'tel 138****5678', {'id': '13912345678', 'acknowledged_by': '已联系139****5678'})
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fenghuo.core.levels import Level
from fenghuo.core.privacy import mask_doc, mask_pii

# payload keys copied unmasked: ids receivers match on (the idempotency key, the alert's id)
PAYLOAD_IDS = frozenset({"notification_id", "id"})

KINDS: dict[str, tuple[str, str]] = {
    "watch": ("风险关注", "risk watch"),
    "raised": ("发布", "raised"),
    "upgraded": ("升级", "upgraded"),
    "downgraded": ("降级", "downgraded"),
    "cleared": ("监测恢复正常", "condition cleared"),
    "recurred": ("再次出现", "recurred"),
    "escalated": ("逐级上报", "escalated"),
    "acknowledged": ("已确认", "acknowledged"),
    "resolved": ("已解除", "resolved"),
    "incident_opened": ("事件汇总", "incident opened"),
    "incident_updated": ("事件更新", "incident updated"),
    "incident_reminder": ("事件提醒", "incident reminder"),
    "incident_escalated": ("事件逐级上报", "incident escalated"),
}


def masked_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """A notification payload (see :mod:`fenghuo.alerts.notify`) with every string but its ids masked."""
    out: dict[str, Any] = mask_doc(payload, PAYLOAD_IDS)
    return out


def alert_link(public_url: str | None, alert_id: str, page: str = "alert") -> str | None:
    """The board's page of an alert (``page="incident"``: of an incident), or None without a public URL."""
    if not public_url:
        return None
    return f"{public_url.rstrip('/')}/#/{page}/{quote(alert_id, safe='')}"  # the board's routes (js/app.js)


def _link(payload: dict[str, Any], public_url: str | None) -> str | None:
    """An incident's notification links to the incident's page, any other to its alert's."""
    incident = payload.get("incident")
    if isinstance(incident, dict) and incident.get("id"):
        return alert_link(public_url, str(incident["id"]), "incident")
    if (payload.get("alert") or {}).get("kind") == "watch":  # a risk forecast's watch notice: the board's risk page
        return f"{public_url.rstrip('/')}/#/risk" if public_url else None
    return alert_link(public_url, str(payload["alert"]["id"]))


@dataclass(frozen=True, slots=True)
class Wording:
    """What a notification says, taken from a notification payload (see :mod:`fenghuo.alerts.notify`)."""

    alert_id: str
    level: Level
    kind: str
    kind_zh: str
    kind_en: str
    title_zh: str
    title_en: str
    grid: str
    tier: int
    drill: str | None
    link: str | None
    detail: str

    @property
    def level_zh(self) -> str:
        return self.level.name_zh

    @property
    def level_en(self) -> str:
        return self.level.name_en

    @classmethod
    def of(cls, payload: dict[str, Any], public_url: str | None = None) -> Wording:
        a = payload["alert"]
        kind = str(payload.get("event") or "raised")
        kind_zh, kind_en = KINDS.get(kind, (kind, kind))
        title = a.get("title") or {}
        level = Level.parse(a.get("level") or "blue")
        drill = payload.get("drill")
        return cls(alert_id=str(a["id"]), level=level, kind=kind, kind_zh=kind_zh, kind_en=kind_en,
                   title_zh=mask_pii(str(title.get("zh-CN") or a.get("grid") or "")),
                   title_en=mask_pii(str(title.get("en") or a.get("grid") or "")),
                   grid=mask_pii(str(a.get("grid") or "")), tier=int(payload.get("tier") or 0),
                   drill=mask_pii(str(drill)) if drill else None,
                   link=_link(payload, public_url), detail=mask_pii(str(payload.get("detail") or "")))
