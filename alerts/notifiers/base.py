"""The notifier interface: send one notification; say whether a failure is worth retrying."""

from __future__ import annotations

from typing import Any, Protocol


class DeliveryError(Exception):
    """A failed delivery. ``retryable`` False means trying again cannot help (a 4xx, a bad address)."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Notifier(Protocol):
    name: str

    def send(self, notification_id: str, payload: dict[str, Any]) -> str:
        """Deliver; return a short receipt. Raise :class:`DeliveryError` on failure."""
        ...
