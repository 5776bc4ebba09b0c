"""Incidents and notes through the running embedded service (``fenghuo run`` as a subprocess) with a real webhook
receiver; incidents survive a restart (they are in the store)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.incident_support import config, resolve_after_restart, storm_is_one_incident
from tests.support import Receiver, Service


def cli(svc: Service, role: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``fenghuo incident ARGS`` against the running service with the role's key."""
    return subprocess.run([sys.executable, "-m", "fenghuo", "incident", *args, "--url", svc.url,
                           "--api-key", svc.keys[role]], capture_output=True, text=True, timeout=60)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_a_storm_under_one_street_is_one_summary_and_ack_resolve_apply_to_every_member(
        tmp_path: Path, receiver: Receiver) -> None:
    svc = Service(tmp_path, config(receiver.url + "/hook")).start()
    try:
        inc_id = storm_is_one_incident(svc.client, receiver)
        svc.stop()
        svc.start()
        listed = cli(svc, "viewer", "list")
        assert listed.returncode == 0 and inc_id in listed.stdout and "acknowledged" in listed.stdout, listed
        noted = cli(svc, "responder", "note", inc_id, "水位回落，继续观察")
        assert noted.returncode == 0, noted.stderr
        shown = cli(svc, "viewer", "show", inc_id)
        assert "水位回落，继续观察" in shown.stdout and shown.stdout.count("  member ") == 20, shown.stdout
        refused = cli(svc, "viewer", "resolve", inc_id)  # a viewer may not resolve: a clear line, no traceback
        assert refused.returncode != 0 and "403" in refused.stderr and "Traceback" not in refused.stderr
        resolve_after_restart(svc.client, inc_id)
    finally:
        svc.stop()
