"""Corroboration across feeds: signals of two or more feeds in one grid within a window.

:class:`Corroboration` watches signals, not events. It keeps, per (drill, grid), the latest
raised signal of each alert fingerprint seen within ``window_hours`` (a clear drops it). When a
new raised signal makes the group span ``min_feeds`` feeds or more (only signals of the same
risk type, unless ``same_risk=False``), it emits one ``kind="corroboration"`` signal for each
member alert whose certainty or proposed level changed:

* certainty: one feed ``Possible``; two feeds ``Likely``; a sensor threshold crossing (feed
  ``sensor``, detector in ``threshold_detectors``) plus any other feed ``Observed``;
* level: the member's own level plus ``raise_levels`` (default 1), capped at red.

The corroboration signal has the member's risk, rule, grid, series and drill, so its
``fingerprint`` is the fingerprint of the alert it updates (also in ``evidence["target"]``);
``evidence["signals"]`` lists the corroborating signals (feed, detector, rule, level, ts, series,
fingerprint). The alert service must not open an alert for it: it raises the certainty of the
open alert with that fingerprint (never lowers it), raises its level to the proposed one when
higher, and appends the evidence; with no open alert it is ignored.

An open external (CAP) warning covering the signal's grid (:mod:`fenghuo.detectors.open_warnings`, given with
:meth:`Corroboration.use_warnings`) counts as one more feed, ``warning``: a local signal under a rainstorm
warning is corroborated as a second feed would corroborate it (``Likely``; ``Observed`` for a sensor threshold
crossing), and the warning is named in ``evidence["warnings"]`` (sender, identifier, event, level) and among
``evidence["signals"]``. The warning's own alert is never a member (a warning is not corroborated by itself);
a warning cancelled, cleared or past its ``expires`` at the signal's time corroborates nothing. With
``same_risk`` only warnings of the signal's risk count. A warning that opens while local signals are held
corroborates them at once (:meth:`Corroboration.warnings_opened`, on the stage's tick).

>>> from fenghuo.core.levels import Level
>>> from fenghuo.core.models import Certainty, Risk, Signal
>>> def sig(feed, detector, ts, level=Level.YELLOW):
...     return Signal(detector, f"{feed}-rule", Risk.SAFETY, feed, "G1", f"G1/{feed}", "src", ts, level, 1.0, "")
>>> fusion = Corroboration()
>>> fusion.observe(sig("complaint", "burst", 0.0))
[]
>>> out = fusion.observe(sig("sensor", "threshold", 1800.0, Level.ORANGE))
>>> [(s.series, s.level.name_en, s.certainty.value) for s in out]
[('G1/complaint', 'orange', 'Observed'), ('G1/sensor', 'red', 'Observed')]
>>> [e["feed"] for e in out[0].evidence["signals"]]
['complaint', 'sensor']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fenghuo.core import state as saved
from fenghuo.core.levels import Level
from fenghuo.core.models import Certainty, Signal
from fenghuo.detectors.open_warnings import WARNING_FEED, OpenWarning, OpenWarnings
from fenghuo.detectors.protocol import DetectorBase
from fenghuo.detectors.registry import BuildContext, register

_RANK = {Certainty.POSSIBLE: 0, Certainty.LIKELY: 1, Certainty.OBSERVED: 2}


def higher_certainty(a: Certainty, b: Certainty) -> Certainty:
    """The higher of two certainties (for the alert service: never lower an alert's certainty).

    >>> higher_certainty(Certainty.LIKELY, Certainty.POSSIBLE).value
    'Likely'
    """
    return a if _RANK[a] >= _RANK[b] else b


@dataclass(frozen=True, slots=True)
class FusionParams:
    window_hours: float = 2.0
    min_feeds: int = 2
    raise_levels: int = 1
    same_risk: bool = True
    threshold_detectors: tuple[str, ...] = ("threshold",)


@dataclass(slots=True)
class Group:
    """The signals of one grid (in one domain: the real one or a drill) that corroborate one another."""

    members: dict[str, Signal] = field(default_factory=dict)  # fingerprint -> latest raised signal
    emitted: dict[str, tuple[Certainty, int]] = field(default_factory=dict)  # fingerprint -> last proposal


_Group = Group  # the name the previous release (0.1.0) pickled it under: its saved groups still load


class Corroboration:
    """Pure and clock-free (signal ``ts`` only); its state is saved as plain data (:meth:`snapshot`)."""

    def __init__(self, params: FusionParams | None = None) -> None:
        self.p = params or FusionParams()
        self.groups: dict[tuple[str | None, str], Group] = {}
        self.warnings: OpenWarnings | None = None  # the open external warnings (not state: the runtime's view)
        self._seen: dict[str, OpenWarning] = {}  # the warnings judged against the groups already
        self._seen_version = -1

    def use_warnings(self, view: OpenWarnings | None) -> None:
        """Count the open external warnings of ``view`` as a feed of their grids."""
        self.warnings = view

    def warnings_opened(self) -> list[Signal]:
        """The corroboration signals that warnings opened (or changed) since the last call cause among the local
        signals held now: a river alert raised before a rainstorm warning came is corroborated once the warning
        is open, not only at its next signal. Each group of a grid a new warning covers is judged around its
        latest member (of each risk, with ``same_risk``). The first call judges every open warning (a restart:
        what was proposed already is not proposed again)."""
        view = self.warnings
        if view is None or view.version == self._seen_version:
            return []
        self._seen_version = view.version
        now = {w.alert_id: w for w in view.all()}
        new = [w for key, w in now.items() if self._seen.get(key) != w]
        self._seen = now
        out: list[Signal] = []
        for (drill, grid), g in sorted(self.groups.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])):
            if not g.members or not any(w.drill == drill and set(w.grids) & set(view.chain(grid)) for w in new):
                continue
            risks = {s.risk for s in g.members.values()} if self.p.same_risk else {None}
            for risk in sorted(risks, key=str):
                latest = max((s for s in g.members.values() if risk is None or s.risk == risk),
                             key=lambda s: (s.ts, s.fingerprint))
                out.extend(self._judge(g, latest))
        return out

    def _warned(self, signal: Signal) -> list[OpenWarning]:
        """The open warnings covering the signal's grid at its time (of its risk, with ``same_risk``)."""
        view = self.warnings
        if view is None or not view.any_in(signal.drill):
            return []
        return [w for w in view.active(signal.drill, signal.grid, signal.ts)
                if not self.p.same_risk or w.risk == str(signal.risk)]

    def _certainty(self, members: list[Signal], warned: bool = False) -> Certainty:
        feeds = {s.feed for s in members} | ({WARNING_FEED} if warned else set())
        if len(feeds) < self.p.min_feeds:
            return Certainty.POSSIBLE
        sensor_cross = any(s.feed == "sensor" and s.detector in self.p.threshold_detectors for s in members)
        return Certainty.OBSERVED if sensor_cross else Certainty.LIKELY

    def observe(self, signal: Signal) -> list[Signal]:
        """Take one signal; return the corroboration signals it causes (maybe none)."""
        if signal.kind == "corroboration" or signal.feed == WARNING_FEED:
            return []
        g = self.groups.setdefault((signal.drill, signal.grid), Group())
        fp = signal.fingerprint
        window = self.p.window_hours * 3600.0
        horizon = max([signal.ts, *(s.ts for s in g.members.values())]) - window  # a late signal moves nothing back
        for key in [k for k, s in g.members.items() if s.ts < horizon]:
            del g.members[key]
            g.emitted.pop(key, None)
        if signal.level is None:
            g.members.pop(fp, None)
            g.emitted.pop(fp, None)
            return []
        g.members[fp] = signal
        return self._judge(g, signal)

    def _judge(self, g: Group, signal: Signal) -> list[Signal]:
        """The corroboration signals of the group around ``signal`` (one of its members): those whose proposal
        (certainty, level) changed."""
        window = self.p.window_hours * 3600.0
        # only signals within the window of this one, on either side: signals from two runtimes'
        # stages can arrive out of event-time order
        group = [s for s in g.members.values() if abs(s.ts - signal.ts) <= window
                 and (not self.p.same_risk or s.risk == signal.risk)]
        warned = self._warned(signal)
        certainty = self._certainty(group, bool(warned))
        feeds = sorted({s.feed for s in group} | ({WARNING_FEED} if warned else set()))
        if len(feeds) < self.p.min_feeds:
            return []
        evidence = [{"feed": s.feed, "detector": s.detector, "rule": s.rule, "level": s.level.name_en,
                     "ts": s.ts, "series": s.series, "fingerprint": s.fingerprint}
                    for s in sorted(group, key=lambda s: (s.ts, s.fingerprint)) if s.level is not None]
        warnings = [w.evidence() for w in warned]
        evidence += warnings
        out = []
        for member in sorted(group, key=lambda s: s.fingerprint):
            assert member.level is not None
            level = min(int(Level.RED), int(member.level) + self.p.raise_levels)
            key = member.fingerprint
            if g.emitted.get(key) == (certainty, level):
                continue
            g.emitted[key] = (certainty, level)
            others = ", ".join(f"{e['feed']} {e['rule']} ({e['level']}" + (f" from {e['sender']})" if "sender" in e
                                                                           else ")")
                               for e in evidence if e["fingerprint"] != key)
            out.append(Signal(
                detector="fusion", rule=member.rule, risk=member.risk, feed=member.feed, grid=member.grid,
                series=member.series, source=member.source, ts=signal.ts, level=Level(level),
                score=float(len(feeds)), kind="corroboration", certainty=certainty, drill=member.drill,
                reason=f"corroborated by {others} within {self.p.window_hours:g} h ({certainty.value})",
                evidence={"target": key, "feeds": feeds, "signals": evidence,
                          **({"warnings": warnings} if warnings else {})},
            ))
        return out

    def process(self, signals: Iterable[Signal]) -> list[Signal]:
        """The signals followed by the corroboration signals they cause, in order."""
        out: list[Signal] = []
        for s in signals:
            out.append(s)
            out.extend(self.observe(s))
        return out

    def live_state(self) -> dict[str, Any]:
        """The state as the live objects (not copied), for :meth:`use_live_state`."""
        return {"groups": self.groups}

    def use_live_state(self, live: dict[str, Any]) -> None:
        self.groups = dict(live.get("groups", {}))

    STATE_VERSION = 1  # of the groups (signals per grid); bump it (and read the old) on a change

    def snapshot(self) -> dict[str, Any]:
        """The groups as versioned plain data (:mod:`fenghuo.core.state`)."""
        return saved.versioned(self.STATE_VERSION, saved.to_plain(self.live_state()))

    def restore(self, snap: dict[str, Any]) -> None:
        """Continue from a :meth:`snapshot` (an empty dict: start afresh); a version this release does not
        read raises :class:`fenghuo.core.state.StateVersionError`."""
        self.use_live_state(saved.read_versioned(snap, "fusion", self.STATE_VERSION))


class CorroborationStage(DetectorBase):
    """The ``fusion`` :class:`fenghuo.detectors.protocol.Detector`: no events, a stage over each batch's signals."""

    name = "fusion"

    def __init__(self, fusion: Corroboration) -> None:
        self.fusion = fusion

    def process_signals(self, signals: list[Signal]) -> list[Signal]:
        return self.fusion.process(signals) if signals else signals

    def use_warnings(self, view: OpenWarnings | None) -> None:
        """The open external warnings (:meth:`DetectorEngine.use_warnings`)."""
        self.fusion.use_warnings(view)

    def tick(self, now: Mapping[str, float]) -> list[Signal]:
        """Warnings that opened since the last tick corroborate the local signals held in their grids."""
        return self.fusion.warnings_opened()

    def forget_drill(self, drill: str) -> None:
        """A purged drill run's groups go."""
        for key in [k for k in self.fusion.groups if k[0] == drill]:
            del self.fusion.groups[key]

    def state(self) -> dict[str, Any]:
        return self.fusion.snapshot()

    def restore(self, state: dict[str, Any]) -> None:
        self.fusion.restore(state)

    STATE_VERSION = Corroboration.STATE_VERSION

    def snapshot(self) -> dict[str, Any]:
        return self.fusion.snapshot()

    def live_state(self) -> dict[str, Any]:
        return self.fusion.live_state()

    def use_live_state(self, live: dict[str, Any]) -> None:
        self.fusion.use_live_state(live)


@register("fusion", FusionParams, feeds=(), scope="alerts")
def _build(params: FusionParams, ctx: BuildContext) -> CorroborationStage:
    """Corroboration needs every signal of a grid: the alert service's, over Kafka."""
    return CorroborationStage(Corroboration(params))


# saved state: plain data (fenghuo.core.state), under tags that survive renaming the classes
saved.register("fusion.params", FusionParams)
saved.register("fusion.group", Group)
