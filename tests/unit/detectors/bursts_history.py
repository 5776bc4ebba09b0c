"""A long synthetic complaint history for one district, as the Kafka district stage takes it: the bound tests of
the bursts' state (tests/unit/detectors/test_bursts_state_bound.py) feed years of it.

Eight grids under two communities under one district; a steady catalogue of categories plus a new one every
``new_category_days`` (a free-text category field: the catalogue grows without end), complaints at places spread
over the district (every place a new dedupe key), a few offices, and a burst of one category now and then.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from fenghuo.core.models import Event

GRIDS = [f"G{i}" for i in range(8)]
CATALOGUE = [f"Category {i:02d}" for i in range(40)]


def chain(grid: str) -> list[str]:
    """A grid, its community and the district."""
    return [grid, f"C{int(grid[1:]) % 2}", "D"] if grid in GRIDS else [grid]


def complaints(days: float, per_hour: float = 3.0, new_category_days: float = 2.0, seed: int = 7,
               start: float = 1_420_070_400.0) -> Iterator[Event]:
    """``days`` of complaints in time order (about ``per_hour`` an hour; a burst of 40 every ten days)."""
    rng = random.Random(seed)
    t, end, n, extra = start, start + days * 86400.0, 0, 0
    next_burst = start + 10 * 86400.0
    while t < end:
        t += rng.expovariate(per_hour / 3600.0)
        if t >= start + (extra + 1) * new_category_days * 86400.0:
            extra += 1
        cat = f"New category {rng.randrange(extra)}" if extra and rng.random() < 0.1 else rng.choice(CATALOGUE)
        yield _one(rng, n, t, rng.choice(GRIDS), cat)
        n += 1
        if t >= next_burst:
            for i in range(40):
                yield _one(rng, n, t + i * 30.0, "G3", CATALOGUE[0])
                n += 1
            t += 40 * 30.0
            next_burst += 10 * 86400.0


def _one(rng: random.Random, n: int, t: float, grid: str, cat: str) -> Event:
    lat, lon = 42.30 + rng.random() * 0.1, -71.10 + rng.random() * 0.1
    return Event("complaint", "hotline", t, grid, f"c{n}", category=cat, lat=lat, lon=lon, text="",
                 attrs={"office": f"office {rng.randrange(5)}"})
