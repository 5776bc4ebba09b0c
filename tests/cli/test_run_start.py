"""What ``fenghuo run`` (and so ``make run``) tells a user at start: the admin key once, where it is kept at
every later start, and what the example configuration needs."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from fenghuo.cli.main import EXAMPLE_CONFIG
from tests.cli.cli_support import fenghuo, popen
from tests.cli.test_signals import _wait_until_serving
from tests.support import free_port


def _start_and_stop(data: Path) -> str:
    port = free_port()
    proc: subprocess.Popen[str] = popen("run", "--demo", "--port", str(port), "--data-dir", str(data))
    _wait_until_serving(proc, port)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    return out


def test_make_run_prints_the_admin_key_once_then_where_it_is_kept(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    first = _start_and_stop(data)
    assert "admin API key: " in first and "(new: created now)" in first
    key = first.split("admin API key: ", 1)[1].split()[0]
    second = _start_and_stop(data)
    assert "admin API key" not in second and key not in second
    assert f"API keys: kept hashed in {data / 'api-keys'}" in second


def test_the_example_configuration_says_it_needs_the_webhook_secret(tmp_path: Path) -> None:
    done = fenghuo("run", "--config", str(EXAMPLE_CONFIG), "--data-dir", str(tmp_path), "--port", "0")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "environment variable FENGHUO_WEBHOOK_SECRET is not set" in done.stderr
