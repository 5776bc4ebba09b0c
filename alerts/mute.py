"""Muting: silences and maintenance windows share one :class:`Muter` protocol.

A muted change is still recorded (and shown on the board): the alert's timeline gets a ``muted`` entry whose
actor names what muted it (``silence:<id>``, ``maintenance:<name>``); it only sends no notification.
Silences are made through the API (:mod:`fenghuo.alerts.silences` keeps them in the store); maintenance windows
come from the config's ``maintenance`` section, weekly (``every tue 02:00-04:00`` in a timezone) or dated
(from one day to another, both included).

>>> from fenghuo.core.config import Maintenance
>>> m = Maintenance.model_validate({"timezone": "Asia/Shanghai", "windows": [
...     {"name": "gauge-7", "weekly": {"days": ["tue"], "start": "02:00", "end": "04:00"}}]})
>>> w = MaintenanceWindows(m, GridTree([]))
>>> tue_3am_shanghai = 1_764_615_600.0  # 2025-12-01 19:00 UTC = Tuesday 2025-12-02 03:00 in Shanghai
>>> [w.is_open(0, tue_3am_shanghai), w.is_open(0, tue_3am_shanghai + 3600)]
[True, False]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from fenghuo.alerts.matchers import describe, matches
from fenghuo.alerts.stages import Change, Context
from fenghuo.core.config import WEEKDAYS, AlertMatch, Config, Maintenance, MaintenanceWindow
from fenghuo.core.grids import GridTree
from fenghuo.core.models import Alert, TimelineEntry, iso


@dataclass(frozen=True, slots=True)
class Muted:
    """Why a change sends nothing: ``by`` names the silence (``silence:<id>``), the window
    (``maintenance:<name>``) or the inhibiting alert (its id); ``reason`` says it in words."""

    by: str
    reason: str


class Muter(Protocol):
    def mutes(self, alert: Alert, now: float) -> Muted | None:
        """Why the alert is muted now, else None."""
        ...


SILENCE_STATES = ("pending", "active", "expired")


@dataclass(frozen=True, slots=True)
class Silence:
    """Mute the alerts ``match`` selects from ``start`` until ``end`` (epoch seconds)."""

    id: str
    start: float
    end: float
    match: AlertMatch = field(default_factory=AlertMatch)
    created_by: str = ""
    created_at: float = 0.0
    comment: str = ""
    expired_by: str | None = None  # who ended it early
    updated_at: float = 0.0

    def state(self, now: float) -> str:
        """``pending`` before its start, ``active`` until its end, then ``expired``."""
        if now < self.start:
            return "pending"
        return "active" if now < self.end else "expired"

    def mutes(self, alert: Alert, now: float, tree: GridTree) -> Muted | None:
        if self.state(now) != "active" or not matches(self.match, alert, tree):
            return None
        note = f": {self.comment}" if self.comment else ""
        return Muted(f"silence:{self.id}", f"silence {self.id} by {self.created_by} until {iso(self.end)}{note}")

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "match": self.match.model_dump(exclude_none=True), "starts_at": iso(self.start),
            "ends_at": iso(self.end), "created_by": self.created_by, "created_at": iso(self.created_at),
            "comment": self.comment, "expired_by": self.expired_by, "updated_at": iso(self.updated_at),
            "matches": describe(self.match)}
        if now is not None:
            out["state"] = self.state(now)
        return out

    def to_doc(self) -> dict[str, Any]:
        """As the store keeps it (epoch seconds)."""
        return {"id": self.id, "match": self.match.model_dump(exclude_none=True), "start": self.start,
                "end": self.end, "created_by": self.created_by, "created_at": self.created_at,
                "comment": self.comment, "expired_by": self.expired_by, "updated_at": self.updated_at}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Silence:
        return cls(id=str(doc["id"]), start=float(doc["start"]), end=float(doc["end"]),
                   match=AlertMatch.model_validate(doc.get("match") or {}), created_by=str(doc.get("created_by", "")),
                   created_at=float(doc.get("created_at", 0.0)), comment=str(doc.get("comment", "")),
                   expired_by=doc.get("expired_by"), updated_at=float(doc.get("updated_at", 0.0)))


class MaintenanceWindows:
    """The config's maintenance windows as a :class:`Muter`. A window's times are local to its ``timezone``, else
    its node's (when the tree's node has one), else the section's, else ``default_zone`` (the config's)."""

    def __init__(self, section: Maintenance, tree: GridTree, default_zone: str = "UTC") -> None:
        self.tree = tree
        self.windows: list[tuple[MaintenanceWindow, ZoneInfo]] = []
        for w in section.windows:
            node = tree.nodes.get(w.match.grid) if w.match.grid is not None else None
            zone = w.timezone or getattr(node, "timezone", None) or section.timezone or default_zone
            self.windows.append((w, ZoneInfo(zone)))

    @classmethod
    def of(cls, config: Config, tree: GridTree) -> MaintenanceWindows:
        return cls(config.maintenance, tree, getattr(config, "timezone", None) or "UTC")

    def is_open(self, index: int, now: float) -> bool:
        w, zone = self.windows[index]
        return window_open(w, zone, now)

    def mutes(self, alert: Alert, now: float) -> Muted | None:
        for w, zone in self.windows:
            if window_open(w, zone, now) and matches(w.match, alert, self.tree):
                note = f": {w.comment}" if w.comment else ""
                return Muted(f"maintenance:{w.name}", f"maintenance window {w.name} ({when(w, zone)}){note}")
        return None


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def window_open(w: MaintenanceWindow, zone: ZoneInfo, now: float) -> bool:
    """Is ``now`` inside the window (its local time in ``zone``)? A weekly window whose end is at or before its
    start runs past midnight: it belongs to the day it starts on."""
    local = datetime.fromtimestamp(now, zone)
    if w.dates is not None:
        return w.dates.start <= local.date() <= w.dates.end
    if w.weekly is None:
        return False
    t = local.hour * 60 + local.minute + local.second / 60.0
    start, end = _minutes(w.weekly.start), _minutes(w.weekly.end)
    today = WEEKDAYS[local.weekday()]
    if start < end:
        return today in w.weekly.days and start <= t < end
    yesterday = WEEKDAYS[(local - timedelta(days=1)).weekday()]
    return (today in w.weekly.days and t >= start) or (yesterday in w.weekly.days and t < end)


def when(w: MaintenanceWindow, zone: ZoneInfo) -> str:
    if w.dates is not None:
        return f"{w.dates.start} to {w.dates.end} {zone.key}"
    assert w.weekly is not None
    return f"every {','.join(w.weekly.days)} {w.weekly.start}-{w.weekly.end} {zone.key}"


class MuteStage:
    """Changes that would notify and that a muter mutes notify nothing; the timeline says ``muted`` and by what."""

    def __init__(self, muters: Iterable[Muter]) -> None:
        self.muters = muters

    def exec(self, ctx: Context, changes: list[Change]) -> list[Change]:
        for ch in changes:
            if not ch.notify:
                continue
            for m in self.muters:
                muted = m.mutes(ch.alert, ctx.now)
                if muted is not None:
                    ch.notify = False
                    ch.alert.add(TimelineEntry(ctx.now, "muted", ch.alert.level.name_en, muted.by, None,
                                               f"{ch.kind}: {muted.reason}"))
                    break
        return changes
