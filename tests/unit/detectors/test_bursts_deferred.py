"""ComplaintBurst works the expected count out only when the count could make it matter (``min_count`` or more
in the window, or a signal to write): the results, and what the baseline learns, are those of working it out
for every complaint."""

from __future__ import annotations

from fenghuo.core import state as saved
from fenghuo.core.models import Event, Signal
from fenghuo.detectors.burst_baseline import Baseline
from fenghuo.detectors.bursts import BurstParams, ComplaintBurst

HOUR = 3600.0
START = 1_420_070_400.0 + 17.0  # 2015-01-01 00:00:17 UTC (not at midnight: no date-only source)


class EveryExpected(Baseline):
    """The reference: every complaint's expected count worked out (as before it was deferred)."""

    def defer_expected(self, node: str, cat: str, t: float, window_s: float) -> None:
        self.expected(node, cat, t, window_s)


def ev(i: int, t: float, grid: str = "G1", cat: str = "noise") -> Event:
    return Event("complaint", "hotline", t, grid, f"e{i}", category=cat, text="x")


def chain(grid: str) -> list[str]:
    return [grid, "D"]


def stream() -> list[Event]:
    """Ten days at two complaints an hour (grid G1, some at G2), half a day of quiet, then an hour whose seven
    cases at G1 are one on time, tested against a window of fewer than min_count cases, and six late ones
    (stamped a day back, tested against their own windows): the hour counts seven at G1, so its dispersion
    reads the expected count of the hour the on-time case did not need; then a burst and a quiet day."""
    out = [ev(i, START + i * 1800.0, "G2" if i % 5 == 0 else "G1") for i in range(480)]
    t = START + 480 * 1800.0 + 12 * HOUR
    out += [ev(1000, t + 600.0)] + [ev(1001 + i, t - 24 * HOUR + i * 60.0) for i in range(6)]
    out += [ev(2000 + i, t + 2 * HOUR + i * 120.0) for i in range(25)]
    out += [ev(3000 + i, t + 6 * HOUR + i * 3000.0, "G2") for i in range(30)]
    return out


def detector(base: type[Baseline] = Baseline) -> ComplaintBurst:
    det = ComplaintBurst(BurstParams(warmup_hours=48), chain=chain)
    det.base = base(det.p)
    return det


def learned(det: ComplaintBurst) -> dict[str, object]:
    b = det.base
    return {"pairs": b.pairs, "pair_n": b.pair_n, "node_n": b.node_n, "hours": b.hours_seen,
            "cats": {c: (s.hod, s.dow, s.total) for c, s in b.cats.items()}}


def run(det: ComplaintBurst, events: list[Event]) -> list[Signal]:
    return [s for e in events for s in det.process(e)]


def test_deferred_expected_counts_give_the_results_and_the_baseline_of_working_each_out() -> None:
    events = stream()
    reference = detector(EveryExpected)
    want = run(reference, events)
    det = detector()
    assert run(det, events) == want
    assert learned(det) == learned(reference)
    assert any(s.level for s in want)  # the burst is flagged
    assert det.base.pairs[("G1", "noise")] > 0  # the late hour's cases were read as dispersion


def test_a_state_saved_mid_hour_carries_no_cache_and_continues_alike() -> None:
    events = stream()
    whole = run(detector(), events)
    det = detector()
    cut = 480 + 3  # mid-hour: after the on-time case and two late ones
    first = run(det, events[:cut])
    assert det._window_s and det.base._deferred  # caches in use
    plain = saved.to_plain(det)
    copy = saved.from_plain(saved.loads(saved.dumps("test", 1, plain), "test", {1: lambda d: d}))
    copy.chain = chain
    assert not copy._window_s and not copy._lp_at and not copy.base._rates and not copy.base._deferred
    assert first + run(copy, events[cut:]) == whole
    assert "_window_s" not in str(plain) and "_deferred" not in str(plain) and "_rates" not in str(plain)
