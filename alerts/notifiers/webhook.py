"""Webhook notifier: JSON POST signed with HMAC-SHA256.

Headers: ``X-Fenghuo-Signature: sha256=<hex of HMAC(secret, timestamp + "." + body)>``,
``X-Fenghuo-Timestamp``, ``Idempotency-Key`` (the notification id: receivers drop repeats).

>>> sig = sign("s3cret", "1700000000", b'{"a":1}')
>>> sig
'sha256=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940'
>>> verify("s3cret", "1700000000", b'{"a":1}', sig), verify("other", "1700000000", b'{"a":1}', sig)
(True, False)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from alerts.notifiers.base import DeliveryError, check_http


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookNotifier:
    def __init__(self, name: str, url: str, secret: str, timeout: float = 5.0) -> None:
        self.name = name
        self.url = url
        self.secret = secret
        self.client = httpx.Client(timeout=timeout)

    def send(self, notification_id: str, payload: dict[str, Any]) -> str:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Fenghuo-Signature": sign(self.secret, ts, body),
            "X-Fenghuo-Timestamp": ts,
            "Idempotency-Key": notification_id,
        }
        try:
            r = self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
        return check_http(r.status_code, "HTTP")

    def close(self) -> None:
        self.client.close()
