"""What the store contract cases share: the PostgreSQL switch, an opener type and sample rows (events, alerts,
notifications). The fixtures (``kind``, ``open_store``, ``store``) are in tests/contracts/conftest.py."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from fenghuo.core.levels import Level
from fenghuo.core.models import Alert, Event, Risk, Status, TimelineEntry
from fenghuo.core.store import Notification, Store

PG_DSN = os.environ.get("FENGHUO_TEST_PG_DSN")
PG_SKIP = ("FENGHUO_TEST_PG_DSN is not set; start PostgreSQL with scripts/services/postgres.sh start DIR PORT "
           "and export the DSN it prints")

Opener = Callable[[], Store]

T0 = 1579687200.0  # 2020-01-22T10:00:00Z


def ev(i: int | str, ts: float = T0, *, feed: str = "sensor", grid: str = "G-1", source: str = "hubeau:A",
       metric: str | None = "water_level_m", value: float | None = 1.0, **kw: Any) -> Event:
    return Event(feed=feed, source=source, ts=ts, grid=grid, id=str(i), metric=metric, value=value, **kw)


def alert(aid: str, *, fp: str | None = None, level: Level = Level.BLUE, status: Status = Status.OPEN,
          grid: str = "G-1", feed: str = "sensor", risk: Risk = Risk.SAFETY, drill: str | None = None,
          updated: float = T0) -> Alert:
    return Alert(id=aid, fingerprint=fp or f"fp-{aid}", risk=risk, feed=feed, grid=grid, source="hubeau:A",
                 series="hubeau:A/water_level_m", rule="river-level", level=level, status=status, drill=drill,
                 created_at=T0, updated_at=updated, title_zh="水位", title_en="water level", max_level=level,
                 timeline=[TimelineEntry(T0, "raised", level.name_en, None, None, "x > 3")],
                 evidence=[{"ts": T0, "value": 3.2}])


def note(nid: str, alert_id: str = "a1", created: float = T0, **kw: Any) -> Notification:
    return Notification(id=nid, alert_id=alert_id, channel="webhook", responder="r1", kind="raised", tier=0,
                        payload={"alert": alert_id, "text": "水位"}, created_at=created, **kw)


def ids(items: list[Any]) -> list[str]:
    return [x.id for x in items]
