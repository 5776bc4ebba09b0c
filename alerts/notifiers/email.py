"""Email notifier over SMTP, in Chinese and English.

The channel's ``url`` says where and how to connect::

    smtp://host:25                    plain SMTP
    smtp+starttls://user@host:587     STARTTLS, then login (password: the channel's ``secret``)
    smtps://user:pass@host:465        implicit TLS
    ...?from=alerts@example.org       the From address (default fenghuo@localhost)

The ``Message-ID`` is derived from the notification id, so a resend after a crash carries the
same id and mail systems (and people) can tell it is a repeat. Failures that may pass (no
connection, a timeout, a 4xx reply) are retryable; 5xx permanent rejections are not.
Subject and body come from :class:`~fenghuo.alerts.notifiers.wording.Wording`, whose free text is masked
(mobile and resident ID numbers never reach a mailbox whole).

>>> cfg = parse_smtp_url("smtp+starttls://ops%40example.org@mail.example.org:587?from=warn@example.org")
>>> cfg.host, cfg.port, cfg.starttls, cfg.user, cfg.sender
('mail.example.org', 587, True, 'ops@example.org', 'warn@example.org')
>>> message_id("0123abcd", "warn@example.org")
'<0123abcd@fenghuo.example.org>'
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from fenghuo.alerts.notifiers.base import DeliveryError
from fenghuo.alerts.notifiers.wording import Wording

SCHEMES = {"smtp": (25, False, False), "smtp+starttls": (587, True, False), "smtps": (465, False, True)}


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    starttls: bool = False
    ssl: bool = False
    user: str | None = None
    password: str | None = None
    sender: str = "fenghuo@localhost"


def parse_smtp_url(url: str, secret: str | None = None) -> SmtpConfig:
    """Parse ``smtp[+starttls]://[user[:password]@]host[:port][?from=addr]`` or ``smtps://...``."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ValueError(f"email channel url {url!r}: use smtp://host:port, smtp+starttls://user@host:587 "
                         "or smtps://user@host:465")
    port, starttls, implicit = SCHEMES[parts.scheme]
    query = parse_qs(parts.query)
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else secret
    return SmtpConfig(host=parts.hostname, port=parts.port or port, starttls=starttls, ssl=implicit, user=user,
                      password=password, sender=query.get("from", ["fenghuo@localhost"])[0])


def message_id(notification_id: str, sender: str) -> str:
    """A Message-ID that is the same every time the same notification is sent."""
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<{notification_id}@fenghuo.{domain}>"


def subject(w: Wording) -> str:
    drill = "[演练 DRILL] " if w.drill else ""
    return (f"{drill}[{w.level_zh}预警 {w.level_en.upper()}] {w.title_zh}（{w.kind_zh}）"
            f" / {w.title_en} ({w.kind_en})")


def body(w: Wording) -> str:
    lines = []
    if w.drill:
        lines += [f"【演练】本通知属于演练“{w.drill}”，不是真实预警。",
                  f"[DRILL] This notification belongs to the drill {w.drill!r}; it is not a real warning.", ""]
    lines += [
        f"预警级别：{w.level_zh}（{w.level.roman}级）",
        f"标题：{w.title_zh}",
        f"网格：{w.grid}",
        f"事件：{w.kind_zh}",
        f"通知层级：第 {w.tier} 级",
    ]
    if w.detail:
        lines.append(f"说明：{w.detail}")
    if w.link:
        lines.append(f"详情：{w.link}")
    lines += [
        "",
        f"Level: {w.level_en} ({w.level.roman})",
        f"Title: {w.title_en}",
        f"Grid: {w.grid}",
        f"Event: {w.kind_en}",
        f"Escalation tier: {w.tier}",
    ]
    if w.detail:
        lines.append(f"Detail: {w.detail}")
    if w.link:
        lines.append(f"Link: {w.link}")
    lines += ["", f"Alert {w.alert_id} — 烽火 fenghuo"]
    return "\n".join(lines) + "\n"


def build_message(notification_id: str, payload: dict[str, Any], sender: str, to: list[str],
                  public_url: str | None = None) -> EmailMessage:
    """The email for one notification (pure: no I/O)."""
    w = Wording.of(payload, public_url)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject(w)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id(notification_id, sender)
    msg["X-Fenghuo-Notification"] = notification_id
    msg["X-Fenghuo-Alert"] = w.alert_id
    msg["X-Fenghuo-Level"] = w.level_en
    msg["Content-Language"] = "zh-CN, en"
    msg.set_content(body(w), charset="utf-8")
    return msg


def _smtp_error(exc: smtplib.SMTPException) -> DeliveryError:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(f"{rcpt}: {code} {msg!r}" for rcpt, (code, msg) in exc.recipients.items())
        retry = any(400 <= c < 500 for c in codes)
        return DeliveryError(f"all recipients refused: {detail}" + ("" if retry else " (not retried)"), retry)
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        if 500 <= code < 600:
            hint = " — check the user and the channel's secret" if code in (530, 534, 535) else ""
            return DeliveryError(f"SMTP {code} {text}{hint} (permanent, not retried)", retryable=False)
        return DeliveryError(f"SMTP {code} {text}")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryError(f"{exc}: the server does not support what the url asks (STARTTLS or login)",
                             retryable=False)
    return DeliveryError(f"{type(exc).__name__}: {exc}")


class EmailNotifier:
    """Send each notification as one email to the channel's recipients."""

    def __init__(self, name: str, url: str, to: list[str], secret: str | None = None, timeout: float = 10.0,
                 public_url: str | None = None) -> None:
        self.name = name
        self.config = parse_smtp_url(url, secret)
        self.to = list(to)
        self.timeout = timeout
        self.public_url = public_url

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        if c.ssl:
            return smtplib.SMTP_SSL(c.host, c.port, timeout=self.timeout, context=ssl.create_default_context())
        smtp = smtplib.SMTP(c.host, c.port, timeout=self.timeout)
        if c.starttls:
            try:
                smtp.starttls(context=ssl.create_default_context())
            except BaseException:
                smtp.close()
                raise
        return smtp

    def send(self, notification_id: str, payload: dict[str, Any]) -> str:
        msg = build_message(notification_id, payload, self.config.sender, self.to, self.public_url)
        try:
            smtp = self._connect()
            try:
                if self.config.user:
                    smtp.login(self.config.user, self.config.password or "")
                refused = smtp.send_message(msg, self.config.sender, self.to)
            finally:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()
        except smtplib.SMTPException as exc:
            raise _smtp_error(exc) from None
        except OSError as exc:  # refused, unreachable, timed out, TLS failure
            raise DeliveryError(f"cannot reach SMTP server {self.config.host}:{self.config.port}: "
                                f"{type(exc).__name__}: {exc}") from None
        receipt = f"sent to {len(self.to) - len(refused)} recipient(s) as {msg['Message-ID']}"
        if refused:
            receipt += f"; refused: {', '.join(sorted(refused))}"
        return receipt
