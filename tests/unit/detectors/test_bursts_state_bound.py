"""The complaint bursts' state is bounded whatever the length of the history (issue 19: a district's state had
outgrown one Kafka record, 1 MiB, on a year of Boston 311 and the detector worker exited).

The state is written as the Kafka district stage writes it (``GridState.dumps`` of a ``DistrictRunner``'s grid
state, the record of the worker's changelog), after years of synthetic history (tests/unit/detectors/
bursts_history.py): a steady catalogue, a new category every day, every complaint at a new place.
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import msgpack
import pytest

from fenghuo.core import state as saved
from fenghuo.core.config import Detectors
from fenghuo.core.models import Event
from fenghuo.detectors.bursts import ComplaintBurst
from fenghuo.runtime.kafka.district_runner import DistrictRunner
from fenghuo.runtime.kafka.grid_runner import GridState
from tests.unit.detectors.bursts_history import CATALOGUE, GRIDS, chain, complaints

KAFKA_RECORD = 1024 * 1024  # the producer's max_request_size and the broker's message.max.bytes by default
BURSTS_BOUND = 320 * 1024  # the bursts' state of this district (11 nodes) at max_categories 256, 2 complaints/h
V1_STATE = Path(__file__).parent / "data" / "bursts_district_state_v1.bin.gz"  # written before the bound


def run(events: list[Event], raw: bytes | None = None, batch: int = 500, **params: object
        ) -> tuple[DistrictRunner, bytes, int, int]:
    """The district stage over ``events`` in batches, each state written and read back as the worker does; the
    runner, the last record, the largest record and the largest bursts state written."""
    runner = DistrictRunner(Detectors(bursts=dict(params)), chain)
    most = most_bursts = 0
    for i in range(0, len(events), batch):
        gs = GridState.loads(raw)
        runner.run(gs, [(e, ("ev", 0, i + j), ("hop", 0, i + j), None) for j, e in enumerate(events[i: i + batch])])
        raw = gs.dumps()
        models = saved.unpack(raw, objects=True)["data"]["engine"]["data"]["models"]
        size = len(msgpack.packb(models["bursts"], use_bin_type=True, strict_types=True, default=saved._default))
        most, most_bursts = max(most, len(raw)), max(most_bursts, size)
    assert raw is not None
    return runner, raw, most, most_bursts


def detector(runner: DistrictRunner) -> ComplaintBurst:
    return runner.runner.engine.detectors[0].detectors[None]  # type: ignore[attr-defined,no-any-return]


def test_years_of_history_keep_a_districts_state_within_its_bound(caplog: object) -> None:
    events = list(complaints(540, per_hour=2.0, new_category_days=1.0))
    with caplog.at_level(logging.WARNING, "fenghuo.detectors.bursts"):  # type: ignore[attr-defined]
        runner, _, most, most_bursts = run(events)
    det = detector(runner)
    assert len(det.cat_seen) == 256 and len(det.base.cats) <= 256  # the cap, reached: ...
    assert det.evicted["categories"] > 0  # ...the least recently seen categories were forgotten, and said so
    assert "forgot" in caplog.text  # type: ignore[attr-defined]
    assert most_bursts <= BURSTS_BOUND, f"bursts' state reached {most_bursts / 1024:.0f} KiB"
    assert most < KAFKA_RECORD // 2  # the whole record (with the runtime's recent ids) fits one Kafka record
    assert len(det.last_at) <= 64 + 60  # dedupe places of the last 90 minutes (the last burst), not of 540 days
    assert len(det.keys) <= 512 + 100  # idle keys up to MAX_IDLE_KEYS, not every (node, category) ever seen


def test_every_category_at_every_node_stays_within_the_bound() -> None:
    """The worst case of the cap: all 256 categories seen at every grid (so every node), each many times."""
    cats = CATALOGUE + [f"Other {i}" for i in range(256 - len(CATALOGUE))]
    t0, events = 1_420_070_400.0, []
    for day in range(4):
        for i, cat in enumerate(cats):
            for g, grid in enumerate(GRIDS):
                t = t0 + day * 86400.0 + (i * len(GRIDS) + g) * 40.0
                events.append(Event("complaint", "hotline", t, grid, f"{day}-{i}-{g}", category=cat,
                                    lat=42.3 + g / 100, lon=-71.1 + i / 1000))
    runner, _, most, most_bursts = run(events)
    assert len(detector(runner).base.pair_n) == 256 * 11  # every (node, category): 8 grids, 2 communities, D
    assert most_bursts <= BURSTS_BOUND, f"bursts' state reached {most_bursts / 1024:.0f} KiB"
    assert most < KAFKA_RECORD // 2


def test_a_state_saved_before_the_bound_is_read_and_then_bounded() -> None:
    """A district's state written by the release before the bound (bursts state version 1: every dedupe place
    and every (node, category) key it ever saw) is read, goes on, and sheds what it no longer needs."""
    old = gzip.decompress(V1_STATE.read_bytes())
    assert saved.unpack(old, objects=True)["data"]["engine"]["data"]["models"]["bursts"]["v"] == 1
    runner = DistrictRunner(Detectors(bursts={"warmup_hours": 24}), chain)
    gs = GridState.loads(old)
    first = list(complaints(5, per_hour=2))[-1].ts
    later = [Event("complaint", "hotline", first + 3600.0 * (h + 1), "G1", f"later{h}", category=CATALOGUE[1])
             for h in range(3)]
    before = len(GridState.loads(old).state["data"]["models"]["bursts"]["data"]["detectors"][None].last_at)
    runner.run(gs, [(e, ("ev", 1, i), ("hop", 1, i), None) for i, e in enumerate(later)])
    det = detector(runner)
    assert before > 200 and len(det.last_at) <= 1  # the old dedupe places, gone at the first hour boundary
    assert len(det.cat_seen) == len(det.base.cats) >= 40  # its categories kept, now under the cap
    back = saved.unpack(gs.dumps(), objects=True)["data"]["engine"]["data"]["models"]["bursts"]
    assert back["v"] == 2


def test_a_new_category_beyond_the_cap_forgets_the_least_recently_seen(caplog: object) -> None:
    det = ComplaintBurst(chain=lambda g: [g, "D"])
    det.use_params(type(det.p)(max_categories=3, warmup_hours=0))
    for i, cat in enumerate(["a", "b", "c", "a", "d"]):  # b is then the least recently seen
        with caplog.at_level(logging.WARNING, "fenghuo.detectors.bursts"):  # type: ignore[attr-defined]
            det.process(Event("complaint", "hotline", i * 7200.0, "G1", f"e{i}", category=cat))
    assert list(det.cat_seen) == ["c", "a", "d"]
    assert "b" not in det.base.cats and ("G1", "b") not in det.base.pair_n and det.evicted == {"categories": 1}
    assert "forgot 1 categories" in caplog.text  # type: ignore[attr-defined]


@pytest.mark.parametrize("bad", [0, -3, 10_001])
def test_max_categories_out_of_bounds_is_a_config_error(bad: int) -> None:
    from fenghuo.core.config import ConfigError
    from fenghuo.detectors.registry import REGISTRY

    with pytest.raises(ConfigError, match="max_categories takes 1 to 10000"):
        REGISTRY.get("bursts").parse({"max_categories": bad})


def test_a_backlog_read_out_of_time_order_keeps_the_dedupe_table_bounded_and_the_log_quiet(caplog: object) -> None:
    """A worker catching up reads several partitions at once, each at its own time: the district stage then sees
    complaints jump weeks back and forth, so the hourly prune keeps places "from the future" and the dedupe table
    fills. It stays within MAX_PLACES, forgetting in bulk with one log line per lot (it forgot them one complaint
    at a time, sorting the whole table and logging each time: the largest cost of a catching-up worker)."""
    from fenghuo.detectors.bursts import MAX_PLACES

    det = ComplaintBurst(chain=lambda g: [g, "D"])
    det.use_params(type(det.p)(warmup_hours=0))
    t0, events = 1_420_070_400.0, []
    for i in range(3 * MAX_PLACES):  # every complaint at a new place; two streams four weeks apart, alternating
        t = t0 + (28 * 86400.0 if i % 2 else 0.0) + i * 0.5
        events.append(Event("complaint", "hotline", t, f"G{i % 8}", f"c{i}", category=CATALOGUE[i % 3],
                            lat=42.30 + (i % 997) / 10_000, lon=-71.10 + (i // 997) / 1_000,
                            attrs={"office": f"office {i}"}))
    with caplog.at_level(logging.WARNING, "fenghuo.detectors.bursts"):  # type: ignore[attr-defined]
        for e in events:
            det.process(e)
    forgot = [r for r in caplog.records if "forgot" in r.getMessage()]  # type: ignore[attr-defined]
    assert len(det.last_at) <= MAX_PLACES and len(det.batch_last) <= MAX_PLACES
    assert det.evicted["places"] >= MAX_PLACES  # the oldest places were forgotten, and counted...
    assert 0 < len(forgot) <= 20  # ...in a few lots, not a line per complaint
