"""The notifier interface: send one notification; say whether a failure is worth retrying."""

from __future__ import annotations

from typing import Any, Protocol


class DeliveryError(Exception):
    """A failed delivery. ``retryable`` False means trying again cannot help (a 4xx, a bad address)."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


def check_http(status: int, what: str, hint: str = "") -> str:
    """A receiver's HTTP status as a delivery outcome: 5xx, 408 and 429 are retried, other 4xx are not.

    >>> check_http(202, "HTTP")
    'HTTP 202'
    >>> check_http(503, "HTTP")
    Traceback (most recent call last):
    ...
    fenghuo.alerts.notifiers.base.DeliveryError: HTTP 503
    >>> try:
    ...     check_http(400, "HTTP", "check the url")
    ... except DeliveryError as exc:
    ...     print(exc, exc.retryable)
    HTTP 400 (not retried: check the url) False
    """
    if status >= 500 or status in (408, 429):
        raise DeliveryError(f"{what} {status}")
    if status >= 400:
        raise DeliveryError(f"{what} {status} (not retried{': ' + hint if hint else ''})", retryable=False)
    return f"{what} {status}"


class Notifier(Protocol):
    name: str

    def send(self, notification_id: str, payload: dict[str, Any]) -> str:
        """Deliver; return a short receipt. Raise :class:`DeliveryError` on failure."""
        ...
