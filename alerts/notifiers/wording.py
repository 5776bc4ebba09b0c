"""Shared wording of notifications in Chinese and English: levels, change kinds, links.

>>> w = Wording.of({"event": "upgraded", "tier": 1, "drill": None,
...                 "alert": {"id": "a1", "level": "red", "grid": "G1", "title": {"zh-CN": "一号网格 水位预警",
...                           "en": "Grid 1: water level warning"}}}, "http://board.example")
>>> w.level_zh, w.kind_zh, w.kind_en, w.link
('红色', '升级', 'upgraded', 'http://board.example/#/alerts/a1')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fenghuo.levels import Level

KINDS: dict[str, tuple[str, str]] = {
    "raised": ("发布", "raised"),
    "upgraded": ("升级", "upgraded"),
    "downgraded": ("降级", "downgraded"),
    "cleared": ("监测恢复正常", "condition cleared"),
    "recurred": ("再次出现", "recurred"),
    "escalated": ("逐级上报", "escalated"),
    "acknowledged": ("已确认", "acknowledged"),
    "resolved": ("已解除", "resolved"),
}


def alert_link(public_url: str | None, alert_id: str) -> str | None:
    """The board's page of an alert, or None when no public URL is configured."""
    if not public_url:
        return None
    return f"{public_url.rstrip('/')}/#/alerts/{alert_id}"


@dataclass(frozen=True, slots=True)
class Wording:
    """What a notification says, taken from a notification payload (see :mod:`alerts.notify`)."""

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
        return cls(alert_id=str(a["id"]), level=level, kind=kind, kind_zh=kind_zh, kind_en=kind_en,
                   title_zh=str(title.get("zh-CN") or a.get("grid") or ""),
                   title_en=str(title.get("en") or a.get("grid") or ""),
                   grid=str(a.get("grid") or ""), tier=int(payload.get("tier") or 0), drill=payload.get("drill"),
                   link=alert_link(public_url, str(a["id"])), detail=str(payload.get("detail") or ""))
