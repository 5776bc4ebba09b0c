"""Benchmarks that print figures (``make bench``, ``make bench-nab``, ``make bench-skab``); none asserts anything."""

from __future__ import annotations

import argparse
from pathlib import Path

from fenghuo.detectors.anomaly import DETECTORS


def detector_args(description: str, data_help: str, argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """The options every anomaly-model benchmark takes (``--detectors a,b``, ``--data DIR``, ``--workers N``)
    and the chosen registry names; an unknown name is refused by the parser with the list of known ones."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--detectors", default=",".join(DETECTORS), help="comma-separated registry names")
    parser.add_argument("--data", type=Path, default=None, help=data_help)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    detectors = [d.strip() for d in args.detectors.split(",") if d.strip()]
    for d in detectors:
        if d not in DETECTORS:
            parser.error(f"unknown detector {d!r}; choose from {', '.join(DETECTORS)}")
    args.parser = parser
    return args, detectors
