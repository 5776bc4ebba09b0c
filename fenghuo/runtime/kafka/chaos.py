"""Faults a drill scenario injects into the distributed runtime: the operator's commands, run by the API process.

In Kafka mode the API process does not own the workers or the broker, so a scenario's ``kill`` and
``pause_broker`` run the commands the operator configured under ``drills.chaos`` (the config file only, never a
request): ``detector-worker``, ``alert-service``, ``store-writer``, ``pause-broker`` and ``resume-broker``, e.g.
``systemctl kill -s KILL fenghuo-detector@0`` or ``docker kill fenghuo-alerts-1``. A command is split with
:func:`shlex.split` and run without a shell (write ``sh -c '...'`` for a pipeline), with a 30 s timeout; only the
first line of its output is kept (in the run's notes). A pause schedules the resume ``for`` seconds later (wall
time); a pause with no resume command configured is not made (the broker would stay paused).

>>> done = []
>>> def fake_run(args, **kw):
...     done.append(args)
...     return subprocess.CompletedProcess(args, 0, stdout="killed 4242\\nmore", stderr="")
>>> chaos = RuntimeChaos({"detector-worker": "pkill-one detectors 0"}, run=fake_run)
>>> chaos.kill("detector-worker")
'kill detector-worker: ran `pkill-one detectors 0` (exit 0): killed 4242'
>>> chaos.kill("alert-service")
'kill alert-service skipped: no drills.chaos command for alert-service'
>>> chaos.pause(60.0)
'pause_broker skipped: no drills.chaos command for pause-broker'
>>> done
[['pkill-one', 'detectors', '0']]
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import threading
import time
from collections.abc import Callable

log = logging.getLogger("fenghuo.drills.chaos")
TIMEOUT_S = 30.0
RESUME_GRACE_S = 60.0  # after the resume, how long drill calls keep retrying while the broker comes back

Run = Callable[..., subprocess.CompletedProcess[str]]


class RuntimeChaos:
    """Runs the configured chaos commands; ``paused_until()``: while a pause it made (and the broker's return)
    may still be going, the wall time until which drill calls wait for the broker rather than fail."""

    def __init__(self, commands: dict[str, str], *, run: Run = subprocess.run,
                 wall: Callable[[], float] = time.time) -> None:
        self.commands = dict(commands)
        self.run_command = run
        self.wall = wall
        self.lock = threading.Lock()
        self.timers: list[threading.Timer] = []
        self._until = 0.0

    def _run(self, target: str) -> str:
        line = self.commands[target]
        try:
            done = self.run_command(shlex.split(line), shell=False, capture_output=True, text=True,
                                    timeout=TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            return f"ran `{line}`: no exit within {TIMEOUT_S:g} s"
        except (OSError, ValueError) as exc:
            return f"could not run `{line}`: {type(exc).__name__}: {exc}"
        first = next((x.strip() for x in f"{done.stdout or ''}\n{done.stderr or ''}".splitlines() if x.strip()), "")
        return f"ran `{line}` (exit {done.returncode})" + (f": {first[:200]}" if first else "")

    def kill(self, target: str) -> str:
        """Kill ``target`` (detector-worker, alert-service, store-writer) with the operator's command."""
        if target not in self.commands:
            return f"kill {target} skipped: no drills.chaos command for {target}"
        note = f"kill {target}: {self._run(target)}"
        log.warning("drill chaos: %s", note)
        return note

    def pause(self, seconds: float) -> str:
        """Pause the broker now and resume it ``seconds`` later (a timer)."""
        for needed in ("pause-broker", "resume-broker"):
            if needed not in self.commands:
                return f"pause_broker skipped: no drills.chaos command for {needed}"
        with self.lock:
            self._until = max(self._until, self.wall() + seconds + RESUME_GRACE_S)
        note = f"pause_broker for {seconds:g} s: {self._run('pause-broker')}"
        timer = threading.Timer(seconds, self._resume)
        timer.daemon = True
        with self.lock:
            self.timers.append(timer)
        timer.start()
        log.warning("drill chaos: %s", note)
        return note

    def _resume(self) -> None:
        log.warning("drill chaos: resume-broker: %s", self._run("resume-broker"))

    def paused_until(self) -> float:
        with self.lock:
            return self._until

    def close(self) -> None:
        """Resume now what is still paused (a stopping API never leaves the broker paused)."""
        with self.lock:
            pending, self.timers = [t for t in self.timers if t.is_alive()], []
        for t in pending:
            t.cancel()
        if pending:
            self._resume()

