"""SMS notifier through an HTTP gateway described by a template.

The channel's ``template`` is the request body with placeholders: a JSON document (sent as
``application/json``) or a form body ``a=b&c=d`` (sent form-encoded). Placeholders:
``{to}`` (the channel's numbers, comma-separated), ``{text}`` (the short message, at most 70
characters: one UCS-2 SMS segment), ``{level}``, ``{level_zh}``, ``{alert_id}``, ``{grid}``,
``{event}``, ``{notification_id}``, ``{secret}`` (the channel's secret, for gateways that want a
key in the body). Values are escaped for the format; other braces are left alone. ``{text}`` and
``{grid}`` come from :class:`~fenghuo.alerts.notifiers.wording.Wording`, masked: mobile and resident ID numbers in
titles never reach the gateway whole (``{to}``, the channel's own numbers, of course are sent as configured).
The request also carries ``Idempotency-Key: <notification id>``. A network error, 408, 429 or
5xx is retried; other 4xx replies are not.

>>> fill('{"to": "{to}", "msg": "{text}", "n": 1}', {"to": "138", "text": 'a "b"'})
('application/json', b'{"to": "138", "msg": "a \\\\"b\\\\"", "n": 1}')
>>> fill("to={to}&content={text}", {"to": "138,139", "text": "红色 预警"})
('application/x-www-form-urlencoded', b'to=138%2C139&content=%E7%BA%A2%E8%89%B2+%E9%A2%84%E8%AD%A6')
>>> len(short_text(Wording.of({"event": "raised", "alert": {"id": "a", "level": "red",
...     "title": {"zh-CN": "很长的网格名称" * 20}}})))
70
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

from fenghuo.alerts.notifiers.base import DeliveryError, check_http
from fenghuo.alerts.notifiers.wording import Wording
from fenghuo.core.privacy import mask_pii

MAX_CHARS = 70
DEFAULT_TEMPLATE = '{"to": "{to}", "text": "{text}"}'
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def short_text(w: Wording) -> str:
    """``【烽火】红色预警发布：<title>`` cut to :data:`MAX_CHARS` characters."""
    head = f"【烽火{'演练' if w.drill else ''}】{w.level_zh}预警{w.kind_zh}："
    tail = f" 编号{w.alert_id[:8]}"
    room = MAX_CHARS - len(head) - len(tail)
    title = w.title_zh if len(w.title_zh) <= room else w.title_zh[: max(room - 1, 0)] + "…"
    text = head + title + tail
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def _sub(text: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _walk(node: Any, values: dict[str, str]) -> Any:
    if isinstance(node, str):
        return _sub(node, values)
    if isinstance(node, list):
        return [_walk(v, values) for v in node]
    if isinstance(node, dict):
        return {_sub(k, values): _walk(v, values) for k, v in node.items()}
    return node


def fill(template: str, values: dict[str, str]) -> tuple[str, bytes]:
    """The content type and body: the template with its placeholders filled and escaped."""
    stripped = template.strip()
    if stripped.startswith(("{", "[")):
        try:
            doc = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ValueError(f"the SMS template looks like JSON but does not parse: {exc}") from None
        body = json.dumps(_walk(doc, values), ensure_ascii=False)
        return "application/json", body.encode()
    try:
        pairs = parse_qsl(stripped, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        pairs = []
    if not pairs:
        raise ValueError("the SMS template is neither JSON nor a form body like to={to}&text={text}")
    filled = urlencode([(_sub(k, values), _sub(v, values)) for k, v in pairs])
    return "application/x-www-form-urlencoded", filled.encode()


class SmsNotifier:
    """POST one templated request per notification to the gateway."""

    def __init__(self, name: str, url: str, to: list[str], template: str | None = None, secret: str | None = None,
                 timeout: float = 5.0) -> None:
        self.name = name
        self.url = url
        self.to = list(to)
        self.template = template or DEFAULT_TEMPLATE
        self.secret = secret
        fill(self.template, {})  # a broken template fails when the channel is built, not at 3 a.m.
        self.client = httpx.Client(timeout=timeout)

    def values(self, notification_id: str, payload: dict[str, Any]) -> dict[str, str]:
        w = Wording.of(payload)
        return {"to": ",".join(self.to), "text": short_text(w), "level": w.level_en, "level_zh": w.level_zh,
                "alert_id": w.alert_id, "grid": w.grid, "event": w.kind, "notification_id": notification_id,
                "secret": self.secret or ""}

    def send(self, notification_id: str, payload: dict[str, Any]) -> str:
        content_type, body = fill(self.template, self.values(notification_id, payload))
        headers = {"Content-Type": content_type, "Idempotency-Key": notification_id}
        try:
            r = self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"SMS gateway unreachable: {type(exc).__name__}: {exc}") from None
        receipt = check_http(r.status_code, "SMS gateway HTTP",  # the reply goes to logs: a gateway may echo
                             f"{mask_pii(r.text[:200])!r}; check the channel's template, numbers and secret")
        return f"{receipt} for {len(self.to)} number(s)"

    def close(self) -> None:
        self.client.close()
