"""Strict configuration: one case per validation error, each reported with where it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from fenghuo.alerts.notifiers import build_notifiers, channel_errors
from fenghuo.core.config import ConfigError, Detectors, load_config, parse_config
from fenghuo.core.settings import make_settings
from fenghuo.detectors.registry import check_models

TREE = [
    {"id": "D", "name": "区", "kind": "district"},
    {"id": "S", "name": "街道", "kind": "street", "parent": "D"},
    {"id": "C", "name": "社区", "kind": "community", "parent": "S"},
    {"id": "G", "name": "网格", "kind": "grid", "parent": "C", "centroid": [1.0, 2.0]},
]
RULE = {"id": "r", "metric": "m", "levels": {"blue": 1, "red": 2}}


def errors_of(doc: dict[str, object]) -> list[str]:
    """What ``fenghuo check-config`` reports: the schema and semantic errors, else those of the channel and
    detector registries (the checks ``run`` makes when it builds notifiers and detectors)."""
    try:
        config = parse_config(doc)
    except ConfigError as exc:
        return exc.errors
    errors = channel_errors(config) + check_models(config.detectors)
    assert errors, "no error reported"
    return errors


def test_a_good_config_parses() -> None:
    c = parse_config({"nodes": TREE, "rules": [RULE]})
    assert c.escalation.deadlines == {"red": 300.0, "orange": 900.0, "yellow": 1800.0, "blue": 3600.0}


@pytest.mark.parametrize("doc, expected", [
    ({"nodez": []}, "nodez: Extra inputs are not permitted"),
    ({"nodes": [{"id": "D", "name": "x", "kind": "city"}]}, "nodes[0].kind: Input should be"),
    ({"nodes": TREE + [{"id": "G2", "name": "x", "kind": "grid", "parent": "nope", "centroid": [0, 0]}]},
     "nodes[4].parent: unknown node 'nope'"),
    ({"nodes": TREE + [{"id": "G2", "name": "x", "kind": "grid", "parent": "C"}]},
     "nodes[4]: a grid needs a centroid or a polygon"),
    ({"nodes": TREE + [{"id": "C2", "name": "x", "kind": "community", "parent": "G"}]},
     "nodes[4].parent: a community cannot sit under a grid"),
    ({"nodes": TREE + [{"id": "S2", "name": "x", "kind": "street"}]}, "nodes[4].parent: a street needs a parent"),
    ({"nodes": TREE + [TREE[0]]}, "nodes[4].id: duplicate node id 'D'"),
    ({"nodes": TREE, "responders": [{"id": "r", "name": "x", "node": "Q", "channels": []}]},
     "responders[0].node: unknown node 'Q'"),
    ({"nodes": TREE, "responders": [{"id": "r", "name": "x", "node": "G", "channels": ["sms"]}]},
     "responders[0].channels: unknown channel 'sms'"),
    ({"channels": [{"name": "h", "type": "webhook", "url": "http://x"}]},
     "channels[0].secret: a webhook channel needs a secret"),
    ({"channels": [{"name": "h", "type": "webhook", "secret": "s"}]}, "channels[0].url: a webhook channel needs"),
    ({"channels": [{"name": "e", "type": "email", "url": "smtp://h:25"}]},
     "channels[0].to: an email channel needs recipients"),
    ({"channels": [{"name": "e", "type": "email", "to": ["a@b"]}]}, "channels[0].url: an email channel needs a url"),
    ({"channels": [{"name": "s", "type": "sms", "url": "http://x", "to": ["1"], "template": "just text"}]},
     "channels[0].template: the SMS template is neither JSON nor a form body"),
    ({"channels": [{"name": "p", "type": "pager"}]}, "channels[0].type: unknown channel type 'pager'; registered: "),
    ({"channels": [{"name": "p", "type": "no spaces"}]}, "channels[0].type: String should match pattern"),
    ({"detectors": {"forecast": {"wrong_param": 3}}}, "detectors.forecast: unknown parameter(s) wrong_param; known:"),
    ({"detectors": {"anomaly": {"detector": "nope"}}}, "detectors.anomaly: unknown detector 'nope'"),
    ({"detectors": {"toy": {}}}, "detectors.toy: unknown detector; registered: bursts, forecast"),
    ({"detectors": {"toy": 3}}, "detectors: Value error, toy: a detector's parameters are a mapping"),
    ({"escalation": {"deadlines": {"purple": 5}}}, "escalation.deadlines: Value error, unknown level 'purple'"),
    ({"escalation": {"deadlines": {"red": -5}}}, "escalation.deadlines: Value error, deadline for red must be"),
    ({"rules": [{**RULE, "levels": {"blue": 3, "red": 2}}]}, "rules[0].levels: for direction 'above'"),
    ({"rules": [{**RULE, "direction": "below"}]}, "rules[0].levels: for direction 'below'"),
    ({"rules": [{**RULE, "metric": None}]}, "rules[0].metric: a sensor rule needs a metric"),
    ({"rules": [{**RULE, "kind": "count"}]}, "rules[0].feed: a count rule counts complaint"),
    ({"rules": [{**RULE, "levels": {}}]}, "rules[0].levels: Value error, at least one level"),
    ({"rules": [{**RULE, "id": "bad id!"}]}, "rules[0].id: String should match pattern"),
    ({"rules": [RULE, RULE]}, "rules[1].id: duplicate rule id 'r'"),
    ({"nodes": TREE, "rules": [{**RULE, "grid": "X"}]}, "rules[0].grid: unknown node 'X'"),
    ({"nodes": TREE, "rules": [{**RULE, "overrides": {"X": {"for_seconds": 5}}}]}, "rules[0].overrides: unknown"),
    ({"drills": {"channels": ["x"]}}, "drills.channels: unknown channel 'x'"),
    ({"channels": [{"name": "h", "type": "webhook", "url": "http://x", "secret": "${FENGHUO_NOT_SET_X}"}]},
     "channels[0].secret: environment variable FENGHUO_NOT_SET_X is not set"),
    ({"limits": {"max_id_length": 64}}, "limits.max_id_length: Extra inputs are not permitted"),
    ({"limits": {"max_id_chars": 8}}, "limits.max_id_chars: Input should be greater than or equal to 16"),
    ({"limits": {"max_name_chars": "long"}}, "limits.max_name_chars: Input should be a valid integer"),
    ({"limits": {"max_text_chars": 0}}, "limits.max_text_chars: Input should be greater than or equal to 1"),
    ({"limits": {"max_attrs_keys": -1}}, "limits.max_attrs_keys: Input should be greater than or equal to 0"),
    ({"limits": {"max_attrs_depth": 65}}, "limits.max_attrs_depth: Input should be less than or equal to 64"),
    ({"limits": {"max_attrs_bytes": 1}}, "limits.max_attrs_bytes: Input should be greater than or equal to 2"),
    ({"limits": {"max_future_seconds": -1}}, "limits.max_future_seconds: Input should be greater than or equal"),
    ({"limits": {"max_future_seconds": float("inf")}}, "limits.max_future_seconds: Input should be a finite number"),
    ({"limits": {"max_age_days": 0}}, "limits.max_age_days: Input should be greater than 0"),
    ({"limits": {"max_age_days": 40_000}}, "limits.max_age_days: Input should be less than or equal to 36500"),
    ({"limits": {"max_abs_value": float("nan")}}, "limits.max_abs_value: Input should be a finite number"),
    ({"limits": {"max_abs_value": 0}}, "limits.max_abs_value: Input should be greater than 0"),
    ({"limits": {"metrics": {"water_level_m": [60, -20]}}},
     "limits.metrics: Value error, the range of 'water_level_m' must be [low, high] with low < high"),
    ({"limits": {"metrics": {"gas_ppm": [0]}}}, "limits.metrics.gas_ppm[1]: Field required"),
    ({"limits": {"metrics": {"gas_ppm": [0, "lots"]}}}, "limits.metrics.gas_ppm[1]: Input should be a valid number"),
    ({"limits": {"metrics": {"gas_ppm": [0, float("inf")]}}}, "limits.metrics.gas_ppm[1]: Input should be a finite"),
    ({"limits": {"metrics": {"": [0, 1]}}}, "limits.metrics: Value error, a metric name cannot be empty"),
    ({"limits": [1]}, "limits: Input should be a valid dictionary"),
])
def test_each_error_is_reported_with_its_place(doc: dict[str, object], expected: str) -> None:
    errors = errors_of(doc)
    assert any(e.startswith(expected) for e in errors), errors


def test_every_error_is_listed_at_once() -> None:
    errors = errors_of({"nodes": TREE, "rules": [{**RULE, "grid": "X"}, {**RULE, "id": "q", "metric": None}],
                        "drills": {"channels": ["x"]}})
    assert len(errors) == 3


def test_bad_yaml_says_where(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("nodes: [\n  {id: D\n")
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert "not valid YAML" in info.value.errors[0] and "line" in info.value.errors[0]


def test_check_config_cli_lists_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fenghuo.cli.main import main

    p = tmp_path / "c.yaml"
    p.write_text("rules:\n  - {id: r, metric: m, levels: {blue: 3, red: 2}}\n  - {id: r, levels: {blue: 1}}\n")
    assert main(["check-config", str(p)]) == 1
    err = capsys.readouterr().err
    assert "rules[0].levels" in err and "rules[1].id: duplicate" in err and "rules[1].metric" in err


def test_check_config_cli_refuses_what_run_would_refuse_in_detectors(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from fenghuo.cli.main import main

    p = tmp_path / "c.yaml"
    p.write_text("detectors:\n  forecast: {wrong_param: 3}\n  fusion: {}\n")
    assert main(["check-config", str(p)]) == 1
    assert "detectors.forecast: unknown parameter(s) wrong_param" in capsys.readouterr().err
    p.write_text("detectors:\n  fusion: {}\n")
    assert main(["check-config", str(p)]) == 0


def test_limits_default_and_merge() -> None:
    limits = parse_config({"limits": {"max_age_days": 36500, "metrics": {"flow_m3s": [0, 50000]}}}).limits
    assert limits.max_age_days == 36500 and limits.max_future_seconds == 86400 and limits.max_id_chars == 128
    assert limits.metrics["flow_m3s"] == (0, 50000) and limits.metrics["water_level_m"] == (-20, 60)
    assert parse_config({}).limits.metrics["water_level_m"] == (-20, 60)


def test_check_config_cli_reports_limits_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fenghuo.cli.main import main

    p = tmp_path / "c.yaml"
    p.write_text("limits:\n  max_future_seconds: -5\n  metrics: {water_level_m: [60, -20]}\n  max_attrs: 3\n")
    assert main(["check-config", str(p)]) == 1
    err = capsys.readouterr().err
    assert "limits.max_future_seconds" in err and "limits.metrics" in err and "limits.max_attrs: Extra" in err


def test_environment_overrides_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FENGHUO_PORT", "9123")
    monkeypatch.setenv("FENGHUO_API_KEYS", "viewer:abcdefghijklmnop,admin:0123456789abcdef")
    s = make_settings(host="0.0.0.0")
    assert s.port == 9123 and s.host == "0.0.0.0"
    assert s.parsed_keys() == {"abcdefghijklmnop": "viewer", "0123456789abcdef": "admin"}
    monkeypatch.setenv("FENGHUO_API_KEYS", "boss:short")
    with pytest.raises(ValueError, match="role:key"):
        make_settings().parsed_keys()


def test_run_refuses_the_channels_check_config_refuses() -> None:
    config = parse_config({"channels": [{"name": "h", "type": "webhook", "url": "http://x"}]})
    with pytest.raises(ConfigError) as info:
        build_notifiers(config, public_url=None)
    assert info.value.errors == channel_errors(config) == [
        "channels[0].secret: a webhook channel needs a secret (use ${ENV_VAR})"]


def test_detectors_section_lists_what_is_on() -> None:
    d = parse_config({"detectors": {"fusion": {"window_hours": 1}, "bursts": None, "toy_spike": {"k": 2}}}).detectors
    assert d.configured() == {"fusion": {"window_hours": 1}, "toy_spike": {"k": 2}}
    assert d.bursts is None and d.only({"toy_spike"}) == Detectors(toy_spike={"k": 2})
