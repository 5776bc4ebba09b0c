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


def test_a_worker_at_warning_makes_no_debug_records(tmp_path: Path) -> None:
    """faust's terminal spinner set the root logger to DEBUG at WARNING: every debug call of aiokafka and faust then
    made a record (7.6 % of a worker with the models). The detector worker runs without it."""
    import faust

    from fenghuo.runtime.kafka.detector_worker import make_worker

    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        app = faust.App("fenghuo-test-logging", broker="kafka://127.0.0.1:9", web_enabled=False,
                        datadir=str(tmp_path))
        worker = make_worker(app, make_settings(data_dir=tmp_path, log_level="WARNING"))
        worker._setup_logging()  # what the worker does first when it runs
        assert not logging.getLogger("aiokafka.consumer").isEnabledFor(logging.DEBUG)
        assert logging.getLogger("fenghuo.detectors.worker").isEnabledFor(logging.WARNING)
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers
