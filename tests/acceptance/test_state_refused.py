"""``fenghuo run`` on a data directory whose saved state this release cannot read (written by a newer
release, say, before a downgrade) refuses to start with the reason and what to do, not a traceback,
and changes nothing in the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from fenghuo.cli.main import EXAMPLE_CONFIG, main
from fenghuo.core.state import dumps
from fenghuo.core.store import open_store


def test_run_refuses_a_snapshot_of_an_unknown_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FENGHUO_WEBHOOK_SECRET", "a-test-secret")
    data = tmp_path / "data"
    store = open_store("", data)
    future = dumps("embedded-snapshot", 99, {"engine": {}, "clocks": {}, "cursor": 0})
    store.put_state("snapshot", future)
    store.close()

    code = main(["run", "--data-dir", str(data), "--config", str(EXAMPLE_CONFIG), "--port", "0"])

    err = capsys.readouterr().err
    assert code == 2
    assert "refusing to start" in err and "version 99" in err and "Traceback" not in err
    store = open_store("", data)
    try:
        assert store.get_state("snapshot") == future  # left as it was: nothing started over it
    finally:
        store.close()
