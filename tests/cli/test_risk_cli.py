"""``fenghuo risk forecast`` and ``fenghuo risk backtest`` as a user runs them: the ranked grids with their factors
from a data directory, and every error path one line on stderr with exit code 2, never a traceback."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from fenghuo.core.models import Event, parse_ts
from fenghuo.core.store.sqlite import SqliteStore
from tests.acceptance.test_risk_forecast import T0, complaints, tree_config
from tests.cli.cli_support import fenghuo, no_traceback


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A configuration, a data directory holding 120 days of complaints, and the same complaints as NDJSON."""
    root = tmp_path_factory.mktemp("risk-cli")
    (root / "config.yaml").write_text(yaml.safe_dump(tree_config("http://127.0.0.1:9"), allow_unicode=True))
    records = complaints(120, T0, range(8), "c", 1)
    (root / "log.ndjson").write_text("\n".join(json.dumps(r) for r in records[:300]) + "\n")
    store = SqliteStore(root / "data" / "fenghuo.db")
    store.add_events([Event(feed="complaint", source=r["source"], id=r["id"], ts=parse_ts(r["ts"]), grid=r["grid"],
                            category=r["category"], text=r["text"], attrs=r["attrs"]) for r in records], time.time())
    store.close()
    return root


def failed(result: object, *words: str) -> None:
    no_traceback(result)  # type: ignore[arg-type]
    assert result.returncode == 2, (result.stdout, result.stderr)  # type: ignore[attr-defined]
    err = result.stderr.lower()  # type: ignore[attr-defined]
    assert all(w.lower() in err for w in words), err
    assert len(err.strip().splitlines()) <= 4, err


def test_forecast_prints_the_ranked_grids_with_factors_and_writes_nothing(setup: Path) -> None:
    done = fenghuo("risk", "forecast", "--config", str(setup / "config.yaml"), "--data-dir", str(setup / "data"),
                   "--node", "C2", "--group", "all", "--limit", "10")
    no_traceback(done)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("risk forecast made at 2015-04-30") and "risk-logistic" in lines[0]
    rows = [line.split() for line in lines[2:] if line.strip()[:1].isdigit()]
    assert {r[1] for r in rows} == {"C2", "G4", "G5", "G6", "G7"} and {r[3] for r in rows} == {"all"}
    probs = [float(r[4]) for r in rows]
    assert probs == sorted(probs, reverse=True)
    assert "complaints, last 7 days" in done.stdout or "unresolved" in done.stdout  # factors, in words
    store = SqliteStore(setup / "data" / "fenghuo.db")
    try:
        assert store.risk_forecasts() == [] and store.get_state("risk:model") is None
    finally:
        store.close()


@pytest.mark.parametrize("horizon", ["0d", "29d", "soon"])
def test_forecast_refuses_a_horizon_out_of_bounds(setup: Path, horizon: str) -> None:
    failed(fenghuo("risk", "forecast", "--data-dir", str(setup / "data"), f"--horizon={horizon}"), "horizon", "28d")


def test_forecast_error_paths(setup: Path, tmp_path: Path) -> None:
    config = str(setup / "config.yaml")
    failed(fenghuo("risk", "forecast", "--config", config, "--data-dir", str(tmp_path / "nope")), "does not exist")
    failed(fenghuo("risk", "forecast", "--config", config, "--data-dir", str(tmp_path)), "no database")
    (tmp_path / "bad.yaml").write_text("risk_forecast: {horizon_days: 99}\n")
    failed(fenghuo("risk", "forecast", "--config", str(tmp_path / "bad.yaml"), "--data-dir", str(setup / "data")),
           "risk_forecast.horizon_days")
    failed(fenghuo("risk", "forecast", "--config", config, "--data-dir", str(setup / "data"), "--node", "G99"),
           "no node 'G99'")
    failed(fenghuo("risk", "forecast", "--config", config, "--data-dir", str(setup / "data"), "--group", "x"),
           "no category group")
    failed(fenghuo("risk", "forecast", "--config", config, "--store", "postgresql://nobody@127.0.0.1:1/none"),
           "cannot open the store")


def test_backtest_error_paths(setup: Path, tmp_path: Path) -> None:
    config = str(setup / "config.yaml")
    failed(fenghuo("risk", "backtest", str(tmp_path / "missing.csv"), "--config", config), "no complaint log")
    (tmp_path / "garbage.csv").write_bytes(b"\xff\xfe\x00garbage\x00" * 50)
    failed(fenghuo("risk", "backtest", str(tmp_path / "garbage.csv"), "--config", config), "garbage.csv")
    elsewhere = tmp_path / "elsewhere.ndjson"
    elsewhere.write_text(json.dumps({"feed": "complaint", "source": "x", "id": "1", "ts": "2015-01-01T00:00:00Z",
                                     "grid": "Z9", "category": "Noise"}) + "\n")
    failed(fenghuo("risk", "backtest", str(elsewhere), "--config", config), "grid tree")
    failed(fenghuo("risk", "backtest", str(setup / "log.ndjson"), "--config", config), "too little history")
    failed(fenghuo("risk", "backtest", str(setup / "log.ndjson"), "--config", config, "--group", "x"),
           "no category group")
