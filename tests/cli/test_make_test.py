"""``make test`` (scripts/test.sh) as a developer meets it: a busy port is named with the variable to set, and
one Ctrl-C or a SIGTERM stops the tests and leaves no PostgreSQL, Kafka or temporary folder behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli.cli_support import alive, descendants
from tests.support import ROOT, free_port

KAFKA_CACHE = Path(os.environ.get("FENGHUO_TEST_KAFKA_CACHE", Path.home() / ".cache/fenghuo/kafka"))
HAS_SERVICES = Path("/usr/lib/postgresql/15/bin/postgres").exists() and (KAFKA_CACHE / "libs").is_dir()


def _script(args: list[str], env: dict[str, str], **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(["bash", "scripts/test.sh", *args], cwd=ROOT, env={**os.environ, **env}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)  # type: ignore[call-overload]


def test_a_busy_port_is_named_with_the_variable_to_set() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _script(["--collect-only", "-q"], {"FENGHUO_TEST_PG_PORT": str(port),
                                                  "FENGHUO_TEST_KAFKA_PORT": str(free_port()),
                                                  "FENGHUO_TEST_TSDB_PORT": str(free_port())})
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert f"port {port} (the test PostgreSQL) is in use" in err and "set FENGHUO_TEST_PG_PORT" in err


def _services_left(before: set[str]) -> set[str]:
    return {str(p) for p in Path("/tmp").glob("fenghuo-services.*")} - before


@pytest.mark.skipif(not HAS_SERVICES, reason="PostgreSQL 15 and the Kafka jars are not installed (make test "
                                             "installs them)")
@pytest.mark.timeout(400)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_one_signal_stops_the_tests_and_their_services(tmp_path: Path, sig: int) -> None:
    sleeper = tmp_path / "test_sleeper.py"
    sleeper.write_text("import subprocess, time\n\ndef test_sleeps():\n"
                       "    subprocess.Popen(['sleep', '600'])\n    time.sleep(600)\n")
    pg, kafka = free_port(), free_port()
    before = {str(p) for p in Path("/tmp").glob("fenghuo-services.*")}
    proc = _script([str(sleeper), "-p", "no:cacheprovider"], {
        "FENGHUO_TEST_PG_PORT": str(pg), "FENGHUO_TEST_KAFKA_PORT": str(kafka),
        "FENGHUO_TEST_TSDB_PORT": str(free_port()), "KAFKA_CONTROLLER_PORT": str(free_port()),
        "FENGHUO_TEST_WORKERS": "0"},
        start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 300
        sleeping: set[int] = set()
        while time.monotonic() < deadline and proc.poll() is None:  # services up, the tests running
            sleeping = {p for p in descendants(proc.pid) if Path(f"/proc/{p}/cmdline").exists()
                        and b"sleep\x00600" in Path(f"/proc/{p}/cmdline").read_bytes()}
            if sleeping:
                break
            time.sleep(0.5)
        assert sleeping, "the tests did not start"
        started = descendants(proc.pid)
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)  # a terminal's Ctrl-C: the foreground process group
        else:
            proc.send_signal(sig)  # a supervisor's SIGTERM: the script alone
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == (130 if sig == signal.SIGINT else 143), err[-2000:]
    deadline = time.monotonic() + 30  # the broker's JVM and the postmaster end asynchronously
    while any(alive(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert [p for p in started if alive(p)] == []
    assert _services_left(before) == set()
    for port in (pg, kafka):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"something still listens on {port}"
