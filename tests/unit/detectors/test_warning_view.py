"""The detectors' view of open external warnings: kept from alert changes, or read again from the store."""

from __future__ import annotations

from pathlib import Path

from fenghuo.core.levels import Level
from fenghuo.core.models import Status
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.detectors.open_warnings import OpenWarnings, StoreWarnings, stored_warnings, warning_from_alert
from tests.unit.detectors.warning_support import warning_alert


def test_alert_changes_open_update_and_close_a_warning() -> None:
    view = OpenWarnings()
    assert view.take([warning_alert()]) and [w.level for w in view.active(None, "G1", 0.0)] == [Level.ORANGE]
    assert not view.take([warning_alert()])  # the same again: no change
    assert view.take([warning_alert(level=Level.RED)])  # an Update: the level changes in place
    assert [w.level for w in view.active(None, "G1", 0.0)] == [Level.RED]
    assert view.take([warning_alert(status=Status.ACKNOWLEDGED)])  # acknowledged: still in force
    assert len(view) == 1
    assert view.take([warning_alert(status=Status.RESOLVED)]) and view.active(None, "G1", 0.0) == []


def test_only_external_warnings_count() -> None:
    sensor = warning_alert()
    sensor.feed = "sensor"
    no_cap = warning_alert()
    no_cap.evidence = [{"detector": "cap"}]
    assert warning_from_alert(sensor) is None and warning_from_alert(no_cap) is None
    assert not OpenWarnings().take([sensor, no_cap])


def test_a_purged_drills_warnings_go() -> None:
    view = OpenWarnings.of_alerts([warning_alert(drill="flood-r1"), warning_alert(identifier="W-2")])
    view.forget_drill("flood-r1")
    assert [w.identifier for w in view.all()] == ["W-2"] and not view.any_in("flood-r1")


def test_the_store_gives_the_open_and_acknowledged_warnings(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    try:
        store.save_alerts([warning_alert("W-1"), warning_alert("W-2", status=Status.ACKNOWLEDGED),
                           warning_alert("W-3", status=Status.RESOLVED), warning_alert("W-4", cleared=True)], [])
        assert sorted(w.identifier for w in stored_warnings(store)) == ["W-1", "W-2"]
        t = [0.0]
        view = OpenWarnings()
        reader = StoreWarnings(view, lambda: store, every=2.0, clock=lambda: t[0])
        assert reader.maybe() and len(view) == 2
        store.save_alerts([warning_alert("W-1", status=Status.RESOLVED)], [])
        assert not reader.maybe() and len(view) == 2  # not again before 2 s
        t[0] = 2.0
        assert reader.maybe() and [w.identifier for w in view.all()] == ["W-2"]
    finally:
        store.close()
