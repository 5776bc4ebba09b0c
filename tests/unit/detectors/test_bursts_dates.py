"""ComplaintBurst: date-only records (daily windows) and categories with no history."""

from __future__ import annotations

from typing import Any

from fenghuo.core import state as saved
from fenghuo.core.levels import Level
from fenghuo.core.models import Event, Signal
from fenghuo.detectors.bursts import BurstParams, ComplaintBurst

DAY = 86400.0


def ev(i: int, t: float, cat: str = "noise", source: str = "hotline") -> Event:
    return Event("complaint", source, t, "G1", f"e{i}", category=cat, text="x")


def run(det: ComplaintBurst, events: list[Event]) -> list[Signal]:
    return [s for e in events for s in det.process(e)]


def dated(days: range, per_day: int, start: int = 0, source: str = "hotline") -> list[Event]:
    """``per_day`` complaints a day, every one stamped 00:00:00 (UTC) of its day: a date-only log."""
    return [ev(start + d * 1000 + j, d * DAY, source=source) for d in days for j in range(per_day)]


def state_copy(obj: Any) -> Any:
    raw = saved.dumps("test", 1, saved.to_plain(obj))
    return saved.from_plain(saved.loads(raw, "test", {1: lambda d: d}))


def test_date_only_source_is_found_and_counted_by_day_not_as_a_midnight_burst() -> None:
    quiet = dated(range(35), 5)
    # the same log read as timed: five complaints at one instant, at an hour the baseline finds empty
    timed = run(ComplaintBurst(BurstParams(warmup_hours=24, date_only=False)), quiet)
    assert [s for s in timed if s.level and s.ts > 7 * DAY]
    det = ComplaintBurst(BurstParams(warmup_hours=24))  # automatic: every time at 00:00:00
    assert run(det, quiet) == []
    burst = run(det, dated(range(35, 36), 40, start=10**6))
    assert burst and max(s.level for s in burst if s.level) >= Level.ORANGE
    assert all(s.evidence["daily"] and s.evidence["window_hours"] == 24 for s in burst)
    assert "on 1970-02-05" in burst[-1].reason
    # the level holds while the next day's records come in, and clears when that day proved normal
    assert run(det, dated(range(36, 37), 5, start=2 * 10**6)) == []
    after = run(det, dated(range(37, 38), 5, start=3 * 10**6))
    assert [s.kind for s in after] == ["clear"]


def test_config_marks_a_source_date_only_even_with_times() -> None:
    # times spread over the day: counted in daily windows when the config says so, in hours when it does not
    events = [ev(d * 100 + j, d * DAY + 3600 * (j * 4 + 1)) for d in range(21) for j in range(5)]
    events += [ev(10**6 + j, 20 * DAY + 3600 * 22 + j * 60) for j in range(40)]  # a late-evening cluster
    daily = run(ComplaintBurst(BurstParams(warmup_hours=24, date_only=True)), events)
    hourly = run(ComplaintBurst(BurstParams(warmup_hours=24)), events)
    assert daily and all(s.evidence["daily"] for s in daily)
    assert hourly and not any(s.evidence["daily"] for s in hourly)
    # the whole day counts (its five daytime complaints and the cluster), dated by the day
    assert daily[0].evidence["count"] >= 5 + 4 and "on 1970-01-21" in daily[0].reason
    assert daily[0].evidence["window_hours"] == 24 and hourly[0].evidence["window_hours"] == 6


def test_one_timed_source_with_a_record_at_midnight_stays_timed() -> None:
    events = [ev(i, i * 1800.0 + 7.0) for i in range(200)] + [ev(999, 5 * DAY, source="hotline")]
    events.sort(key=lambda e: e.ts)
    det = ComplaintBurst(BurstParams(warmup_hours=24))
    run(det, events)
    burst = run(det, [ev(10**6 + i, 5 * DAY + 60 * i + 7.0) for i in range(15)])
    assert burst and not any(s.evidence["daily"] for s in burst)


def test_date_only_state_saved_mid_stream_gives_the_same_signals() -> None:
    events = dated(range(30), 5) + dated(range(30, 33), 30, start=10**6) + dated(range(33, 40), 5, start=2 * 10**6)
    whole = run(ComplaintBurst(BurstParams(warmup_hours=24)), events)
    det = ComplaintBurst(BurstParams(warmup_hours=24))
    first = run(det, events[:155])
    rest = run(state_copy(det), events[155:])
    assert [(s.ts, s.level, s.series) for s in first + rest] == [(s.ts, s.level, s.series) for s in whole]
    assert any(s.kind == "clear" for s in whole)


def steady(cat: str, start_day: int, days: int, per_hour: float, first_id: int) -> list[Event]:
    step = 3600.0 / per_hour
    n = int(days * DAY / step)
    return [ev(first_id + i, start_day * DAY + 600.0 + i * step, cat=cat) for i in range(n)]


def test_a_new_category_starts_quiet_and_learns_its_level() -> None:
    old = steady("noise", 0, 40, 0.5, 0)
    # appears on day 20 with a backlog typed in at once, then comes at its usual 2 an hour
    backlog = [ev(2 * 10**6 + i, 20 * DAY + 60.0 * i, cat="parking app") for i in range(12)]
    new = steady("parking app", 20, 20, 2.0, 10**6)
    events = sorted(old + backlog + new, key=lambda e: e.ts)
    signals = run(ComplaintBurst(BurstParams(warmup_hours=24)), events)
    assert [s for s in signals if s.evidence["category"] == "parking app"] == []
    # without the learning period it bursts on its first cases
    eager = run(ComplaintBurst(BurstParams(warmup_hours=24, new_category_hours=0.0)), events)
    first = [s for s in eager if s.evidence["category"] == "parking app" and s.level]
    assert first and first[0].ts < 21 * DAY


def test_a_new_category_bursting_after_its_learning_period_is_flagged() -> None:
    old = steady("noise", 0, 30, 0.5, 0)
    new = steady("parking app", 10, 20, 0.25, 10**6)
    burst = [ev(2 * 10**6 + i, 30 * DAY + 3600.0 + i * 120.0, cat="parking app") for i in range(20)]
    signals = run(ComplaintBurst(BurstParams(warmup_hours=24)), sorted(old + new, key=lambda e: e.ts) + burst)
    hits = [s for s in signals if s.evidence["category"] == "parking app" and s.level]
    assert hits and hits[0].ts >= 30 * DAY and max(s.level for s in hits if s.level) >= Level.ORANGE
