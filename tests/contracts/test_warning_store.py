"""CAP warnings taken in, in the store: the same on SQLite and both PostgreSQL flavours.

A warning is one row per (sender, identifier): written again it is replaced (its state changes as Updates,
Cancels and expiry come), never doubled; it is read back as written (Chinese text, polygons, nested lists); the
list filters by state and by drill and gives the newest received first; it survives reopening the store.
"""

from __future__ import annotations

from typing import Any

from fenghuo.core.store import Store
from tests.contracts.store_support import T0, Opener


def warning(identifier: str, received: float, state: str = "open", drill: str | None = None,
            sender: str = "vigilance@meteo.example.fr") -> dict[str, Any]:
    return {"sender": sender, "identifier": identifier, "sent": received - 60, "received_at": received,
            "updated_at": received, "state": state, "drill": drill, "expires": received + 86_400,
            "event": "暴雨洪涝", "level": "red", "grids": ["FR-l-aude", "FR-le-tech"],
            "areas": [{"desc": "奥德省", "polygons": [[[42.35, 2.1], [42.35, 3.1], [43.28, 3.1], [42.35, 2.1]]],
                       "circles": [], "geocodes": [["ISO3166-2", "FR-11"]]}],
            "references": [], "root": [sender, identifier], "fingerprints": ["safety|cap:暴雨洪涝|OCC-Y|x"],
            "alert_ids": ["a1"]}


def test_a_warning_reads_back_as_written_and_is_replaced_not_doubled(store: Store) -> None:
    red = warning("RED-1", T0)
    store.put_warnings([red])
    assert store.get_warning("vigilance@meteo.example.fr", "RED-1") == red
    assert store.get_warning("vigilance@meteo.example.fr", "RED-2") is None
    assert store.get_warning("other@example.org", "RED-1") is None
    store.put_warnings([{**red, "state": "cancelled", "updated_at": T0 + 100, "expires": None}])
    [only] = store.warnings(state=None)
    assert (only["state"], only["updated_at"], only["expires"]) == ("cancelled", T0 + 100, None)
    assert store.warnings(state="open") == []


def test_the_list_filters_by_state_and_drill_newest_first(store: Store) -> None:
    store.put_warnings([warning("A", T0), warning("B", T0 + 10, "superseded"), warning("C", T0 + 20),
                        warning("EX-1", T0 + 30, drill="cap-exercise"), warning("R-1", T0 + 40, drill="gas-r1")])
    assert [w["identifier"] for w in store.warnings()] == ["R-1", "EX-1", "C", "B", "A"]
    assert [w["identifier"] for w in store.warnings(state="open")] == ["R-1", "EX-1", "C", "A"]
    assert [w["identifier"] for w in store.warnings(state="open", drill="false")] == ["C", "A"]
    assert [w["identifier"] for w in store.warnings(drill="true")] == ["R-1", "EX-1"]
    assert [w["identifier"] for w in store.warnings(drill="gas-r1")] == ["R-1"]
    assert [w["identifier"] for w in store.warnings(limit=2)] == ["R-1", "EX-1"]


def test_warnings_outlive_reopening_the_store(open_store: Opener) -> None:
    first = open_store()
    first.put_warnings([warning("RED-1", T0), warning("RED-1", T0, sender="other@example.org")])
    first.close()
    again = open_store()
    assert sorted(w["sender"] for w in again.warnings()) == ["other@example.org", "vigilance@meteo.example.fr"]


def test_purging_a_drill_run_removes_its_warnings_only(store: Store) -> None:
    store.put_warnings([warning("A", T0), warning("R-1", T0 + 10, drill="gas-r1"),
                        warning("R-2", T0 + 20, drill="gas-r2")])
    store.purge_drill("gas-r1", "admin", T0 + 30)
    assert [w["identifier"] for w in store.warnings()] == ["R-2", "A"]
