"""A newcomer adds a detector and a notifier channel by following the registries (docs/architecture.md),
and an embedded pipeline whose config switches both on turns the toy detector's signal into an alert
delivered through the toy channel. Both registrations are undone when the test ends.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fenghuo.alerts.notifiers import CHANNELS, ChannelContext, channel_errors
from fenghuo.core.clock import FixedClock
from fenghuo.core.config import Channel, ConfigError, parse_config
from fenghuo.core.levels import Level
from fenghuo.core.models import Certainty, Event, Risk, Signal
from fenghuo.core.settings import Settings
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.detectors.protocol import DetectorBase
from fenghuo.detectors.registry import REGISTRY, BuildContext, check_models
from fenghuo.runtime import topology
from fenghuo.runtime.embedded import Pipeline


# -- the toy detector: one dataclass of parameters, one Detector, one registration --------------------------
@dataclass(frozen=True, slots=True)
class ToySpikeParams:
    metric: str = "toy_m"
    above: float = 100.0


class ToySpike(DetectorBase):
    """Orange while a reading of ``metric`` is at least ``above``; clear when it falls back."""

    name = "toy_spike"
    feeds = frozenset({"sensor"})

    def __init__(self, params: ToySpikeParams) -> None:
        self.p = params
        self.high: set[str] = set()  # series in alert

    def process(self, event: Event) -> list[Signal]:
        if event.metric != self.p.metric or event.value is None:
            return []
        high = event.value >= self.p.above
        if high == (event.series in self.high):
            return []
        (self.high.add if high else self.high.discard)(event.series)
        return [Signal(detector="toy_spike", rule="toy-spike", risk=Risk.SAFETY, feed="sensor", grid=event.grid,
                       series=event.series, source=event.source, ts=event.ts, level=Level.ORANGE if high else None,
                       score=event.value, reason=f"toy spike: {event.value:g} >= {self.p.above:g}" if high else
                       "toy spike: back to normal", kind="level" if high else "clear",
                       certainty=Certainty.OBSERVED, evidence={"event": event.id, "value": event.value})]

    def state(self) -> dict[str, Any]:
        return {"high": sorted(self.high)}

    def restore(self, state: dict[str, Any]) -> None:
        self.high = set(state.get("high", []))


def build_toy_spike(params: ToySpikeParams, ctx: BuildContext) -> ToySpike:
    return ToySpike(params)


# -- the toy channel: a check of its fields, a notifier, one registration ------------------------------------
class ToyNotifier:
    def __init__(self, name: str, inbox: list[dict[str, Any]]) -> None:
        self.name, self.inbox = name, inbox

    def send(self, notification_id: str, payload: dict[str, Any]) -> str:
        self.inbox.append(payload)
        return f"kept {len(self.inbox)}"


def check_toy(ch: Channel) -> list[str]:
    return [] if not ch.to else ["to: a toy channel has no recipients"]


@pytest.fixture
def registered() -> Iterator[list[dict[str, Any]]]:
    inbox: list[dict[str, Any]] = []

    def build_toy(ch: Channel, ctx: ChannelContext) -> ToyNotifier:
        return ToyNotifier(ch.name, inbox)

    with REGISTRY.registered("toy_spike", ToySpikeParams, feeds=("sensor",), scope="grid", factory=build_toy_spike), \
            CHANNELS.registered("toy", check_toy, build_toy):
        yield inbox
    assert "toy_spike" not in REGISTRY.names() and "toy" not in CHANNELS.names()  # no trace left


CONFIG = {
    "nodes": [{"id": "D", "name": "区", "kind": "district"},
              {"id": "G1", "name": "网格", "kind": "grid", "parent": "D", "centroid": [0, 0]}],
    "channels": [{"name": "toys", "type": "toy"}],
    "responders": [{"id": "a", "name": "甲", "node": "G1", "channels": ["toys"]}],
    "detectors": {"toy_spike": {"above": 50}},
}


def reading(i: int, value: float) -> dict[str, Any]:
    return {"feed": "sensor", "source": "toy-1", "ts": 1e9 + 60 * i, "grid": "G1", "metric": "toy_m",
            "value": value, "id": f"t{i}"}


def test_a_toy_detector_and_channel_deliver_an_alert(tmp_path: Path, registered: list[dict[str, Any]]) -> None:
    config = parse_config(CONFIG)
    assert check_models(config.detectors) == [] and channel_errors(config) == []  # check-config: ok
    assert topology.placed(config, "kafka")["grid"] == ["toy_spike"]  # its scope places it in both runtimes
    p = Pipeline(Settings(data_dir=tmp_path), config, SqliteStore(tmp_path / "db"), clock=FixedClock(1e9 + 3600))
    try:
        assert [d.name for d in p.engine.detectors] == ["toy_spike"]
        assert p.ingest([reading(0, 10.0), reading(1, 20.0), reading(2, 75.0)]).accepted == 3
        end = time.monotonic() + 10
        while not registered and time.monotonic() < end:
            p.delivery.run_due()
            time.sleep(0.02)
        assert registered, "nothing reached the toy channel"
        alert = registered[0]["alert"]
        assert (alert["grid"], alert["level"], registered[0]["responder"]) == ("G1", "orange", "a")
        opened = [a for a in p.store.all_alerts() if a.grid == "G1"]
        assert len(opened) == 1 and opened[0].id == alert["id"]
        assert [n.channel for n in p.store.notifications_for(opened[0].id)] == ["toys"]
        p.snapshot()  # the toy detector's state is saved with the others'
    finally:
        p.delivery.close()
        p.store.close()


def test_registries_check_the_toys_like_the_built_ins(registered: list[dict[str, Any]]) -> None:
    bad = parse_config({**CONFIG, "channels": [{"name": "toys", "type": "toy", "to": ["x"]}],
                        "detectors": {"toy_spike": {"above": 50, "below": 3}}})
    assert channel_errors(bad) == ["channels[0].to: a toy channel has no recipients"]
    assert check_models(bad.detectors) == ["detectors.toy_spike: unknown parameter(s) below; known: above, metric"]
    with pytest.raises(ValueError, match="registered already"):
        with REGISTRY.registered("toy_spike", ToySpikeParams, feeds=("sensor",), scope="grid",
                                 factory=build_toy_spike):
            pass
    assert "toy_spike" in REGISTRY.names()  # a refused second registration does not undo the first


def test_without_registration_the_config_is_refused() -> None:
    config = parse_config(CONFIG)
    assert check_models(config.detectors) == [
        f"detectors.toy_spike: unknown detector; registered: {', '.join(REGISTRY.names())}"]
    assert channel_errors(config)[0].startswith("channels[0].type: unknown channel type 'toy'")
    with pytest.raises(ConfigError):
        topology.engine_for(config, topology.ALL)
