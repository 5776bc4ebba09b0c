"""Closure and satisfaction of complaints: resolution, on-time and satisfaction figures per group.

Pure: complaint events in, figures out. What a complaint carries (``attrs``, checked at ingest by
:func:`fenghuo.ingest.events.closure_problem`, docs/reports.md "Complaint closure and satisfaction"):

- ``closed``: when the case was closed (ISO 8601 or epoch seconds); ``target``: when it was due;
- ``status``: the case's status; ``"closed"`` or ``"resolved"`` (any case) marks it resolved even
  without a ``closed`` time;
- ``on_time``: true/false as the source decided it (Boston 311's ``OnTime_Status``);
- ``outcome``: how it was closed (free text);
- ``satisfaction``: the citizen's rating, an integer 1-5 or ``"satisfied"`` / ``"unsatisfied"``;
- ``responder``, else ``department``, else ``queue``: who answered it (the ``responder`` group).

The rules:

- **resolved**: ``closed`` is set, or ``status`` says closed/resolved. Resolution rate = resolved / count.
- **on time**: ``on_time`` where the record has it (true or false); else, for a resolved complaint with
  both times, ``closed <= target``; else undecided (an open case without a flag, a case without a
  target). On-time rate = on time / decided.
- **time to close**: ``closed - ts`` (the complaint's time is its opening) for closed complaints; a
  ``closed`` before the opening (the source's error; Boston 2015 has 197) is left out of the times.
- **satisfaction**: ``rated`` counts every rating; the mean is over the numeric ratings only (a bare
  "satisfied" has no number); a rating is *satisfied* when it is 4 or 5 or ``"satisfied"`` (3 and
  below, and ``"unsatisfied"``, are not). Satisfied share = satisfied / rated.

>>> from fenghuo.core.models import Event
>>> def c(i, grid, closed=None, target=None, **attrs):
...     a = {"closed": closed, "target": target, **attrs}
...     return Event("complaint", "s", 1000.0, grid, str(i), category="pothole", text="t", attrs=a)
>>> t = ClosureTally("grid")
>>> for e in [c(1, "G1", closed=1600.0, target=2000.0, satisfaction=5),
...           c(2, "G1", closed=3000.0, target=2000.0, satisfaction="unsatisfied"),
...           c(3, "G2", target=2000.0, on_time=False), c(4, "G2", status="Closed", satisfaction=4)]:
...     t.add(e)
>>> r = t.report()
>>> [(g["key"], g["count"], g["resolved"], g["on_time_rate"], g["close_median_s"]) for g in r["groups"]]
[('G1', 2, 2, 0.5, 1300.0), ('G2', 2, 1, 0.0, None)]
>>> r["total"]["resolution_rate"], r["total"]["rated"], r["total"]["satisfaction_mean"], r["total"]["satisfied_share"]
(0.75, 3, 4.5, 0.6667)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fenghuo.alerts.reports import quantile
from fenghuo.core.models import Event, parse_ts

GROUPS = ("grid", "category", "responder")
SATISFIED, UNSATISFIED = "satisfied", "unsatisfied"
RESOLVED_STATUSES = frozenset(("closed", "resolved"))
NOBODY = "(none)"


def _time(value: Any) -> float | None:
    """A closure time as ingest accepted it (ISO text or epoch seconds), or None."""
    if value is None or type(value) is bool:
        return None
    try:
        return parse_ts(value)
    except (ValueError, TypeError, OverflowError):
        return None


def responder_of(attrs: dict[str, Any]) -> str:
    """Who answered: ``responder``, else ``department``, else ``queue``, else ``(none)``.

    >>> responder_of({"department": "PWDx", "queue": "PWDx_Street Lights"}), responder_of({})
    ('PWDx', '(none)')
    """
    for key in ("responder", "department", "queue"):
        v = attrs.get(key)
        if type(v) is str and v:
            return v
    return NOBODY


def is_resolved(attrs: dict[str, Any]) -> bool:
    status = attrs.get("status")
    return _time(attrs.get("closed")) is not None or (type(status) is str and status.lower() in RESOLVED_STATUSES)


def on_time(attrs: dict[str, Any]) -> bool | None:
    """The source's ``on_time`` when given, else ``closed <= target`` when both are known, else None.

    >>> on_time({"on_time": True, "closed": 9, "target": 1}), on_time({"closed": 9, "target": 10}), on_time({})
    (True, True, None)
    """
    flag = attrs.get("on_time")
    if type(flag) is bool:
        return flag
    closed, target = _time(attrs.get("closed")), _time(attrs.get("target"))
    if closed is None or target is None:
        return None
    return closed <= target


def satisfied(rating: Any) -> bool | None:
    """Whether a rating counts as satisfied (4-5 or "satisfied"); None when it is not a rating.

    >>> [satisfied(r) for r in (5, 4, 3, 1, "satisfied", "unsatisfied", None, True, 9)]
    [True, True, False, False, True, False, None, None, None]
    """
    if type(rating) is int and 1 <= rating <= 5:
        return rating >= 4
    if rating == SATISFIED:
        return True
    if rating == UNSATISFIED:
        return False
    return None


class _Group:
    __slots__ = ("count", "resolved", "decided", "on_time", "times", "rated", "scores", "satisfied")

    def __init__(self) -> None:
        self.count = self.resolved = self.decided = self.on_time = self.rated = self.satisfied = 0
        self.times: list[float] = []
        self.scores: list[int] = []

    def add(self, e: Event) -> None:
        a = e.attrs
        self.count += 1
        if is_resolved(a):
            self.resolved += 1
            closed = _time(a.get("closed"))
            if closed is not None and closed >= e.ts:
                self.times.append(closed - e.ts)
        ot = on_time(a)
        if ot is not None:
            self.decided += 1
            self.on_time += ot
        rating = a.get("satisfaction")
        happy = satisfied(rating)
        if happy is not None:
            self.rated += 1
            self.satisfied += happy
            if type(rating) is int:
                self.scores.append(rating)

    def figures(self, key: str) -> dict[str, Any]:
        n = self.count
        return {
            "key": key,
            "count": n,
            "resolved": self.resolved,
            "resolution_rate": round(self.resolved / n, 4) if n else None,
            "on_time_decided": self.decided,
            "on_time": self.on_time,
            "on_time_rate": round(self.on_time / self.decided, 4) if self.decided else None,
            "close_median_s": quantile(self.times, 0.5),
            "close_p90_s": quantile(self.times, 0.9),
            "rated": self.rated,
            "satisfaction_mean": round(sum(self.scores) / len(self.scores), 3) if self.scores else None,
            "satisfied_share": round(self.satisfied / self.rated, 4) if self.rated else None,
        }


def key_of(e: Event, group_by: str) -> str:
    if group_by == "grid":
        return e.grid
    if group_by == "category":
        return e.category or NOBODY
    return responder_of(e.attrs)


class ClosureTally:
    """Complaints counted one at a time (so a long range is read page by page), figures at the end.
    Events of other feeds are passed over."""

    def __init__(self, group_by: str = "grid") -> None:
        if group_by not in GROUPS:
            raise ValueError(f"group_by must be one of {', '.join(GROUPS)}")
        self.group_by = group_by
        self.groups: dict[str, _Group] = {}
        self.all = _Group()

    def add(self, e: Event) -> None:
        if e.feed != "complaint":
            return
        key = key_of(e, self.group_by)
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = _Group()
        g.add(e)
        self.all.add(e)

    def report(self) -> dict[str, Any]:
        return {"group_by": self.group_by, "groups": [g.figures(k) for k, g in sorted(self.groups.items())],
                "total": self.all.figures("all")}


def closure_report(events: Iterable[Event], group_by: str = "grid") -> dict[str, Any]:
    """:class:`ClosureTally` over ``events`` in one call."""
    t = ClosureTally(group_by)
    for e in events:
        t.add(e)
    return t.report()


def with_alert_times(report: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """Put alert MTTA/MTTR (a :func:`fenghuo.alerts.reports.response_times` report of the same grouping) beside
    each complaint row of the same key, and the overall figures beside the total, under ``alerts``.

    >>> r = {"groups": [{"key": "G1"}, {"key": "G2"}], "total": {"key": "all"}}
    >>> rt = {"groups": [{"key": "G1", "count": 2, "mtta_median_s": 60.0, "mttr_median_s": 600.0}],
    ...       "total": {"key": "all", "count": 2, "mtta_median_s": 60.0, "mttr_median_s": 600.0}}
    >>> out = with_alert_times(r, rt)
    >>> out["groups"][0]["alerts"]["mtta_median_s"], out["groups"][1]["alerts"]
    (60.0, None)
    """
    keep = ("count", "mtta_median_s", "mtta_p90_s", "mttr_median_s", "mttr_p90_s")
    by_key = {g["key"]: {k: g.get(k) for k in keep} for g in response["groups"]}
    for g in report["groups"]:
        g["alerts"] = by_key.get(g["key"])
    report["total"]["alerts"] = {k: response["total"].get(k) for k in keep}
    return report
