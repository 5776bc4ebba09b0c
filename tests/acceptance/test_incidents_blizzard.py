"""The Boston 311 blizzard of January 2015 (fenghuo/demo's slice, 1,274 real cases) replayed through the embedded
pipeline with the example configuration, incidents off and on: the storm becomes a couple of incidents with one
opening summary each instead of every alert's own messages. Prints the figures docs/incidents.md gives.

Run alone: ``.venv/bin/python -m pytest tests/acceptance/test_incidents_blizzard.py -q -s``; with
``FENGHUO_BLIZZARD_FILE=/work/shared/data/boston311-2015/boston_311_2015.csv.gz`` it replays the whole year."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from fenghuo.core.config import Incidents, load_config
from fenghuo.core.settings import Settings
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.ingest.adapters.registry import read_records
from fenghuo.runtime.embedded import Pipeline
from tests.support import ROOT

EXAMPLE = ROOT / "fenghuo" / "demo" / "fenghuo.example.yaml"
SLICE = ROOT / "fenghuo" / "demo" / "boston311_blizzard_2015.csv.gz"


def replay(tmp: Path, path: Path, incidents: Incidents | None, batch: int = 50) -> dict[str, Any]:
    os.environ.setdefault("FENGHUO_WEBHOOK_SECRET", "blizzard-test-secret")
    cfg = load_config(EXAMPLE)
    cfg = cfg.model_copy(update={"incidents": incidents or Incidents(enabled=False)})
    p = Pipeline(Settings(data_dir=tmp, clock="event"), cfg, SqliteStore(tmp / "db.sqlite"),  # type: ignore[call-arg]
                 notifiers={})  # decided, not sent: the outbox is what we count
    p.recover()
    records = sorted(read_records(path, fmt="boston311"), key=lambda r: r["ts"])
    for i in range(0, len(records), batch):
        p.ingest(records[i:i + batch])
        with p.lock:
            p.alerts.tick(p.clocks.domains())
    alerts = [a for a in p.store.all_alerts() if not a.drill]
    incidents_ = p.store.incidents(None, 1000)
    own = Counter(n.kind for a in alerts for n in p.store.notifications_for(a.id))
    summaries = Counter(n.kind for i in incidents_ for n in p.store.notifications_for(i["id"]))
    p.store.close()
    return {"alerts": len(alerts), "own": own, "summaries": summaries, "incidents": incidents_,
            "total": sum(own.values()) + sum(summaries.values())}


def test_the_blizzard_is_a_few_incidents_not_a_message_per_alert_change(tmp_path: Path) -> None:
    path = Path(os.environ.get("FENGHUO_BLIZZARD_FILE") or SLICE)
    off = replay(tmp_path / "off", path, None)
    on = replay(tmp_path / "on", path, Incidents(enabled=True))
    print(f"\n{path.name}: incidents off: {off['alerts']} alerts, {off['total']} notifications {dict(off['own'])}")
    print(f"incidents on: {on['alerts']} alerts, {len(on['incidents'])} incidents "
          f"({[(i['node'], i['risk'], len(i['members'])) for i in on['incidents']]}), {on['total']} notifications: "
          f"alerts' own {dict(on['own'])}, incidents' {dict(on['summaries'])}")
    assert on["alerts"] == off["alerts"]  # the same alerts are raised and recorded: only the messages differ
    assert off["total"] == sum(off["own"].values()) and not off["summaries"]
    if path == SLICE:
        assert off["alerts"] >= 10 and len(on["incidents"]) <= 4  # a couple of incidents, one per street and risk
        opened = on["summaries"]["incident_opened"]
        recipients = off["own"]["raised"] // off["alerts"]  # who hears of an alert at the first tier
        assert opened == len(on["incidents"]) * recipients  # one opening summary per incident
        assert on["own"]["raised"] < off["own"]["raised"] // 2  # most alerts sent no message of their own
        assert on["total"] < off["total"] // 2
