"""ComplaintBurst: cases typed in by one office in a batch count as one report."""

from __future__ import annotations

from fenghuo.core.levels import Level
from fenghuo.core.models import Event, Signal
from fenghuo.detectors.bursts import BurstParams, ComplaintBurst

DAY = 86400.0


def ev(i: int, t: float, office: str | None = None, cat: str = "noise") -> Event:
    attrs = {"office": office} if office is not None else {}
    return Event("complaint", "hotline", t, "G1", f"e{i}", category=cat, text="x", attrs=attrs)


def run(det: ComplaintBurst, events: list[Event]) -> list[Signal]:
    return [s for e in events for s in det.process(e)]


def quiet(det: ComplaintBurst) -> None:
    offices = [f"o{i % 7}" for i in range(6 * 21)]
    assert run(det, [ev(i, i * 4 * 3600.0, offices[i]) for i in range(6 * 21)]) == []


def test_a_batch_typed_in_by_one_office_is_one_report() -> None:
    det = ComplaintBurst(BurstParams(warmup_hours=24))
    quiet(det)
    batch = [ev(1000 + i, 21 * DAY + 45.0 * i, "office-3") for i in range(30)]  # 30 cases in 22 minutes
    assert run(det, batch) == []
    # the same 30 cases from 30 offices (say a storm, reported everywhere) are a burst
    det = ComplaintBurst(BurstParams(warmup_hours=24))
    quiet(det)
    spread = [ev(1000 + i, 21 * DAY + 45.0 * i, f"office-{i}") for i in range(30)]
    assert max(s.level for s in run(det, spread) if s.level) >= Level.ORANGE


def test_the_raw_count_of_batched_entries_is_kept_in_the_evidence() -> None:
    det = ComplaintBurst(BurstParams(warmup_hours=24))
    quiet(det)
    batch = [ev(1000 + i, 21 * DAY + 30.0 * i, "office-3") for i in range(20)]
    spread = [ev(2000 + i, 21 * DAY + 1800.0 + 60.0 * i, f"office-{10 + i}") for i in range(15)]
    out = run(det, batch + spread)
    assert out and out[-1].level is not None
    last = out[-1]
    assert last.evidence["raw_count"] == last.evidence["count"] + 19
    assert "19 more entered in batches" in last.reason


def test_without_an_office_or_with_batches_off_every_case_counts() -> None:
    for params, office in ((BurstParams(warmup_hours=24), None), (BurstParams(warmup_hours=24, batch_minutes=0), "o")):
        det = ComplaintBurst(params)
        quiet(det)
        out = run(det, [ev(1000 + i, 21 * DAY + 45.0 * i, office) for i in range(30)])
        assert max(s.level for s in out if s.level) >= Level.ORANGE
