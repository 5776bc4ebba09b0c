from __future__ import annotations

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
