"""docker-compose.yml, checked without a Docker engine: it parses, references only files that
exist, uses only variables documented in deploy/.env.example (or, for the image overrides, with a default and
in docs/deploy.md), gates start-up on health checks and runs at least two detector workers.
tests/compose/ runs it on a real engine."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.support import ROOT

COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?][^}]*)?\}")
DEPLOY_DOC = ROOT / "docs" / "deploy.md"


def default(value: str) -> str:
    """``${NAME:-default}`` -> ``default`` (what runs when NAME is not set); anything else as it is."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}", r"\1", value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]  # type: ignore[no-any-return]


def test_the_stack_is_all_there(compose: dict[str, Any]) -> None:
    assert {"kafka", "db", "grafana", "api", "topics", "detectors", "alerts", "store-writer"} <= set(services(compose))
    assert default(services(compose)["kafka"]["image"]).startswith("apache/kafka:")
    # the version tests build
    assert default(services(compose)["db"]["image"]) == "timescale/timescaledb:2.28.3-pg15"
    env = services(compose)["kafka"]["environment"]
    assert "controller" in env["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper


def test_build_contexts_and_mounted_files_exist(compose: dict[str, Any]) -> None:
    for name, svc in services(compose).items():
        build = svc.get("build")
        if build:
            context = ROOT / build["context"]
            assert context.is_dir(), name
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name
        for vol in svc.get("volumes", []):
            source = vol.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
            else:
                assert source in (compose.get("volumes") or {}), f"{name}: named volume {source} is not declared"


def test_every_variable_has_a_default_or_is_documented(compose: dict[str, Any]) -> None:
    documented = {line.split("=", 1)[0].strip() for line in ENV_EXAMPLE.read_text().splitlines()
                  if "=" in line and not line.lstrip().startswith("#")}
    deploy_doc = DEPLOY_DOC.read_text(encoding="utf-8")
    for match in VAR.finditer(COMPOSE.read_text(encoding="utf-8")):
        name = match.group(1)
        if name.endswith("_IMAGE") and (match.group(2) or "").startswith(":-"):
            assert f"`{name}`" in deploy_doc, f"image override {name} is not described in docs/deploy.md"
            continue
        assert name in documented, f"{name} is used by docker-compose.yml but not described in deploy/.env.example"


def test_health_checks_gate_the_start_order(compose: dict[str, Any]) -> None:
    svcs = services(compose)
    for name in ("kafka", "db", "api"):
        assert svcs[name]["healthcheck"]["test"], name
    assert svcs["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name in ("api", "detectors", "alerts", "store-writer"):
        deps = svcs[name]["depends_on"]
        assert deps["kafka"]["condition"] == "service_healthy", name
        assert deps["db"]["condition"] == "service_healthy", name
        assert deps["topics"]["condition"] == "service_completed_successfully", name
    for name, svc in svcs.items():
        for dep in svc.get("depends_on", {}):
            assert dep in svcs, f"{name} depends on unknown {dep}"


def test_workers_scale_out_and_run_the_right_commands(compose: dict[str, Any]) -> None:
    svcs = services(compose)
    assert svcs["detectors"]["deploy"]["replicas"] >= 2
    assert svcs["detectors"]["command"][:2] == ["worker", "detectors"]
    assert svcs["alerts"]["command"] == ["worker", "alerts"]
    assert svcs["store-writer"]["command"] == ["worker", "store-writer"]
    assert svcs["topics"]["command"][:2] == ["kafka", "create-topics"]
    env = svcs["api"]["environment"]
    assert env["FENGHUO_BUS"] == "kafka" and env["FENGHUO_STORE_URL"].startswith("postgresql://")
    assert env["FENGHUO_KAFKA_BOOTSTRAP"] == "kafka:9092"


def test_dockerfile_copies_what_exists() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    for src in re.findall(r"^COPY\s+(.+?)\s+\S+$", text, re.M):
        for part in src.split():
            assert (ROOT / part).exists(), f"the Dockerfile copies {part}, which does not exist"
