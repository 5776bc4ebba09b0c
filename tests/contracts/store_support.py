"""What the store contract cases share: the PostgreSQL switch, an opener type and sample rows (events, alerts,
notifications). The fixtures (``kind``, ``open_store``, ``store``) are in tests/contracts/conftest.py."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from fenghuo.core.levels import Level
from fenghuo.core.models import Alert, Event, Risk, Status, TimelineEntry
from fenghuo.core.store import Notification, Store

PG_DSN = os.environ.get("FENGHUO_TEST_PG_DSN")
PG_SKIP = ("FENGHUO_TEST_PG_DSN is not set; start PostgreSQL with scripts/services/postgres.sh start DIR PORT "
           "and export the DSN it prints")
# the second server, with TimescaleDB preloaded (make test builds it: scripts/services/timescaledb.sh)
TSDB_DSN = os.environ.get("FENGHUO_TEST_TSDB_DSN")
TSDB_ERROR = os.environ.get("FENGHUO_TEST_TSDB_ERROR")  # set by make test when TimescaleDB could not be had
TSDB_SKIP = ("FENGHUO_TEST_TSDB_DSN is not set; run scripts/services/timescaledb.sh install, then "
             "PG_PRELOAD=timescaledb scripts/services/postgres.sh start DIR PORT and export the DSN it prints")
DSNS = {"postgres": PG_DSN, "timescaledb": TSDB_DSN}


def pg_params() -> list[Any]:
    """The PostgreSQL flavours as pytest params: ``postgres`` (plain partitions) and ``timescaledb``, each skipped
    when its server is not given (a developer's run); ``timescaledb`` fails instead when make test could not
    build or start it (``FENGHUO_TEST_TSDB_ERROR``)."""
    return [pytest.param("postgres", marks=pytest.mark.skipif(not PG_DSN, reason=PG_SKIP)),
            pytest.param("timescaledb", marks=pytest.mark.skipif(not TSDB_DSN and not TSDB_ERROR, reason=TSDB_SKIP))]


def server_dsn(flavour: str) -> str:
    """The DSN of the test server of that flavour (``postgres`` or ``timescaledb``); fails the test when make test
    said that TimescaleDB could not be had."""
    if flavour == "timescaledb" and TSDB_ERROR:
        pytest.fail(f"TimescaleDB is not available to the tests: {TSDB_ERROR}")
    dsn = DSNS[flavour]
    if not dsn:
        pytest.skip(TSDB_SKIP if flavour == "timescaledb" else PG_SKIP)
    return dsn


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A new, uniquely named database on that server (its DSN), dropped afterwards (WITH FORCE: TimescaleDB keeps
    a background scheduler connected to every database that has the extension)."""
    import psycopg2
    from psycopg2.extensions import make_dsn

    name = f"fh_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(server, connect_timeout=10)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield make_dsn(server, dbname=name)
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()

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


def run_job(conn: Any, proc: str) -> None:
    """Run the TimescaleDB policy job of that procedure (``policy_compression``, ``policy_retention``,
    ``policy_refresh_continuous_aggregate``) now, as its schedule would; ``conn`` in autocommit (CALL)."""
    with conn.cursor() as cur:
        cur.execute("SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = %s", (proc,))
        (job,) = cur.fetchall()
        cur.execute("CALL run_job(%s)", job)
