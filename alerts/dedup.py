"""Dedup: one open alert per fingerprint; signals create, upgrade, downgrade or clear it.

Changes are made in a step (:meth:`Dedup.begin` ... :meth:`Dedup.commit` or :meth:`Dedup.rollback`):
the first time a step touches an open alert it works on a copy (:meth:`Dedup.own`), so until the
store has the step's result the alerts in memory are the ones the store holds, and a failed write
is undone by putting the originals back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from fenghuo.alerts.stages import Change
from fenghuo.core.levels import Level
from fenghuo.core.models import Alert, Certainty, Signal, Status, TimelineEntry

MAX_EVIDENCE = 50
TitleFn = Callable[[Signal], tuple[str, str]]
IdFn = Callable[[], str]


class Dedup:
    def __init__(self, new_id: IdFn, title: TitleFn) -> None:
        self.new_id = new_id
        self.title = title
        self.open: dict[str, Alert] = {}
        self.expected: dict[str, Level] = {}  # fingerprint -> level a forecast expects (until withdrawn)
        self._undo: dict[str, Alert | None] | None = None  # in a step: fingerprint -> open alert before it
        self._undo_expected: dict[str, Level | None] = {}

    def load(self, alerts: list[Alert]) -> None:
        self.open = {a.fingerprint: a for a in alerts if a.is_open}

    # -- steps --------------------------------------------------------------------------------------
    def begin(self) -> None:
        """Start a step: from here on, alerts are changed on copies until :meth:`commit`."""
        self._undo, self._undo_expected = {}, {}

    def own(self, alert: Alert) -> Alert:
        """The step's own version of ``alert``, to change: a copy of the open alert with its id the first time
        the step touches it (the original stays aside for :meth:`rollback`), the same copy after that; an alert
        memory does not hold open (one read from the store) as it is."""
        undo = self._undo
        fp = alert.fingerprint
        held = self.open.get(fp)
        if undo is None or held is None or held.id != alert.id:
            return alert
        if fp in undo:
            return held  # already the step's: its copy, or an alert opened in this step
        undo[fp] = held
        mine = self.open[fp] = held.copy()
        return mine

    def _remember(self, fp: str) -> None:
        if self._undo is not None and fp not in self._undo:
            self._undo[fp] = self.open.get(fp)

    def _set_expected(self, fp: str, level: Level | None) -> None:
        if self._undo is not None and fp not in self._undo_expected:
            self._undo_expected[fp] = self.expected.get(fp)
        if level is None:
            self.expected.pop(fp, None)
        else:
            self.expected[fp] = level

    def commit(self) -> None:
        """The store has the step's result: keep it."""
        self._undo, self._undo_expected = None, {}

    def rollback(self) -> None:
        """The step's write failed: memory goes back to what it was before the step."""
        undo, self._undo = self._undo, None
        for fp, before in (undo or {}).items():
            if before is None:
                self.open.pop(fp, None)
            else:
                self.open[fp] = before
        for fp, level in self._undo_expected.items():
            if level is None:
                self.expected.pop(fp, None)
            else:
                self.expected[fp] = level
        self._undo_expected = {}

    def apply(self, signal: Signal, now: float) -> Change | None:
        if signal.kind == "corroboration":
            return self._corroborate(signal, now)
        signal = self._with_forecast(signal)
        fp = signal.fingerprint
        alert = self.open.get(fp)
        if alert is not None:
            alert = self.own(alert)
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
            self._remember(fp)
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
                self._set_expected(fp, None)
            elif signal.level is not None:
                self._set_expected(fp, signal.level)
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
        alert = self.own(alert)
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
        fp = alert.fingerprint
        held = self.open.get(fp)
        if held is not None and held.id == alert.id:
            self._remember(fp)
            del self.open[fp]
        self._set_expected(fp, None)
