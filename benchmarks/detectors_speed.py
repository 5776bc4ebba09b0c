"""Events/s of each detector alone, on real data (Hub'Eau river levels, Boston 311 complaints).

    python -m benchmarks.detectors_speed [--rows N]

Series detectors (detectors/anomaly) score then learn every reading of the 47 river gauges; the
rule engine runs the example configuration's rules; model detectors run in the engine (DetectorEngine.add).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

from benchmarks.embedded import DATA, load_records
from fenghuo.cli.main import EXAMPLE_CONFIG, demo_config
from fenghuo.core.config import Detectors, load_config
from fenghuo.core.grids import GridTree
from fenghuo.core.models import Event
from fenghuo.detectors.anomaly import DETECTORS, make_detector
from fenghuo.detectors.engine import DetectorEngine
from fenghuo.detectors.registry import add_models
from fenghuo.ingest.events import make_resolver, parse_event


def events(limit: int | None) -> tuple[list[Event], list[Event], Any]:
    os.environ.setdefault("FENGHUO_WEBHOOK_SECRET", "bench-only")
    config = demo_config(load_config(EXAMPLE_CONFIG))
    tree = GridTree(config.nodes, config.grid_match_km)
    resolve = make_resolver(tree)
    evs = [parse_event(r, resolve) for r in load_records(limit)]
    return [e for e in evs if e.feed == "sensor"], [e for e in evs if e.feed != "sensor"], (config, tree)


def rate(n: int, fn: Callable[[], None]) -> float:
    t = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=None, help="first N records of the merged replay")
    ap.add_argument("--series-rows", type=int, default=60_000, help="readings for each series detector")
    args = ap.parse_args()
    sensors, complaints, (config, tree) = events(args.rows)
    print(f"data: {len(sensors):,} river readings, {len(complaints):,} complaints ({DATA})")
    chain = [n.id for n in tree.chain(sensors[0].grid)]
    rules = DetectorEngine(config.rules, lambda g: [n.id for n in tree.chain(g)] or [g])
    both = sorted(sensors + complaints, key=lambda e: e.ts)
    print(f"{'rules (example config)':28s} {rate(len(both), lambda: rules.process(both)):>12,.0f} events/s")
    for name, cfg in (("complaint bursts", Detectors(bursts={"tz": "America/New_York"})),
                      ("corroboration", Detectors(fusion={}))):
        eng = DetectorEngine(config.rules, lambda g: [n.id for n in tree.chain(g)] or [g])
        add_models(eng, cfg, None)
        print(f"{'rules + ' + name:28s} {rate(len(both), lambda e=eng: e.process(both)):>12,.0f} events/s")
    sample = sensors[: args.series_rows]
    for name in DETECTORS:
        dets: dict[str, Any] = {}

        def run(name: str = name, dets: dict[str, Any] = dets) -> None:
            for e in sample:
                d = dets.get(e.source)
                if d is None:
                    d = dets[e.source] = make_detector(name)
                d.score_one(e.ts, e.value)
                d.learn_one(e.ts, e.value)

        print(f"{'series: ' + name:28s} {rate(len(sample), run):>12,.0f} events/s")
    del chain


if __name__ == "__main__":
    main()
