"""Drill runs of the bundled scenarios through a running service (``fenghuo run`` as a subprocess) on the example
configuration, with a real webhook receiver as every channel: each scenario run twice gives the same verdicts,
a responder who never acknowledges is escalated past, a drill reaches only the drill channel, a run's data is
purged by run, and the ``fenghuo drill`` command line drives it all (docs/drills.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support import ROOT, Receiver, Service

EXAMPLE = ROOT / "fenghuo" / "demo" / "fenghuo.example.yaml"
BUNDLED = ROOT / "fenghuo" / "drills" / "scenarios"
SECRET = "drill-test-webhook-secret-1234"
SCENARIOS = sorted(p.stem for p in BUNDLED.glob("*.yaml"))


def example_config(receiver_url: str) -> dict[str, Any]:
    """The example configuration with its webhooks at the receiver (real duty at /hook, drills at /drill)."""
    config = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for channel in config["channels"]:
        if channel["type"] == "webhook":
            channel["url"] = receiver_url + ("/drill" if channel["name"] == "drill-webhook" else "/hook")
    assert any(r["id"] == "gas-ch4" for r in config["rules"]), "the gas drill's rules (deploy/make_example_config.py)"
    return config


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Service]:
    svc = Service(tmp_path_factory.mktemp("drills"), example_config(receiver.url),
                  env={"FENGHUO_WEBHOOK_SECRET": SECRET}).start()
    yield svc
    svc.stop()


def finished(client: httpx.Client, run: str, timeout: float = 120.0) -> dict[str, Any]:
    """The run's document once it is no longer running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = client.get(f"/v1/drills/{run}").json()
        if doc["status"] != "running":
            return doc
        time.sleep(0.2)
    raise AssertionError(f"drill run {run} still running after {timeout} s")


def start(client: httpx.Client, body: dict[str, Any]) -> str:
    r = client.post("/v1/drills", json=body)
    assert r.status_code == 202, r.text
    return str(r.json()["run"])


_runs: dict[str, list[dict[str, Any]]] = {}


def two_runs(service: Service, scenario: str) -> list[dict[str, Any]]:
    """Two runs of a bundled scenario at full speed, one after the other (made once per module)."""
    if scenario not in _runs:
        analyst = service.client("analyst")
        _runs[scenario] = [finished(analyst, start(analyst, {"scenario": scenario, "speed": "max"}))
                           for _ in range(2)]
    return _runs[scenario]


def verdicts(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["label"], e["verdict"]) for e in doc["scorecard"]["expectations"]]


def test_the_bundled_scenarios_are_listed_with_their_titles(service: Service) -> None:
    listed = service.client("viewer").get("/v1/drills").json()["scenarios"]
    assert sorted(s["scenario"] for s in listed) == SCENARIOS
    assert {"boston-blizzard-2015", "gas-leak-corroborated", "flood-sensor-outage", "gloria-no-ack"} <= set(SCENARIOS)
    assert all(s["title_zh"] != s["scenario"] and s["title_en"] != s["scenario"] and s["expect"] >= 2
               for s in listed)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_bundled_scenario_passes_twice_with_the_same_verdicts(service: Service, scenario: str) -> None:
    first, second = two_runs(service, scenario)
    assert (first["run"], second["run"]) == (f"{scenario}-r1", f"{scenario}-r2")
    for doc in (first, second):
        assert doc["status"] == "ended" and doc["verdict"] == "pass", doc.get("scorecard", {}).get("expectations")
    assert verdicts(first) == verdicts(second)
    assert all(v == "met" for _, v in verdicts(second))
    p1, p2 = first["progress"], second["progress"]
    assert p2["planned"] == p1["planned"] > 0
    assert p2["accepted"] == p2["sent"] - p2["duplicates"] - p2["rejected"] and p2["rejected"] == 0
    assert p2["duplicates"] == p1["duplicates"] == 0  # no scenario injects duplicates: a re-run is new data
    assert p2["accepted"] == p1["accepted"] == p2["planned"]
    alerts = service.client("viewer").get("/v1/alerts", params={"drill": second["run"], "limit": 500}).json()
    assert alerts["alerts"] and {a["drill"] for a in alerts["alerts"]} == {second["run"]}

    viewer = service.client("viewer")
    runs = viewer.get("/v1/drills", params={"scenario": scenario}).json()["runs"]
    assert {r["run"] for r in runs} >= {first["run"], second["run"]}
    compared = viewer.get(f"/v1/drills/scenarios/{scenario}/runs").json()
    assert [r["run"] for r in compared["runs"]][:2] == [first["run"], second["run"]]
    assert compared["stable"] is True and all(x["verdicts"][:2] == ["met", "met"] for x in compared["expectations"])


def test_the_blizzard_raises_bursts_where_the_snow_complaints_pile_up(service: Service) -> None:
    card = two_runs(service, "boston-blizzard-2015")[1]["scorecard"]
    reached = {e["expect"].get("grid") or e["expect"].get("node"): e for e in card["expectations"]}
    assert reached["BOS"]["expect"]["rule"] == "complaint-burst" and reached["BOS"]["level"] in ("orange", "red")
    assert reached["BOS-dorchester"]["level"] == "red"
    assert card["summary"]["alerts"] > 5 and card["tiers"] and card["summary"]["mtta_seconds"] >= 600.0


def test_a_gas_alarm_corroborated_by_complaints_goes_up(service: Service) -> None:
    run = two_runs(service, "gas-leak-corroborated")[1]["run"]
    viewer = service.client("viewer")
    alerts = viewer.get("/v1/alerts", params={"drill": run, "limit": 100}).json()["alerts"]
    complaints = [a for a in alerts if a["rule"] == "gas-complaints"]
    assert len(complaints) == 1
    timeline = viewer.get(f"/v1/alerts/{complaints[0]['id']}").json()["timeline"]
    fused = [e for e in timeline if e["actor"] == "fusion"]
    assert fused and "corroborated by sensor gas-ch4" in fused[0]["detail"]
    assert complaints[0]["certainty"] in ("Likely", "Observed")


def test_a_responder_who_never_acknowledges_is_escalated_past(service: Service) -> None:
    doc = two_runs(service, "gloria-no-ack")[1]
    card = doc["scorecard"]
    tiers = {t["kind"]: t for t in card["tiers"]}
    assert tiers["community"]["acknowledged"] == 0 and tiers["community"]["escalated"] >= 1
    assert tiers["community"]["on_time_rate"] == 0.0
    assert tiers["street"]["acknowledged"] >= 1 and tiers["street"]["mtta_seconds"] == 600.0
    assert card["escalations"]["escalated"] >= 1 and card["summary"]["on_time_rate"] < 1.0
    viewer = service.client("viewer")
    alerts = viewer.get("/v1/alerts", params={"drill": doc["run"], "limit": 500}).json()["alerts"]
    escalated = []
    for a in alerts:
        timeline = viewer.get(f"/v1/alerts/{a['id']}").json()["timeline"]
        escalated += [(a["id"], e) for e in timeline if e["kind"] == "escalated"]
    assert escalated and all("tier 2 (OCC-" in e["detail"] for _, e in escalated if "tier 2" in e["detail"])
    cap = viewer.get(f"/v1/cap/alerts/{escalated[0][0]}.xml")
    assert cap.status_code == 200 and "<status>Exercise</status>" in cap.text


def test_a_drill_reaches_only_the_drill_channel_and_its_failing_window_is_retried(service: Service,
                                                                                  receiver: Receiver) -> None:
    for scenario in SCENARIOS:
        two_runs(service, scenario)
    got = receiver.wait_for(lambda rs: len(rs) >= 10)
    assert {r["path"] for r in got} == {"/drill"}  # never the real duty channel
    run = two_runs(service, "gloria-no-ack")[1]["run"]
    viewer = service.client("viewer")
    alerts = viewer.get("/v1/alerts", params={"drill": run, "limit": 500}).json()["alerts"]
    faults, attempts = [], []
    for a in alerts:
        full = viewer.get(f"/v1/alerts/{a['id']}").json()
        faults += [e for e in full["timeline"] if "drill fault: channel drill-webhook fails" in (e["detail"] or "")]
        attempts += [n["attempts"] for n in full["notifications"] if n["channel"] == "drill-webhook"]
    assert faults and max(attempts) >= 2  # failed inside the window, retried after it
    notes = two_runs(service, "gloria-no-ack")[1]["scorecard"]["notifications"]
    assert notes["by_channel"]["drill-webhook"]["total"] == notes["total"] > 0


def test_a_run_is_purged_by_an_admin_and_the_audit_chain_still_verifies(service: Service) -> None:
    analyst, admin = service.client("analyst"), service.client("admin")
    going = start(analyst, {"scenario": "gloria-flood", "speed": 600})
    assert admin.delete(f"/v1/drills/{going}").status_code == 409  # running
    ended = analyst.post(f"/v1/drills/{going}/end")
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    run = two_runs(service, "flood-sensor-outage")[0]["run"]
    for role in ("viewer", "responder", "analyst"):
        assert service.client(role).delete(f"/v1/drills/{run}").status_code == 403
    assert admin.get("/v1/alerts", params={"drill": run}).json()["alerts"]
    purged = admin.delete(f"/v1/drills/{run}")
    assert purged.status_code == 200, purged.text
    assert purged.json()["purged"]["alerts"] > 0 and purged.json()["purged"]["events"] > 0
    assert admin.get("/v1/alerts", params={"drill": run}).json()["alerts"] == []
    kept = admin.get(f"/v1/drills/{run}").json()
    assert kept["scorecard"]["verdict"] == "pass" and kept["purged_by"]
    verify = admin.get("/v1/audit/verify").json()
    assert verify["ok"] is True, verify
    assert admin.delete("/v1/drills/nope-r9").status_code == 404


@pytest.mark.parametrize(("spec", "field"), [
    ({"sources": [{"file": "/etc/passwd"}]}, "/etc/passwd"),
    ({"sources": [{"file": "../demo/gloria_river_levels.csv.gz"}]}, "no data file"),
    ({"colour": "red"}, "colour"),
    ({"injections": [{"kind": "complaints", "grid": "BOS-dorchester", "category": "x", "count": 10**9,
                      "at": "+1h"}]}, "injections[0].complaints.count"),
    ({"injections": [{"kind": "drop", "source": "s", "at": "yesterday"}]}, "injections[0].drop.at"),
    ({"expect": [{"grid": "nowhere", "level": "red", "by": "+1h"}]}, "expect[0].grid"),
    ({"speed": 0}, "speed"),
])
def test_bad_scenarios_are_refused_naming_the_field(service: Service, spec: dict[str, Any], field: str) -> None:
    body = {"scenario": "bad", "sources": [{"file": "gloria_river_levels.csv.gz"}], **spec}
    r = service.client("analyst").post("/v1/drills", json={"spec": body})
    assert r.status_code == 422, r.text
    assert field in r.text


def test_bad_requests_are_refused(service: Service) -> None:
    analyst = service.client("analyst")
    assert analyst.post("/v1/drills", json={"scenario": "gloria-flood", "extra": 1}).status_code == 422
    assert analyst.post("/v1/drills", json={"scenario": "nope"}).status_code == 404
    assert analyst.post("/v1/drills", json={"scenario": "gloria-flood", "speed": "fast"}).status_code == 422
    assert analyst.post("/v1/drills", json={}).status_code == 422
    assert service.client("responder").post("/v1/drills", json={"scenario": "gloria-flood"}).status_code == 403
    assert service.client("viewer").get("/v1/drills/not a run").status_code in (404, 422)


def cli(service: Service, *args: str, key: str = "analyst") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FENGHUO_WEBHOOK_SECRET": SECRET}
    env.pop("FENGHUO_URL", None)
    return subprocess.run([sys.executable, "-m", "fenghuo", "drill", *args, "--url", service.url, "--api-key",
                           service.keys[key]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)


def test_the_cli_runs_lists_shows_compares_and_purges(service: Service) -> None:
    ran = cli(service, "run", "gloria-flood", "--speed", "max", "--quiet")
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "verdict PASS" in ran.stdout and "L'Agly red" in ran.stdout and "MTTA" in ran.stdout
    run = ran.stdout.split()[2]
    assert run.startswith("gloria-flood-r")
    nope = cli(service, "run", "nope")
    assert nope.returncode == 2 and "no scenario 'nope'" in nope.stderr and "Traceback" not in nope.stderr
    listed = cli(service, "list", key="viewer")
    assert listed.returncode == 0 and "boston-blizzard-2015" in listed.stdout and run in listed.stdout
    shown = cli(service, "show", run, key="viewer")
    assert shown.returncode == 0 and f"drill run {run}" in shown.stdout and "verdict PASS" in shown.stdout
    compared = cli(service, "compare", "gloria-flood", key="viewer")
    assert compared.returncode == 0 and run in compared.stdout
    refused = cli(service, "purge", run, key="analyst")
    assert refused.returncode == 2
    purged = cli(service, "purge", run, key="admin")
    assert purged.returncode == 0 and f"drill run {run} purged" in purged.stdout


def test_the_cli_runs_a_scenario_file_in_process_with_its_data_next_to_it(tmp_path: Path) -> None:
    shutil.copy(ROOT / "fenghuo" / "demo" / "gloria_river_levels.csv.gz", tmp_path / "levels.csv.gz")
    scenario = {"scenario": "agly-only", "title_en": "L'Agly at Cassagnes", "speed": "max",
                "sources": [{"file": "levels.csv.gz", "format": "hubeau", "sources": ["hubeau:Y063402001"],
                             "from": "2020-01-21T00:00:00Z", "to": "2020-01-23T00:00:00Z"}],
                "responders": {"ack_after": "10m"},
                "expect": [{"risk": "safety", "grid": "FR-l-agly", "level": "red", "by": "2020-01-22T12:00:00Z"}]}
    path = tmp_path / "agly.yaml"
    path.write_text(yaml.safe_dump(scenario, allow_unicode=True), encoding="utf-8")
    env = {**os.environ, "FENGHUO_WEBHOOK_SECRET": SECRET}
    env.pop("FENGHUO_URL", None)
    args = [sys.executable, "-m", "fenghuo", "drill", "run", str(path), "--data-dir", str(tmp_path / "data"),
            "--config", str(EXAMPLE), "--quiet"]
    ran = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert ran.returncode == 0, ran.stdout + ran.stderr[-2000:]
    assert "drill run agly-only-r1" in ran.stdout and "verdict PASS" in ran.stdout
    again = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert again.returncode == 0 and "drill run agly-only-r2" in again.stdout
    assert "0 duplicates" in again.stdout
