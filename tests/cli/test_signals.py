"""Ctrl-C and SIGTERM as a user or a supervisor sends them to the real ``fenghuo`` command: one line, exit 130
for Ctrl-C, a clean stop for SIGTERM, and no child process left behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from fenghuo.cli.main import EXAMPLE_CONFIG
from fenghuo.demo import demo_files
from tests.cli.cli_support import alive, descendants, fenghuo, popen
from tests.support import Receiver, free_port

GLORIA = next(p for p, fmt in demo_files() if fmt == "hubeau")
SECRET = {"FENGHUO_WEBHOOK_SECRET": "test-only-secret"}
KEY = "admin-key-00000000000"


def _wait_until_serving(proc: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the service did not start")


def _stop(proc: subprocess.Popen[str], sig: int) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError("did not stop within 60 s:\n" + err[-3000:]) from None
    return proc.returncode, err


def test_ctrl_c_during_a_replay_is_one_line_and_exit_130(tmp_path: Path) -> None:
    proc = popen("replay", str(GLORIA), "--format", "hubeau", "--speed", "1", "--data-dir", str(tmp_path / "d"),
                 "--config", str(EXAMPLE_CONFIG), **SECRET)
    assert proc.stderr is not None
    line = proc.stderr.readline()  # said once the pipeline is up: the replay is sleeping toward its next batch
    assert "new data directory" in line, line
    code, err = _stop(proc, signal.SIGINT)
    assert code == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.strip().splitlines()[-1] == "fenghuo: interrupted"


def test_ctrl_c_during_run_is_one_line_and_exit_130(tmp_path: Path) -> None:
    port = free_port()
    proc = popen("run", "--port", str(port), "--data-dir", str(tmp_path / "d"))
    _wait_until_serving(proc, port)
    code, err = _stop(proc, signal.SIGINT)
    assert code == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.strip().splitlines()[-1] == "fenghuo: interrupted"


@pytest.mark.timeout(600)
def test_sigterm_to_run_leaves_no_child_process(tmp_path: Path) -> None:
    receiver = Receiver()
    conf = tmp_path / "config.yaml"  # the example, its webhooks at a local receiver
    conf.write_text(EXAMPLE_CONFIG.read_text(encoding="utf-8").replace("http://127.0.0.1:9009", receiver.url))
    assert yaml.safe_load(conf.read_text(encoding="utf-8"))["detectors"]["forecast"]  # fits in a child process
    port = free_port()
    proc = popen("run", "--port", str(port), "--data-dir", str(tmp_path / "d"), "--config", str(conf),
                 FENGHUO_API_KEYS=f"admin:{KEY}", **SECRET)
    try:
        _wait_until_serving(proc, port)
        fed = fenghuo("replay", str(GLORIA), "--format", "hubeau", "--url", f"http://127.0.0.1:{port}",
                      "--api-key", KEY)
        assert fed.returncode == 0, fed.stderr
        deadline = time.monotonic() + 120
        while not descendants(proc.pid) and time.monotonic() < deadline:  # the forecast's fitting process
            time.sleep(0.2)
        children = descendants(proc.pid)
        assert children, "the forecast detector started no fitting process: this test checks nothing"
        code, err = _stop(proc, signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
        receiver.close()
    assert code == 0, err
    assert "Traceback" not in err and "fenghuo: stopped (SIGTERM)" in err
    deadline = time.monotonic() + 20  # children notice their parent's end asynchronously: a bound, not a timing
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [pid for pid in children if alive(pid)] == []



def test_a_demo_replay_the_service_stops_under_ends_with_one_line(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """``make run`` stopped while its demo drills still replay (the Gloria month takes minutes): the store closes
    under the replay thread, which then ends with one line in the log instead of a traceback on the terminal."""
    import logging
    import os

    from fenghuo.cli.main import _replay_demo_file, demo_config
    from fenghuo.core.config import load_config
    from fenghuo.core.settings import Settings
    from fenghuo.core.store.sqlite import SqliteStore
    from fenghuo.runtime.embedded import Pipeline

    os.environ.setdefault("FENGHUO_WEBHOOK_SECRET", "test-only-secret")
    p = Pipeline(Settings(data_dir=tmp_path / "d", clock="event"), demo_config(load_config(EXAMPLE_CONFIG)),
                 SqliteStore(tmp_path / "d.db"))
    p.store.close()  # what stopping the service does under the thread
    with caplog.at_level(logging.INFO, logger="fenghuo.demo"):
        _replay_demo_file(p, GLORIA, "hubeau", 1e9)  # returns: no exception escapes the thread
    assert any("replay ended early" in r.getMessage() for r in caplog.records), caplog.text


HANGING_STOP = """
import signal, sys, threading, time
import fenghuo.cli.common as common
common.STOP_GRACE_S = 1.0
signal.signal(signal.SIGINT, common.keyboard_interrupt)
try:
    print("ready", flush=True)  # inside the try: a Ctrl-C right after it is the command's, as in a real stop
    time.sleep(60)
except KeyboardInterrupt:
    threading.Event().wait()  # a clean stop that never ends (a lock left held, a thread that never joins)
"""


@pytest.mark.parametrize("twice", [False, True], ids=["waits-the-grace", "second-ctrl-c"])
def test_ctrl_c_ends_a_command_whose_stop_hangs(twice: bool) -> None:
    proc = subprocess.Popen([sys.executable, "-c", HANGING_STOP], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    if twice:
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert ("interrupted again" if twice else "the stop took over 1 s") in err
    assert err.strip().splitlines()[-1] == "fenghuo: interrupted" and "Traceback" not in err


def test_a_stop_that_ends_in_time_disarms_the_watchdog() -> None:
    """main() returns to its caller after Ctrl-C (a test, an embedding program): no forced exit comes later."""
    import fenghuo.cli.common as common

    with pytest.raises(KeyboardInterrupt):
        common.keyboard_interrupt(signal.SIGINT, None)
    assert len(common._interrupts) == 1 and common._interrupts[0].is_alive()
    timer = common._interrupts[0]
    common.disarm_stop_watchdog()
    timer.join(2)
    assert not timer.is_alive() and common._interrupts == []
