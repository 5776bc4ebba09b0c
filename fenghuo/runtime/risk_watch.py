"""Blue "watch" notices: a grid whose forecast risk reaches ``risk_forecast.watch_level`` tells its community
office, once per grid, category group and horizon window.

A watch notice is not an alert and raises none: it is a row of ``risk_watch`` and, in the same transaction,
outbox rows of ``kind = "watch"`` addressed as the alert routing would address a blue alert of that grid at the
community tier (:class:`fenghuo.alerts.routing.Router`: the community node's responders on their channels, duty
rotations respected; a drill's notices reach only drill participants and the drill channels). Its
``alert_id`` is ``watch:<hash>``, which no alert has, so delivery records its outcome in the outbox only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from fenghuo.alerts.notifiers.wording import masked_payload
from fenghuo.alerts.notify import notification_id, priority
from fenghuo.alerts.routing import Router
from fenghuo.core.grids import GridTree
from fenghuo.core.levels import Level
from fenghuo.core.models import Alert, Risk, Status
from fenghuo.core.store import Notification

DAY = 86400.0


def horizon_window(at: float, horizon_days: int) -> tuple[float, float]:
    """The horizon window ``at`` falls in: consecutive windows of ``horizon_days`` days from the epoch (UTC), so
    the forecasts made every few hours within one window notify once.

    >>> horizon_window(1425254400.0 + 3600, 7)  # 2015-03-02T01:00Z
    (1424908800.0, 1425513600.0)
    """
    span = horizon_days * DAY
    start = (at // span) * span
    return start, start + span


def community_tier(tree: GridTree, grid: str) -> tuple[int, str] | None:
    """The index in the grid's chain of its community node, and its id (None: the grid has none)."""
    for i, node in enumerate(tree.chain(grid)):
        if node.kind == "community":
            return i, node.id
    return None


def _stand_in(grid: str, drill: str | None, at: float, watch_id: str) -> Alert:
    """An alert-shaped value for the router only (never stored): the router addresses by grid, drill and time."""
    return Alert(id=watch_id, fingerprint=watch_id, risk=Risk.CONTRADICTION, feed="complaint", grid=grid,
                 source="risk-forecast", series=grid, rule="risk-watch", level=Level.BLUE, status=Status.OPEN,
                 drill=drill, created_at=at, updated_at=at)


def watch_notices(rows: list[dict[str, Any]], *, tree: GridTree, router: Router, made_at: float,
                  horizon_days: int, watch_level: float, drill: str | None,
                  names: Callable[[str], str] | None = None) -> list[tuple[dict[str, Any], list[Notification]]]:
    """The watch notices a forecast's rows call for (grid rows at or above ``watch_level``), each with its
    notifications; :meth:`Store.save_risk_watch` keeps only those not sent before."""
    window = horizon_window(made_at, horizon_days)
    out: list[tuple[dict[str, Any], list[Notification]]] = []
    for row in rows:
        if row.get("kind") != "grid" or float(row.get("probability") or 0.0) < watch_level:
            continue
        grid, group = str(row["node"]), str(row.get("group") or "all")
        key = f"{drill or ''}|{grid}|{group}|{horizon_days}|{window[0]:.0f}"
        watch_id = "watch:" + hashlib.sha256(key.encode()).hexdigest()[:24]
        found = community_tier(tree, grid)
        tier, node = found if found else (0, None)
        notice = {"key": key, "id": watch_id, "grid": grid, "group": group, "horizon_days": horizon_days,
                  "window": list(window), "drill": drill, "node": node, "probability": float(row["probability"]),
                  "made_at": made_at, "factors": [f.get("name") for f in row.get("factors", [])[:3]]}
        notes: list[Notification] = []
        if node is not None:
            stand_in = _stand_in(grid, drill, made_at, watch_id)
            label = names(grid) if names else grid
            pct = round(100 * float(row["probability"]))
            for responder, channel in router.recipients(stand_in, tier, made_at):
                nid = notification_id(watch_id, "watch", 0, tier, responder, channel)
                payload = {
                    "notification_id": nid, "event": "watch", "tier": tier, "node": node, "responder": responder,
                    "channel": channel, "drill": drill,
                    "detail": f"risk forecast: {pct}% chance of a complaint burst ({group}) in the next "
                              f"{horizon_days} days; a watch, not an alert",
                    "alert": {"id": watch_id, "kind": "watch", "level": "blue", "grid": grid, "status": "watch",
                              "title": {"zh-CN": f"{label} 矛盾风险关注（预测{pct}%）",
                                        "en": f"{label}: risk watch (forecast {pct}%)"}},
                    "watch": {k: notice[k] for k in ("group", "horizon_days", "window", "probability", "factors")},
                }
                notes.append(Notification(id=nid, alert_id=watch_id, channel=channel, responder=responder,
                                          kind="watch", tier=tier, payload=masked_payload(payload),
                                          created_at=made_at, priority=priority(Level.BLUE, bool(drill))))
        out.append((notice, notes))
    return out
