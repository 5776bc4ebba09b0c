"""The feed watch: a source or a feed that used to send and went quiet raises a system alert on the system
node, cleared when it sends again; a newcomer, records received together and a naturally bursty feed do not."""

from __future__ import annotations

from fenghuo.core.config import parse_config
from fenghuo.core.levels import Level
from fenghuo.core.models import Risk
from fenghuo.runtime.feed_watch import FeedWatch, FeedWatchParams, feed_watch_for

P = FeedWatchParams(silent_after=10, silent_min_s=600, min_receipts=10)


def test_a_quiet_source_raises_a_system_alert_and_clears_when_it_sends_again() -> None:
    w = FeedWatch(P, "D")
    for i in range(30):
        w.seen("station-1", "sensor", 60.0 * i)
        w.seen("station-2", "sensor", 60.0 * i + 5)
    for i in range(30, 60):  # station-1 stops; the sensor feed goes on
        w.seen("station-2", "sensor", 60.0 * i + 5)
    last1 = 60.0 * 29
    assert w.tick(last1 + 600.0) == []  # 10 usual gaps: not yet
    raised = w.tick(last1 + 601.0)
    assert [(s.rule, s.series, s.level, s.risk, s.grid, s.feed) for s in raised] == [
        ("source-silent", "source:station-1", Level.ORANGE, Risk.SYSTEM, "D", "system")]
    assert "nothing received for 601 s" in raised[0].reason
    assert w.tick(last1 + 700.0) == []  # once
    w.seen("station-1", "sensor", last1 + 800.0)
    assert [(s.rule, s.kind, s.level) for s in w.tick(last1 + 801.0)] == [("source-silent", "clear", None)]


def test_a_whole_feed_going_quiet() -> None:
    w = FeedWatch(P, "D")
    for i in range(20):
        w.seen("hotline", "complaint", 300.0 * i)
        w.seen("app", "complaint", 300.0 * i + 100)
    rules = {(s.rule, s.series) for s in w.tick(300.0 * 19 + 100 + 3001.0)}
    assert ("feed-silent", "feed:complaint") in rules


def test_newcomers_and_records_received_together_do_not_raise() -> None:
    w = FeedWatch(P, "D")
    for i in range(5):
        w.seen("new", "sensor", 60.0 * i)
    for _ in range(100):
        w.seen("batch", "opinion", 1000.0)  # one request of 100 records: one receipt
    assert w.tick(1e6) == []


def test_a_bursty_source_waits_beyond_its_longest_recent_gap() -> None:
    """Complaints by day every few minutes, none at night: the night is not a silence."""
    w = FeedWatch(P, "D")
    t = 0.0
    for _day in range(3):
        for _ in range(100):
            t += 300.0
            w.seen("hotline", "complaint", t)
        t += 8 * 3600.0  # night
    last, night = t - 8 * 3600.0, 8 * 3600.0 + 300.0  # the longest gap: a night and the first 5 minutes
    assert w.tick(last + night) == []
    assert [s.rule for s in w.tick(last + night + 1)] == ["source-silent", "feed-silent"]


def test_on_with_the_health_detector_and_its_parameters() -> None:
    base = {"nodes": [{"id": "D", "name": "区", "kind": "district"}]}
    assert feed_watch_for(parse_config(base), "D") is None
    w = feed_watch_for(parse_config({**base, "detectors": {"health": {"feed_silent_min_s": 30,
                                                                       "feed_level": "red"}}}), "D")
    assert w is not None and w.p.silent_min_s == 30 and w.level == Level.RED
