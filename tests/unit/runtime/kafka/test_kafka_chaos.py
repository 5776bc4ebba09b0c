"""The operator's chaos commands as a drill runs them in Kafka mode (real processes, no shell): a kill runs its
command and says what came of it; a pause runs the pause command, then the resume command ``for`` seconds
later, and meanwhile says until when drill calls should wait for the broker; a stopping API resumes at once; a
fault with no command, or a command that cannot run, is said so and nothing is run."""

from __future__ import annotations

import time
from pathlib import Path

from fenghuo.runtime.kafka.chaos import RESUME_GRACE_S, RuntimeChaos


def log_lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_kill_runs_the_configured_command_without_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "killed"
    chaos = RuntimeChaos({"detector-worker": f"touch {marker}", "store-writer": "sh -c 'echo first; echo second'",
                          "alert-service": "no-such-program-here --now"})
    assert chaos.kill("detector-worker") == f"kill detector-worker: ran `touch {marker}` (exit 0)"
    assert marker.exists()
    assert chaos.kill("store-writer").endswith("(exit 0): first")  # the first line of its output only
    assert "could not run `no-such-program-here --now`: FileNotFoundError" in chaos.kill("alert-service")
    injected = tmp_path / "injected"
    chaos = RuntimeChaos({"detector-worker": f"echo x; touch {injected}"})
    note = chaos.kill("detector-worker")  # no shell: `;` and what follows are echo's arguments
    assert note.endswith(f"(exit 0): x; touch {injected}") and not injected.exists()


def test_a_pause_is_resumed_after_its_duration_and_at_close(tmp_path: Path) -> None:
    log = tmp_path / "broker.log"
    chaos = RuntimeChaos({"pause-broker": f"sh -c 'echo paused >> {log}'",
                          "resume-broker": f"sh -c 'echo resumed >> {log}'"})
    before = time.time()
    note = chaos.pause(0.5)
    assert note.startswith("pause_broker for 0.5 s: ran `sh -c") and log_lines(log) == ["paused"]
    assert before + 0.5 + RESUME_GRACE_S <= chaos.paused_until() <= time.time() + 0.5 + RESUME_GRACE_S
    deadline = time.monotonic() + 10
    while log_lines(log) != ["paused", "resumed"]:
        assert time.monotonic() < deadline, log_lines(log)
        time.sleep(0.05)

    chaos.pause(3600.0)  # the API stops long before: it resumes the broker on its way out
    chaos.close()
    assert log_lines(log) == ["paused", "resumed", "paused", "resumed"]


def test_a_fault_without_its_command_is_skipped_and_said_so(tmp_path: Path) -> None:
    log = tmp_path / "broker.log"
    chaos = RuntimeChaos({"pause-broker": f"sh -c 'echo paused >> {log}'"})
    assert chaos.pause(10.0) == "pause_broker skipped: no drills.chaos command for resume-broker"
    assert chaos.kill("detector-worker") == "kill detector-worker skipped: no drills.chaos command for detector-worker"
    assert not log.exists() and chaos.paused_until() == 0.0
