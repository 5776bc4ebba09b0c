"""The session's Docker engine and compose stack for tests/compose (skipped, saying why, when no engine can be
started here: not root, no docker.io, dockerd refusing to start)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compose.compose_support import Engine, engine_unavailable


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "compose: runs docker-compose.yml on a private Docker engine (tests/compose)")


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A private dockerd (scripts/docker/engine.sh) with the compose CLI and the local images ready; stopped at
    the end, with every container, network and volume it ran (its images stay: they are the cache)."""
    why = engine_unavailable()
    if why:
        pytest.skip(f"no Docker engine for the compose test: {why}")
    eng = Engine()
    t0 = time.monotonic()
    try:
        why = eng.start()
        if why:
            pytest.skip(f"no Docker engine for the compose test: {why}")
        eng.prepare()
        eng.figures["engine_and_images_s"] = time.monotonic() - t0
        yield eng
    finally:
        eng.stop()


@pytest.fixture(scope="session")
def compose_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compose")
