"""External (CAP) warning alerts shaped as alerts/external.py raises them (docs/warnings-detection.md): feed
``warning``, rule ``cap:<event>``, ``evidence[-1]["cap"]`` with sender, identifier, event, grids, expires."""

from __future__ import annotations

from typing import Any

from fenghuo.core.levels import Level
from fenghuo.core.models import Alert, Risk, Status


def warning_alert(identifier: str = "W-1", event: str = "Rainstorm", grids: tuple[str, ...] = ("G1",),
                  level: Level = Level.ORANGE, drill: str | None = None, expires: float | None = None,
                  status: Status = Status.OPEN, cleared: bool = False, codes: list[list[str]] | None = None,
                  sender: str = "cma@weather.example", risk: Risk = Risk.SAFETY) -> Alert:
    cap: dict[str, Any] = {"sender": sender, "identifier": identifier, "event": event, "grids": list(grids),
                           "references": [], "origin": "http", "expires": expires, "codes": codes or []}
    return Alert(id=f"a-{identifier}", fingerprint=f"{risk}|cap:{event}|{grids[0]}|{sender}/{identifier}",
                 risk=risk, feed="warning", grid=grids[0], source=sender, series=f"{sender}/{identifier}",
                 rule=f"cap:{event}", level=level, status=status, drill=drill, created_at=0.0, updated_at=0.0,
                 cleared=cleared, evidence=[{"detector": "cap", "feed": "warning", "cap": cap}])
