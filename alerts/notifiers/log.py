"""Log notifier: a duty-log line per notification (ids and levels only, never complaint text)."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("fenghuo.duty")


class LogNotifier:
    def __init__(self, name: str) -> None:
        self.name = name

    def send(self, notification_id: str, payload: dict[str, Any]) -> str:
        a = payload["alert"]
        log.info("notify %s %s alert=%s level=%s grid=%s tier=%s responder=%s", self.name, payload["event"],
                 a["id"], a["level"], a["grid"], payload["tier"], payload["responder"])
        return "logged"
