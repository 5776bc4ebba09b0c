"""The CAP poller against a real feed on loopback: linked and embedded messages taken once, ETag and 304,
backoff with jitter after errors and the health a user reads, echoes refused, foreign hosts not fetched."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from fenghuo.alerts.cap import Area, atom_feed, to_xml
from fenghuo.alerts.federation import ORIGIN_PARAM
from fenghuo.core.levels import Level
from fenghuo.core.models import Alert, TimelineEntry
from fenghuo.ingest.cap_poll import CapPoller, PollSource, backoff_delay
from tests.alerts_support import T0, make_alert

UPSTREAM = "fenghuo@upstream.example"
HERE = "fenghuo@here.example"
AREA = Area("G1", "一号网格", "Grid 1", centroid=(42.9, 1.9), radius_km=2.0)


class Feed:
    """A real HTTP server publishing a fenghuo-shaped Atom feed of ``alerts`` with an ETag; ``status`` makes
    it fail; every request is recorded (path, headers)."""

    def __init__(self, sender: str = UPSTREAM) -> None:
        self.alerts: list[Alert] = []
        self.sender = sender
        self.status = 200
        self.requests: list[tuple[str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.requests.append((self.path, dict(self.headers)))
                body, etag = outer.answer(self.path)
                if outer.status != 200:
                    self.send_response(outer.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if etag and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200 if body else 404)
                if etag:
                    self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def answer(self, path: str) -> tuple[bytes, str | None]:
        if path == "/feed.atom":
            xml = atom_feed(self.alerts, self.url + path, lambda a: f"/alerts/{a.id}.xml", lambda a: AREA,
                            T0 + 100, self.sender)
            return xml, f'"{len(self.alerts)}-{sum(len(a.timeline) for a in self.alerts)}"'
        for a in self.alerts:
            if path == f"/alerts/{a.id}.xml":
                return to_xml(a, -1, AREA, self.sender), None
        return b"", None

    def paths(self) -> list[str]:
        return [p for p, _ in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


MADE: list[CapPoller] = []


@pytest.fixture
def feed() -> Iterator[Feed]:
    f = Feed()
    yield f
    f.close()
    while MADE:
        MADE.pop().stop()  # closes its HTTP client


class Taken:
    """The host's side: what it was handed, with an outcome per message."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, str]] = []

    def __call__(self, alerts: list[Any], origin: str) -> list[Any]:
        self.items += [(a, origin) for a in alerts]
        return [type("R", (), {"outcome": "raised"})() for _ in alerts]

    def keys(self) -> list[tuple[str, str]]:
        return [(a.sender, a.identifier) for a, _ in self.items]


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def poller(feed: Feed, taken: Taken, clock: Clock, **kw: Any) -> CapPoller:
    src = PollSource("upstream", feed.url + "/feed.atom", every_s=30.0, key_env="CAP_POLL_TEST_KEY", **kw)
    MADE.append(CapPoller([src], taken, HERE, clock=clock, rand=lambda: 1.0))
    return MADE[-1]


def named(alert_id: str) -> Alert:
    a = make_alert(Level.RED)
    a.id = alert_id
    return a


def test_new_entries_are_fetched_taken_once_and_a_304_does_nothing(feed: Feed,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAP_POLL_TEST_KEY", "viewer-key-for-feeds")
    feed.alerts = [named("A1")]
    taken, clock = Taken(), Clock()
    p = poller(feed, taken, clock)
    p.run_due()
    assert taken.keys() == [(UPSTREAM, "fenghuo.A1.1")]
    assert taken.items[0][1] == "upstream"  # the origin is the source's name
    assert feed.paths() == ["/feed.atom", "/alerts/A1.xml"]
    assert all(h.get("Authorization") == "Bearer viewer-key-for-feeds" for _, h in feed.requests)

    clock.t += 10  # not due yet: nothing asked
    p.run_due()
    assert len(feed.requests) == 2
    clock.t += 30
    p.run_due()  # same ETag: 304, nothing fetched or taken
    assert feed.requests[-1][1].get("If-None-Match") and feed.paths()[2:] == ["/feed.atom"]
    assert len(taken.items) == 1

    # the alert is resolved: its entry is now the Cancel, fetched and taken; a new alert comes with it
    feed.alerts[0].add(TimelineEntry(T0 + 60, "resolved", "red", "ops", None, ""))
    feed.alerts.append(named("A2"))
    clock.t += 30
    p.run_due()
    assert sorted(taken.keys()[1:]) == [(UPSTREAM, "fenghuo.A1.2"), (UPSTREAM, "fenghuo.A2.1")]
    assert {a.identifier: a.msg_type for a, _ in taken.items[1:]} == {"fenghuo.A1.2": "Cancel", "fenghuo.A2.1": "Alert"}
    (health,) = p.health()
    assert (health["status"], health["failures"], health["items_taken"], health["outcomes"]) == (
        "ok", 0, 3, {"raised": 3})
    assert health["etag"] == '"2-5"' and health["next_poll"] == clock.t + 30


def test_errors_back_off_with_jitter_and_the_health_says_why(feed: Feed) -> None:
    feed.status = 503
    taken, clock = Taken(), Clock()
    p = poller(feed, taken, clock)
    delays = []
    for _ in range(4):
        clock.t = p.health()[0]["next_poll"]
        p.run_due()
        delays.append(p.health()[0]["next_poll"] - clock.t)
    assert delays == [30.0, 60.0, 120.0, 240.0]  # rand() = 1: the whole of each doubled delay
    h = p.health()[0]
    assert (h["status"], h["failures"], h["error"]) == ("failing", 4, "HTTP 503 from the feed")
    feed.status, clock.t = 200, h["next_poll"]
    feed.alerts = [named("A1")]
    p.run_due()
    h = p.health()[0]
    assert (h["status"], h["failures"], h["items_taken"]) == ("ok", 0, 1)
    assert h["error"] == "HTTP 503 from the feed" and h["last_ok"] > h["last_error"]  # the past error is kept


def test_backoff_jitter_spreads_retries_between_half_and_the_whole_delay() -> None:
    assert [backoff_delay(2, 600.0, lambda r=r: r) for r in (0.0, 0.5, 1.0)] == [60.0, 90.0, 120.0]
    assert backoff_delay(1, 86_400.0, lambda: 1.0) == 60.0  # a daily feed is retried within a minute, ...
    assert backoff_delay(40, 86_400.0, lambda: 1.0) == 86_400.0  # ... backing off to its own period at most


def test_an_echo_of_this_instances_own_warning_is_refused_not_taken(feed: Feed) -> None:
    local = named("A1")  # upstream re-publishes a warning that started here: its origin chain names us
    local.evidence.append({"cap": {"sender": HERE, "identifier": "fenghuo.X9.1", "sent": T0, "event": "flood"}})
    feed.alerts = [local, named("A2")]
    taken, clock = Taken(), Clock()
    p = poller(feed, taken, clock)
    p.run_due()
    assert ORIGIN_PARAM.encode() in to_xml(local, -1, AREA, UPSTREAM)
    assert taken.keys() == [(UPSTREAM, "fenghuo.A2.1")]
    assert p.health()[0]["outcomes"] == {"ignored_loop": 1, "raised": 1}

    own = Feed(sender=HERE)  # a feed of messages this instance sent itself
    own.alerts = [named("A3")]
    try:
        p2 = CapPoller([PollSource("self", own.url + "/feed.atom")], taken, [HERE], clock=clock)
        MADE.append(p2)
        p2.run_due()
        assert p2.health()[0]["outcomes"] == {"ignored_loop": 1}
    finally:
        own.close()
    assert len(taken.items) == 1


def test_links_to_another_host_are_not_fetched_and_links_per_poll_are_bounded(feed: Feed) -> None:
    feed.alerts = [named(f"A{i}") for i in range(5)]
    taken, clock = Taken(), Clock()
    p = poller(feed, taken, clock, max_links=2)
    p.run_due()
    assert len(taken.items) == 2
    h = p.health()[0]
    assert h["etag"] is None and h["next_poll"] == clock.t + 1.0  # the rest soon, without the ETag
    for _ in range(2):
        clock.t = p.health()[0]["next_poll"]
        p.run_due()
    assert sorted(i for _, i in taken.keys()) == [f"fenghuo.A{i}.1" for i in range(5)]

    far = Feed()
    far.alerts = [named("B1")]
    try:
        other = PollSource("far", far.url + "/feed.atom")
        far.answer = lambda path, f=far.answer: (  # type: ignore[method-assign]
            f(path)[0].replace(b'href="/alerts/', b'href="http://203.0.113.9/alerts/'), None)
        p2 = CapPoller([other], taken, HERE, clock=clock)
        MADE.append(p2)
        p2.run_due()
        assert far.paths() == ["/feed.atom"] and p2.health()[0]["outcomes"] == {"skipped": 1}
    finally:
        far.close()


def test_an_rss_feed_whose_items_embed_the_cap_alert_is_taken_without_further_fetches(feed: Feed) -> None:
    cap = to_xml(named("R1"), -1, AREA, UPSTREAM).split(b"?>", 1)[1]  # the <alert> element, no XML declaration
    rss = (b'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>weather</title><item>'
           b"<guid>r1</guid><pubDate>Wed, 22 Jan 2020 00:00:00 GMT</pubDate><description>red</description>"
           + cap + b"</item></channel></rss>")
    feed.answer = lambda path: (rss, '"rss-1"')  # type: ignore[method-assign]
    taken, clock = Taken(), Clock()
    p = poller(feed, taken, clock)
    p.run_due()
    assert taken.keys() == [(UPSTREAM, "fenghuo.R1.1")] and feed.paths() == ["/feed.atom"]
    clock.t += 30
    feed.answer = lambda path: (rss, '"rss-2"')  # type: ignore[method-assign]  # a new ETag, the same item
    p.run_due()
    assert len(taken.items) == 1  # an item seen before is not taken again
