"""Silences and inhibition through the running embedded service (``fenghuo run`` as a subprocess) with a real
webhook receiver; the silences survive a restart (they are in the store)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.silence_support import config, silence_and_inhibit
from tests.support import ROOT, Receiver, Service


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_a_silence_mutes_matching_alerts_and_a_district_red_inhibits_its_grids(tmp_path: Path,
                                                                              receiver: Receiver) -> None:
    svc = Service(tmp_path, config(receiver.url + "/hook")).start()
    try:
        silence_and_inhibit(svc.client, receiver)
    finally:
        svc.stop()


def test_silences_survive_a_restart(tmp_path: Path, receiver: Receiver) -> None:
    svc = Service(tmp_path, config(receiver.url + "/hook")).start()
    try:
        r = svc.client("responder").post("/v1/silences", json={"match": {"grid": "S", "level_at_most": "yellow"},
                                                                "duration_s": 7200, "comment": "夜间施工"})
        assert r.status_code == 201, r.text
        svc.stop()
        svc.start()
        active = svc.client("viewer").get("/v1/silences", params={"state": "active"}).json()["silences"]
        assert [(s["id"], s["comment"], s["match"]) for s in active] == [
            (r.json()["id"], "夜间施工", {"grid": "S", "level_at_most": "yellow"})]
    finally:
        svc.stop()


def test_the_cli_adds_lists_and_expires_silences_on_a_running_service(tmp_path: Path, receiver: Receiver) -> None:
    svc = Service(tmp_path, config(receiver.url + "/hook")).start()

    def cli(*args: str, key: str = "responder") -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "FENGHUO_API_KEY": svc.keys[key]}
        return subprocess.run([sys.executable, "-m", "fenghuo", "silence", *args, "--url", svc.url], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=60)

    try:
        added = cli("add", "--grid", "C", "--rule", "river", "--level-at-most", "orange", "--duration", "2h",
                    "--comment", "dyke works", "--json")
        assert added.returncode == 0, added.stderr
        sid = json.loads(added.stdout)["id"]
        listed = cli("list", "--state", "active", key="viewer")
        assert listed.returncode == 0 and sid in listed.stdout and "dyke works" in listed.stdout
        refused = cli("add", "--grid", "nowhere", "--duration", "1h")
        assert refused.returncode == 2 and "unknown node 'nowhere'" in refused.stderr
        assert cli("add", "--duration", "1h", key="viewer").returncode == 2  # a viewer cannot silence
        expired = cli("expire", sid)
        assert expired.returncode == 0 and "expired" in expired.stdout
        assert sid in cli("list", "--state", "expired").stdout
        assert cli("list", "--state", "active").stdout.strip() == ""
    finally:
        svc.stop()
