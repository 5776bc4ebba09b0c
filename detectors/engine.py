"""The detector engine: routes events to the rules (and models) that watch them, returns signals.

Pure: no I/O, no clock; state is per (rule, series) and pickles, so the embedded runtime can
snapshot it and a faust worker can keep it in a table keyed by grid. Rules are swapped at runtime
with :meth:`DetectorEngine.set_rules`; the state of rules that stay is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fenghuo.detectors.rules import CountDetector, RateDetector, ThresholdDetector, make_rule_detector, params_for

from fenghuo.core.config import Rule
from fenghuo.core.levels import Level
from fenghuo.core.models import Certainty, Event, Risk, Signal

ChainFn = Callable[[str], list[str]]
Extra = Callable[[Event], list[Signal]]  # a model detector fed every event
Post = Callable[[list[Signal]], list[Signal]]  # a stage over the signals (corroboration)


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
        self.extras: list[Extra] = []  # model detectors (bursts, forecasts, text risk...)
        self.post: list[Post] = []  # signal stages (corroboration)
        self.set_rules(rules)

    def _models(self) -> list[Any]:
        return [m for m in [*self.extras, *self.post] if hasattr(m, "snapshot")]

    def snapshot(self) -> dict[str, Any]:
        return {"state": self.state, "models": [m.snapshot() for m in self._models()]}

    def restore(self, snap: dict[str, Any]) -> None:
        self.state = {k: v for k, v in snap.get("state", {}).items() if k[0] in self.rules}
        models = self._models()
        saved = snap.get("models", [])
        if len(saved) != len(models):  # not the model set it was saved with (or nothing saved): start fresh
            saved = [{} for _ in models]
        for m, data in zip(models, saved, strict=True):
            m.restore(data)

    def current_rules(self) -> list[Rule]:
        """The rules in force (model detectors that follow rule levels, like forecasts, read them here)."""
        return list(self.rules.values())

    def set_rules(self, rules: Iterable[Rule]) -> None:
        new = {r.id: r for r in rules}
        for key in [k for k in self.state if k[0] not in new or new[k[0]].kind != self.rules[k[0]].kind]:
            del self.state[key]
        self.rules = new
        self._params.clear()
        for m in self.extras:
            if hasattr(m, "refresh"):
                m.refresh()
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

    def process(self, events: Iterable[Event]) -> list[Signal]:
        out: list[Signal] = []
        for e in events:
            if e.feed == "sensor":
                rules = self._sensor.get(e.metric or "")
                if rules:
                    for rule in rules:
                        p = self._applies(rule, e.grid, e.source)
                        if p is not None:
                            self._run(rule, p, e, e.series, e.value or 0.0, out)
            else:
                rules = self._text.get(e.feed)
                if rules:
                    for rule in rules:
                        if rule.category not in (None, "*", e.category):
                            continue
                        p = self._applies(rule, e.grid)
                        if p is not None:
                            self._run(rule, p, e, f"{e.grid}/{e.category or '*'}", 1.0, out)
            for extra in self.extras:
                out.extend(extra(e))
        for stage in self.post:
            out = stage(out)
        return out

    def _run(self, rule: Rule, p: Any, e: Event, series: str, value: float, out: list[Signal]) -> None:
        key = (rule.id, f"{e.drill}|{series}" if e.drill else series)  # a drill never touches real state
        det = self.state.get(key)
        if det is None:
            det = self.state[key] = make_rule_detector(rule)
        changed, observed = det.step(p, e.ts, value)
        if changed is None:
            return
        level = Level(changed) if changed else None
        what = {"threshold": "value", "rate": "rate per hour", "count": "count in window"}[rule.kind]
        if level is None:
            reason = f"{rule.id}: {what} {observed:.3g} back within limits"
        else:
            limit = dict(p.thresholds)[changed]
            sign = ">=" if p.above else "<="
            reason = f"{rule.id}: {what} {observed:.3g} {sign} {limit:g} ({level.name_en})"
        out.append(Signal(
            detector=rule.kind, rule=rule.id, risk=Risk(rule.risk_type), feed=e.feed, grid=e.grid, series=series,
            source=e.source, ts=e.ts, level=level, score=observed, reason=reason, drill=e.drill,
            kind="level" if level else "clear",
            certainty=Certainty.OBSERVED if e.feed == "sensor" else Certainty.POSSIBLE,
            evidence={"event": e.id, "ts": e.ts, "observed": observed, "metric": e.metric, "category": e.category},
        ))
