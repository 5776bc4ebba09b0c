"""Response-time reports: count, MTTA and MTTR (median and p90), resolution and on-time rates.

Pure: alerts in, figures out. MTTA is raised -> acknowledged; MTTR raised -> resolved. An alert is
on time when it was acknowledged (or resolved) before its first escalation, that is within its
level's deadline.

>>> from fenghuo.core.models import Alert, Risk, Status, TimelineEntry
>>> from fenghuo.core.levels import Level
>>> a = Alert("a1", "f", Risk.SAFETY, "sensor", "G1", "s", "s/m", "r", Level.RED, Status.RESOLVED, None,
...           0.0, 0.0, acked_at=60.0, acked_by="wang", resolved_at=600.0,
...           timeline=[TimelineEntry(0.0, "raised"), TimelineEntry(60.0, "acknowledged")])
>>> r = response_times([a], "level")
>>> r["groups"][0]["mtta_median_s"], r["groups"][0]["on_time_rate"]
(60.0, 1.0)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from fenghuo.core.models import Alert, Status

GROUPS = ("level", "grid", "responder", "rule", "risk")


def quantile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile of ``values`` by linear interpolation, rounded to 3 decimals (None when empty)."""
    if not values:
        return None
    v = sorted(values)
    pos = (len(v) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return round(v[lo] + (v[hi] - v[lo]) * (pos - lo), 3)


def on_time(a: Alert) -> bool | None:
    """True/False once decided; None while it is still open and not yet overdue."""
    answered = a.acked_at if a.acked_at is not None else a.resolved_at
    escalated = next((e.ts for e in a.timeline if e.kind == "escalated"), None)
    if answered is None:
        return False if escalated is not None else None
    return escalated is None or answered <= escalated


def _key(a: Alert, group_by: str) -> str:
    if group_by == "level":
        return a.max_level.name_en
    if group_by == "responder":
        return a.acked_by or a.resolved_by or "(nobody)"
    return str(getattr(a, group_by))


def response_times(alerts: Iterable[Alert], group_by: str = "level") -> dict[str, Any]:
    if group_by not in GROUPS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPS)}")
    groups: dict[str, list[Alert]] = defaultdict(list)
    everything: list[Alert] = []
    for a in alerts:
        groups[_key(a, group_by)].append(a)
        everything.append(a)
    rows = [_figures(k, v) for k, v in sorted(groups.items())]
    return {"group_by": group_by, "groups": rows, "total": _figures("all", everything)}


def _figures(key: str, alerts: list[Alert]) -> dict[str, Any]:
    tta = [a.acked_at - a.created_at for a in alerts if a.acked_at is not None]
    ttr = [a.resolved_at - a.created_at for a in alerts if a.resolved_at is not None]
    decided = [t for t in (on_time(a) for a in alerts) if t is not None]
    n = len(alerts)
    return {
        "key": key,
        "count": n,
        "acknowledged": len(tta),
        "resolved": sum(1 for a in alerts if a.status == Status.RESOLVED),
        "mtta_median_s": quantile(tta, 0.5),
        "mtta_p90_s": quantile(tta, 0.9),
        "mttr_median_s": quantile(ttr, 0.5),
        "mttr_p90_s": quantile(ttr, 0.9),
        "resolution_rate": round(len(ttr) / n, 4) if n else None,
        "on_time_rate": round(sum(decided) / len(decided), 4) if decided else None,
    }
