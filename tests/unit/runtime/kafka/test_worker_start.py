"""A worker that starts before its database waits for it (retrying with backoff), and one whose database
never answers ends with the reason instead of a traceback."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from fenghuo.cli.distributed import StoreUnreachable, _open_store_when_up
from fenghuo.core.settings import make_settings
from tests.support import free_port


def test_a_store_that_never_answers_ends_the_wait_with_the_reason(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing?connect_timeout=1"
    settings = make_settings(data_dir=tmp_path, store_url=url)
    t0 = time.monotonic()
    with caplog.at_level(logging.WARNING, "fenghuo.distributed"), pytest.raises(StoreUnreachable) as err:
        _open_store_when_up(settings, wait_s=2.0)
    assert time.monotonic() - t0 < 10
    assert "did not answer within 2 s" in str(err.value)
    assert any("does not answer yet" in r.getMessage() for r in caplog.records)  # it did try again
