"""The store's integrity at start: a damaged, missing or emptied SQLite database is refused with a clear
message (naming the file and what to do) and a non-zero exit, never a traceback; a new data directory starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fenghuo.core.models import Event
from fenghuo.core.store import StoreDamaged, StoreMissing
from fenghuo.core.store.sqlite import SqliteStore, marker_path
from tests.support import ROOT, free_port

T0 = 1579687200.0


def filled(path: Path, n: int = 3000) -> None:
    """A database with enough rows to span many pages; closed (checkpointed into the main file)."""
    store = SqliteStore(path)
    store.add_events([Event(feed="sensor", source="s", ts=T0 + i, grid="G", id=f"e{i}", metric="m", value=float(i),
                            attrs={"pad": "x" * 100}) for i in range(n)], T0)
    store.audit(T0, "admin:a", "rule.put", "r", "{}")
    store.close()


def damage(path: Path) -> None:
    """Overwrite pages in the middle of the file with garbage (a bad disk, a torn copy)."""
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.seek(size // 2 - (size // 2) % 4096)
        fh.write(b"\xa5" * 4096 * 3)


def test_a_new_data_directory_starts_and_gets_a_marker(tmp_path: Path) -> None:
    path = tmp_path / "new" / "fenghuo.db"
    store = SqliteStore(path)
    store.audit(T0, "admin:a", "x", "y", "{}")
    store.close()
    assert marker_path(path).exists()
    assert marker_path(path).stat().st_mode & 0o777 == 0o600
    SqliteStore(path).close()  # and it reopens


def test_a_damaged_page_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "fenghuo.db"
    filled(path)
    damage(path)
    with pytest.raises(StoreDamaged) as err:
        SqliteStore(path)
    assert str(path) in str(err.value) and "restore from backup" in str(err.value)
    assert "docs/operations.md" in str(err.value)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fenghuo.db"
    filled(path, 10)
    with open(path, "r+b") as fh:
        fh.write(b"this is not SQLite at all")
    with pytest.raises(StoreDamaged, match="is damaged"):
        SqliteStore(path)


def test_an_emptied_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fenghuo.db"
    filled(path, 10)
    path.write_bytes(b"")
    with pytest.raises(StoreMissing, match=r"is empty \(0 bytes\) but this data directory had one"):
        SqliteStore(path)


def test_a_vanished_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fenghuo.db"
    filled(path, 10)
    for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        f.unlink(missing_ok=True)
    with pytest.raises(StoreMissing, match="is missing but this data directory had one"):
        SqliteStore(path)
    assert not path.exists()  # nothing was created in its place


def test_an_empty_file_without_a_marker_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "fenghuo.db"
    path.write_bytes(b"")
    with pytest.raises(StoreMissing, match="if it is new, delete the empty file"):
        SqliteStore(path)


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FENGHUO_API_KEYS": "admin:admin-key-00000000000"}
    return subprocess.run([sys.executable, "-m", "fenghuo", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_fenghuo_run_on_a_damaged_database_says_what_to_do_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "fenghuo.db"
    filled(path)
    damage(path)
    out = run_cli("run", "--demo", "--port", str(free_port()), "--data-dir", str(tmp_path))
    assert out.returncode == 2
    assert f"the database {path} is damaged" in out.stderr and "restore from backup" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_fenghuo_run_on_an_emptied_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fenghuo.db"
    filled(path, 10)
    path.write_bytes(b"")
    out = run_cli("run", "--demo", "--port", str(free_port()), "--data-dir", str(tmp_path))
    assert out.returncode == 2
    assert "is empty (0 bytes) but this data directory had one" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert path.stat().st_size == 0  # left as found, for whoever restores it


def test_audit_verify_on_a_damaged_database_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "fenghuo.db"
    filled(path)
    damage(path)
    out = run_cli("audit", "verify", "--data-dir", str(tmp_path))
    assert out.returncode == 2 and "is damaged" in out.stderr and "Traceback" not in out.stderr


def test_processes_opening_a_new_database_at_once_migrate_it_once(tmp_path: Path) -> None:
    """Kafka workers on one SQLite file start together: each migration is applied once, the chains once."""
    code = ("import sys; from pathlib import Path; from fenghuo.core.store.sqlite import SqliteStore; "
            "s = SqliteStore(Path(sys.argv[1])); s.audit(1.0, 'w', 'x', 'y', '{}'); s.close()")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "fenghuo.db")], cwd=ROOT,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    from fenghuo.core import chain

    store = SqliteStore(tmp_path / "fenghuo.db")
    try:
        result = chain.verify(store)
        assert result.ok and result.chains[0].head_seq == 4, result.summary()
    finally:
        store.close()
