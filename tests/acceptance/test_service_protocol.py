"""Both runtimes implement the API's Service protocol in full: every member, with the protocol's signature.

The API depends on :class:`fenghuo.runtime.service.Service` only; tests/acceptance/test_api.py runs the API
suite against both runtimes, this checks statically that nothing is missing or shaped differently.
"""

from __future__ import annotations

import inspect
import typing
from pathlib import Path
from typing import Any

import pytest

from fenghuo.core.config import parse_config
from fenghuo.core.settings import Settings
from fenghuo.runtime.embedded import Pipeline
from fenghuo.runtime.kafka.front import KafkaFront
from fenghuo.runtime.service import Service

RUNTIMES = [Pipeline, KafkaFront]
DATA = {"settings", "tree"}  # attributes; every other member is a method


def members() -> list[str]:
    names = {n for n in vars(Service) if not n.startswith("_")} | set(Service.__annotations__)
    return sorted(names)


def test_the_protocol_declares_what_the_routes_need() -> None:
    assert {"ingest", "ack", "resolve", "open_alerts", "health", "metrics", "response_times", "dead_letters",
            "grids", "subscribe", "unsubscribe", "put_rule", "delete_rule", "rule_history", "backtest",
            "settings", "tree", "start", "stop"} <= set(members())
    assert DATA == set(Service.__annotations__)


@pytest.mark.parametrize("cls", RUNTIMES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", members())
def test_every_member_is_implemented_with_the_protocols_signature(cls: type, name: str) -> None:
    if name in DATA:
        hints = typing.get_type_hints(cls)
        assert name in hints, f"{cls.__name__} does not declare {name}"
        assert hints[name] is typing.get_type_hints(Service)[name]
        return
    want = getattr(Service, name)
    got = getattr(cls, name, None)
    assert got is not None and callable(got), f"{cls.__name__}.{name} is missing"
    assert got is not want, f"{cls.__name__}.{name} is the protocol's stub"
    w, g = inspect.signature(want), inspect.signature(got)
    assert [(p.name, p.kind, p.default) for p in g.parameters.values()] == \
        [(p.name, p.kind, p.default) for p in w.parameters.values()], f"{cls.__name__}.{name}{g} is not {name}{w}"
    assert typing.get_type_hints(got) == typing.get_type_hints(want), f"{cls.__name__}.{name}: other types"


def test_no_instance_attribute_shadows_a_member(tmp_path: Path) -> None:
    """Built for real (Kafka mode without a broker: nothing here connects): an attribute set in __init__ must not
    hide a protocol method (a grid resolver once stood where ``resolve`` is)."""
    from fenghuo.core.store.sqlite import SqliteStore
    from fenghuo.runtime.kafka.ingest_worker import make_kafka_ingest

    config = parse_config({"nodes": [{"id": "D", "name": "区", "kind": "district"},
                                     {"id": "G1", "name": "一号网格", "kind": "grid", "parent": "D",
                                      "centroid": [42.0, 2.0]}]})
    settings = Settings(data_dir=tmp_path, bus="kafka", kafka_bootstrap="127.0.0.1:9")
    built: list[Any] = [
        KafkaFront(settings, config, SqliteStore(tmp_path / "k.sqlite"), make_kafka_ingest(settings, config)),
        Pipeline(Settings(data_dir=tmp_path), config, SqliteStore(tmp_path / "p.sqlite"), notifiers={}),
    ]
    try:
        for service in built:
            assert isinstance(service, Service)
            for name in set(members()) - DATA:
                assert name not in vars(service), f"{type(service).__name__}().{name} is an instance attribute"
    finally:
        for service in built:
            service.store.close()
