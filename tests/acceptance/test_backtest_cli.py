"""``fenghuo replay`` in-process, then ``fenghuo backtest`` on that data directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from fenghuo.cli.main import EXAMPLE_CONFIG, main
from fenghuo.demo import demo_files

RULE = """id: river-level
metric: water_level_m
levels: {blue: 5.0, yellow: 6.0, orange: 8.0, red: 10.0}
for_seconds: 600
hysteresis: 0.1
"""


def test_backtest_compares_a_proposed_rule_with_the_current_one(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FENGHUO_WEBHOOK_SECRET", "test-only-secret")
    gloria = next(p for p, fmt in demo_files() if fmt == "hubeau")
    common = ["--data-dir", str(tmp_path / "data"), "--config", str(EXAMPLE_CONFIG)]
    assert main(["replay", str(gloria), "--format", "hubeau", "--speed", "max", *common]) == 0
    rule = tmp_path / "rule.yaml"
    rule.write_text(RULE)
    capsys.readouterr()
    args = ["backtest", str(rule), "--start", "2020-01-20T00:00:00Z", "--end", "2020-01-25T00:00:00Z", "--quiet"]
    assert main([*args, *common]) == 0
    out = capsys.readouterr().out
    assert "5,565 stored events of feed sensor" in out
    proposed = next(line for line in out.splitlines() if line.startswith("proposed:"))
    current = next(line for line in out.splitlines() if line.startswith("current:"))
    assert int(proposed.split()[1]) > 0 and int(current.split()[1]) > 0
    assert "hubeau:Y063402001/water_level_m" in out  # L'Agly's flood is among the episodes
    rule.write_text(RULE.replace("blue: 5.0", "blue: 50.0"))
    assert main([*args, *common]) == 2
    assert "thresholds must rise" in capsys.readouterr().err
