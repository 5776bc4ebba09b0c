"""The throughput benchmark's detector worker: ``python -m fenghuo.cli.distributed`` with two benchmark-only knobs.

* ``--group-suffix=S`` (with "=", as S starts with a dash): the consumer groups (so the faust app id, and with it
  the grid-state changelog topic) get ``S`` appended, so several runs read the same event topics from offset 0, each
  with fresh state: the batched worker with the example's rules, then with its models, then profiled, on one topic.
* ``--profile PATH``: cProfile of the worker's main thread (the event loop: the agent, the detectors, the state
  and the sends), switched by SIGHUP: the first starts it, the second stops it and writes the stats to PATH
  (atomically), so the profile covers the measured window only, not start-up or shutdown. The aiokafka consumer
  runs in a thread of its own and is not in it (the benchmark reports each thread's CPU from /proc instead).
  mode's worker already takes SIGUSR1 (traceback dump) and SIGUSR2 (debugger), hence SIGHUP.

    python -m benchmarks.throughput_worker --group-suffix=-models --profile w.prof -- worker detectors --partitions 8
"""

from __future__ import annotations

import argparse
import cProfile
import os
import signal
import sys
from pathlib import Path
from types import FrameType


class ProfileSwitch:
    """The SIGHUP handler: the first signal starts a cProfile of the main thread, the second writes it to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.profile: cProfile.Profile | None = None
        self.written = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.profile is None:
            self.profile = cProfile.Profile()
            self.profile.enable()
        elif not self.written:
            self.profile.disable()
            tmp = self.path.with_name(self.path.name + ".tmp")
            self.profile.dump_stats(str(tmp))
            os.replace(tmp, self.path)
            self.written = True


def with_group_suffix(suffix: str) -> None:
    """Every consumer group of this process (``Topics.group``) gets ``suffix``: fresh offsets and changelog."""
    from fenghuo.runtime.kafka.bus import Topics

    plain = Topics.group

    def group(self: Topics, name: str) -> str:
        return plain(self, name) + suffix

    Topics.group = group  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--group-suffix", default="", help="appended to every consumer group id")
    ap.add_argument("--profile", type=Path, help="cProfile the main thread between two SIGHUPs into this file")
    ap.add_argument("rest", nargs=argparse.REMAINDER, help="-- then the fenghuo.cli.distributed arguments")
    args = ap.parse_args(argv)
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    if args.group_suffix:
        with_group_suffix(args.group_suffix)
    if args.profile is not None:
        signal.signal(signal.SIGHUP, ProfileSwitch(args.profile))
    from fenghuo.cli.distributed import main as cli_main

    return cli_main(rest)


if __name__ == "__main__":
    sys.exit(main())
