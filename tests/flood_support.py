"""The river flood the tests replay: real Hub'Eau readings of L'Agly through Storm Gloria (January 2020), the
four-tier config it escalates through and the river rules (the end-to-end run, the Kafka runs, the backtests
and the rule editor share them)."""

from __future__ import annotations

from typing import Any

from tests.support import DATA

STATION = "hubeau:Y063402001"  # L'Agly: the highest Storm Gloria peak in the data (5.9 m median -> 15.5 m)
HUBEAU = DATA / "hubeau-river-levels-2020" / "hubeau_water_level_10min_2020-01-07_2020-02-07.csv.gz"
SECRET = "test-webhook-secret-1234"
TIERS = ["G-AGLY", "C-AGLY", "S-PO", "D-OCC"]

# the rule the flood runs are played with
RULE = {"feed": "sensor", "metric": "water_level_m", "grid": "*", "direction": "above",
        "levels": {"blue": 7.0, "yellow": 9.0, "orange": 11.0, "red": 13.0}, "for_seconds": 600, "hysteresis": 0.1}
# the river rule as it stands, which the backtests compare changed rules with
CURRENT = {"id": "river-level", "feed": "sensor", "metric": "water_level_m", "direction": "above",
           "levels": {"blue": 6.5, "yellow": 8.0, "orange": 10.0, "red": 12.0}, "for_seconds": 600, "hysteresis": 0.1}


def station_rows() -> list[dict[str, Any]]:
    """The station's readings (records as the hubeau adapter reads them), in time order."""
    from fenghuo.ingest.adapters import read_records

    rows = [r for r in read_records(HUBEAU, fmt="hubeau") if r["source"] == STATION]
    return sorted(rows, key=lambda r: r["ts"])


KINDS = ["grid", "community", "street", "district"]


def tier_nodes() -> list[dict[str, Any]]:
    """The station's grid under a community, a street and a district (``TIERS``, of ``KINDS``)."""
    nodes = []
    for i, (node, kind) in enumerate(zip(TIERS, KINDS, strict=True)):
        n: dict[str, Any] = {"id": node, "name": f"{kind}-{node}", "kind": kind}
        if i + 1 < len(TIERS):
            n["parent"] = TIERS[i + 1]
        if kind == "grid":
            n["centroid"] = [42.745, 2.5885]
        nodes.append(n)
    return nodes


def config(receiver_url: str) -> dict[str, Any]:
    """The station's grid under a community, a street and a district (``TIERS``), each with a duty responder
    on its own webhook channel at ``receiver_url``/<kind>, and a drill channel at ``receiver_url``/drill."""
    kinds = KINDS
    return {
        "nodes": tier_nodes(),
        "channels": [{"name": f"hook-{k}", "type": "webhook", "url": f"{receiver_url}/{k}", "secret": SECRET,
                      "max_attempts": 3} for k in kinds]
        + [{"name": "drill-hook", "type": "webhook", "url": f"{receiver_url}/drill", "secret": SECRET}],
        "responders": [{"id": f"duty-{k}", "name": f"值班-{k}", "node": node, "channels": [f"hook-{k}"]}
                       for node, k in zip(TIERS, kinds, strict=True)],
        "drills": {"channels": ["drill-hook"]},
    }
