"""Fixtures of the Kafka integration tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.flood_support import station_rows


@pytest.fixture
def readings(shared_data: Path) -> list[dict[str, Any]]:
    """The river readings of L'Agly through Storm Gloria (tests/flood_support.py), in time order."""
    rows = station_rows()
    assert len(rows) > 4000
    return rows
