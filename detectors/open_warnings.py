"""The external (CAP) warnings open now, per grid: what the detectors read to take part in upstream warnings.

An external warning taken in (``alerts/external.py``) is an alert of feed ``warning`` whose evidence carries
``{"cap": {"sender", "identifier", "event", "grids", ...}}``. :class:`OpenWarnings` is a read-only view of
those alerts for the detectors: per (drill, node) the :class:`OpenWarning` s that cover it, so a rule can lower
its levels while a named kind of warning is open (``while_warning``, :mod:`fenghuo.detectors.rules`) and
corroboration counts an open warning as one more feed (:mod:`fenghuo.detectors.fusion`).

How the view learns of warnings: the embedded runtime passes every published alert change to :meth:`take`
(an Update changes the alert, a Cancel or ``expires`` clears or resolves it, which removes it); the Kafka
workers read the store's open warning alerts again every few seconds (:meth:`replace`). A warning covers a
grid when the grid, or a node above it (a community or street a geocode maps to), is among its grids. A drill's
warnings are kept apart: they cover only that drill's events. A warning whose ``expires`` has passed at the
time asked for covers nothing, even before its alert is cleared.

The view is changed by building a new index and swapping it in, so a reader on another thread (a detector
run) sees the old index or the new one, never half of one.

>>> from fenghuo.core.levels import Level
>>> w = OpenWarning("a1", "cma@example", "W-1", "Rainstorm", ("RAIN",), Level.ORANGE, "safety", ("S-1",), None, 500.0)
>>> view = OpenWarnings([w], chain=lambda grid: [grid, "S-1"])
>>> [x.identifier for x in view.active(None, "G-7", 100.0)], view.active("flood-r1", "G-7", 100.0)
(['W-1'], [])
>>> view.active(None, "G-7", 500.0)  # expired
[]
>>> matches("rainstorm", w), matches("rain", w), matches("flood", w)
(True, True, False)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fenghuo.core.levels import Level
from fenghuo.core.models import Alert, parse_ts

log = logging.getLogger("fenghuo.detectors.warnings")
WARNING_FEED = "warning"
MAX_OPEN = 5000  # warning alerts read per status from the store (Kafka workers); more is a configuration fault


@dataclass(frozen=True, slots=True)
class OpenWarning:
    """One open external warning, as the detectors need it."""

    alert_id: str
    sender: str
    identifier: str
    event: str  # the CAP <event> ("Rainstorm", "暴雨")
    codes: tuple[str, ...]  # the CAP <eventCode> values
    level: Level
    risk: str
    grids: tuple[str, ...]  # the grids (or nodes) it covers
    drill: str | None
    expires: float | None

    def evidence(self) -> dict[str, Any]:
        """How a signal names the warning it took into account."""
        return {"feed": WARNING_FEED, "detector": "cap", "rule": f"cap:{self.event}", "level": self.level.name_en,
                "sender": self.sender, "identifier": self.identifier, "event": self.event, "alert": self.alert_id,
                "expires": self.expires, "fingerprint": None}


def matches(pattern: str, w: OpenWarning) -> bool:
    """Whether a rule's ``while_warning.event`` names this warning: a case-insensitive substring of its CAP
    ``<event>`` or of one of its ``<eventCode>`` values."""
    p = pattern.strip().casefold()
    return bool(p) and (p in w.event.casefold() or any(p in c.casefold() for c in w.codes))


def _time(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        ts = parse_ts(value)
    except (TypeError, ValueError):
        return None
    return ts if math.isfinite(ts) else None


def _codes(value: Any) -> tuple[str, ...]:
    """eventCode values however the evidence lists them: ``[[name, value], ...]``, ``[{"value": ...}]``,
    ``{name: value}`` or plain strings."""
    out: list[str] = []
    items = value.items() if isinstance(value, dict) else value if isinstance(value, list) else []
    for item in items:
        if isinstance(item, (list, tuple)) and item:
            out.append(str(item[-1]))
        elif isinstance(item, dict):
            out.append(str(item.get("value", "")))
        elif isinstance(item, str):
            out.append(item)
    return tuple(c for c in out if c)


def warning_from_alert(alert: Alert) -> OpenWarning | None:
    """The open warning an alert stands for; None when it is not an external warning, or no longer open
    (resolved, or cleared: a Cancel or its ``expires``).

    >>> from fenghuo.core.models import Risk, Status
    >>> cap = {"sender": "cma@example", "identifier": "W-1", "event": "Rainstorm", "grids": ["G-1"],
    ...        "expires": "2026-07-01T12:00:00Z"}
    >>> a = Alert("a1", "fp", Risk.SAFETY, "warning", "G-1", "cma@example", "W-1", "cap:Rainstorm", Level.ORANGE,
    ...           Status.OPEN, None, 0.0, 0.0, evidence=[{"cap": cap}])
    >>> w = warning_from_alert(a)
    >>> w.event, w.grids, w.level.name_en, w.expires
    ('Rainstorm', ('G-1',), 'orange', 1782907200.0)
    """
    if alert.feed != WARNING_FEED or not alert.is_open or alert.cleared:
        return None
    for ev in reversed(alert.evidence):
        cap = ev.get("cap") if isinstance(ev, dict) else None
        if isinstance(cap, dict):
            break
    else:
        return None
    event = str(cap.get("event") or ev.get("event") or alert.rule.removeprefix("cap:"))
    grids = cap.get("grids")
    grids = tuple(str(g) for g in grids) if isinstance(grids, list) and grids else (alert.grid,)
    return OpenWarning(alert.id, str(cap.get("sender", alert.source)), str(cap.get("identifier", "")), event,
                       _codes(cap.get("codes", cap.get("event_codes", ev.get("codes")))), alert.level,
                       str(alert.risk), grids, alert.drill, _time(cap.get("expires", ev.get("expires"))))


def _own(grid: str) -> list[str]:
    return [grid]


_Index = tuple[dict[str, OpenWarning], dict[tuple[str | None, str], tuple[OpenWarning, ...]], frozenset[str | None]]


class OpenWarnings:
    """The open external warnings by (drill, node); see the module's docstring."""

    def __init__(self, warnings: Iterable[OpenWarning] = (), chain: Callable[[str], list[str]] = _own) -> None:
        self.chain = chain
        self.version = 0  # moves on every change (a reader may cache what it computed from the view)
        self._index: _Index = ({}, {}, frozenset())  # all by alert id, by (drill, node), the drills: swapped whole
        self._set({w.alert_id: w for w in warnings})

    @classmethod
    def of_alerts(cls, alerts: Iterable[Alert], chain: Callable[[str], list[str]] = _own) -> OpenWarnings:
        return cls([w for a in alerts if (w := warning_from_alert(a)) is not None], chain)

    def _set(self, all_: dict[str, OpenWarning]) -> None:
        by: dict[tuple[str | None, str], list[OpenWarning]] = {}
        for w in sorted(all_.values(), key=lambda w: (-w.level, w.sender, w.identifier)):
            for node in w.grids:
                by.setdefault((w.drill, node), []).append(w)
        self._index = (all_, {k: tuple(v) for k, v in by.items()}, frozenset(w.drill for w in all_.values()))
        self.version += 1

    def __len__(self) -> int:
        return len(self._index[0])

    def all(self) -> list[OpenWarning]:
        return list(self._index[0].values())

    def any_in(self, drill: str | None) -> bool:
        """Whether any warning is open in this domain (the real one, or a drill): a cheap test before a lookup."""
        return drill in self._index[2]

    def active(self, drill: str | None, grid: str, ts: float) -> list[OpenWarning]:
        """The warnings covering ``grid`` (or a node above it) in this domain, not expired at ``ts``; highest
        level first."""
        _, by, drills = self._index
        if drill not in drills:
            return []
        out: list[OpenWarning] = []
        for node in self.chain(grid):
            for w in by.get((drill, node), ()):
                if (w.expires is None or ts < w.expires) and w not in out:
                    out.append(w)
        return out

    def take(self, alerts: Iterable[Alert]) -> bool:
        """Alert changes as published: an external warning opened or updated is kept, one resolved or cleared
        goes; other alerts are ignored. Whether the view changed."""
        changed = dict(self._index[0])
        seen = False
        for a in alerts:
            if a.feed != WARNING_FEED:
                continue
            w = warning_from_alert(a)
            if w is None:
                seen = changed.pop(a.id, None) is not None or seen
            elif changed.get(a.id) != w:
                changed[a.id], seen = w, True
        if seen:
            self._set(changed)
        return seen

    def replace(self, warnings: Iterable[OpenWarning]) -> bool:
        """All the open warnings (as read again from the store); whether anything changed."""
        new = {w.alert_id: w for w in warnings}
        if new == self._index[0]:
            return False
        self._set(new)
        return True

    def forget_drill(self, drill: str) -> None:
        """A purged drill run's warnings go."""
        if drill in self._index[2]:
            self._set({k: w for k, w in self._index[0].items() if w.drill != drill})


def stored_warnings(store: Any) -> list[OpenWarning]:
    """The open external warnings the store holds (open and acknowledged warning alerts)."""
    from fenghuo.core.store import AlertQuery

    out: list[OpenWarning] = []
    for status in ("open", "acknowledged"):
        for a in store.list_alerts(AlertQuery(status=status, feed=WARNING_FEED, limit=MAX_OPEN)):
            w = warning_from_alert(a)
            if w is not None:
                out.append(w)
    return out


class StoreWarnings:
    """Keeps an :class:`OpenWarnings` as the store has it, read again at most every ``every`` seconds of
    ``clock`` (the Kafka workers: the alert service that raised a warning may be another process).

    >>> class Empty:
    ...     def list_alerts(self, q): return []
    >>> t = [0.0]
    >>> sw = StoreWarnings(OpenWarnings(), lambda: Empty(), every=2.0, clock=lambda: t[0])
    >>> sw.maybe(), sw.maybe()  # read once, then not before 2 s
    (True, False)
    """

    def __init__(self, view: OpenWarnings, store: Callable[[], Any], every: float = 2.0,
                 clock: Callable[[], float] | None = None) -> None:
        import time

        self.view, self.store, self.every = view, store, every
        self.clock = clock or time.monotonic
        self.read_at = -math.inf

    def maybe(self) -> bool:
        """Read again when due; whether it read. A store that is away keeps the warnings read before."""
        now = self.clock()
        if now - self.read_at < self.every:
            return False
        self.read_at = now
        try:
            if self.view.replace(stored_warnings(self.store())):
                log.info("open external warnings: %d", len(self.view))
        except Exception:
            log.exception("could not read the open warnings from the store; using those read before")
        return True
