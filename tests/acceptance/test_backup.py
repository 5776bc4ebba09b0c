"""``fenghuo backup``, ``fenghuo audit verify|head`` and GET /v1/audit/verify, as an operator uses them:
a consistent copy while writers run, a tampered row named, a restore that verifies and starts."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fenghuo.core import chain
from fenghuo.core.store.sqlite import SqliteStore
from tests.support import ROOT, Service

T0 = 1579687200.0
RULE = {"feed": "sensor", "metric": "gas_ppm", "levels": {"blue": 10, "red": 50}}
TREE = [{"id": "D", "name": "区", "kind": "district"},
        {"id": "G1", "name": "一号网格", "kind": "grid", "parent": "D",
         "polygon": [[2.0, 42.0], [2.1, 42.0], [2.1, 42.1], [2.0, 42.1]]}]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fenghuo", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "FENGHUO_STORE_URL": ""})


def test_backup_while_writers_run_is_consistent_and_private(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "data" / "fenghuo.db")
    stop = threading.Event()

    def write() -> None:
        i = 0
        while not stop.is_set():
            store.audit(T0 + i, "admin:a", "rule.put", f"r{i}", "{}")
            i += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while store.chain_heads()["audit"]["seq"] < 50:
            pass
        copies = [tmp_path / f"copy{k}.db" for k in range(3)]
        for c in copies:
            store.backup(c)
    finally:
        stop.set()
        writer.join()
        store.close()
    for c in copies:
        assert c.stat().st_mode & 0o777 == 0o600
        with sqlite3.connect(c) as db:
            assert db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        copy = SqliteStore(c)
        try:
            result = chain.verify(copy)
            assert result.ok, result.summary()
            assert result.chains[0].head_seq >= 50
        finally:
            copy.close()


def test_backup_cli_refuses_to_overwrite_and_dates_a_file_in_a_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    SqliteStore(data / "fenghuo.db").close()
    (tmp_path / "backups").mkdir()
    out = cli("backup", str(tmp_path / "backups"), "--data-dir", str(data))
    assert out.returncode == 0, out.stderr
    made = list((tmp_path / "backups").glob("fenghuo-*.db"))
    assert len(made) == 1 and "backed up" in out.stdout
    again = cli("backup", str(made[0]), "--data-dir", str(data))
    assert again.returncode == 2 and "exists" in again.stderr
    nothing = cli("backup", str(tmp_path / "x.db"), "--data-dir", str(tmp_path / "empty"))
    assert nothing.returncode == 2 and "no database" in nothing.stderr


def test_backup_of_a_postgres_store_points_to_pg_dump(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "fenghuo", "backup", str(tmp_path / "fh.dump"), "--store-url",
                          "postgresql://fh:s3cret@db.example:5432/fenghuo"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "no backup was made" in out.stderr
    assert "pg_dump --format=custom" in out.stdout and "s3cret" not in out.stdout
    assert not (tmp_path / "fh.dump").exists()


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    s = Service(tmp_path_factory.mktemp("backup") / "data", {"nodes": TREE}).start()
    yield s
    if s.proc and s.proc.poll() is None:
        s.stop()


def test_tamper_backup_restore_as_an_operator_does(svc: Service, tmp_path: Path) -> None:
    with svc.client("analyst") as c:
        assert c.put("/v1/rules/thresholds/gas", json=RULE).status_code == 200
        assert c.put("/v1/rules/thresholds/gas", json={**RULE, "levels": {"blue": 12, "red": 50}}).status_code == 200
    with svc.client("responder") as c:
        r = c.post("/v1/events", json=[{"feed": "sensor", "source": "gas-1", "ts": "2020-01-22T10:00:00Z",
                                        "lat": 42.05, "lon": 2.05, "metric": "gas_ppm", "value": 80.0}])
        assert r.status_code == 200, r.text
    with svc.client("analyst") as c:
        assert c.get("/v1/audit/verify").status_code == 403
    with svc.client("admin") as c:
        report = c.get("/v1/audit/verify").json()
        assert report["ok"] and report["first_break"] is None
        heads = c.get("/v1/audit/head").json()["chains"]
        assert heads["audit"]["seq"] >= 2 and heads["rules"]["seq"] >= 2

    backup = tmp_path / "before.db"
    out = cli("backup", str(backup), "--data-dir", str(svc.data_dir))  # while the service runs
    assert out.returncode == 0, out.stderr
    exported = cli("audit", "head", "--export", "--data-dir", str(svc.data_dir))
    assert exported.returncode == 0 and (svc.data_dir / chain.HEADS_FILE).exists()

    db = svc.data_dir / "fenghuo.db"
    with sqlite3.connect(db) as raw:  # an insider edits the audit log directly
        raw.execute("UPDATE audit SET actor = 'admin:someone-else' WHERE id = 1")
    with svc.client("admin") as c:
        report = c.get("/v1/audit/verify").json()
    assert not report["ok"]
    assert {k: report["first_break"][k] for k in ("table", "row", "problem")} == \
        {"table": "audit", "row": "seq 1", "problem": "content changed"}
    out = cli("audit", "verify", "--data-dir", str(svc.data_dir))
    assert out.returncode == 1 and "audit seq 1: content changed" in out.stderr
    as_json = json.loads(cli("audit", "verify", "--json", "--data-dir", str(svc.data_dir)).stdout)
    assert as_json["first_break"]["row"] == "seq 1"

    svc.stop()  # the restore page: stop, copy back, verify, start
    for suffix in ("-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    shutil.copy2(backup, db)
    out = cli("audit", "verify", "--data-dir", str(svc.data_dir))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 exported head(s) checked" in out.stdout
    svc.start()
    with svc.client("admin") as c:
        assert c.get("/v1/audit/verify").json()["ok"]


def test_verify_of_a_mistyped_data_directory_creates_nothing(tmp_path: Path) -> None:
    out = cli("audit", "verify", "--data-dir", str(tmp_path / "typo"))
    assert out.returncode == 2 and "there is no database at" in out.stderr
    assert not (tmp_path / "typo" / "fenghuo.db").exists()
