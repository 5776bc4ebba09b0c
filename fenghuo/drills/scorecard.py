"""The scorecard of a drill run, and the comparison of the runs of one scenario (docs/drills.md, "The scorecard").

Pure: the run's alerts (with their timelines), their notifications, the expectations and the run's times in, a
JSON-serialisable document out. No store, no clock: ``now`` is given while a run is still going (``end`` None).

Expectations. An alert matches an expectation when every field the expectation names agrees: ``risk``, ``rule``,
``feed``, and ``grid`` (equal) or ``node`` (``under(alert.grid, node)``). The time an alert reached a level is
its first level-carrying timeline entry (raised, upgraded, recurred, downgraded, corroborated) at that level or
higher. Verdicts: **met** (reached by ``by``), **late** (reached after), **low** (matched, never reached),
**missed** (nothing matched), **pending** (the run is going, ``by`` is still ahead and it is not met yet).

Tiers. Each alert's life is cut into stretches, one per escalation tier it sat at, by walking its timeline:

- the tier it was raised at is, most reliable first, the tier of its ``raised`` notifications; the
  ``raised tier N:`` of a notify entry (notified, notify_failed ...) in its timeline; its ``escalation_tier``
  when it never escalated; else the tier of its first ``escalated`` entry minus one, minus the tiers that
  escalation passed over (``no_one_on_duty`` entries just before it). (Counting ``escalated`` entries back from
  ``escalation_tier`` would be wrong whenever an escalation skips a tier with nobody to tell.)
- every ``escalated`` entry moves it to the tier its detail names (``... tier N (node)``).

An alert is acknowledged at the tier it sat at when its first ``acknowledged`` entry came; it is answered there
when acknowledged, or, never acknowledged, resolved by a responder other than ``system`` (as
:func:`fenghuo.alerts.reports.on_time` counts it). Per tier: MTTA is from reaching the tier to the
acknowledgement; MTTR is raise to resolve, for the alerts resolved at that tier; on time means answered there within
the deadline (reaching the tier, or the last upgrade there before the answer, which re-arms it, plus
``alert.deadline_s``). An alert that left the tier by escalation, or whose deadline there passed unanswered
before the run's end (or ``now``), was not on time; one still inside its deadline is not counted either way.
Rates are over the alerts decided. System alerts (risk ``system``) are listed apart: no false alarms, no tiers.

The verdict: ``pass`` when there is at least one expectation and every one is met; ``running`` while the run
goes on (``end`` None) and some are pending (or none is expected); ``fail`` otherwise.

>>> from fenghuo.core.levels import Level
>>> from fenghuo.core.models import Alert, Risk, Status, TimelineEntry
>>> a = Alert("a1", "f", Risk.SAFETY, "sensor", "G1", "s", "s/m", "r", Level.RED, Status.ACKNOWLEDGED, "d-r1",
...           0.0, 0.0, acked_at=120.0, deadline_s=300.0, max_level=Level.RED,
...           timeline=[TimelineEntry(0.0, "raised", "red"), TimelineEntry(120.0, "acknowledged", "red")])
>>> card = score([{"grid": "G1", "level": "orange", "by": 60.0}], [a], {}, start=0.0, end=3600.0,
...              tiers=lambda alert: [("G1", "community")], under=lambda grid, node: False)
>>> card["verdict"], card["expectations"][0]["verdict"], card["expectations"][0]["lead_seconds"]
('pass', 'met', 60.0)
>>> card["tiers"][0]["kind"], card["tiers"][0]["mtta_seconds"], card["tiers"][0]["on_time_rate"]
('community', 120.0, 1.0)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from fenghuo.alerts.reports import quantile
from fenghuo.core.levels import Level
from fenghuo.core.models import Alert, Risk, TimelineEntry, iso
from fenghuo.core.store import Notification

TiersFn = Callable[[Alert], list[tuple[str, str]]]  # the alert's escalation chain: [(node id, node kind), ...]
UnderFn = Callable[[str, str], bool]  # (grid, node) -> the grid lies under the node

LEVEL_KINDS = ("raised", "upgraded", "recurred", "downgraded", "corroborated")  # entries that carry a level
NOTIFY_KINDS = ("notified", "notify_failed", "notify_retrying", "notify_withheld")
MATCH_FIELDS = ("risk", "rule", "feed", "grid", "node")
_ESCALATED_TIER = re.compile(r"\btier (\d+) \(")
_RAISED_TIER = re.compile(r"^raised tier (\d+):")


def _r(seconds: float | None) -> float | None:
    """Seconds rounded to 0.1 (None stays None)."""
    return None if seconds is None else round(float(seconds), 1)


def _mean(values: list[float]) -> float | None:
    return _r(fmean(values)) if values else None


def _p50(values: list[float]) -> float | None:
    return _r(quantile(values, 0.5))


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# -- expectations --------------------------------------------------------------------------------------------
def matches(expect: dict[str, Any], alert: Alert, under: UnderFn) -> bool:
    """Whether ``alert`` is one the expectation speaks of (the level aside).

    >>> from fenghuo.core.models import Alert, Risk, Status
    >>> a = Alert("a1", "f", Risk.SAFETY, "sensor", "G1", "s", "s/m", "flood", Level.RED, Status.OPEN, None, 0.0, 0.0)
    >>> matches({"risk": "safety", "node": "D1", "level": "red"}, a, lambda grid, node: (grid, node) == ("G1", "D1"))
    True
    >>> matches({"rule": "gas", "grid": "G1", "level": "red"}, a, lambda grid, node: True)
    False
    """
    if expect.get("risk") is not None and str(alert.risk) != str(expect["risk"]):
        return False
    if expect.get("rule") is not None and alert.rule != expect["rule"]:
        return False
    if expect.get("feed") is not None and alert.feed != expect["feed"]:
        return False
    if expect.get("grid") is not None and alert.grid != expect["grid"]:
        return False
    return expect.get("node") is None or under(alert.grid, str(expect["node"]))


def reached_at(alert: Alert, level: Level) -> float | None:
    """When the alert first stood at ``level`` or higher (None: never)."""
    for e in alert.timeline:
        if e.kind in LEVEL_KINDS and e.level is not None and Level.parse(e.level) >= level:
            return e.ts
    if not alert.timeline and alert.max_level >= level:  # (an alert without its timeline: its raise is all we know)
        return alert.created_at
    return None


def _judge(expect: dict[str, Any], alerts: list[Alert], under: UnderFn, end: float | None,
           now: float | None) -> dict[str, Any]:
    level = Level.parse(expect["level"])
    by = float(expect["by"])
    found = [a for a in alerts if matches(expect, a, under)]
    reached = [(t, a) for a in found if (t := reached_at(a, level)) is not None]
    best: Alert | None = None
    when: float | None = None
    if reached:
        when, best = min(reached, key=lambda pair: (pair[0], pair[1].created_at, pair[1].id))
        verdict = "met" if when <= by else "late"
    elif found:
        best = max(found, key=lambda a: (a.max_level, -a.created_at))
        verdict = "low"
    else:
        verdict = "missed"
    if verdict != "met" and end is None and (now is None or now < by):
        verdict = "pending"
    return {
        "expect": {**expect, "by": iso(by)},
        "label": expect.get("label"),
        "verdict": verdict,
        "alert": best.id if best is not None else None,
        "alerts": [a.id for a in found],
        "level": (level.name_en if when is not None else best.max_level.name_en) if best is not None else None,
        "reached_at": iso(when),
        "by": iso(by),
        "lead_seconds": _r(by - when) if when is not None else None,
    }


def _listed(a: Alert) -> dict[str, Any]:
    return {"alert": a.id, "risk": str(a.risk), "rule": a.rule, "feed": a.feed, "grid": a.grid,
            "level": a.max_level.name_en, "at": iso(a.created_at), "status": str(a.status)}


# -- tiers ---------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Stretch:
    """The time an alert sat at one escalation tier."""

    tier: int
    since: float
    armed: float  # when its deadline at this tier was (re)armed: reaching the tier, or an upgrade there
    until: float | None = None  # when it escalated away (None: it stayed)
    acked: float | None = None
    answered: float | None = None  # acknowledged, or resolved unacknowledged by a responder
    resolved: float | None = None


def raise_tier(alert: Alert, notes: Iterable[Notification] = ()) -> int:
    """The tier the alert was raised at (see the module's doc for the order of the sources).

    >>> from fenghuo.core.models import Alert, Risk, Status, TimelineEntry
    >>> a = Alert("a1", "f", Risk.SAFETY, "sensor", "G1", "s", "s/m", "r", Level.RED, Status.OPEN, None, 0.0, 0.0,
    ...           escalation_tier=3, timeline=[TimelineEntry(0.0, "raised", "red"),
    ...           TimelineEntry(300.0, "escalated", "red", detail="not acknowledged within 300 s: tier 3 (D1)")])
    >>> raise_tier(a)
    2
    """
    raised = [n.tier for n in notes if n.kind == "raised"]
    if raised:
        return min(raised)
    for e in alert.timeline:
        if e.kind in NOTIFY_KINDS and e.detail and (m := _RAISED_TIER.match(e.detail)):
            return int(m.group(1))
    first = next((i for i, e in enumerate(alert.timeline) if e.kind == "escalated"), None)
    if first is None:
        return alert.escalation_tier
    entry = alert.timeline[first]
    m = _ESCALATED_TIER.search(entry.detail or "")
    if m is None:
        return max(0, alert.escalation_tier - sum(1 for e in alert.timeline if e.kind == "escalated"))
    passed = 0
    for e in reversed(alert.timeline[:first]):
        if e.kind != "no_one_on_duty" or e.ts != entry.ts:
            break
        passed += 1
    return max(0, int(m.group(1)) - 1 - passed)


def stretches(alert: Alert, notes: Iterable[Notification] = ()) -> list[Stretch]:
    """The alert's tiers in order, with when it reached each, left it, and was answered or resolved there."""
    tier = raise_tier(alert, notes)
    out = [Stretch(tier, alert.created_at, alert.created_at)]
    answered = resolved = False
    for e in alert.timeline:
        cur = out[-1]
        if e.kind == "escalated":
            m = _ESCALATED_TIER.search(e.detail or "")
            nxt = int(m.group(1)) if m else cur.tier + 1
            cur.until = e.ts
            out.append(Stretch(nxt, e.ts, e.ts))
        elif e.kind == "upgraded" and not answered:
            cur.armed = e.ts
        elif e.kind == "acknowledged" and not answered:
            answered, cur.answered, cur.acked = True, e.ts, e.ts
        elif e.kind == "resolved" and not resolved:
            resolved, cur.resolved = True, e.ts
            if not answered and e.actor != "system":
                answered, cur.answered = True, e.ts
    if alert.acked_at is not None and all(s.acked is None for s in out):  # an ack the timeline lost
        at = [s for s in out if s.since <= alert.acked_at][-1:] or out[:1]
        at[0].acked = alert.acked_at
        if not answered:
            at[0].answered = alert.acked_at
    return out


def _on_time(s: Stretch, deadline_s: float, until: float | None) -> bool | None:
    """Answered within the tier's deadline: True/False once decided, None while the deadline is still ahead."""
    due = s.armed + deadline_s
    if s.answered is not None:
        return s.answered <= due
    if s.until is not None:
        return False  # it escalated away unanswered
    seen_to = s.resolved if s.resolved is not None else until
    return False if seen_to is not None and seen_to > due else None


def _tier_rows(alerts: list[Alert], notifications: dict[str, list[Notification]], tiers: TiersFn,
               until: float | None) -> tuple[list[dict[str, Any]], list[bool]]:
    groups: dict[tuple[int, str | None], dict[str, Any]] = {}
    decided_all: list[bool] = []
    for a in alerts:
        chain = tiers(a)
        for s in stretches(a, notifications.get(a.id, ())):
            node, kind = chain[s.tier] if 0 <= s.tier < len(chain) else (None, None)
            g = groups.setdefault((s.tier, kind), {"nodes": set(), "alerts": 0, "tta": [], "ttr": [],
                                                   "resolved": 0, "on_time": 0, "decided": 0, "escalated": 0})
            if node is not None:
                g["nodes"].add(node)
            g["alerts"] += 1
            if s.acked is not None:
                g["tta"].append(s.acked - s.since)
            if s.resolved is not None:
                g["resolved"] += 1
                g["ttr"].append(s.resolved - a.created_at)
            if s.until is not None:
                g["escalated"] += 1
            verdict = _on_time(s, a.deadline_s, until)
            if verdict is not None:
                g["decided"] += 1
                g["on_time"] += int(verdict)
                decided_all.append(verdict)
    rows = []
    for (tier, kind), g in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1] or "")):
        rows.append({
            "tier": tier, "kind": kind, "nodes": sorted(g["nodes"]),
            "alerts": g["alerts"], "acknowledged": len(g["tta"]),
            "mtta_seconds": _mean(g["tta"]), "mtta_p50_seconds": _p50(g["tta"]),
            "resolved": g["resolved"], "mttr_seconds": _mean(g["ttr"]), "mttr_p50_seconds": _p50(g["ttr"]),
            "escalated": g["escalated"], "on_time": g["on_time"], "decided": g["decided"],
            "on_time_rate": _rate(g["on_time"], g["decided"]),
        })
    return rows, decided_all


# -- notifications -------------------------------------------------------------------------------------------
NOTIFICATION_STATUSES = ("sent", "failed", "pending", "expired", "not_sent")


def _status(n: Notification) -> str:
    return "sent" if n.status == "delivered" else n.status


def notification_figures(notifications: Iterable[Notification]) -> dict[str, Any]:
    """Counts by status (``sent`` is delivered) overall and by channel, and the delivery delay
    (``delivered_at - created_at`` as the outbox has them: both must be on the same clock).

    >>> from fenghuo.core.store import Notification
    >>> ns = [Notification("n1", "a1", "sms", "r1", "raised", 0, {}, 10.0, status="delivered", delivered_at=10.5),
    ...       Notification("n2", "a1", "sms", "r2", "raised", 0, {}, 10.0, status="failed")]
    >>> f = notification_figures(ns)
    >>> f["sent"], f["failed"], f["by_channel"]["sms"]["failed"], f["delay_max_seconds"]
    (1, 1, 1, 0.5)
    """
    counts: Counter[str] = Counter()
    by_channel: dict[str, Counter[str]] = {}
    delays: list[float] = []
    failed_attempts = 0  # attempts that failed, the retried ones included (a channel down for a while)
    for n in notifications:
        status = _status(n)
        counts[status] += 1
        failed_attempts += max(0, n.attempts - 1) if n.status == "delivered" else n.attempts
        by_channel.setdefault(n.channel, Counter())[status] += 1
        if n.status == "delivered" and n.delivered_at is not None:
            delays.append(n.delivered_at - n.created_at)

    def table(c: Counter[str]) -> dict[str, int]:
        return {"total": sum(c.values()), **{k: c.get(k, 0) for k in NOTIFICATION_STATUSES},
                **{k: v for k, v in sorted(c.items()) if k not in NOTIFICATION_STATUSES}}

    return {**table(counts), "failed_attempts": failed_attempts,
            "by_channel": {ch: table(c) for ch, c in sorted(by_channel.items())},
            "delay_p50_seconds": _p50(delays),
            "delay_max_seconds": _r(max(delays)) if delays else None}


# -- the scorecard -------------------------------------------------------------------------------------------
def _first(alert: Alert, kind: str) -> TimelineEntry | None:
    return next((e for e in alert.timeline if e.kind == kind), None)


def score(expect: list[dict[str, Any]], alerts: list[Alert], notifications: dict[str, list[Notification]], *,
          start: float, end: float | None, tiers: TiersFn, under: UnderFn,
          events: dict[str, int] | None = None, now: float | None = None) -> dict[str, Any]:
    """The scorecard of a run (see the module's doc and docs/drills.md).

    ``expect``: the scenario's expectations, ``by`` in epoch seconds; ``alerts``: the run's alerts;
    ``notifications``: alert id -> its notifications; ``start``/``end``: the run's scenario times (``end`` None
    while it runs, with ``now`` its current scenario time); ``tiers``: an alert's escalation chain as
    ``[(node id, node kind), ...]``; ``under``: whether a grid lies under a node; ``events``: the run's event
    counts, passed through.
    """
    judged = [_judge(x, alerts, under, end, now) for x in expect]
    expected_alerts = {a.id for a in alerts if any(matches(x, a, under) for x in expect)}
    system = [a for a in alerts if a.risk == Risk.SYSTEM]
    answerable = [a for a in alerts if a.risk != Risk.SYSTEM]
    false_alarms = [a for a in answerable if a.id not in expected_alerts]
    until = end if end is not None else now
    tier_rows, decided = _tier_rows(answerable, notifications, tiers, until)
    acked = {a.id: e.ts if (e := _first(a, "acknowledged")) is not None else a.acked_at for a in answerable}
    tta = [t - a.created_at for a in answerable if (t := acked[a.id]) is not None]
    ttr = [a.resolved_at - a.created_at for a in answerable if a.resolved_at is not None]
    counts = Counter(j["verdict"] for j in judged)
    if judged and counts["met"] == len(judged):
        verdict = "pass"
    elif end is None and (counts["pending"] or not judged):
        verdict = "running"
    else:
        verdict = "fail"
    escalated = sum(1 for a in answerable for e in a.timeline if e.kind == "escalated")
    ran_out = [a.id for a in answerable if _first(a, "escalation_exhausted") is not None]
    summary = {
        "verdict": verdict,
        "expected": len(judged),
        **{k: counts[k] for k in ("met", "late", "low", "missed", "pending")},
        "alerts": len(answerable),
        "false_alarms": len(false_alarms),
        "system_alerts": len(system),
        "mtta_seconds": _mean(tta),
        "mttr_seconds": _mean(ttr),
        "on_time_rate": _rate(sum(decided), len(decided)),
    }
    return {
        "verdict": verdict,
        "start": iso(start),
        "end": iso(end),
        "now": iso(now if end is None else end),
        "expectations": judged,
        "false_alarms": [_listed(a) for a in sorted(false_alarms, key=lambda a: (a.created_at, a.id))],
        "system_alerts": [_listed(a) for a in sorted(system, key=lambda a: (a.created_at, a.id))],
        "tiers": tier_rows,
        "escalations": {"escalated": escalated,
                        "alerts_escalated": sum(1 for a in answerable if _first(a, "escalated") is not None),
                        "ran_out": len(ran_out), "ran_out_alerts": ran_out},
        "notifications": notification_figures(n for ns in notifications.values() for n in ns),
        "events": dict(events) if events else {},
        "summary": summary,
    }


# -- comparing runs ------------------------------------------------------------------------------------------
# figure -> whether a higher value is better
TREND = {"met_share": True, "false_alarms": False, "mtta_seconds": False, "mttr_seconds": False,
         "on_time_rate": True}


def expectation_key(expect: dict[str, Any]) -> str:
    """A name for an expectation that stays the same from run to run: its label, else what it asks for.

    >>> expectation_key({"risk": "safety", "grid": "FR-l-agly", "level": "red", "by": "2020-01-21T12:00:00Z"})
    'red safety grid=FR-l-agly'
    """
    if expect.get("label"):
        return str(expect["label"])
    parts = [str(expect.get("level", "?"))]
    parts += [str(expect[k]) for k in ("risk", "rule", "feed") if expect.get(k) is not None]
    parts += [f"{k}={expect[k]}" for k in ("grid", "node") if expect.get(k) is not None]
    return " ".join(parts)


COUNTS = ("expected", "met", "late", "low", "missed", "pending")


def _figures(card: dict[str, Any] | None) -> dict[str, Any]:
    """A run's row of figures: its verdict, the summary's counts and the trend figures (all None without a card)."""
    if not card:
        return {"verdict": None, **{k: None for k in COUNTS}, **{k: None for k in TREND}}
    s = card.get("summary", {})
    expected = s.get("expected") or 0
    return {"verdict": card.get("verdict", s.get("verdict")), **{k: s.get(k) for k in COUNTS},
            "met_share": round(s.get("met", 0) / expected, 4) if expected else None,
            **{k: s.get(k) for k in TREND if k != "met_share"}}


def _keyed(card: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The card's expectations by :func:`expectation_key` (a repeated key gets ``#2``, ``#3`` ...)."""
    out: dict[str, dict[str, Any]] = {}
    for j in (card or {}).get("expectations", []):
        base = expectation_key({**j.get("expect", {}), "label": j.get("label") or j.get("expect", {}).get("label")})
        key, n = base, 1
        while key in out:
            n += 1
            key = f"{base}#{n}"
        out[key] = j
    return out


def change(values: list[float | None], higher_is_better: bool) -> str | None:
    """Better, worse or same between the last two known values (None with fewer than two).

    >>> change([600.0, None, 420.0], higher_is_better=False)
    'better'
    >>> change([0.5, 0.5], higher_is_better=True)
    'same'
    """
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return None
    before, last = known[-2], known[-1]
    if last == before:
        return "same"
    return "better" if (last > before) == higher_is_better else "worse"


def compare(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The runs of one scenario side by side, oldest first, with the trend of their figures.

    ``runs``: ``{"run", "number", "started_at", "status", "scorecard"}`` documents (a scorecard may be None).
    Trends compare the last two runs that have the figure; an expectation is stable when every run that
    judged it gave the same verdict. A run still going is listed with its figures so far but takes no part in
    the trends and the stability (its verdicts are not final).

    >>> def card(met: int, mtta: float) -> dict:
    ...     return {"verdict": "pass" if met == 2 else "fail", "expectations": [],
    ...             "summary": {"expected": 2, "met": met, "false_alarms": 0, "mtta_seconds": mtta}}
    >>> c = compare([{"run": "s-r1", "number": 1, "scorecard": card(1, 900.0)},
    ...              {"run": "s-r2", "number": 2, "scorecard": card(2, 600.0)}])
    >>> c["trend"]["met_share"]["change"], c["trend"]["mtta_seconds"]["change"], c["trend"]["false_alarms"]["change"]
    ('better', 'better', 'same')
    """
    ordered = sorted(runs, key=lambda r: (r.get("number") or 0, r.get("started_at") or ""))
    keyed = [_keyed(r.get("scorecard")) for r in ordered]
    keys: list[str] = []
    for k in keyed:
        keys += [key for key in k if key not in keys]
    table = []
    for r, k in zip(ordered, keyed, strict=True):
        table.append({
            "run": r.get("run"), "number": r.get("number"), "started_at": r.get("started_at"),
            "status": r.get("status"), **_figures(r.get("scorecard")),
            "expectations": [{"key": key, "verdict": k[key]["verdict"] if key in k else None,
                              "lead_seconds": k[key].get("lead_seconds") if key in k else None} for key in keys],
        })
    expectations = []
    final = [r.get("status") != "running" for r in ordered]
    for i, key in enumerate(keys):
        verdicts = [row["expectations"][i]["verdict"] for row in table]
        seen = [v for v, done in zip(verdicts, final, strict=True) if v is not None and done]
        expectations.append({"key": key, "verdicts": verdicts,
                             "leads": [row["expectations"][i]["lead_seconds"] for row in table],
                             "stable": len(set(seen)) <= 1})
    trend = {}
    for figure, higher in TREND.items():
        values = [row[figure] for row in table]
        done = [v if f else None for v, f in zip(values, final, strict=True)]
        trend[figure] = {"values": values, "change": change(done, higher),
                         "better_when": "higher" if higher else "lower"}
    return {"runs": table, "expectations": expectations, "trend": trend,
            "stable": all(x["stable"] for x in expectations)}
