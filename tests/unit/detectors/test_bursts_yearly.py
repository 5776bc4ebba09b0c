"""The yearly profile of the complaint-burst baseline (detectors.bursts.yearly): a season learned from past years."""

from __future__ import annotations

from datetime import datetime

from fenghuo.core import state as saved
from fenghuo.core.models import Event, Signal
from fenghuo.detectors.bursts import BurstParams, ComplaintBurst
from tests.unit.detectors.test_bursts_calendar import _stream

DAYS = 800  # 2025-01-06 .. 2027-03-16: two tax seasons learned, the third tested


def _season(cat: str, t: datetime) -> float:
    """Tax help runs at 8x from March 1 to April 15 every year (no campaign is configured)."""
    return 8.0 if cat == "Tax help" and "03-01" <= t.strftime("%m-%d") <= "04-15" else 1.0


def _levels(params: BurstParams, events: list[Event], year: int) -> list[Signal]:
    det = ComplaintBurst(params)
    return [s for e in events for s in det.process(e) if s.kind == "level"
            and s.evidence["category"] == "Tax help" and datetime.fromtimestamp(s.ts).year == year
            and datetime.fromtimestamp(s.ts).month in (3, 4)]


EVENTS = _stream({"Tax help": 0.25, "Noise": 0.5}, DAYS, seed=5, mult=_season)


def test_a_season_seen_in_past_years_is_expected_and_does_not_alert() -> None:
    with_profile, without = BurstParams(), BurstParams(yearly=False)
    assert _levels(with_profile, EVENTS, 2025) and _levels(without, EVENTS, 2025)  # first year: nothing to know
    assert _levels(without, EVENTS, 2027)  # the decayed rates forget a season in ten months
    assert _levels(with_profile, EVENTS, 2027) == []


def test_a_spike_far_beyond_the_season_still_raises() -> None:
    spike_day = datetime(2027, 3, 10).date()

    def mult(cat: str, t: datetime) -> float:
        base = _season(cat, t)
        return base * 6.0 if cat == "Tax help" and t.date() == spike_day and 9 <= t.hour < 15 else base
    events = _stream({"Tax help": 0.25, "Noise": 0.5}, DAYS, seed=5, mult=mult)
    raised = _levels(BurstParams(), events, 2027)
    assert raised and all(datetime.fromtimestamp(s.ts).date() == spike_day for s in raised)


def test_the_profile_survives_saved_state_and_gives_the_same_signals() -> None:
    head, tail = EVENTS[: len(EVENTS) * 3 // 4], EVENTS[len(EVENTS) * 3 // 4:]
    det = ComplaintBurst(BurstParams())
    for e in head:
        det.process(e)
    assert min(det.base.year_hours) > 0  # every month of the year seen
    back = saved.from_plain(saved.to_plain(det))
    assert [s.to_dict() for e in tail for s in det.process(e)] == [s.to_dict() for e in tail for s in back.process(e)]
