"""External warnings: CAP 1.2 messages taken in become alerts, and follow their sender's Updates and Cancels.

A message is judged by :meth:`WarningBook.take` (docs/warnings.md):

* its (sender, identifier) seen before: ``duplicate``, nothing changes; this instance's own sender:
  ``ignored_loop`` (an echo of what it published);
* status ``Test``, ``System``, ``Draft`` (and msgType ``Ack``/``Error``): recorded only (``test``);
  status ``Exercise``: taken as a drill (the drill run it came with, else ``warnings.exercise_drill``);
* msgType ``Alert``: its areas are mapped to grids (:mod:`fenghuo.ingest.cap_area`) and ONE alert is raised per
  covering node (the lowest node above all its grids; one per district when they lie in several), with the grids
  in its evidence: a warning over twelve grids is one alert that escalates up the tree once, not twelve;
* ``Update``: follows ``<references>`` to the warning it updates: the alert changes level, area and text in
  place (a new covering node: the old alert is cleared and resolved, one is raised on the new node);
* ``Cancel``: the referenced warning's alerts are cleared and resolved, by the sender, in their timelines;
* ``expires`` passed (checked on every :meth:`tick`, on the warning's clock): cleared and resolved, ``expired``.

Level from severity (Extreme red, Severe orange, Moderate yellow, Minor and Unknown blue), risk from the CAP
category (``warnings.risk_by_category`` overrides), certainty carried (Unlikely and Unknown as Possible). The
signal is the detector ``cap``, rule ``cap:<event>``, feed ``warning``; its evidence holds ``cap``: sender,
identifier, references, origin, event, grids, urgency, severity, certainty, headline, areas, expires.

The host gives an :class:`AlertPort` (the embedded alert service, or the Kafka topics) and a clock; the book
keeps every message in the store (``warnings`` table), and the alert changes go first: a message whose alert
change failed is not recorded, so sending it again works.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fenghuo.alerts.federation import echo_reason, message_chain
from fenghuo.core.config import Config
from fenghuo.core.grids import GridTree
from fenghuo.core.levels import Level
from fenghuo.core.models import Certainty, Risk, Signal
from fenghuo.core.store import Store
from fenghuo.ingest.cap_area import covering_nodes, grids_of
from fenghuo.ingest.cap_in import CapAlert, CapError, CapInfo

log = logging.getLogger("fenghuo.alerts.external")
NowOf = Callable[[str | None, float | None], float]  # (drill, event time) -> now
LEVEL_OF_SEVERITY = {"Extreme": Level.RED, "Severe": Level.ORANGE, "Moderate": Level.YELLOW, "Minor": Level.BLUE,
                     "Unknown": Level.BLUE}
CONTRADICTION_CATEGORIES = frozenset({"Security", "Other"})
CERTAINTY = {"Observed": Certainty.OBSERVED, "Likely": Certainty.LIKELY}  # else Possible
OUTCOMES = ("raised", "updated", "cancelled", "expired", "duplicate", "test", "drill", "rejected", "ignored_loop",
            "outside")
MAX_OPEN = 5000  # open warnings looked at by one expiry tick
CHECK_EVERY = 5.0  # seconds of the real clock between expiry checks
MAX_TEXT = 2000


@dataclass
class WarningResult:
    key: tuple[str, str]
    outcome: str  # one of OUTCOMES
    grids: list[str] = field(default_factory=list)
    alert_id: str | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"sender": self.key[0], "identifier": self.key[1], "outcome": self.outcome, "grids": self.grids,
                "alert_id": self.alert_id, "reason": self.reason}


class AlertPort(Protocol):
    """What the book asks of its runtime."""

    def apply(self, signals: list[Signal]) -> dict[str, str]:
        """Apply the signals (raise, change or clear alerts); the alert ids known by fingerprint."""
        ...

    def resolve(self, fingerprint: str, actor: str, comment: str) -> str | None:
        """Resolve the open alert of ``fingerprint``; its id, or None when none is open (known)."""
        ...

    def dead_letters(self, items: list[tuple[int, str, Any]], now: float) -> None: ...


def risk_of(info: CapInfo, overrides: dict[str, str]) -> Risk:
    """Security and Other are contradiction risks, the rest safety, unless the config maps a category.

    >>> risk_of(CapInfo("zh", ["Security"], "x", "", "", "", None, None, None, None, None, None, []), {})
    <Risk.CONTRADICTION: 'contradiction'>
    """
    for c in info.category:
        if c in overrides:
            return Risk(overrides[c])
    if info.category and all(c in CONTRADICTION_CATEGORIES for c in info.category):
        return Risk.CONTRADICTION
    return Risk.SAFETY


def main_info(alert: CapAlert) -> CapInfo | None:
    """The info to act on: the most severe, a Chinese one first among equals."""
    if not alert.infos:
        return None
    order = list(LEVEL_OF_SEVERITY)
    return min(alert.infos, key=lambda i: (order.index(i.severity) if i.severity in order else 9,
                                           not i.language.lower().startswith("zh")))


class WarningBook:
    """The lifecycle of external warnings over one store and one :class:`AlertPort`."""

    def __init__(self, config: Config, tree: GridTree, store: Store, port: AlertPort, now_of: NowOf) -> None:
        self.config, self.tree, self.store, self.port, self.now_of = config, tree, store, port, now_of
        self.lock = threading.RLock()
        self._checked: float | None = None

    # -- intake -----------------------------------------------------------------------------------------
    def take(self, items: Sequence[CapAlert | CapError], origin: str, drill: str | None = None
             ) -> list[WarningResult]:
        """One result per item, in order; bad items (CapError) dead-lettered with their reason."""
        out: list[WarningResult] = []
        dead: list[tuple[int, str, Any]] = []
        with self.lock:
            for i, item in enumerate(items):
                if isinstance(item, CapError):
                    key = item.key or ("", "")
                    out.append(WarningResult(key, "rejected", reason=str(item)))
                    dead.append((i, str(item), self._dead_record(item, origin)))
                    continue
                result = self._take_one(item, origin, drill)
                if result.outcome == "rejected":
                    dead.append((i, result.reason or "rejected", {"feed": "warning", "origin": origin,
                                                                  "xml": item.raw[:20_000].decode("utf-8", "replace")}))
                out.append(result)
            if dead:
                self.port.dead_letters(dead, self.now_of(None, None))
        return out

    @staticmethod
    def _dead_record(err: CapError, origin: str) -> dict[str, Any]:
        rec: dict[str, Any] = {"feed": "warning", "origin": origin, "xml": err.raw.decode("utf-8", "replace")}
        if err.key:
            rec["sender"], rec["identifier"] = err.key
        return rec

    def _take_one(self, cap: CapAlert, origin: str, drill: str | None) -> WarningResult:
        key = cap.key
        echo = echo_reason(cap, self.config.warnings.sender)
        if echo is not None:  # our own message, or one whose references or origin chain name one we sent
            return WarningResult(key, "ignored_loop", reason=echo)
        if self.store.get_warning(*key) is not None:
            return WarningResult(key, "duplicate", reason="this (sender, identifier) was taken before")
        if cap.status == "Exercise":
            drill = drill or self.config.warnings.exercise_drill
        now = self._now(drill, cap.sent)
        doc = self._doc(cap, origin, drill, now)
        if cap.status not in ("Actual", "Exercise") or cap.msg_type not in ("Alert", "Update", "Cancel"):
            return self._record(doc, "test", "test", f"status {cap.status}, msgType {cap.msg_type}: recorded only")
        prev = self._referenced(cap, drill) if cap.msg_type != "Alert" else None
        if cap.msg_type == "Cancel":
            return self._cancel(doc, prev, now)
        info = main_info(cap)
        if info is None:
            return WarningResult(key, "rejected", reason=f"an {cap.msg_type} without <info> says nothing to act on")
        covered = grids_of([a for i in cap.infos for a in i.areas], self.tree, self.config.warnings.geocodes)
        doc["grids"], doc["unknown_geocodes"] = covered.grids, covered.unknown_geocodes[:50]
        if prev is not None:
            doc["root"] = prev["root"]
        if info.expires is not None and info.expires <= now:
            closed = self._close(prev, now, "system", f"CAP {cap.msg_type} {cap.identifier} expired on arrival",
                                 "superseded") if prev else []
            return self._record(doc, "expired", "expired", "expired before it arrived", closed)
        if not covered.grids:
            closed = self._close(prev, now, f"cap:{cap.sender}", f"CAP Update {cap.identifier}: area left the grids",
                                 "superseded") if prev else []
            why = "its area covers none of this instance's grids"
            if covered.unknown_geocodes:
                why += f" (geocodes not in warnings.geocodes: {', '.join(covered.unknown_geocodes[:5])})"
            return self._record(doc, "outside", "outside", why, closed)
        signals = self._signals(cap, info, doc, drill, now)
        keep = {s.fingerprint for s in signals}
        gone = [fp for fp in (prev or {}).get("fingerprints", []) if fp not in keep]
        clears = [self._clear_signal(prev, fp, now, f"CAP Update {cap.identifier}: area moved") for fp in gone]
        ids = self.port.apply(signals + [c for c in clears if c is not None])
        for fp in gone:
            self.port.resolve(fp, f"cap:{cap.sender}", f"CAP Update {cap.identifier}: area moved")
        doc["fingerprints"] = [s.fingerprint for s in signals]
        doc["alert_ids"] = [ids.get(s.fingerprint) for s in signals]
        superseded = [{**prev, "state": "superseded", "updated_at": now}] if prev else []
        outcome = "updated" if prev else ("drill" if cap.status == "Exercise" else "raised")
        reason = None
        if cap.msg_type == "Update" and prev is None:
            reason = "an Update of a warning not held here: taken as a new warning"
        return self._record(doc, "open", outcome, reason, superseded, alert_id=doc["alert_ids"][0])

    def _cancel(self, doc: dict[str, Any], prev: dict[str, Any] | None, now: float) -> WarningResult:
        if prev is None:
            return self._record(doc, "cancelled", "cancelled", "no open warning of its references here: nothing "
                                "to clear")
        note = doc.get("headline") or doc.get("description") or ""
        why = f"cancelled by the sender (CAP Cancel {doc['identifier']})" + (f": {note}" if note else "")
        closed = self._close(prev, now, f"cap:{doc['sender']}", why, "cancelled")
        doc["grids"], doc["root"] = prev.get("grids", []), prev["root"]
        doc["fingerprints"], doc["alert_ids"] = prev.get("fingerprints", []), prev.get("alert_ids", [])
        return self._record(doc, "cancelled", "cancelled", None, closed,
                            alert_id=next((a for a in doc["alert_ids"] if a), None))

    # -- expiry -----------------------------------------------------------------------------------------
    def tick(self, force: bool = False) -> list[WarningResult]:
        """Expire the open warnings whose ``expires`` passed, each on its own clock (at most every
        ``CHECK_EVERY`` seconds of the real one unless ``force``)."""
        with self.lock:
            wall = self.now_of(None, None)
            if not force and self._checked is not None and wall - self._checked < CHECK_EVERY:
                return []
            self._checked = wall
            out = []
            for doc in self.store.warnings(state="open", limit=MAX_OPEN):
                expires = doc.get("expires")
                if expires is None:
                    continue
                now = self._now(doc.get("drill"), None)
                if expires > now:
                    continue
                closed = self._close(doc, now, "system", f"CAP {doc['identifier']} expired", "expired")
                self.store.put_warnings(closed)
                out.append(WarningResult((doc["sender"], doc["identifier"]), "expired", doc.get("grids", []),
                                         next((a for a in doc.get("alert_ids", []) if a), None)))
            return out

    # -- reading ----------------------------------------------------------------------------------------
    def open_warnings(self, drill: str | None = None, state: str | None = "open", limit: int = 500
                      ) -> list[dict[str, Any]]:
        """What the board and the API list (without the raw XML)."""
        return [{k: v for k, v in d.items() if k != "raw"} for d in self.store.warnings(state, drill, limit)]

    # -- helpers ----------------------------------------------------------------------------------------
    def _now(self, drill: str | None, sent: float | None) -> float:
        """The warning's time: the real clock's; a drill run's clock moved to the message's <sent> (the run
        replays at those times); the exercise drill (status Exercise, not in a run) follows the real clock."""
        if drill is None:
            return self.now_of(None, None)
        if drill == self.config.warnings.exercise_drill:
            return self.now_of(drill, self.now_of(None, None))
        return self.now_of(drill, sent)
    def _referenced(self, cap: CapAlert, drill: str | None) -> dict[str, Any] | None:
        """The open warning the message refers to (the latest reference first), of the same drill (or both real):
        an Exercise never changes a real warning, nor a real message a drill's."""
        for sender, identifier, _sent in reversed(cap.references):
            doc = self.store.get_warning(sender, identifier)
            if doc is not None and doc.get("state") == "open" and doc.get("drill") == drill:
                return doc
        return None

    def _doc(self, cap: CapAlert, origin: str, drill: str | None, now: float) -> dict[str, Any]:
        info = main_info(cap)
        level = LEVEL_OF_SEVERITY.get(info.severity) if info else None
        areas = [{"desc": a.desc[:500], "polygons": a.polygons, "circles": a.circles, "geocodes": a.geocodes}
                 for i in cap.infos for a in i.areas][:100]
        return {"sender": cap.sender, "identifier": cap.identifier, "sent": cap.sent, "received_at": now,
                "updated_at": now, "drill": drill, "status": cap.status, "msg_type": cap.msg_type,
                "scope": cap.scope, "origin": origin, "references": [list(r) for r in cap.references],
                "root": [cap.sender, cap.identifier],
                "event": info.event[:200] if info else None, "category": info.category if info else [],
                "risk": str(risk_of(info, dict(self.config.warnings.risk_by_category))) if info else None,
                "level": level.name_en if level else None, "severity": info.severity if info else None,
                "urgency": info.urgency if info else None, "certainty": info.certainty if info else None,
                "headline": (info.headline or "")[:500] or None if info else None,
                "description": (info.description or "")[:MAX_TEXT] or None if info else None,
                "sender_name": info.sender_name if info else None, "language": info.language if info else None,
                "expires": info.expires if info else None, "onset": info.onset if info else None,
                "areas": areas, "grids": [], "fingerprints": [], "alert_ids": [],
                "raw": cap.raw[:100_000].decode("utf-8", "replace")}

    def _signals(self, cap: CapAlert, info: CapInfo, doc: dict[str, Any], drill: str | None,
                 now: float) -> list[Signal]:
        level = LEVEL_OF_SEVERITY.get(info.severity, Level.BLUE)
        root = doc["root"]
        out = []
        for node, grids in covering_nodes(self.tree, doc["grids"]):
            ev = {"sender": cap.sender, "identifier": cap.identifier, "references": doc["references"],
                  "origin": doc["origin"], "event": info.event, "grids": grids, "msg_type": cap.msg_type,
                  "status": cap.status, "sent": cap.sent, "expires": info.expires, "urgency": info.urgency,
                  "severity": info.severity, "certainty": info.certainty, "headline": doc["headline"],
                  "area": "; ".join(a["desc"] for a in doc["areas"])[:500], "root": root,
                  "sender_name": info.sender_name, "codes": [list(c) for c in info.event_codes],
                  "chain": message_chain(cap), "category": info.category}
            out.append(Signal(detector="cap", rule=f"cap:{info.event}"[:128], risk=Risk(doc["risk"]), feed="warning",
                              grid=node, series=f"{root[0]}/{root[1]}"[:400], source=cap.sender[:200], ts=now,
                              level=level, score=1.0,
                              reason=(doc["headline"] or f"{info.event} ({info.severity})")[:500],
                              evidence={"cap": ev, "urgency": info.urgency, "headline": doc["headline"]},
                              drill=drill, certainty=CERTAINTY.get(info.certainty, Certainty.POSSIBLE)))
        return out

    def _clear_signal(self, doc: dict[str, Any], fingerprint: str, now: float, reason: str) -> Signal | None:
        """The clear of one of the warning's alerts, rebuilt from its fingerprint ``[drill:D|]risk|rule|grid|
        series``."""
        parts = fingerprint.split("|")
        if parts[0].startswith("drill:"):
            parts = parts[1:]
        if len(parts) < 4:
            return None
        risk, rule, grid, series = parts[0], parts[1], parts[2], "|".join(parts[3:])
        return Signal(detector="cap", rule=rule, risk=Risk(risk), feed="warning", grid=grid, series=series,
                      source=str(doc.get("sender", ""))[:200], ts=now, level=None, score=0.0, reason=reason[:500],
                      evidence={"cap": {"sender": doc.get("sender"), "identifier": doc.get("identifier"),
                                        "event": doc.get("event"), "grids": [], "root": doc.get("root")}},
                      drill=doc.get("drill"), kind="clear")

    def _close(self, prev: dict[str, Any], now: float, actor: str, comment: str,
               state: str) -> list[dict[str, Any]]:
        """Clear and resolve every alert of ``prev``; its document in ``state`` (to store)."""
        fps = list(prev.get("fingerprints", []))
        clears = [s for s in (self._clear_signal(prev, fp, now, comment) for fp in fps) if s is not None]
        if clears:
            self.port.apply(clears)
        for fp in fps:
            self.port.resolve(fp, actor, comment[:500])
        return [{**prev, "state": state, "updated_at": now, "closed_by": actor, "closed_note": comment[:500]}]

    def _record(self, doc: dict[str, Any], state: str, outcome: str, reason: str | None,
                others: list[dict[str, Any]] | None = None, alert_id: str | None = None) -> WarningResult:
        doc["state"], doc["outcome"], doc["reason"] = state, outcome, reason
        self.store.put_warnings([*(others or []), doc])
        if outcome not in ("test", "outside"):
            log.info("warning %s/%s from %s: %s on %d grid(s)", doc["sender"], doc["identifier"], doc["origin"],
                     outcome, len(doc.get("grids", [])))
        return WarningResult((doc["sender"], doc["identifier"]), outcome, list(doc.get("grids", [])), alert_id, reason)


class ServicePort:
    """The embedded runtime's :class:`AlertPort`: the alert service in this process, the store's dead letters."""

    def __init__(self, service: Any, store: Store) -> None:
        self.service, self.store = service, store  # an AlertService

    def apply(self, signals: list[Signal]) -> dict[str, str]:
        if not signals:
            return {}
        changes = self.service.apply(signals)
        ids = {ch.alert.fingerprint: ch.alert.id for ch in changes}
        for s in signals:
            held = self.service.dedup.open.get(s.fingerprint)
            if held is not None:
                ids.setdefault(s.fingerprint, held.id)
        return ids

    def resolve(self, fingerprint: str, actor: str, comment: str) -> str | None:
        held = self.service.dedup.open.get(fingerprint)
        if held is None:
            return None
        self.service.resolve(held.id, actor, comment)
        return str(held.id)

    def dead_letters(self, items: list[tuple[int, str, Any]], now: float) -> None:
        self.store.add_dead_letters(items, now)
