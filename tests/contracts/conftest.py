"""The store contract's fixtures: every case that asks for ``store`` / ``open_store`` runs on SQLite and on both
PostgreSQL flavours: ``postgres`` (plain partitions, ``FENGHUO_TEST_PG_DSN``) and ``timescaledb`` (a hypertable,
``FENGHUO_TEST_TSDB_DSN``: a server with TimescaleDB preloaded); a fresh database per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fenghuo.core.store import Store
from tests.contracts.store_support import Opener, fresh_database, pg_params, server_dsn


@pytest.fixture(params=["sqlite", *pg_params()])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=pg_params())
def pg_flavour(request: pytest.FixtureRequest) -> str:
    """The PostgreSQL flavour of a PostgreSQL-only case: ``postgres`` or ``timescaledb``."""
    return str(request.param)


@pytest.fixture
def pg_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database on the server of the case's flavour (``kind``, else ``pg_flavour``), dropped afterwards."""
    flavour = request.getfixturevalue("kind" if "kind" in request.fixturenames else "pg_flavour")
    with fresh_database(server_dsn(flavour)) as dsn:
        yield dsn


@pytest.fixture
def open_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Opener]:
    """A function that opens (or reopens) the test's store; every store opened is closed at the end. On the
    ``timescaledb`` server the store must have chosen the hypertable, or the case fails saying why not."""
    opened: list[Store] = []
    if kind == "sqlite":
        from fenghuo.core.store.sqlite import SqliteStore

        def make() -> Store:
            opened.append(SqliteStore(tmp_path / "fenghuo.db"))
            return opened[-1]
    else:
        from fenghuo.core.store.postgres import PostgresStore

        dsn = request.getfixturevalue("pg_database")

        def make() -> Store:
            store = PostgresStore(dsn)
            opened.append(store)
            assert store.timescale or kind != "timescaledb", f"no hypertable on {dsn}: {store.flavour_reason}"
            return store
    yield make
    for s in opened:
        s.close()


@pytest.fixture
def store(open_store: Opener) -> Store:
    return open_store()
