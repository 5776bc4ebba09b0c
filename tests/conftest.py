from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.support import DATA, Receiver


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
