"""Replay: event-time order, pacing on a fake clock, drill stamping, totals, and the HTTP sink."""

from __future__ import annotations

import json
import random
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from fenghuo.ingest.replay import SinkError, http_sink, replay

T0 = datetime(2020, 1, 22, 10, 0, tzinfo=UTC)


def _ts(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


class Recorder:
    """A sink that remembers each batch and when (on the fake clock) it came."""

    def __init__(self, clock: FakeClock | None = None, answer: Any = None) -> None:
        self.clock, self.answer = clock, answer
        self.batches: list[tuple[float, list[dict[str, Any]]]] = []

    def __call__(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        self.batches.append((self.clock.now if self.clock else 0.0, batch))
        if self.answer:
            return self.answer(batch)
        return {"accepted": len(batch), "duplicates": 0, "rejected": []}

    @property
    def records(self) -> list[dict[str, Any]]:
        return [r for _, b in self.batches for r in b]


def test_records_go_in_event_time_order_ties_in_file_order() -> None:
    recs = [{"ts": _ts(s), "n": i} for i, s in enumerate([600, 0, 300, 0, 600, 1200, 300])]
    sink = Recorder()
    stats = replay(recs, sink, batch_size=3, progress=False)
    assert [r["n"] for r in sink.records] == [1, 3, 2, 6, 0, 4, 5]
    assert [len(b) for _, b in sink.batches] == [3, 3, 1]
    assert (stats.sent, stats.accepted, stats.batches, stats.event_seconds) == (7, 7, 3, 1200)


def test_mixed_time_formats_sort_by_instant() -> None:
    recs = [{"ts": "2020-01-22T11:30:00+01:00", "n": 0}, {"ts": "2020-01-22T10:00:00Z", "n": 1},
            {"ts": 1579687260.0, "n": 2}, {"ts": "garbage", "n": 3}]
    sink = Recorder()
    stats = replay(recs, sink, progress=False)
    assert [r["n"] for r in sink.records] == [3, 1, 2, 0]  # unreadable ts first: the service rejects it
    assert stats.sent == 4


def test_speed_60_plays_an_hour_in_a_minute_on_a_fake_clock() -> None:
    clock = FakeClock()
    recs = [{"ts": _ts(s)} for s in range(0, 3601, 600)]  # 7 readings over one hour
    random.Random(1).shuffle(recs)
    sink = Recorder(clock)
    stats = replay(recs, sink, speed=60, sleep=clock.sleep, monotonic=clock.monotonic, progress=False)
    sent_at = [(t - 1000.0, [r["ts"] for r in b]) for t, b in sink.batches]
    assert sent_at == [(i * 10.0, [_ts(i * 600)]) for i in range(7)]
    assert clock.now - 1000.0 == pytest.approx(60.0)
    assert stats.wall_seconds == pytest.approx(60.0) and stats.event_seconds == 3600


def test_due_records_are_batched_together_when_the_sink_is_slow() -> None:
    clock = FakeClock()

    def slow(batch: list[dict[str, Any]]) -> dict[str, Any]:
        clock.now += 25.0  # each POST takes 25 s of (fake) wall time
        return {"accepted": len(batch), "duplicates": 0, "rejected": []}

    sink = Recorder(clock, answer=slow)
    recs = [{"ts": _ts(s)} for s in range(0, 601, 60)]  # 11 readings, 10 minutes, at speed 10 = 60 s
    stats = replay(recs, sink, speed=10, sleep=clock.sleep, monotonic=clock.monotonic, progress=False)
    assert [len(b) for _, b in sink.batches] == [1, 4, 4, 2]
    assert stats.sent == 11 and not clock.sleeps  # never ahead of schedule, so never slept


def test_max_speed_never_sleeps() -> None:
    clock = FakeClock()
    sink = Recorder(clock)
    recs = [{"ts": _ts(s)} for s in range(0, 86400, 60)]
    stats = replay(recs, sink, speed=None, batch_size=500, sleep=clock.sleep, monotonic=clock.monotonic,
                   progress=False)
    assert stats.sent == 1440 and [len(b) for _, b in sink.batches] == [500, 500, 440]
    assert clock.sleeps == []


def test_drill_is_stamped_on_copies() -> None:
    recs = [{"ts": _ts(0), "n": 0}, {"ts": _ts(1), "n": 1, "drill": "old"}]
    sink = Recorder()
    replay(recs, sink, drill="gloria-2020", progress=False)
    assert [r["drill"] for r in sink.records] == ["gloria-2020", "gloria-2020"]
    assert "drill" not in recs[0] and recs[1]["drill"] == "old"
    sink = Recorder()
    replay(recs, sink, progress=False)
    assert "drill" not in sink.records[0]


def test_totals_sum_the_sinks_answers_with_global_indexes() -> None:
    def answer(batch: list[dict[str, Any]]) -> dict[str, Any]:
        bad = [i for i, r in enumerate(batch) if r["n"] % 4 == 3]
        dup = sum(1 for r in batch if r["n"] % 4 == 2)
        return {"accepted": len(batch) - len(bad) - dup, "duplicates": dup,
                "rejected": [{"index": i, "error": f"bad {batch[i]['n']}"} for i in bad]}

    recs = [{"ts": _ts(i), "n": i} for i in range(10)]
    stats = replay(recs, Recorder(answer=answer), batch_size=4, progress=False)
    assert (stats.sent, stats.accepted, stats.duplicates, stats.rejected, stats.batches) == (10, 6, 2, 2, 3)
    assert stats.errors == [{"index": 3, "error": "bad 3"}, {"index": 7, "error": "bad 7"}]
    assert stats.summary().startswith("sent 10, accepted 6, duplicates 2, rejected 2 in 3 batches")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="speed"):
        replay([], Recorder(), speed=0)
    assert replay([], Recorder(), progress=False).sent == 0


class _Server:
    """A tiny fenghuo stand-in on loopback: scripted answers for POST /v1/events."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str], Any]] = []
        self.requests: list[tuple[str, str | None, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append((self.path, self.headers.get("Authorization"), body))
                if self.path != "/v1/events":
                    status, headers, payload = 404, {}, {"detail": "Not Found"}
                elif outer.script:
                    status, headers, payload = outer.script.pop(0)
                else:
                    status, headers, payload = 200, {}, {"accepted": len(body), "duplicates": 0, "rejected": []}
                data = json.dumps(payload).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    yield s
    s.close()


def test_http_sink_posts_json_batches_with_the_key(server: _Server) -> None:
    recs = [{"ts": _ts(i), "n": i} for i in range(5)]
    with http_sink(server.url + "/", "k" * 20) as sink:
        stats = replay(recs, sink, batch_size=2, drill="d1", progress=False)
    assert stats.accepted == 5 and stats.batches == 3
    assert [(p, auth, len(body)) for p, auth, body in server.requests] == [
        ("/v1/events", "Bearer " + "k" * 20, 2), ("/v1/events", "Bearer " + "k" * 20, 2),
        ("/v1/events", "Bearer " + "k" * 20, 1)]
    assert server.requests[0][2][0] == {"ts": _ts(0), "n": 0, "drill": "d1"}


def test_http_sink_retries_503_honouring_retry_after(server: _Server) -> None:
    waits: list[float] = []
    server.script = [(503, {"Retry-After": "7"}, {"detail": "busy"}), (503, {}, {"detail": "busy"}),
                     (429, {"Retry-After": "1.5"}, {})]
    sink = http_sink(server.url, "key", sleep=waits.append)
    assert sink([{"n": 1}])["accepted"] == 1
    assert waits == [7.0, 1.0, 1.5]  # Retry-After, else exponential backoff (0.5 s, 1 s, ...)
    server.script = [(503, {}, {})] * 3
    sink = http_sink(server.url, "key", retries=2, sleep=waits.append)
    with pytest.raises(SinkError, match=r"after 3 attempts \(last: HTTP 503"):
        sink([{"n": 1}])


@pytest.mark.parametrize(("status", "payload", "message"), [
    (401, {"detail": "invalid key"}, "the API key was refused (401): pass --api-key or set FENGHUO_API_KEY"),
    (403, {"detail": "viewer"}, "may not ingest events (403)"),
    (413, {}, "lower --batch-size"),
    (422, {"detail": "expected a JSON array"}, "malformed (422): expected a JSON array"),
    (500, {"detail": "boom"}, "refused the batch (500): boom; see the server log"),
])
def test_http_sink_explains_errors(server: _Server, status: int, payload: Any, message: str) -> None:
    server.script = [(status, {}, payload)]
    waits: list[float] = []
    with pytest.raises(SinkError) as err:
        http_sink(server.url, "key", sleep=waits.append)([{"n": 1}])
    assert message in str(err.value) and err.value.status == status
    assert waits == [] and len(server.requests) == 1  # client errors are not retried


def test_http_sink_wrong_url_and_no_server(server: _Server) -> None:
    with pytest.raises(SinkError, match="does not take events.*--url"):
        http_sink(server.url + "/api", "key")([{"n": 1}])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    waits: list[float] = []
    with pytest.raises(SinkError, match="after 4 attempts.*fenghuo run"):
        http_sink(dead, "key", retries=3, sleep=waits.append)([{"n": 1}])
    assert waits == [0.5, 1.0, 2.0]
