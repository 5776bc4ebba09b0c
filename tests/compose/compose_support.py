"""The compose test's real parts: a private Docker engine (scripts/docker/engine.sh), the compose CLI
(scripts/docker/compose.sh), the images built from Debian's packages (scripts/docker/images.sh), and a
``docker compose`` project of docker-compose.yml plus a test override (the flood configuration, the event
clock, the test's ports).

Why the engine can be missing: dockerd needs root and Debian's docker.io (installed with apt-get when missing);
:func:`engine_unavailable` says why, and the tests are skipped with that reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from tests.support import ROOT

SCRIPTS = ROOT / "scripts" / "docker"
PROJECT = "fenghuo-ct"  # the compose project of the test (containers fenghuo-ct-SERVICE-N)
# the test's own ports and addresses (make test's services use 55432/55433 and 59092/59093)
API_PORT = int(os.environ.get("FENGHUO_TEST_COMPOSE_API_PORT", "56800"))
DB_PORT = int(os.environ.get("FENGHUO_TEST_COMPOSE_DB_PORT", "56432"))
SUBNET, GATEWAY = "172.30.56.0/24", "172.30.56.1"  # the stack's own bridge; the host is its gateway
PARTITIONS = 2  # two grids on two partitions, one per detector worker (tests/integration/kafka/test_kafka_faults.py)
PG_USER, PG_PASSWORD, PG_DB = "fenghuo", "compose-test-pw", "fenghuo"
KEYS = {"viewer": "viewer-key-000000000", "responder": "responder-key-0000000",
        "analyst": "analyst-key-000000000", "admin": "admin-key-00000000000"}
FENGHUO_SERVICES = ["topics", "api", "detectors", "alerts", "store-writer"]


def _run(args: list[str], env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _assignments(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and line.split("=", 1)[0].isupper())


def engine_unavailable() -> str | None:
    """Why no engine can be started here (None: it can)."""
    if os.environ.get("FENGHUO_TEST_COMPOSE", "") in ("0", "skip"):
        return "FENGHUO_TEST_COMPOSE=skip"
    if os.geteuid() != 0:
        return f"dockerd needs root (we are uid {os.geteuid()})"
    if not shutil.which("docker"):
        return "no docker client on PATH"
    got = _run([str(SCRIPTS / "engine.sh"), "install"], timeout=900)
    if got.returncode != 0:
        return "Debian's docker.io could not be installed: " + got.stderr.strip()[-500:]
    return None


class Engine:
    """A dockerd of this test session (its state in a short temporary folder, its data root in the cache);
    stopped by :meth:`stop`, or by engine.sh's watcher when this process is gone (SIGKILL, Ctrl-C)."""

    def __init__(self) -> None:
        self.state = Path(tempfile.mkdtemp(prefix="fhd.", dir="/tmp"))
        self.env: dict[str, str] = {}
        self.figures: dict[str, float] = {}

    def start(self) -> str | None:
        """Start the engine: None, or why it did not start."""
        got = _run([str(SCRIPTS / "engine.sh"), "start", str(self.state), str(os.getpid())], timeout=120)
        if got.returncode != 0:
            return "dockerd did not start: " + got.stderr.strip()[-800:]
        self.env = {**os.environ, **_assignments(got.stdout)}
        return None

    def prepare(self) -> None:
        """The compose CLI and the images (built when missing, else found in the engine's cache)."""
        t0 = time.monotonic()
        got = _run([str(SCRIPTS / "compose.sh"), "install"], self.env, timeout=1800)
        assert got.returncode == 0, got.stderr[-3000:]
        self.env.update(_assignments(got.stdout))
        t1 = time.monotonic()
        got = _run([str(SCRIPTS / "images.sh"), "build"], self.env, timeout=3600)
        assert got.returncode == 0, got.stderr[-3000:]
        self.env.update(_assignments(got.stdout))
        self.figures.update(compose_cli_s=t1 - t0, images_s=time.monotonic() - t1)

    def docker(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return _run(["docker", *args], self.env, timeout)

    def stop(self) -> None:
        _run([str(SCRIPTS / "engine.sh"), "stop", str(self.state)], timeout=120)
        shutil.rmtree(self.state, ignore_errors=True)


def override(config_path: Path) -> dict[str, Any]:
    """The test's additions to docker-compose.yml: the flood configuration mounted at /config/flood.yaml, the
    event clock (the flood is from January 2020), the database's port on 127.0.0.1 for the test's store reads,
    a fixed subnet for the stack's bridge (the webhook receiver listens on its gateway), quicker health checks."""
    fast = {"interval": "2s", "start_period": "0s"}
    env = {"FENGHUO_CLOCK": "event", "FENGHUO_TICK_SECONDS": "0.1"}
    services: dict[str, Any] = {
        name: {"environment": env, "volumes": [f"{config_path}:/config/flood.yaml:ro"]}
        for name in FENGHUO_SERVICES}
    for name in ("api", "detectors", "alerts", "store-writer"):
        services[name]["healthcheck"] = fast
    services["kafka"] = {"healthcheck": fast}
    services["db"] = {"healthcheck": {"interval": "1s", "start_period": "0s"},
                      "ports": [f"127.0.0.1:{DB_PORT}:5432"]}
    return {"services": services, "networks": {"default": {"ipam": {"config": [{"subnet": SUBNET}]}}}}


class Stack:
    """``docker compose -p fenghuo-ct -f docker-compose.yml -f <override>`` on the session's engine."""

    def __init__(self, engine: Engine, tmp: Path, config: dict[str, Any]) -> None:
        self.engine = engine
        config_path = tmp / "flood.yaml"
        config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        config_path.chmod(0o644)
        self.override = tmp / "compose.test.yml"
        self.override.write_text(yaml.safe_dump(override(config_path)), encoding="utf-8")
        self.env = {**engine.env, "COMPOSE_PROJECT_NAME": PROJECT, "FENGHUO_API_PORT": str(API_PORT),
                    "FENGHUO_CONFIG_FILE": "/config/flood.yaml", "FENGHUO_PARTITIONS": str(PARTITIONS),
                    "FENGHUO_API_KEYS": ",".join(f"{r}:{k}" for r, k in KEYS.items()),
                    "FENGHUO_PG_USER": PG_USER, "FENGHUO_PG_PASSWORD": PG_PASSWORD, "FENGHUO_PG_DB": PG_DB}
        self.env.pop("COMPOSE_PROFILES", None)  # Grafana stays out (no image of it can be had here)
        self.store_url = f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{DB_PORT}/{PG_DB}"

    def compose(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        got = _run(["docker", "compose", "-f", str(ROOT / "docker-compose.yml"), "-f", str(self.override), *args],
                   self.env, timeout)
        if check:
            assert got.returncode == 0, f"docker compose {' '.join(args)}: {got.stderr[-3000:]}"
        return got

    def ps(self) -> list[dict[str, Any]]:
        """Every container of the project, running or not (``docker compose ps -a``, JSON)."""
        out = self.compose("ps", "-a", "--format", "json").stdout.strip()
        if not out:
            return []
        if out.startswith("["):
            return json.loads(out)  # type: ignore[no-any-return]
        return [json.loads(line) for line in out.splitlines()]

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "--tail", "40", check=False).stdout[-12000:]

    def container(self, service: str, index: int = 1) -> str:
        return f"{PROJECT}-{service}-{index}"

    def inspect(self, name: str, fmt: str) -> str:
        got = self.engine.docker("inspect", "-f", fmt, name)
        assert got.returncode == 0, got.stderr
        return got.stdout.strip()

    def leftovers(self) -> dict[str, list[str]]:
        """The project's containers, networks and volumes the engine still has."""
        label = f"label=com.docker.compose.project={PROJECT}"
        found = {}
        for kind, args in (("containers", ["ps", "-aq"]), ("networks", ["network", "ls", "-q"]),
                           ("volumes", ["volume", "ls", "-q"])):
            got = self.engine.docker(*args, "--filter", label)
            assert got.returncode == 0, got.stderr
            found[kind] = got.stdout.split()
        return found
