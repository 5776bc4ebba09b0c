"""Dedup: one open alert per fingerprint; signals create, upgrade, downgrade or clear it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from alerts.stages import Change
from fenghuo.levels import Level
from fenghuo.models import Alert, Certainty, Signal, Status, TimelineEntry

MAX_EVIDENCE = 50
TitleFn = Callable[[Signal], tuple[str, str]]
IdFn = Callable[[], str]


class Dedup:
    def __init__(self, new_id: IdFn, title: TitleFn) -> None:
        self.new_id = new_id
        self.title = title
        self.open: dict[str, Alert] = {}
        self.expected: dict[str, Level] = {}  # fingerprint -> level a forecast expects (until withdrawn)

    def load(self, alerts: list[Alert]) -> None:
        self.open = {a.fingerprint: a for a in alerts if a.is_open}

    def apply(self, signal: Signal, now: float) -> Change | None:
        if signal.kind == "corroboration":
            return self._corroborate(signal, now)
        signal = self._with_forecast(signal)
        fp = signal.fingerprint
        alert = self.open.get(fp)
        ev = {"detector": signal.detector, "rule": signal.rule, "feed": signal.feed, "ts": signal.ts,
              "level": signal.level.name_en if signal.level else None, "score": signal.score,
              "reason": signal.reason, **signal.evidence}
        if alert is None:
            if signal.level is None:
                return None  # a clear for nothing open
            zh, en = self.title(signal)
            alert = Alert(id=self.new_id(), fingerprint=fp, risk=signal.risk, feed=signal.feed, grid=signal.grid,
                          source=signal.source, series=signal.series, rule=signal.rule, level=signal.level,
                          status=Status.OPEN, drill=signal.drill, created_at=now, updated_at=now,
                          certainty=signal.certainty, title_zh=zh, title_en=en, max_level=signal.level,
                          evidence=[ev])
            alert.add(TimelineEntry(now, "raised", signal.level.name_en, signal.detector, None, signal.reason))
            self.open[fp] = alert
            return Change(alert, "raised", notify=True, detail=signal.reason, step=1)
        alert.evidence.append(ev)
        del alert.evidence[:-MAX_EVIDENCE]
        if signal.level is None:
            if alert.cleared:
                return None
            alert.cleared, alert.cleared_at = True, now
            alert.add(TimelineEntry(now, "cleared", alert.level.name_en, signal.detector, None, signal.reason))
            return Change(alert, "cleared", notify=True, detail=signal.reason, step=len(alert.timeline))
        kind, notify = "updated", False
        if alert.cleared:
            alert.cleared, alert.cleared_at = False, None
            kind = "recurred"
        if signal.level > alert.level:
            kind, notify = "upgraded", True
        elif signal.level < alert.level:
            kind = "downgraded"
        if kind == "updated":
            alert.updated_at = max(alert.updated_at, now)
            return Change(alert, kind)
        alert.level = signal.level
        alert.max_level = Level(max(alert.max_level, signal.level))
        alert.add(TimelineEntry(now, kind, signal.level.name_en, signal.detector, None, signal.reason))
        return Change(alert, kind, notify=notify, detail=signal.reason, step=len(alert.timeline))

    def _with_forecast(self, signal: Signal) -> Signal:
        """A forecast's expected level holds the alert up: an observed lower level (or a clear) does not
        pull it below the expectation until the forecast is withdrawn."""
        fp = signal.fingerprint
        if signal.kind == "forecast":
            if signal.evidence.get("withdrawn"):
                self.expected.pop(fp, None)
            elif signal.level is not None:
                self.expected[fp] = signal.level
            return signal
        held = self.expected.get(fp)
        if held is not None and (signal.level is None or signal.level < held):
            return replace(signal, level=held, kind="level")
        return signal

    def _corroborate(self, signal: Signal, now: float) -> Change | None:
        """Another feed agrees: raise certainty (never lower it), maybe the level; list the evidence."""
        alert = self.open.get(signal.fingerprint)
        if alert is None:
            return None  # a corroboration never opens an alert
        alert.evidence.append({"detector": signal.detector, "kind": "corroboration", "ts": signal.ts,
                               "certainty": str(signal.certainty), "reason": signal.reason, **signal.evidence})
        del alert.evidence[:-MAX_EVIDENCE]
        order = list(Certainty)
        if order.index(signal.certainty) > order.index(alert.certainty):
            alert.certainty = signal.certainty
        if signal.level is not None and signal.level > alert.level:
            alert.level = signal.level
            alert.max_level = Level(max(alert.max_level, signal.level))
            alert.add(TimelineEntry(now, "upgraded", signal.level.name_en, "fusion", None, signal.reason))
            return Change(alert, "upgraded", notify=True, detail=signal.reason, step=len(alert.timeline))
        alert.add(TimelineEntry(now, "corroborated", alert.level.name_en, "fusion", None, signal.reason))
        return Change(alert, "corroborated", detail=signal.reason, step=len(alert.timeline))

    def close(self, alert: Alert) -> None:
        self.open.pop(alert.fingerprint, None)
        self.expected.pop(alert.fingerprint, None)
