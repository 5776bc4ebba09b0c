"""What every command shares: option types that refuse bad values as usage errors (exit 2), the data
directory guard (a mistyped ``--data-dir`` is refused, never silently created), the count of rejection
reasons a replay prints, and the clean stop on SIGTERM.

Exit codes of every command: 0 done; 1 the command ran and failed (records rejected, a chain broken, the
service unreachable, an unexpected error); 2 it could not start as asked (a usage error: a bad option value,
a missing or malformed input file or configuration, a data directory that does not exist); 130 stopped by
Ctrl-C (SIGINT).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fenghuo.core.settings import Settings

DEFAULT_NOTIFY_MAX_AGE = 3600.0  # seconds: a queued notification older than this is expired, not sent
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def speed_arg(text: str) -> float | None:
    """``--speed``: a positive finite number (times real time) or ``max`` (None: as fast as possible).

    >>> speed_arg("max"), speed_arg("600")
    (None, 600.0)
    >>> speed_arg("-5")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: takes a number above 0 (times real time) or max, not '-5'
    """
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"takes a number above 0 (times real time) or max, not {text!r}")
    return value


def positive_int(text: str) -> int:
    """An option that counts something: 1 or more.

    >>> positive_int("3")
    3
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes a whole number of 1 or more, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"takes a whole number of 1 or more, not {text!r}")
    return value


def port_arg(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535.

    >>> port_arg("8000")
    8000
    """
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"takes a port number from 0 to 65535, not {text!r}")
    return value


def listen_problem(host: str, port: int) -> str | None:
    """Why the service could not listen on ``host:port`` (in use, an unknown address), or None."""
    import errno
    import socket

    if port == 0:
        return None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        return f"cannot listen on {host}:{port}: unknown address ({exc}); pass --host (e.g. 127.0.0.1 or 0.0.0.0)"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (f"port {port} on {host} is in use by another process: pass --port (or set FENGHUO_PORT) "
                        f"to a free one, or stop that process (ss -ltnp | grep :{port})")
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def positive_float(text: str) -> float:
    """A positive finite number of seconds or the like.

    >>> positive_float("0.05")
    0.05
    """
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"takes a number above 0, not {text!r}")
    return value


def duration(text: str) -> float:
    """Seconds from ``3600``, ``90s``, ``30m``, ``1h`` or ``2d``; ValueError otherwise.

    >>> duration("1h"), duration("90s"), duration("600")
    (3600.0, 90.0, 600.0)
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not m:
        raise ValueError(f"takes a duration such as 3600, 30m, 1h or 2d, not {text!r}")
    return float(m.group(1)) * _UNITS.get(m.group(2) or "s", 1.0)


def notify_max_age(flag: str | None) -> float:
    """The bound on a queued notification's age (``--notify-max-age``, else ``FENGHUO_NOTIFY_MAX_AGE``,
    else one hour); ValueError naming the source for a bad value."""
    import os

    text, source = (flag, "--notify-max-age") if flag is not None else \
        (os.environ.get("FENGHUO_NOTIFY_MAX_AGE"), "FENGHUO_NOTIFY_MAX_AGE")
    if text is None or not text.strip():
        return DEFAULT_NOTIFY_MAX_AGE
    try:
        return duration(text)
    except ValueError as exc:
        raise ValueError(f"{source} {exc}") from None


def sqlite_path(settings: Settings) -> Path | None:
    """The SQLite database a command would open (None: PostgreSQL)."""
    url = settings.store_url
    if url.startswith(("postgresql://", "postgres://")):
        return None
    return Path(url.removeprefix("sqlite:///")) if url else Path(settings.data_dir) / "fenghuo.db"


def missing_data_dir(settings: Settings) -> str | None:
    """Why the data directory cannot be the one meant (it does not exist), or None (it exists, or the store
    is PostgreSQL or an explicit SQLite URL)."""
    if settings.store_url:
        return None
    if Path(settings.data_dir).is_dir():
        return None
    return (f"the data directory {settings.data_dir} does not exist (a mistyped --data-dir?); "
            "pass the directory the service runs on (fenghuo run and fenghuo replay create a new one)")


def missing_database(settings: Settings) -> str | None:
    """Why there is no database to read (for the commands that only read one), or None."""
    problem = missing_data_dir(settings)
    if problem:
        return problem
    from fenghuo.core.store.sqlite import marker_path

    path = sqlite_path(settings)
    if path is not None and not path.exists() and not marker_path(path).exists():
        return (f"there is no database at {path} (a mistyped --data-dir? pass the directory fenghuo run or "
                "fenghuo replay wrote)")
    return None


_NUMBERS = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def reason_of(error: str) -> str:
    """A rejection's reason without the record's own values, so that equal reasons count together.

    >>> reason_of("lat 91.5 is out of range")
    'lat … is out of range'
    >>> reason_of("unknown grid 'X-12'")
    'unknown grid …'
    """
    return _NUMBERS.sub("…", _QUOTED.sub("…", str(error)))


class RejectionCount:
    """Counts the reasons of every rejected record of a replay (the sink's answers)."""

    def __init__(self) -> None:
        self.reasons: Counter[str] = Counter()

    def counting(self, sink: Callable[[list[dict[str, Any]]], dict[str, Any]]
                 ) -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
        def counted(batch: list[dict[str, Any]]) -> dict[str, Any]:
            answer = sink(batch)
            if isinstance(answer, dict):
                for item in answer.get("rejected") or []:
                    self.reasons[reason_of(item.get("error", "?") if isinstance(item, dict) else item)] += 1
            return answer

        return counted

    def report(self, config_given: bool, shown: int = 10) -> str:
        """The reasons, most frequent first, with a count each; a hint when no configuration was given."""
        total = sum(self.reasons.values())
        lines = [f"rejected {total} record(s), by reason:"]
        for reason, n in self.reasons.most_common(shown):
            lines.append(f"  {n:>8}  {reason}")
        rest = len(self.reasons) - shown
        if rest > 0:
            lines.append(f"  ... and {rest} other reason(s)")
        if not config_given:
            lines.append("no --config was given: without the configuration's grids (nodes) no record can be placed; "
                         "pass --config FILE (or set FENGHUO_CONFIG)")
        lines.append("the rejected records are kept with their reasons in the dead-letter store (GET /v1/deadletters)")
        return "\n".join(lines)


class Stopped(Exception):
    """SIGTERM arrived: the command stops as after Ctrl-C, but with a normal exit (code 0)."""


class Interrupted(Exception):
    """SIGINT (Ctrl-C) arrived: exit 130. Not a KeyboardInterrupt, which uvicorn swallows after its stop."""


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM raises :class:`Stopped` and SIGINT :class:`Interrupted` in the main thread. uvicorn takes both
    while it serves, stops gracefully, then raises the signal again: it lands here, instead of ending the
    process at once (SIGTERM's default, which skips the interpreter's exit and leaves child processes behind)
    or being swallowed (a KeyboardInterrupt, which made Ctrl-C exit 0)."""

    def stopped(_signum: int, _frame: Any) -> None:
        raise Stopped()

    def interrupted(_signum: int, _frame: Any) -> None:
        arm_stop_watchdog()
        raise Interrupted()

    try:
        previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, stopped),
                    signal.SIGINT: signal.signal(signal.SIGINT, interrupted)}
    except ValueError:  # not the main thread (tests): nothing to install
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


STOP_GRACE_S = 45.0  # after Ctrl-C, how long the command may take to stop cleanly (a store purge waits 30 s at most)


def _exit_now(why: str) -> None:
    """Ctrl-C must end the command even if its clean stop hangs: end the child processes, say so, exit 130."""
    print(why, file=sys.stderr, flush=True)
    end_child_processes()
    print("fenghuo: interrupted", file=sys.stderr, flush=True)
    os._exit(130)


_interrupts: list[threading.Timer] = []


def arm_stop_watchdog() -> None:
    """Ctrl-C arrived: the command stops cleanly, but within :data:`STOP_GRACE_S`; a second Ctrl-C ends it now."""
    if _interrupts:
        _exit_now("fenghuo: interrupted again: ending now")
    timer = threading.Timer(STOP_GRACE_S, _exit_now, (f"fenghuo: the stop took over {STOP_GRACE_S:.0f} s after "
                                                      "Ctrl-C: ending now",))
    timer.daemon = True
    _interrupts.append(timer)
    timer.start()


def disarm_stop_watchdog() -> None:
    """The command has stopped (and returns to its caller, e.g. a test calling ``main``): no forced exit later."""
    while _interrupts:
        _interrupts.pop().cancel()


def keyboard_interrupt(_signum: int, _frame: Any) -> None:
    """Every command's SIGINT handler (Python's, plus the watchdog above)."""
    arm_stop_watchdog()
    raise KeyboardInterrupt


def end_child_processes() -> None:
    """End the process pools this process started (the forecast's fitting process), before exiting."""
    import sys

    forecast = sys.modules.get("fenghuo.detectors.forecast")  # (only if this process imported it)
    if forecast is not None:
        with contextlib.suppress(Exception):
            forecast.close_fit_process()
    import multiprocessing

    for child in multiprocessing.active_children():
        with contextlib.suppress(Exception):
            child.terminate()
            child.join(5)


TIME_FORMATS = ("ISO 8601 (2024-01-31, 2024-01-31T06:00:00Z, 2024-01-31 06:00+08:00; no zone: UTC), "
                "epoch seconds, now, today, yesterday (midnight UTC), or a time before now: -90m, -6h, -7d")


def parse_time(text: str, now: float) -> float:
    """A time for an option, relative ones counted back from ``now``; ValueError listing what is accepted.

    >>> parse_time("2020-01-22T10:00:00Z", 0.0), parse_time("1579687200", 0.0)
    (1579687200.0, 1579687200.0)
    >>> parse_time("yesterday", 1579687200.0), parse_time("-6h", 1579687200.0)
    (1579564800.0, 1579665600.0)
    """
    from fenghuo.core.models import parse_ts

    word = text.strip().lower()
    midnight = now - now % 86400
    if word == "now":
        return now
    if word in ("today", "yesterday"):
        return midnight - (86400 if word == "yesterday" else 0)
    m = re.fullmatch(r"-\s*(\d+(?:\.\d+)?)\s*([smhd])", word)
    if m:
        return now - float(m.group(1)) * _UNITS[m.group(2)]
    try:
        value = float(word)
    except ValueError:
        pass
    else:
        if math.isfinite(value):
            return value
    try:
        return parse_ts(text.strip())
    except (ValueError, OverflowError):
        raise ValueError(f"{text!r} is not a time: use {TIME_FORMATS}") from None


def time_arg(text: str) -> float:
    """``parse_time`` against the wall clock, as an argparse type (a bad time is a usage error)."""
    import time

    try:
        return parse_time(text, time.time())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
