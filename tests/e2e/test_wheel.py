"""The wheel as pip installs it: one top-level name, ``fenghuo``, with everything the demo needs inside.

Built from this checkout with pip (build isolation: the build backend pyproject.toml asks for), then
installed with ``--no-deps --target`` into a folder of its own and run from there, far from the
checkout, so nothing is found in the repository by accident.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # built from a copy: setuptools leaves a build/ folder beside the sources it builds
    src = out / "src"
    skip = shutil.ignore_patterns(".venv", ".git", ".data", ".services", ".cache", "build", "*.egg-info", "__pycache__",
                                  ".pytest_cache", ".ruff_cache", ".hypothesis", "artifacts")
    shutil.copytree(ROOT, src, ignore=skip)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = out.glob("fenghuo-*.whl")
    return path


def test_the_wheel_installs_one_top_level_name(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        assert zf.read(top_level).decode().split() == ["fenghuo"]
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"fenghuo"}


def test_the_wheel_carries_the_demo_and_the_stages(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    for needed in ("fenghuo/demo/fenghuo.example.yaml", "fenghuo/demo/gloria_river_levels.csv.gz",
                   "fenghuo/demo/boston311_blizzard_2015.csv.gz", "fenghuo/api/static/index.html",
                   "fenghuo/ingest/events.py", "fenghuo/detectors/engine.py", "fenghuo/alerts/service.py",
                   "fenghuo/core/store/sqlite.py", "fenghuo/runtime/embedded.py",
                   "fenghuo/drills/scenarios/gloria-flood.yaml", "fenghuo/drills/control.py"):
        assert needed in names, needed
    assert any(n.startswith("fenghuo/detectors/text/data/") for n in names)


def test_the_installed_wheel_runs_the_demo_config_from_inside_the_package(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                           str(wheel)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    env = {**os.environ, "PYTHONPATH": str(target), "FENGHUO_WEBHOOK_SECRET": "a-test-secret"}
    probe = ("import fenghuo, fenghuo.api.app, fenghuo.runtime.embedded\n"
             "from fenghuo.cli.main import EXAMPLE_CONFIG\n"
             "print(fenghuo.__file__); print(EXAMPLE_CONFIG)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    package, example = done.stdout.split()
    assert package.startswith(str(target)) and example.startswith(str(target))
    done = subprocess.run([sys.executable, "-m", "fenghuo", "check-config", example], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
