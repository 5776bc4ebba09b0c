"""Record signals of ``records_local``: shared value units and the short-window spike record."""

from __future__ import annotations

from fenghuo.core import state as saved
from fenghuo.detectors.anomaly import RecordFusion, RollingRecord, make_detector


def _feed(rec: RollingRecord, xs: list[float]) -> None:
    for x in xs:
        rec.learn(x)


def test_unit_replaces_own_range() -> None:
    rec = RollingRecord(window=100, warmup=5)
    _feed(rec, [float(i % 2) for i in range(60)])  # own range [0, 1]
    assert rec.span() == 1.0
    assert rec.excess(1.5) == 0.5
    assert rec.excess(1.5, unit=10.0) == 0.05  # same excess, judged against a wider range
    assert rec.score(1.5, unit=10.0) < rec.score(1.5)
    assert rec.score(0.5, unit=10.0) == 0.0  # inside the range stays 0 in any unit


def test_scale_sets_the_half_score_excess() -> None:
    small, large = RollingRecord(window=100, warmup=5), RollingRecord(window=100, warmup=5, scale=50.0)
    for rec in (small, large):
        _feed(rec, [float(i % 2) for i in range(60)])
    assert small.score(2.0) > 0.95  # excess 1 range, scale 0.1
    assert 0.5 < large.score(2.0) < 0.52  # the same excess is nothing at scale 50
    assert large.score(101.0) > 0.74  # 100 ranges above: well past half-way


def _quiet_then_spike(det: RecordFusion) -> tuple[float, float]:
    """An early 290 spike sets the long range; after a long quiet stretch a bump of 15 comes."""
    t = 0.0
    for i in range(1500):
        v = 290.0 if i == 100 else float(i % 3) * 0.5
        det.learn_one(t, v)
        t += 300.0
    return det.score_one(t, 15.0), det.score_one(t, 1.0)


def test_local_record_sees_a_spike_inside_the_long_range() -> None:
    plain, spike_free = _quiet_then_spike(RecordFusion(window=5000))
    local, quiet = _quiet_then_spike(RecordFusion(window=5000, local_window=500, local_scale=50.0))
    assert plain == 0.0 and spike_free == 0.0  # 15 is far inside the long range [0, 290]
    assert local > 0.5 and quiet == 0.0  # 15 is 14 recent ranges above the recent max


def test_value_units_make_level_records_smaller() -> None:
    own, shared = RecordFusion(level_smooth=30), RecordFusion(level_smooth=30, value_units=True)
    for det in (own, shared):
        for i in range(800):
            det.learn_one(i * 60.0, 10.0 * (i % 2))  # values swing 0..10, their 30-mean hardly moves
    # a small lift of the mean is a big excess over the mean's own narrow range, not over 0..10
    assert own.level_record.score(6.0) > shared.level_record.score(6.0, own.value_record.span()) > 0.5


def test_registry_builds_records_local() -> None:
    det = make_detector("records_local")
    assert isinstance(det, RecordFusion)
    assert det.value_units and det.local_record is not None and det.seasonal is not None


def test_score_then_learn_of_another_value_learns_that_value() -> None:
    """score_one caches its work for learn_one of the same reading; a different reading recomputes."""
    plain, probed = make_detector("records_local"), make_detector("records_local")
    for i in range(700):
        ts, v = i * 300.0, float(i % 24) + (30.0 if i == 650 else 0.0)
        probed.score_one(ts, v + 7.0)  # a probe at the same time, then the real reading
        assert probed.score_one(ts, v) == plain.score_one(ts, v)
        probed.score_one(ts, -v)
        plain.learn_one(ts, v)
        probed.learn_one(ts, v)
    assert saved.to_plain(probed) == saved.to_plain(plain)  # scoring changed no saved state
