"""Webhook delivery through the outbox against a real HTTP receiver: signatures, retries with
backoff, a failing receiver that blocks nobody else, and the outcome in the alert's timeline."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from fenghuo.alerts.delivery import Delivery
from fenghuo.alerts.notifiers.webhook import WebhookNotifier, verify
from fenghuo.core.clock import FixedClock
from fenghuo.core.config import parse_config
from fenghuo.core.settings import Settings
from fenghuo.core.store import Notification
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.runtime.embedded import Pipeline
from tests.support import Receiver

SECRET = "delivery-test-secret"


def pipeline(tmp: Path, receiver: Receiver, attempts: int = 4) -> Pipeline:
    config = parse_config({
        "nodes": [{"id": "D", "name": "区", "kind": "district"},
                  {"id": "G1", "name": "网格", "kind": "grid", "parent": "D", "centroid": [0, 0]},
                  {"id": "G2", "name": "网格2", "kind": "grid", "parent": "D", "centroid": [1, 1]}],
        "channels": [{"name": n, "type": "webhook", "url": f"{receiver.url}/{n}", "secret": SECRET,
                      "max_attempts": attempts} for n in ("up", "down")],
        "responders": [{"id": "a", "name": "甲", "node": "G1", "channels": ["up", "down"]},
                       {"id": "b", "name": "乙", "node": "G2", "channels": ["up"]},
                       {"id": "c", "name": "区值班", "node": "D", "channels": ["up", "down"]}],
        "rules": [{"id": "gas", "metric": "gas_ppm", "levels": {"red": 50}}],
    })
    p = Pipeline(Settings(data_dir=tmp), config, SqliteStore(tmp / "db"), clock=FixedClock(1e9))
    p.delivery.base_backoff = 0.05
    p.delivery.now = time.time
    return p


def raise_alerts(p: Pipeline) -> None:
    p.ingest([{"feed": "sensor", "source": f"s{g}", "ts": 1e9, "grid": g, "metric": "gas_ppm", "value": 99}
              for g in ("G1", "G2")])


def pump(p: Pipeline, until: float) -> None:
    end = time.monotonic() + until
    while time.monotonic() < end:
        p.delivery.run_due()
        time.sleep(0.02)


def test_signed_delivery_and_a_failing_receiver_blocks_nobody(tmp_path: Path, receiver: Receiver) -> None:
    receiver.fail_paths = {"/down"}
    p = pipeline(tmp_path, receiver)
    raise_alerts(p)
    pump(p, 1.0)
    got = [g for g in receiver.requests if g["json"]["alert"]["risk"] != "system"]
    assert sorted(g["path"] for g in got) == ["/up", "/up"]
    for g in got:
        h = g["headers"]
        assert verify(SECRET, h["X-Fenghuo-Timestamp"], g["raw"], h["X-Fenghuo-Signature"])
    down = [n for a in p.store.all_alerts() for n in p.store.notifications_for(a.id) if n.channel == "down"]
    assert len(down) == 1 and down[0].status == "failed" and down[0].attempts == 4
    assert down[0].last_error == "HTTP 503"
    timeline = next(a for a in p.store.all_alerts() if a.grid == "G1").timeline
    kinds = [(e.kind, e.channel) for e in timeline]
    assert ("notified", "up") in kinds and ("notify_retrying", "down") in kinds and ("notify_failed", "down") in kinds
    p.delivery.close()


def test_a_receiver_that_comes_back_gets_everything_once(tmp_path: Path, receiver: Receiver) -> None:
    receiver.fail_paths = {"/down"}
    p = pipeline(tmp_path, receiver, attempts=50)
    raise_alerts(p)
    pump(p, 0.3)
    receiver.fail_paths = set()
    pump(p, 2.0)
    down = [g for g in receiver.requests if g["path"] == "/down"]
    assert len(down) == 1
    n = [n for a in p.store.all_alerts() for n in p.store.notifications_for(a.id) if n.channel == "down"][0]
    assert n.status == "delivered" and n.attempts > 1
    assert down[0]["headers"]["Idempotency-Key"] == n.id
    p.delivery.close()


def test_a_4xx_is_not_retried(receiver: Receiver) -> None:
    from fenghuo.alerts.notifiers.base import DeliveryError

    n = WebhookNotifier("x", receiver.url + "/x", SECRET)
    receiver.status_for["/x"] = 400
    try:
        n.send("id", {"a": 1})
    except DeliveryError as exc:
        assert not exc.retryable and "400" in str(exc)
    else:
        raise AssertionError("a 400 must fail")


def test_a_channel_that_keeps_failing_raises_a_system_alert(tmp_path: Path, receiver: Receiver) -> None:
    receiver.fail_paths = {"/down"}
    p = pipeline(tmp_path, receiver, attempts=2)
    raise_alerts(p)
    pump(p, 1.0)
    system = [a for a in p.store.all_alerts() if a.risk == "system"]
    assert len(system) == 1
    a = system[0]
    assert (a.series, a.level.name_en, a.grid) == ("down", "orange", "D")
    assert a.title_en == "Notification channel down is failing"
    # it was sent through the responders' other channel, never through the failing one
    sent = p.store.notifications_for(a.id)
    assert sent and {n.channel for n in sent} == {"up"}
    assert any(g["json"]["alert"]["id"] == a.id for g in receiver.requests)
    # the channel recovers: the next delivery through it clears the system alert
    receiver.fail_paths = set()
    p.ingest([{"feed": "sensor", "source": "sG1b", "ts": 1e9 + 1, "grid": "G1", "metric": "gas_ppm", "value": 99}])
    pump(p, 1.0)
    again = p.store.get_alert(a.id)
    assert again is not None and again.cleared
    p.delivery.close()


def test_a_newer_notification_never_overtakes_one_still_being_sent(tmp_path: Path) -> None:
    """An escalation decided while the alert's first message is still on the wire waits for it."""
    first_started, release = threading.Event(), threading.Event()
    sent: list[str] = []

    class SlowFirst:
        name = "slow"

        def send(self, key: str, payload: dict[str, Any]) -> str:
            if key == "n1":
                first_started.set()
                release.wait(5)
            sent.append(key)
            return "ok"

    store = SqliteStore(tmp_path / "db")

    def note(nid: str, at: float) -> Notification:
        return Notification(id=nid, alert_id="A", channel="slow", responder=None, kind="raised", tier=0,
                            payload={}, created_at=at)

    outcomes: list[tuple[str, bool]] = []
    d = Delivery(store, {"slow": SlowFirst()}, {"slow": 3},
                 lambda n, ok, _r, _f: (store.update_notification(n), outcomes.append((n.id, ok))), now=time.time)
    store.save_alerts([], [note("n1", 1.0)], {})
    d.run_due()
    assert first_started.wait(5)
    store.save_alerts([], [note("n2", 2.0)], {})  # decided while n1 is being sent
    d.run_due()
    time.sleep(0.2)
    release.set()
    deadline = time.monotonic() + 5
    while len(sent) < 2 and time.monotonic() < deadline:
        d.run_due()
        time.sleep(0.02)
    d.close()
    assert sent == ["n1", "n2"]


def test_a_channel_reuses_its_connections_and_closes_them_on_shutdown(tmp_path: Path) -> None:
    """Many deliveries to one channel go over a few kept-alive connections (at most one per worker),
    not one connection each; stopping delivery closes them. A bad url fails without retries."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    peers: list[int] = []
    drop = threading.Event()  # close the connection after answering, without saying so

    class KeepAlive(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            close = drop.is_set()
            self.rfile.read(int(self.headers.get("content-length", 0)))
            peers.append(self.client_address[1])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.close_connection = close

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        hook = WebhookNotifier("hook", url, SECRET, connections=4)
        store = SqliteStore(tmp_path / "db")
        d = Delivery(store, {"hook": hook}, {"hook": 3}, lambda n, *_: store.update_notification(n), now=time.time,
                     workers=4)
        store.save_alerts([], [Notification(id=f"n{i}", alert_id=f"a{i}", channel="hook", responder=None,
                                            kind="raised", tier=0, payload={"i": i}, created_at=float(i))
                               for i in range(60)])
        deadline = time.monotonic() + 10
        while store.pending_notification_count() and time.monotonic() < deadline:
            d.run_due()
            time.sleep(0.02)
        d.close()
        assert len(peers) == 60 and len(set(peers)) <= 4
        assert hook.pool is not None and hook.pool.opened <= 4
        assert hook.pool.closed and not hook.pool.idle
        # a receiver that closes kept-alive connections meanwhile costs nothing but a new connection
        hook = WebhookNotifier("hook", url, SECRET, connections=1)
        drop.set()
        hook.send("k1", {"i": 1})
        drop.clear()
        assert hook.send("k2", {"i": 2}) == "HTTP 200"
        assert hook.pool is not None and hook.pool.opened == 2
        hook.close()
    finally:
        server.shutdown()
        server.server_close()
    from fenghuo.alerts.notifiers.base import DeliveryError

    try:
        WebhookNotifier("bad", "ftp://example.org/x", SECRET).send("k", {})
    except DeliveryError as exc:
        assert not exc.retryable and "http:// or https://" in str(exc)
    else:
        raise AssertionError("an ftp url must fail")
