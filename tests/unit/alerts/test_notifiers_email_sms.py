"""Email against a real SMTP server on loopback (aiosmtpd); SMS against a real local HTTP gateway."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from fenghuo.alerts.notifiers import make_other
from fenghuo.alerts.notifiers.base import DeliveryError
from fenghuo.alerts.notifiers.email import EmailNotifier
from fenghuo.alerts.notifiers.sms import MAX_CHARS, SmsNotifier
from fenghuo.alerts.notify import notification_id, payload
from fenghuo.alerts.stages import Change
from fenghuo.core.config import Channel
from fenghuo.core.levels import Level
from fenghuo.core.models import Alert, Risk, Status
from tests.alerts_support import Inbox
from tests.support import free_port


def make_alert(drill: str | None = None) -> Alert:
    return Alert(id="a1b2c3d4e5f60718", fingerprint="safety|river-level|G-0012|s/water_level_m", risk=Risk.SAFETY,
                 feed="sensor", grid="G-0012", source="hubeau:O1432910", series="hubeau:O1432910/water_level_m",
                 rule="river-level", level=Level.ORANGE, status=Status.OPEN, drill=drill, created_at=1579687200.0,
                 updated_at=1579687200.0, title_zh="一号网格 水位预警", title_en="Grid 1: water level warning")


def make_payload(kind: str = "raised", drill: str | None = None) -> tuple[str, dict[str, Any]]:
    a = make_alert(drill)
    nid = notification_id(a.id, kind, 1, 0, "r1", "mail")
    return nid, {"notification_id": nid, **payload(Change(a, kind, detail="river-level: value 4.1 >= 4 (orange)"),
                                                   0, "G-0012", "r1", "mail")}


# -- SMTP ----------------------------------------------------------------------------------------------
def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"ops" and auth_data.password == b"pw-123"
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd replies 535 itself


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=authenticate,
                            auth_require_tls=False)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_email_arrives_with_level_in_chinese_and_stable_message_id(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    ch = Channel(name="mail", type="email", url=f"smtp://127.0.0.1:{port}?from=warn@fenghuo.example",
                 to=["duty@example.org", "chief@example.org"])
    notifier = make_other(ch, public_url="http://board.example")
    nid, body = make_payload()
    receipt = notifier.send(nid, body)
    assert "2 recipient(s)" in receipt
    assert len(inbox.messages) == 1
    rcpts, msg = inbox.messages[0]
    assert rcpts == ["duty@example.org", "chief@example.org"]
    assert "橙色预警" in msg["Subject"] and "ORANGE" in msg["Subject"]
    assert "一号网格 水位预警" in msg["Subject"] and "Grid 1: water level warning" in msg["Subject"]
    assert msg["Message-ID"] == f"<{nid}@fenghuo.fenghuo.example>"
    assert msg["From"] == "warn@fenghuo.example"
    text = msg.get_content()
    for part in ("预警级别：橙色", "网格：G-0012", "事件：发布", "Level: orange", "Event: raised",
                 "Escalation tier: 0", "http://board.example/#/alert/a1b2c3d4e5f60718"):
        assert part in text
    notifier.send(nid, body)  # a resend (after a crash) carries the same Message-ID
    assert inbox.messages[1][1]["Message-ID"] == msg["Message-ID"]


def test_email_drill_is_marked(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    nid, body = make_payload("upgraded", drill="flood-2020")
    EmailNotifier("mail", f"smtp://127.0.0.1:{port}", ["duty@example.org"]).send(nid, body)
    msg = inbox.messages[0][1]
    assert msg["Subject"].startswith("[演练 DRILL]") and "升级" in msg["Subject"]
    assert "flood-2020" in msg.get_content()


def test_email_login_from_url_and_secret(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    nid, body = make_payload()
    EmailNotifier("mail", f"smtp://ops@127.0.0.1:{port}", ["a@example.org"], secret="pw-123").send(nid, body)
    assert len(inbox.messages) == 1
    with pytest.raises(DeliveryError) as err:
        EmailNotifier("mail", f"smtp://ops:wrong@127.0.0.1:{port}", ["a@example.org"]).send(nid, body)
    assert not err.value.retryable and "535" in str(err.value)


def test_email_4xx_is_retryable_5xx_is_not(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    inbox.reject = {"busy@example.org": "451 4.3.0 try again later", "gone@example.org": "550 5.1.1 no such user"}
    nid, body = make_payload()
    url = f"smtp://127.0.0.1:{port}"
    with pytest.raises(DeliveryError) as busy:
        EmailNotifier("mail", url, ["busy@example.org"]).send(nid, body)
    assert busy.value.retryable
    with pytest.raises(DeliveryError) as gone:
        EmailNotifier("mail", url, ["gone@example.org"]).send(nid, body)
    assert not gone.value.retryable and "550" in str(gone.value)
    receipt = EmailNotifier("mail", url, ["ok@example.org", "gone@example.org"]).send(nid, body)
    assert "refused: gone@example.org" in receipt
    assert [r for r, _ in inbox.messages] == [["ok@example.org"]]


def test_email_connection_errors_are_retryable_starttls_missing_is_not(smtp: tuple[Inbox, int]) -> None:
    _, port = smtp
    nid, body = make_payload()
    with pytest.raises(DeliveryError) as refused:
        EmailNotifier("mail", f"smtp://127.0.0.1:{free_port()}", ["a@example.org"], timeout=2).send(nid, body)
    assert refused.value.retryable and "cannot reach" in str(refused.value)
    with pytest.raises(DeliveryError) as tls:
        EmailNotifier("mail", f"smtp+starttls://127.0.0.1:{port}", ["a@example.org"]).send(nid, body)
    assert not tls.value.retryable


def test_make_other_says_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="smtp://host"):
        make_other(Channel(name="m", type="email", url="http://x", to=["a@b"]))
    with pytest.raises(ValueError, match="neither JSON nor a form body"):
        make_other(Channel(name="s", type="sms", url="http://x", to=["1"], template="just text"))


# -- SMS gateway ---------------------------------------------------------------------------------------
class Gateway:
    """A real HTTP server standing in for an SMS gateway; answers with ``status``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "raw": raw})
                self.send_response(outer.status)
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms/send"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    g = Gateway()
    yield g
    g.close()


def test_sms_json_template_filled(gateway: Gateway) -> None:
    template = '{"phones": "{to}", "content": "{text}", "sign": "烽火", "lvl": "{level}", "key": "{secret}"}'
    ch = Channel(name="sms", type="sms", url=gateway.url, to=["13800000000", "13900000000"], template=template,
                 secret="gw-key")
    nid, body = make_payload()
    notifier = make_other(ch)
    assert notifier.send(nid, body).startswith("SMS gateway HTTP 200")
    req = gateway.requests[0]
    assert req["path"] == "/sms/send"
    assert req["headers"]["Content-Type"] == "application/json"
    assert req["headers"]["Idempotency-Key"] == nid
    doc = json.loads(req["raw"])
    assert doc["phones"] == "13800000000,13900000000" and doc["lvl"] == "orange" and doc["key"] == "gw-key"
    assert doc["sign"] == "烽火"
    assert doc["content"].startswith("【烽火】橙色预警发布：一号网格 水位预警")
    assert len(doc["content"]) <= MAX_CHARS


def test_sms_form_template_and_long_title(gateway: Gateway) -> None:
    notifier = SmsNotifier("sms", gateway.url, ["13800000000"], template="mobile={to}&msg={text}&id={alert_id}")
    nid, body = make_payload(drill="flood")
    body["alert"]["title"]["zh-CN"] = "某某区某某街道某某社区第十二网格" * 6 + "水位预警"
    notifier.send(nid, body)
    req = gateway.requests[0]
    assert req["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    form = parse_qs(req["raw"].decode())
    assert form["mobile"] == ["13800000000"] and form["id"] == ["a1b2c3d4e5f60718"]
    text = form["msg"][0]
    assert text.startswith("【烽火演练】橙色预警发布：") and len(text) == MAX_CHARS and "…" in text


def test_sms_503_is_retryable_400_is_not(gateway: Gateway) -> None:
    notifier = SmsNotifier("sms", gateway.url, ["13800000000"])
    nid, body = make_payload()
    gateway.status = 503
    with pytest.raises(DeliveryError) as busy:
        notifier.send(nid, body)
    assert busy.value.retryable
    gateway.status = 400
    with pytest.raises(DeliveryError) as bad:
        notifier.send(nid, body)
    assert not bad.value.retryable
    assert len(gateway.requests) == 2
    unreachable = SmsNotifier("sms", f"http://127.0.0.1:{free_port()}/", ["1"], timeout=2)
    with pytest.raises(DeliveryError) as down:
        unreachable.send(nid, body)
    assert down.value.retryable
    for n in (notifier, unreachable):
        n.close()
