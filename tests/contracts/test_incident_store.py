"""Incidents in every store: written with their alerts' step (one transaction), the latest version of each read
back after a reopen, listed by status, most recently changed first."""

from __future__ import annotations

from fenghuo.alerts.incidents import Incident, Member
from tests.contracts.store_support import Opener


def incident(iid: str, status: str, updated: float) -> dict[str, object]:
    inc = Incident(id=iid, risk="safety", node="S", drill=None, created_at=100.0, updated_at=updated, status=status,
                   members={"a1": Member("a1", "G1", "river", "red", "open", 100.0, "一号网格 水位", "Grid 1: water")})
    inc.add(updated, "opened", None, "2 safety alerts under S")
    return inc.to_doc()


def test_incidents_are_saved_with_a_step_and_read_back_after_a_reopen(open_store: Opener) -> None:
    store = open_store()
    assert store.incidents() == [] and store.open_incidents() == [] and store.get_incident("i1") is None
    store.save_alerts([], [], None, incidents=[incident("i1", "open", 110.0), incident("i2", "open", 120.0)])
    store.save_alerts([], [], {"cursor": b"7"}, incidents=[incident("i1", "resolved", 130.0)])
    store.close()
    store = open_store()
    assert [d["id"] for d in store.incidents()] == ["i1", "i2"]  # most recently changed first
    assert [d["id"] for d in store.incidents("open")] == ["i2"] and [d["id"] for d in store.open_incidents()] == ["i2"]
    got = store.get_incident("i1")
    assert got is not None and Incident.from_doc(got).to_doc() == incident("i1", "resolved", 130.0)
    assert store.get_state("cursor") == b"7"
    assert [d["id"] for d in store.incidents(limit=1)] == ["i1"]
