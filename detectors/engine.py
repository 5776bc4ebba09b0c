"""The detector engine: routes events to the rules (and models) that watch them, returns signals.

Pure: no I/O, no clock; state is per (rule, series) and saved as versioned plain data
(:meth:`DetectorEngine.snapshot`), so the embedded runtime can snapshot it and a faust worker can keep
it in a table keyed by grid. Rules are swapped at runtime
with :meth:`DetectorEngine.set_rules`; the state of rules that stay is kept.

Beside the rules the engine runs a list of model detectors, each a
:class:`fenghuo.detectors.protocol.Detector` (built from the ``detectors:`` section by
:mod:`fenghuo.detectors.registry`): every event goes to the detectors whose ``feeds`` hold its feed,
in the order they were added, and each batch's signals then pass through every detector's
``process_signals`` (corroboration adds its signals there). :meth:`DetectorEngine.tick` gives what the
passing of time causes (a sensor gone silent), through the same ``process_signals``; the runtime calls it
from its tick loop with each clock domain's time, and :meth:`DetectorEngine.next_due` says when it is due.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fenghuo.core import state as saved
from fenghuo.core.config import Rule
from fenghuo.core.levels import Level
from fenghuo.core.models import Certainty, Event, Risk, Signal
from fenghuo.detectors.open_warnings import OpenWarnings
from fenghuo.detectors.protocol import Detector
from fenghuo.detectors.rules import (
    CountDetector,
    RateDetector,
    ThresholdDetector,
    lowered,
    lowering_for,
    make_rule_detector,
    params_for,
)

ChainFn = Callable[[str], list[str]]
MAX_WATCHES = 65_536  # series whose rules are kept worked out (then it starts again)
STATE_VERSION = 1  # of the engine's snapshot (each model detector versions its own state inside it)
LEGACY_MODEL_KEYS = {  # 0.1.0 saved the models' states by position: the keys of each tell which it was
    frozenset({"detectors"}): "bursts", frozenset({"warners"}): "forecast", frozenset({"series"}): "anomaly",
    frozenset({"held", "surges"}): "text", frozenset({"groups"}): "fusion",
}


def _no_chain(grid: str) -> list[str]:
    return [grid]


class DetectorEngine:
    def __init__(self, rules: Iterable[Rule] = (), chain: ChainFn = _no_chain) -> None:
        self.chain = chain
        self.rules: dict[str, Rule] = {}
        self.state: dict[tuple[str, str], ThresholdDetector | RateDetector | CountDetector] = {}
        self._sensor: dict[str, list[Rule]] = {}
        self._text: dict[str, list[Rule]] = {}
        self._params: dict[tuple[str, str, str | None], Any] = {}
        # (feed, metric, category, grid, source, drill) -> the rules that run on such an event (_rules_for)
        self._watches: dict[tuple[Any, ...], tuple[list[tuple[Rule, Any, tuple[str, str]]], str]] = {}
        self.detectors: list[Detector] = []  # model detectors (bursts, forecasts, text risk, corroboration...)
        self._routes: dict[str, list[Detector]] = {}
        self._routed: list[Detector] = []  # the detectors the routes were built from
        self.warnings: OpenWarnings | None = None  # open external warnings (rules' while_warning, corroboration)
        self.versions: dict[str, int] = {}  # rule id -> its version in the store (set_rules)
        self.set_rules(rules)

    def add(self, detector: Detector) -> None:
        """Run this model detector too (after the ones already added)."""
        self.detectors.append(detector)
        if self.warnings is not None:
            self._tell_warnings(detector)

    def use_warnings(self, view: OpenWarnings) -> None:
        """Read the open external warnings from ``view`` (kept up to date by the runtime, not saved with the
        state): rules with ``while_warning`` lower their levels under them, and model detectors that take
        part in warnings (``use_warnings``: corroboration) are given the view too."""
        self.warnings = view
        for d in self.detectors:
            self._tell_warnings(d)

    def _tell_warnings(self, detector: Detector) -> None:
        use = getattr(detector, "use_warnings", None)
        if use is not None:
            use(self.warnings)

    def close(self) -> None:
        """Close every model detector (the runtime stops)."""
        for d in self.detectors:
            d.close()

    def _route(self) -> dict[str, list[Detector]]:
        """Feed -> the detectors watching it, in the order added (rebuilt when the list changed)."""
        if self._routed != self.detectors:
            self._routed = list(self.detectors)
            self._routes = {}
            for d in self.detectors:
                for feed in d.feeds:
                    self._routes.setdefault(feed, []).append(d)
        return self._routes

    # -- saved state ---------------------------------------------------------------------------------------
    # snapshot() is plain data (fenghuo.core.state): the rule state per (rule, series) and each model
    # detector's own versioned state under its name, so adding or removing a detector keeps the others'
    # state (a detector absent from the saved state starts afresh; a saved one no longer configured is
    # ignored). live_state() / use_live_state() swap the same state as objects, without copying the
    # learned data: the Kafka grid runner keeps one engine and swaps each grid's state in and out.

    def snapshot(self) -> dict[str, Any]:
        """The engine's state as plain data, ``{"v": STATE_VERSION, "data": {"rules": [[rule, series, state],
        ...], "models": {name: {"v": version, "data": ...}}}}``."""
        return saved.to_plain(self.state_data(self.live_state()))  # type: ignore[no-any-return]

    def restore(self, snap: dict[str, Any]) -> None:
        """Continue from a :meth:`snapshot` (an empty dict: start afresh); raises
        :class:`fenghuo.core.state.StateVersionError` for a version this release does not read."""
        if not snap:
            self.use_live_state({})
            return
        data = saved.unversioned(snap, "detector engine", {STATE_VERSION: lambda d: d})
        self.use_live_state({"rules": {(r, s): saved.from_plain(d) for r, s, d in data.get("rules", [])},
                             "models": data.get("models", {}), "plain": True})

    def live_state(self) -> dict[str, Any]:
        """The state as the live objects (shared, not copied): give it back to :meth:`use_live_state`."""
        return {"rules": self.state,
                "models": {d.name: d.live_state() for d in self.detectors}}

    def use_live_state(self, live: dict[str, Any]) -> None:
        """Continue from a :meth:`live_state` (or, with ``"plain": True``, from models' plain states)."""
        self.state = {k: v for k, v in live.get("rules", {}).items() if k[0] in self.rules}
        models, plain = live.get("models", {}), live.get("plain", False)
        for d in self.detectors:
            entry = models.get(d.name, {})
            if plain:
                d.restore(entry)
            else:
                d.use_live_state(entry)

    def state_data(self, live: dict[str, Any]) -> dict[str, Any]:
        """A :meth:`live_state` of this engine in the shape of :meth:`snapshot`, still holding the objects:
        :func:`fenghuo.core.state.to_plain` makes it plain data, ``dumps(..., objects=True)`` writes it as such."""
        models: dict[str, Any] = {}
        by_name = {d.name: d for d in self.detectors}
        for name, entry in live.get("models", {}).items():
            d = by_name.get(name)
            if d is not None and d.STATE_VERSION is not None and not live.get("plain"):
                models[name] = saved.versioned(d.STATE_VERSION, entry)
            else:
                models[name] = entry
        return saved.versioned(STATE_VERSION, {
            "rules": [[r, s, det] for (r, s), det in live.get("rules", {}).items()], "models": models})

    def restore_legacy(self, snap: dict[str, Any]) -> None:
        """Continue from an engine snapshot of the previous release (0.1.0), unpickled by
        :func:`fenghuo.core.state.legacy_unpickle`: its rule state as is, and its models, which were saved
        by position, recognised by the keys of their state (a model not configured any more is ignored)."""
        models: dict[str, Any] = {}
        for m in snap.get("models", []):
            name = LEGACY_MODEL_KEYS.get(frozenset(m)) if isinstance(m, dict) else None
            if name is not None:
                models[name] = m
        self.use_live_state({"rules": snap.get("state", {}), "models": models})

    def current_rules(self) -> list[Rule]:
        """The rules in force (model detectors that follow rule levels, like forecasts, read them here)."""
        return list(self.rules.values())

    def set_rules(self, rules: Iterable[Rule], versions: Mapping[str, int] | None = None) -> None:
        """Run these rules from now on (the state of those that stay, with their kind, is kept). ``versions``: each
        rule's version in the store, written into the evidence of its signals (``rule_version``)."""
        new = {r.id: r for r in rules}
        self.versions = {k: v for k, v in (versions or {}).items() if k in new}
        for key in [k for k in self.state if k[0] not in new or new[k[0]].kind != self.rules[k[0]].kind]:
            del self.state[key]
        self.rules = new
        self._params.clear()
        self._watches.clear()
        for d in self.detectors:
            d.refresh()
        self._sensor, self._text = {}, {}
        for r in new.values():
            if r.feed == "sensor":
                self._sensor.setdefault(r.metric or "", []).append(r)
            else:
                self._text.setdefault(r.feed, []).append(r)

    def _applies(self, rule: Rule, grid: str, source: str | None = None) -> Any:
        key = (rule.id, grid, source if rule.sources else None)
        if key not in self._params:
            chain = self.chain(grid)
            if rule.grid != "*" and rule.grid not in chain:
                self._params[key] = None
            else:
                self._params[key] = params_for(rule, chain, key[2])
        return self._params[key]

    def _rules_for(self, e: Event) -> tuple[list[tuple[Rule, Any, tuple[str, str]]], str]:
        """The rules watching the event's series, each with its effective parameters and the key of its state
        (only those that apply: enabled, on the event's grid, of its metric or category), and the series."""
        drill = e.drill
        if e.feed == "sensor":
            series = e.series
            found = [(rule, self._applies(rule, e.grid, e.source)) for rule in self._sensor.get(e.metric or "", ())]
        else:
            series = f"{e.grid}/{e.category or '*'}"
            found = [(rule, self._applies(rule, e.grid)) for rule in self._text.get(e.feed, ())
                     if rule.category in (None, "*", e.category)]
        state_series = f"{drill}|{series}" if drill else series  # a drill never touches real state
        return [(rule, p, (rule.id, state_series)) for rule, p in found if p is not None], series

    def process(self, events: Iterable[Event]) -> list[Signal]:
        out: list[Signal] = []
        routes = self._route()
        state, watches, warnings = self.state, self._watches, self.warnings
        for e in events:
            feed = e.feed
            key = (feed, e.metric, e.category, e.grid, e.source, e.drill)
            found = watches.get(key)
            if found is None:
                if len(watches) >= MAX_WATCHES:
                    watches.clear()
                found = watches[key] = self._rules_for(e)
            runs = found[0]
            if runs:
                value = (e.value or 0.0) if feed == "sensor" else 1.0
                ts = e.ts
                for rule, p, state_key in runs:
                    det = state.get(state_key)
                    if det is None:
                        det = state[state_key] = make_rule_detector(rule)
                    normal, lowering = p, None
                    if rule.while_warning and warnings is not None and warnings.any_in(e.drill):
                        lowering = lowering_for(rule, warnings.active(e.drill, e.grid, ts))
                        if lowering is not None:
                            p = lowered(p, lowering[0])
                    changed, observed = det.step(p, ts, value)
                    if changed is not None:
                        self._signal(rule, p, normal, lowering, e, found[1], changed, observed, out)
            watching = routes.get(feed)
            if watching:
                for d in watching:
                    found_by_model = d.process(e)
                    if found_by_model:  # most events raise nothing
                        out.extend(found_by_model)
        for d in self.detectors:
            out = d.process_signals(out)
        return out

    def tick(self, now: Mapping[str, float]) -> list[Signal]:
        """What the passing of time causes (a sensor gone silent): every model detector's ``tick(now)``
        (``now``: clock domain -> its time, ``""`` the real one, a drill's name its event clock), then the
        whole list through every detector's ``process_signals``, as a batch from :meth:`process` is."""
        out: list[Signal] = []
        for d in self.detectors:
            out.extend(d.tick(now))
        for d in self.detectors:
            out = d.process_signals(out)
        return out

    def forget_drill(self, drill: str) -> None:
        """Drop what the detectors keep for drill ``drill`` (a purged run): the rules' state of its series, and
        every model detector's that keeps a drill apart (``forget_drill``). Real state is never touched."""
        prefix = f"{drill}|"
        for key in [k for k in self.state if k[1].startswith(prefix)]:
            del self.state[key]
        for d in self.detectors:
            forget = getattr(d, "forget_drill", None)
            if forget is not None:
                forget(drill)

    def settle_drill(self, drill: str) -> None:
        """Wait for the work a model detector does in the background for drill ``drill`` (``settle_drill``: a
        forecast's fits in flight), so a drill's results do not depend on the machine's speed."""
        for d in self.detectors:
            settle = getattr(d, "settle_drill", None)
            if settle is not None:
                settle(drill)

    def resume(self) -> None:
        """The runtime is back after being down: tell every model detector (:meth:`Detector.resume`)."""
        for d in self.detectors:
            d.resume()

    def next_due(self) -> dict[str, float]:
        """Per clock domain, the earliest time at which :meth:`tick` could raise something, over every model
        detector (empty: nothing pending): a runtime with many engines ticks only those with something due."""
        due: dict[str, float] = {}
        for d in self.detectors:
            for domain, at in d.next_due().items():
                if at < due.get(domain, math.inf):
                    due[domain] = at
        return due

    def _signal(self, rule: Rule, p: Any, normal: Any, lowering: tuple[float, Any] | None, e: Event, series: str,
                changed: int, observed: float, out: list[Signal]) -> None:
        """The signal of a rule whose level changed to ``changed`` (0: cleared) on event ``e``; ``p`` the levels it
        ran with, ``normal`` its own (they differ while a warning lowers them, ``lowering``)."""
        level = Level(changed) if changed else None
        what = {"threshold": "value", "rate": "rate per hour", "count": "count in window"}[rule.kind]
        if level is None:
            reason = f"{rule.id}: {what} {observed:.3g} back within limits"
        else:
            limit = dict(p.thresholds)[changed]
            sign = ">=" if p.above else "<="
            reason = f"{rule.id}: {what} {observed:.3g} {sign} {limit:g} ({level.name_en})"
        evidence = {"event": e.id, "ts": e.ts, "observed": observed, "metric": e.metric, "category": e.category}
        version = self.versions.get(rule.id)
        if version is not None:  # the rule's version in the store (a rule edited through the API has several)
            evidence["rule_version"] = version
        if lowering is not None:
            fraction, w = lowering
            reason += (f", levels {fraction:.0%} earlier while {w.level.name_en} {w.event} warning {w.identifier} "
                       f"of {w.sender} is open")
            evidence.update(warning=w.evidence(), lower=fraction, thresholds=_named(p),
                            normal_thresholds=_named(normal))
        out.append(Signal(
            detector=rule.kind, rule=rule.id, risk=Risk(rule.risk_type), feed=e.feed, grid=e.grid, series=series,
            source=e.source, ts=e.ts, level=level, score=observed, reason=reason, drill=e.drill,
            kind="level" if level else "clear",
            certainty=Certainty.OBSERVED if e.feed == "sensor" else Certainty.POSSIBLE,
            evidence=evidence,
        ))


def _named(p: Any) -> dict[str, float]:
    """A rule's thresholds by level name (for the evidence)."""
    return {Level(level).name_en: round(t, 6) for level, t in p.thresholds}

