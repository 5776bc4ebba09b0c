"""Drill runs in the store, and purging a run's data: the same on SQLite and both PostgreSQL flavours.

A run is numbered per scenario (``<scenario>-r<n>``), its document read back as written; purging a run deletes
its events, alerts, notifications and incidents and nothing else, tombstones its alerts in the alert journal
(so the hash chains still verify), and writes an audit row.
"""

from __future__ import annotations

import threading

from fenghuo.core import chain
from fenghuo.core.store import AlertQuery, Store
from tests.contracts.store_support import T0, alert, ev, note


def test_runs_are_numbered_per_scenario_and_read_back(store: Store) -> None:
    first = store.create_drill_run("gloria-flood", {"status": "running", "title_zh": "洪水"}, T0)
    second = store.create_drill_run("gloria-flood", {"status": "running"}, T0 + 10)
    other = store.create_drill_run("gas-leak", {"status": "running"}, T0 + 20)
    assert (first["run"], second["run"], other["run"]) == ("gloria-flood-r1", "gloria-flood-r2", "gas-leak-r1")
    first.update(status="ended", scorecard={"verdict": "pass"})
    store.update_drill_run(first, T0 + 30)
    assert store.get_drill_run("gloria-flood-r1") == first
    assert store.get_drill_run("gloria-flood-r9") is None
    assert [r["run"] for r in store.drill_runs()] == ["gas-leak-r1", "gloria-flood-r2", "gloria-flood-r1"]
    assert [r["run"] for r in store.drill_runs("gloria-flood")] == ["gloria-flood-r2", "gloria-flood-r1"]
    assert [r["run"] for r in store.drill_runs(status="ended")] == ["gloria-flood-r1"]
    assert [r["run"] for r in store.drill_runs(limit=1)] == ["gas-leak-r1"]


def test_concurrent_starts_get_distinct_numbers(store: Store) -> None:
    got: list[str] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            got.append(store.create_drill_run("flood", {"status": "running"}, T0)["run"])
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors  # SQLite serialises its writers; PostgreSQL numbers runs under an advisory lock
    assert sorted(got) == [f"flood-r{i}" for i in range(1, 7)]


def test_purge_removes_one_runs_data_and_the_chains_still_verify(store: Store) -> None:
    store.add_events([ev("real-1"), ev("r1~a", drill="flood-r1"), ev("r1~b", T0 + 60, drill="flood-r1"),
                      ev("r2~a", drill="flood-r2")], T0)
    store.save_alerts([alert("a-real"), alert("a-r1", drill="flood-r1"), alert("a-r1b", drill="flood-r1"),
                       alert("a-r2", drill="flood-r2")],
                      [note("n1", "a-r1"), note("n2", "a-real")], None)
    store.create_drill_run("flood", {"status": "ended"}, T0)
    assert chain.verify(store).ok

    counts = store.purge_drill("flood-r1", "admin:li", T0 + 100)

    assert counts == {"events": 2, "alerts": 2, "notifications": 1, "incidents": 0}
    assert {a.id for a in store.all_alerts()} == {"a-real", "a-r2"}
    assert store.list_alerts(AlertQuery(drill="flood-r1")) == []
    assert [e.id for e in store.series(feed="sensor", grid="G-1", source=None, metric=None, category=None,
                                       start=T0 - 1, end=T0 + 100)] == ["real-1", "r2~a"]
    assert [n.id for n in store.notifications_for("a-real")] == ["n2"]
    assert store.notifications_for("a-r1") == []
    result = chain.verify(store)
    assert result.ok, result.first_break()
    assert store.audit_log(1)[0]["action"] == "drill.purge"
    # the purged run's events may come again (a run re-sent by hand) and are new again
    assert [e.id for e in store.add_events([ev("r1~a", drill="flood-r1")], T0 + 200)] == ["r1~a"]


def test_an_alert_row_back_after_its_purge_breaks_the_chain(store: Store) -> None:
    store.save_alerts([alert("a-r1", drill="flood-r1")], [], None)
    store.purge_drill("flood-r1", "admin:li", T0 + 100)
    store.save_alerts([alert("a-r1", drill="flood-r1")], [], None)  # written again through the store: a new link
    assert chain.verify(store).ok
