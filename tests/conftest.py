from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import DATA, Receiver

# make test runs the suite as two pytest processes side by side (scripts/test.sh): the tests that use the shared
# Kafka broker (marked shared_kafka here) in one, one after another, as two of them stop or pause that broker; every
# other test in the other.
SHARED_BROKER_SIGNS = ("tests.integration.kafka", 'os.environ.get("FENGHUO_TEST_KAFKA")')


def uses_shared_broker(path: Path, source: str) -> bool:
    return "/tests/integration/kafka/" in path.as_posix() or any(sign in source for sign in SHARED_BROKER_SIGNS)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "shared_kafka: uses the shared test broker (FENGHUO_TEST_KAFKA); make test "
                                       "runs these in a pytest process of their own")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    shared: dict[Path, bool] = {}
    for item in items:
        path = Path(item.path)
        if path not in shared:
            source = path.read_text(encoding="utf-8") if path.suffix == ".py" else ""
            shared[path] = uses_shared_broker(path, source) and "/tests/compose/" not in path.as_posix()
        if shared[path]:
            item.add_marker(pytest.mark.shared_kafka)


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
