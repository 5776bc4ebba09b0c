from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import DATA, Receiver

# make test runs the suite on two pytest-xdist workers (--dist loadgroup). A test module that uses the shared Kafka
# broker runs in one worker, its tests one after another: two of them stop or pause that broker, which would break
# a Kafka test running beside them. The compose stack (tests/compose) runs in a group of its own.
SHARED_BROKER_SIGNS = ("tests.integration.kafka", 'os.environ.get("FENGHUO_TEST_KAFKA")')


def xdist_group_of(path: Path, source: str) -> str | None:
    posix = path.as_posix()
    if "/tests/compose/" in posix:
        return "compose"
    if "/tests/integration/kafka/" in posix or any(sign in source for sign in SHARED_BROKER_SIGNS):
        return "kafka"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    groups: dict[Path, str | None] = {}
    for item in items:
        path = Path(item.path)
        if path not in groups:
            groups[path] = xdist_group_of(path, path.read_text(encoding="utf-8") if path.suffix == ".py" else "")
        if groups[path]:
            item.add_marker(pytest.mark.xdist_group(groups[path]))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="session")
def shared_data() -> object:
    if not DATA.exists():
        pytest.fail(f"the real data is missing: expected {DATA} (set FENGHUO_SHARED to the shared/ folder)")
    return DATA


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh, uniquely named database on the test PostgreSQL server (``FENGHUO_TEST_PG_DSN``), dropped afterwards."""
    dsn = os.environ.get("FENGHUO_TEST_PG_DSN")
    if not dsn:
        pytest.skip("FENGHUO_TEST_PG_DSN is not set; start PostgreSQL with scripts/services/postgres.sh start DIR PORT")
    import psycopg2
    from psycopg2.extensions import make_dsn

    name = f"fh_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(dsn, connect_timeout=10)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield make_dsn(dsn, dbname=name)
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()
