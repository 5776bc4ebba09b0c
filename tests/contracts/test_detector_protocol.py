"""One contract test over every registered model detector (as test_detector_contract.py is for anomaly models).

For each registration of :mod:`fenghuo.detectors.registry`: it builds from its default parameters on a
tiny config and satisfies :class:`fenghuo.detectors.protocol.Detector`; it takes events of the feeds it
watches (or, a signal stage, a batch of signals) without error; its state is plain data (it survives
msgpack) and ``restore(state())`` continues exactly where it stopped (the same signals after it);
and a parameter its schema does not know is refused, naming ``detectors.<name>``, by check-config and
by the build alike. A detector registered later is checked the same way, with no change here.
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fenghuo.core import state as saved
from fenghuo.core.config import ConfigError, Detectors, Rule
from fenghuo.core.levels import Level
from fenghuo.core.models import Certainty, Event, Risk, Signal
from fenghuo.detectors.engine import DetectorEngine
from fenghuo.detectors.protocol import Detector
from fenghuo.detectors.registry import MODULES, REGISTRY, SCOPES, BuildContext, Registration, check_models

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "text-risk"  # trained text models, shared with unit tests
CHAIN = {"G1": ["G1", "C1", "D1"], "G2": ["G2", "C1", "D1"]}
RULE = Rule.model_validate({"id": "level", "metric": "level_m", "levels": {"blue": 6.0, "yellow": 7.0,
                                                                         "orange": 8.0, "red": 9.0}})
# parameters under which the built-in detectors do fire on the short streams below (a new detector is
# checked with its defaults only)
LIVELY: dict[str, dict[str, Any]] = {
    "bursts": {"warmup_hours": 0, "min_count": 3, "min_ratio": 0, "dedupe_minutes": 0, "link_minutes": 0},
    "forecast": {"model": "fallback", "refit_mode": "inline"},
    "anomaly": {"detector": "ewma", "warmup": 20},
    "asset": {"by_source": True, "train_rows": 30, "window": 60, "span": 3},
    "text": {},
    "fusion": {},
}
TEXTS = ["燃气泄漏，闻到很浓的煤气味，担心爆炸", "noise from the bar next door all night",
         "工地拖欠工资，几十名工人聚集在门口", "fire and smoke in the stairwell, people trapped",
         "路灯不亮", "flooded street, water rising near the school"]


def _chain(grid: str) -> list[str]:
    return CHAIN.get(grid, [grid])


def _ctx() -> BuildContext:
    return BuildContext(chain=_chain, rules=lambda: [RULE], cache_dir=CACHE)


def _events(feed: str) -> list[Event]:
    out: list[Event] = []
    t0 = 1_700_000_000.0
    if feed == "sensor":  # 20 hours at 10 min, rising into the rule's levels: under a day, so no Prophet fit
        for i in range(120):
            v = 5.0 + 0.3 * math.sin(i / 6.0) + (0.06 * (i - 80) if i > 80 else 0.0) + (6.0 if i == 100 else 0.0)
            out.append(Event("sensor", "gauge-1", t0 + 600.0 * i, "G1", f"s{i}", metric="level_m", value=v))
        return out
    for i in range(60):  # a quiet start, then a burst in one grid
        ts = t0 + (3600.0 * i if i < 40 else 40 * 3600.0 + 120.0 * (i - 40))
        grid = "G1" if i >= 40 or i % 2 else "G2"
        cat = "Gas Leak" if i >= 40 else ("noise", "Street Light")[i % 2]
        out.append(Event(feed, "hotline" if feed == "complaint" else "weibo", ts, grid, f"{feed[0]}{i}",
                         lat=42.35 + 0.001 * (i % 7), lon=-71.06 - 0.001 * (i % 5), category=cat,
                         text=TEXTS[i % len(TEXTS)]))
    return out


def _signals() -> list[list[Signal]]:
    """Batches of signals of two feeds in one grid (what a signal stage sees)."""
    def sig(feed: str, det: str, ts: float, level: Level | None, kind: str = "level") -> Signal:
        return Signal(det, f"{feed}-rule", Risk.SAFETY, feed, "G1", f"G1/{feed}", "src", ts, level, 1.0, "",
                      kind=kind if level else "clear", certainty=Certainty.POSSIBLE)
    t0 = 1_700_000_000.0
    return [[sig("complaint", "burst", t0, Level.YELLOW)], [sig("sensor", "threshold", t0 + 600, Level.ORANGE)],
            [sig("opinion", "text-risk", t0 + 1200, Level.BLUE)], [sig("sensor", "threshold", t0 + 1800, None)],
            [sig("sensor", "threshold", t0 + 2400, Level.RED), sig("complaint", "burst", t0 + 2400, Level.ORANGE)]]


def _feed(det: Detector, items: list[Any]) -> list[Signal]:
    """Events one by one through ``process``, or signal batches through ``process_signals``."""
    out: list[Signal] = []
    for item in items:
        if isinstance(item, Event):
            out += det.process(item)
        else:
            out += det.process_signals(list(item))
    return out


def _inputs(reg: Registration) -> list[Any]:
    if not reg.feeds:
        return _signals()
    events = [e for feed in reg.feeds for e in _events(feed)]
    return sorted(events, key=lambda e: e.ts)


def _plain(state: dict[str, Any]) -> Any:
    """The state through msgpack and back: what a runtime saves is what it restores."""
    return saved.loads(saved.dumps("contract", 1, state), "contract", {1: lambda d: d})


@pytest.fixture(params=REGISTRY.names())
def reg(request: pytest.FixtureRequest) -> Registration:
    return REGISTRY.get(request.param)


def test_registration_is_complete(reg: Registration) -> None:
    assert dataclasses.is_dataclass(reg.params) and reg.scope in SCOPES
    assert reg.parse({}) == reg.parse(None) == reg.params()
    assert check_models(Detectors(**{reg.name: {}})) == []


def test_modules_name_the_module_of_each_built_in_detector() -> None:
    """A detector asked for by name loads its module alone: MODULES must say which module registers it."""
    assert {r.name: r.module for r in REGISTRY if r.module in MODULES.values()} == MODULES


def test_a_config_loads_only_the_modules_of_its_detectors() -> None:
    code = ("import sys\n"
            "from fenghuo.core.config import Detectors\n"
            "from fenghuo.detectors.registry import MODULES, check_models, selected\n"
            "assert check_models(Detectors(bursts={})) == []\n"
            "assert [r.name for r, _ in selected(Detectors(fusion={}, bursts={}))] == ['bursts', 'fusion']\n"
            "print(sorted(n for n, m in MODULES.items() if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["['bursts',", "'fusion']"]


def test_builds_from_defaults_and_follows_the_protocol(reg: Registration) -> None:
    det = reg.build({}, _ctx())
    try:
        assert isinstance(det, Detector)
        assert det.name == reg.name
        assert det.feeds == frozenset(reg.feeds)  # what it watches with its default parameters
        out = _feed(det, _inputs(reg))
        assert all(isinstance(s, Signal) for s in out)
        det.refresh()
        assert isinstance(det.state(), dict)
    finally:
        det.close()


@pytest.mark.parametrize("lively", [False, True], ids=["defaults", "lively"])
def test_state_round_trips(reg: Registration, lively: bool) -> None:
    values = LIVELY.get(reg.name, {}) if lively else {}
    items = _inputs(reg)
    half = len(items) // 2
    first, second = reg.build(values, _ctx()), reg.build(values, _ctx())
    try:
        early = _feed(first, items[:half])
        second.restore(_plain(first.state()))
        third = reg.build(values, _ctx())  # a restored state saves as it was restored (caches aside)
        third.restore(_plain(second.state()))
        assert _plain(third.state()) == _plain(second.state())
        third.close()
        late_first, late_second = _feed(first, items[half:]), _feed(second, items[half:])
        assert late_first == late_second
        if lively and reg.name in LIVELY:  # not an empty comparison: the stream makes it speak
            assert early + late_first, f"{reg.name} raised nothing on its stream"
        fresh = reg.build(values, _ctx())
        fresh.restore({})  # an empty state starts afresh
        assert _feed(fresh, items[:half]) == early
        fresh.close()
    finally:
        first.close()
        second.close()


def test_unknown_parameters_are_refused_naming_the_section(reg: Registration) -> None:
    expected = f"detectors.{reg.name}: unknown parameter(s) no_such_param; known: "
    errors = check_models(Detectors(**{reg.name: {"no_such_param": 3}}))
    assert len(errors) == 1 and errors[0].startswith(expected), errors
    with pytest.raises(ConfigError) as info:
        reg.build({"no_such_param": 3}, _ctx())
    assert info.value.errors == errors


def test_engine_runs_each_in_its_place(reg: Registration) -> None:
    """In an engine, the detector gets the events of its feeds only and the batch's signals once."""
    engine = DetectorEngine([RULE], _chain)
    det = reg.build({}, _ctx())
    seen: list[str] = []
    process = det.process

    def spy(e: Event) -> list[Signal]:
        seen.append(e.feed)
        return process(e)

    det.process = spy  # type: ignore[method-assign]
    engine.add(det)
    try:
        events = sorted([e for f in ("sensor", "complaint", "opinion") for e in _events(f)[:10]], key=lambda e: e.ts)
        engine.process(events)
        assert set(seen) <= set(reg.feeds) and len(seen) == sum(e.feed in reg.feeds for e in events)
    finally:
        engine.close()
