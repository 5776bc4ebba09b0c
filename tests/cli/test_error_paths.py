"""Every command's error paths as a user meets them: the real ``fenghuo`` command, a one-line reason on
stderr, exit 2 for a usage error (bad option value, missing or malformed input, a data directory that does
not exist), 1 for a failure, and never a traceback."""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path

import pytest

from fenghuo.cli.main import EXAMPLE_CONFIG, parser
from fenghuo.demo import demo_files
from tests.cli.cli_support import fenghuo, no_traceback

SECRET = {"FENGHUO_WEBHOOK_SECRET": "test-only-secret"}
RULE = """id: river-level
metric: water_level_m
levels: {blue: 5.0, yellow: 6.0, orange: 8.0, red: 10.0}
"""
GLORIA = next(p for p, fmt in demo_files() if fmt == "hubeau")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding the Gloria flood (replayed in-process, as the README shows)."""
    data = tmp_path_factory.mktemp("cli") / "data"
    done = fenghuo("replay", str(GLORIA), "--format", "hubeau", "--data-dir", str(data), "--config",
                   str(EXAMPLE_CONFIG), **SECRET)
    assert done.returncode == 0, done.stderr
    return data


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "rule.yaml").write_text(RULE)
    (tmp_path / "broken.yaml").write_text("id: x\nlevels: [blue: 1\n")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    (tmp_path / "far.yaml").write_text("nodes:\n- {id: D, name: d, kind: district}\n"
                                       "- {id: G, name: g, kind: grid, parent: D, centroid: [999, 2.0]}\n")
    (tmp_path / "some.jsonl").write_text('{"feed": "sensor", "source": "s", "ts": "2020-01-22T00:00:00Z", '
                                         '"lat": 42.7, "lon": 2.9, "metric": "water_level_m", "value": 1.0}\n')
    return tmp_path


CASES = [  # (argv with {t}: a temporary folder, {h}: the history's data directory; exit code; words on stderr)
    (["backtest", "{t}/rule.yaml", "--start", "last tuesday", "--data-dir", "{h}"], 2,
     "is not a time: use ISO 8601"),
    (["backtest", "{t}/nothing.yaml", "--start", "2020-01-20", "--data-dir", "{h}"], 2,
     "cannot read the rule file"),
    (["backtest", "{t}/broken.yaml", "--start", "2020-01-20", "--data-dir", "{h}"], 2, "not valid YAML"),
    (["backtest", "{t}/list.yaml", "--start", "2020-01-20", "--data-dir", "{h}"], 2, "must hold one rule"),
    (["backtest", "{t}/rule.yaml", "--start", "2020-01-25", "--end", "2020-01-20", "--data-dir", "{h}"], 2,
     "must be after --start"),
    (["backtest", "{t}/rule.yaml", "--start", "2020-01-20", "--data-dir", "{t}/mistyped"], 2, "does not exist"),
    (["backtest", "{t}/rule.yaml", "--start", "2020-01-20", "--data-dir", "{t}"], 2, "there is no database"),
    (["replay", "{t}/some.jsonl", "--speed", "-5", "--data-dir", "{t}/r"], 2, "takes a number above 0"),
    (["replay", "{t}/some.jsonl", "--speed", "0", "--data-dir", "{t}/r"], 2, "takes a number above 0"),
    (["replay", "{t}/some.jsonl", "--speed", "nan", "--data-dir", "{t}/r"], 2, "takes a number above 0"),
    (["replay", "{t}/some.jsonl", "--speed", "fast", "--data-dir", "{t}/r"], 2, "takes a number above 0"),
    (["replay", "{t}/some.jsonl", "--batch", "0", "--data-dir", "{t}/r"], 2, "whole number of 1 or more"),
    (["replay", "{t}/nothing.jsonl", "--data-dir", "{t}/r"], 2, "cannot read"),
    (["replay", "{t}/some.jsonl", "--url", "http://127.0.0.1:9"], 2, "needs an API key"),
    (["replay", "{t}/some.jsonl", "--url", "http://127.0.0.1:9", "--notify"], 2, "--notify is for a replay"),
    (["replay", "{t}/some.jsonl", "--data-dir", "{t}/r", "--config", "{t}/far.yaml"], 2, "latitude 999"),
    (["keys", "list", "--data-dir", "{t}/mistyped"], 2, "does not exist"),
    (["keys", "add", "ops", "--role", "admin", "--expires", "soon", "--data-dir", "{t}"], 2, "ISO 8601"),
    (["purge", "--data-dir", "{t}/mistyped"], 2, "no database"),
    (["audit", "verify", "--data-dir", "{t}/mistyped"], 2, "no database"),
    (["backup", "{t}/copy.db", "--data-dir", "{t}/mistyped"], 2, "no database"),
    (["check-config", "{t}/empty.yaml"], 1, "the file is empty"),
    (["check-config", "{t}/far.yaml"], 1, "nodes[1].centroid[0]: latitude 999 is out of range"),
    (["check-config", "{t}/nothing.yaml"], 1, "cannot read"),
    (["run", "--data-dir", "{t}/r", "--notify-max-age", "a while"], 2, "--notify-max-age takes a duration"),
    (["run", "--data-dir", "{t}/r", "--config", "{t}/far.yaml", "--port", "0"], 2, "latitude 999"),
    (["run", "--demo-speed", "-1"], 2, "takes a number above 0"),
    (["run", "--port", "99999", "--data-dir", "{t}/r"], 2, "takes a port number from 0 to 65535"),
    (["worker", "detectors", "--partitions", "0"], 2, "whole number of 1 or more"),
    (["kafka", "create-topics", "--wait", "-1"], 2, "takes a number above 0"),
    (["grafana", "sync"], 2, "needs --url and --token"),
    (["worker", "alerts", "--config", "{t}/far.yaml"], 2, "latitude 999"),
    (["bogus"], 2, "invalid choice"),
    (["drill", "run", "nope", "--data-dir", "{t}/r"], 2, "no scenario 'nope' (those that can be started: boston"),
    (["drill", "run", "{t}/empty.yaml", "--data-dir", "{t}/r"], 2, "a scenario is a mapping with a scenario: key"),
    (["drill", "run", "{t}/nothing.yaml", "--data-dir", "{t}/r"], 2, "cannot read it"),
    (["drill", "run", "gloria-flood", "--speed", "0"], 2, "takes scenario seconds per second"),
    (["drill", "show", "Bad", "--url", "http://127.0.0.1:9"], 2, "takes a run's id such as gloria-flood-r3"),
    (["drill", "end", "gloria-flood-r1", "--url", "http://127.0.0.1:9", "--api-key", "k"], 2, "cannot reach"),
]


@pytest.mark.parametrize(("argv", "code", "words"), CASES, ids=[" ".join(c[0][:2]) + f" {i}"
                                                                for i, c in enumerate(CASES)])
def test_an_error_is_one_reason_and_an_exit_code_never_a_traceback(argv: list[str], code: int, words: str,
                                                                   files: Path, history: Path) -> None:
    done = fenghuo(*[a.replace("{t}", str(files)).replace("{h}", str(history)) for a in argv], timeout=120)
    no_traceback(done)
    assert done.returncode == code, (done.returncode, done.stderr[-2000:])
    assert words in done.stderr
    assert not (files / "mistyped").exists()  # a mistyped data directory is never created


def test_run_on_a_busy_port_says_so_before_starting(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = fenghuo("run", "--port", str(port), "--data-dir", str(tmp_path / "d"))
    no_traceback(done)
    assert done.returncode == 1 and f"port {port} on 127.0.0.1 is in use" in done.stderr
    assert "admin API key: " in done.stdout  # made at this first start: shown, though the start failed


def test_a_bad_log_level_is_a_usage_error(files: Path) -> None:
    done = fenghuo("check-config", str(files / "far.yaml"), FENGHUO_LOG_LEVEL="LOUD")
    no_traceback(done)
    assert done.returncode == 2 and "FENGHUO_LOG_LEVEL" in done.stderr


def test_backtest_accepts_relative_times_and_json_is_json_only(files: Path, history: Path) -> None:
    done = fenghuo("backtest", str(files / "rule.yaml"), "--start", "yesterday", "--data-dir", str(history))
    assert done.returncode == 0, done.stderr
    assert "stored events of feed sensor" in done.stdout  # a recent range: the 2020 history is not in it
    done = fenghuo("backtest", str(files / "rule.yaml"), "--start", "2020-01-20", "--end", "2020-01-25T00:00Z",
                   "--json", "--data-dir", str(history))
    assert done.returncode == 0, done.stderr
    episodes = json.loads(done.stdout)  # nothing but the JSON on stdout
    assert episodes and {"series", "raised_at", "max_level", "cleared_at"} <= episodes[0].keys()
    assert "proposed:" in done.stderr and "stored events" in done.stderr


def test_check_config_lists_every_error_in_one_round(tmp_path: Path) -> None:
    conf = tmp_path / "c.yaml"
    conf.write_text("nodes:\n- {id: G, name: g, kind: grid, centroid: [999, 2.0]}\n"
                    "channels:\n- {name: w, type: webhook}\n")
    done = fenghuo("check-config", str(conf))
    no_traceback(done)
    assert done.returncode == 1
    for words in ("nodes[0].parent: a grid needs a parent", "channels[0].url: a webhook channel needs a url",
                  "nodes[0].centroid[0]: latitude 999 is out of range"):
        assert words in done.stderr, done.stderr


def test_a_replay_without_config_says_why_every_record_was_rejected(files: Path) -> None:
    done = fenghuo("replay", str(files / "some.jsonl"), "--data-dir", str(files / "new"))
    no_traceback(done)
    assert done.returncode == 1
    assert "rejected 1 record(s), by reason:" in done.stderr
    assert "1  grid is required" in done.stderr and "no --config was given" in done.stderr
    assert f"new data directory {files / 'new'}" in done.stderr  # replay may create one, and says so


def _actions(p: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.Action]]:
    out: list[tuple[str, argparse.Action]] = []
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += _actions(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            out.append((path, action))
    return out


# options of fenghuo/cli/report.py and fenghuo/cli/silence.py (other owners, asked to add their help): remove
# each from here when it has one
NOT_YET: set[str] = set()


def test_every_option_and_argument_is_explained_in_help() -> None:
    bare = {f"{path} {'/'.join(a.option_strings) or a.dest}" for path, a in _actions(parser(), "fenghuo")
            if not a.help or a.help == argparse.SUPPRESS}
    assert bare <= NOT_YET, sorted(bare - NOT_YET)
    done = fenghuo("replay", "--help")
    assert done.returncode == 0 and "--notify" in done.stdout and "N times real time" in done.stdout
