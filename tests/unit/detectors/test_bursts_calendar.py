"""Scheduled campaigns and holidays in the complaint-burst baseline (detectors.bursts.campaigns / holidays)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from fenghuo.core.config import ConfigError
from fenghuo.core.models import Event, Signal
from fenghuo.detectors.bursts import BurstParams, ComplaintBurst
from fenghuo.detectors.registry import REGISTRY

START = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday
CAMPAIGN = ("2025-03-03", "2025-03-30")  # four weeks, after eight weeks of history


def _stream(rate_of: dict[str, float], days: int, seed: int = 7,
            mult: object = None) -> list[Event]:
    """Poisson arrivals per category and hour (``rate_of``: per hour); ``mult(cat, hour_start)`` scales a rate."""
    rng = random.Random(seed)
    out: list[Event] = []
    for h in range(days * 24):
        t0 = START + timedelta(hours=h)
        for cat, rate in rate_of.items():
            lam = rate * (mult(cat, t0) if callable(mult) else 1.0)
            n, acc = 0, rng.expovariate(1.0)
            while acc < lam:
                n, acc = n + 1, acc + rng.expovariate(1.0)
            for _ in range(n):
                ts = t0.timestamp() + rng.uniform(0, 3599)
                out.append(Event("complaint", "hotline", ts, "G1", f"e{len(out)}", category=cat, text="x",
                                 lat=40.0 + rng.uniform(0, 0.2), lon=-71.0 + rng.uniform(0, 0.2)))
    out.sort(key=lambda e: e.ts)
    return out


def _raised(params: BurstParams, events: list[Event], cat: str, lo: str, hi: str) -> list[Signal]:
    det = ComplaintBurst(params)
    t_lo = datetime.fromisoformat(lo).replace(tzinfo=UTC).timestamp()
    t_hi = (datetime.fromisoformat(hi).replace(tzinfo=UTC) + timedelta(days=1)).timestamp()
    return [s for e in events for s in det.process(e)
            if s.kind == "level" and s.evidence["category"] == cat and t_lo <= s.ts < t_hi]


def _in_campaign(t: datetime) -> bool:
    return CAMPAIGN[0] <= t.date().isoformat() <= CAMPAIGN[1]


def _campaign_mult(spike: bool):  # type: ignore[no-untyped-def]
    def mult(cat: str, t: datetime) -> float:
        if cat != "Tax help" or not _in_campaign(t):
            return 1.0
        if spike and t.date().isoformat() == "2025-03-19" and 10 <= t.hour < 16:  # six hours, the grid window
            return 15.0
        return 3.0
    return mult


RATES = {"Tax help": 1.0, "Noise": 1.0}
CAL = {"category": "Tax*", "from": CAMPAIGN[0], "to": CAMPAIGN[1], "lift": 3}


def test_a_campaign_lifts_the_expected_count_instead_of_alerting() -> None:
    events = _stream(RATES, 12 * 7, mult=_campaign_mult(spike=False))
    without = _raised(BurstParams(), events, "Tax help", *CAMPAIGN)
    assert without, "a x3 season with no calendar should raise bursts"
    with_cal = _raised(BurstParams(campaigns=(CAL,)), events, "Tax help", *CAMPAIGN)
    assert with_cal == []


def test_a_recurring_campaign_by_month_and_day_works_the_same() -> None:
    events = _stream(RATES, 12 * 7, mult=_campaign_mult(spike=False))
    cal = {"category": "Tax help", "from": CAMPAIGN[0][5:], "to": CAMPAIGN[1][5:], "grids": ["G1"]}
    assert _raised(BurstParams(campaigns=(cal,)), events, "Tax help", *CAMPAIGN) == []


def test_a_spike_far_beyond_the_lifted_expectation_still_raises() -> None:
    events = _stream(RATES, 12 * 7, mult=_campaign_mult(spike=True))
    raised = _raised(BurstParams(campaigns=(CAL,)), events, "Tax help", "2025-03-19", "2025-03-19")
    assert raised and max(s.level for s in raised if s.level) >= 2


def test_a_campaign_elsewhere_or_for_another_category_lifts_nothing() -> None:
    events = _stream(RATES, 12 * 7, mult=_campaign_mult(spike=False))
    other = ({**CAL, "category": "Noise"}, {**CAL, "grids": ["G2"]})
    assert _raised(BurstParams(campaigns=other), events, "Tax help", *CAMPAIGN)


def _sunday_mult(holiday: str):  # type: ignore[no-untyped-def]
    def mult(cat: str, t: datetime) -> float:
        sunday = t.weekday() == 6 or t.date().isoformat() == holiday
        return 25.0 if cat == "Park noise" and sunday else 1.0
    return mult


def test_a_listed_holiday_takes_sundays_profile() -> None:
    holiday = "2025-02-17"  # a Monday, busy as a Sunday in the parks
    events = _stream({"Park noise": 0.2, "Noise": 1.0}, 7 * 7, seed=3, mult=_sunday_mult(holiday))
    assert _raised(BurstParams(), events, "Park noise", holiday, holiday)
    assert _raised(BurstParams(holidays=(holiday,)), events, "Park noise", holiday, holiday) == []


@pytest.mark.parametrize(("entry", "message"), [
    ({"category": "x", "from": "02-30", "to": "03-01"}, "campaigns[0].from"),
    ({"category": "x", "from": "2025-03-01", "to": "2025-02-01"}, "before"),
    ({"category": "x", "from": "03-01", "to": "2025-04-01"}, "both"),
    ({"category": "x", "from": "03-01", "to": "04-01", "colour": "red"}, "unknown key(s) colour"),
    ({"category": "x", "from": "03-01"}, "missing to"),
    ({"category": "x", "from": "03-01", "to": "04-01", "lift": 0.5}, "campaigns[0].lift"),
    ({"category": "x", "from": "03-01", "to": "04-01", "lift": "lots"}, "campaigns[0].lift"),
])
def test_bad_campaigns_are_refused_at_check_config(entry: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        REGISTRY.get("bursts").parse({"campaigns": [entry]})
    text = str(err.value)
    assert "detectors.bursts.campaigns[0]" in text and message in text


def test_bad_holidays_are_refused_and_good_config_parses() -> None:
    with pytest.raises(ConfigError, match=r"detectors\.bursts\.holidays\[1\]"):
        REGISTRY.get("bursts").parse({"holidays": ["2025-01-01", "12-25"]})
    p = REGISTRY.get("bursts").parse({"campaigns": [CAL], "holidays": ["2025-12-25"]})
    assert p.campaigns[0].lift == 3.0 and p.holidays == ("2025-12-25",)


def test_a_learned_campaign_takes_its_lift_from_past_years() -> None:
    """A x10 season every spring: a fixed lift of 3 still raises in the second year; a learned lift does not."""
    def mult(cat: str, t: datetime) -> float:
        return 10.0 if cat == "Tax help" and "03-03" <= t.strftime("%m-%d") <= "03-16" else 1.0
    events = _stream({"Tax help": 0.3, "Noise": 1.0}, 430, seed=11, mult=mult)
    fixed = {"category": "Tax help", "from": "03-03", "to": "03-16"}
    second = ("2026-03-03", "2026-03-16")
    # (the yearly profile, on by default, learns the season by itself: off here, to see the campaign's lift alone)
    assert _raised(BurstParams(campaigns=(fixed,), yearly=False), events, "Tax help", *second)
    learned = _raised(BurstParams(campaigns=({**fixed, "lift": "learn"},), yearly=False), events, "Tax help", *second)
    assert learned == []


def test_campaigns_holidays_and_what_was_learned_survive_saved_state() -> None:
    from fenghuo.core import state as saved

    params = BurstParams(campaigns=({**CAL, "lift": "learn"},), holidays=("2025-02-17",))
    det = ComplaintBurst(params)
    for e in _stream(RATES, 12 * 7, mult=_campaign_mult(spike=False)):
        det.process(e)
    back = saved.from_plain(saved.to_plain(det))
    assert back.p == params and back.base.camp == det.base.camp and back.base.camp


def test_unquoted_yaml_dates_are_read_as_dates() -> None:
    import yaml

    doc = yaml.safe_load("holidays: [2015-01-01]\ncampaigns: [{category: x, from: 2015-03-01, to: 2015-03-20}]")
    params = BurstParams(**doc)
    assert params.holidays == ("2015-01-01",)
    assert (params.campaigns[0].start, params.campaigns[0].end) == ("2015-03-01", "2015-03-20")
