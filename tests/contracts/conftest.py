"""The store contract's fixtures: every case that asks for ``store`` / ``open_store`` runs on SQLite and on
PostgreSQL (``FENGHUO_TEST_PG_DSN``; a fresh database per test)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fenghuo.core.store import Store
from tests.contracts.store_support import PG_DSN, PG_SKIP, Opener


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.skipif(not PG_DSN, reason=PG_SKIP))])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Opener]:
    """A function that opens (or reopens) the test's store; every store opened is closed at the end."""
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
            opened.append(PostgresStore(dsn))
            return opened[-1]
    yield make
    for s in opened:
        s.close()


@pytest.fixture
def store(open_store: Opener) -> Store:
    return open_store()
