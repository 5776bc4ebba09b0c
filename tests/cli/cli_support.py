"""The ``fenghuo`` command as a user runs it: the installed console script, as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT

SCRIPT = Path(sys.executable).with_name("fenghuo")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "fenghuo"]


def env(**extra: str) -> dict[str, str]:
    """The user's environment without any FENGHUO_ setting of the test run, plus ``extra``."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("FENGHUO_")}
    out.update({"FENGHUO_LOG_LEVEL": "WARNING", **extra})
    return out


def fenghuo(*args: str, cwd: Path | None = None, timeout: float = 300,
            **extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``fenghuo ARGS`` to its end; its exit code, stdout and stderr."""
    return subprocess.run([*COMMAND, *args], cwd=cwd or ROOT, env=env(**extra), capture_output=True, text=True,
                          timeout=timeout, check=False)


def popen(*args: str, cwd: Path | None = None, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*COMMAND, *args], cwd=cwd or ROOT, env=env(**extra), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr[-3000:]


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, their children...), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
