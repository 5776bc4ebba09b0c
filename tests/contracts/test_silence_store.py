"""Silences in every store: each change gets the next revision with its audit row in the same transaction, the
latest version of each silence is read back after a reopen, and a reader asks only for what changed."""

from __future__ import annotations

import pytest

from fenghuo.core.store import Store
from tests.contracts.store_support import Opener


def doc(sid: str, end: float, comment: str = "") -> dict[str, object]:
    return {"id": sid, "match": {"grid": "G1"}, "start": 100.0, "end": end, "created_by": "alice",
            "created_at": 100.0, "comment": comment, "expired_by": None, "updated_at": 100.0}


def test_silences_get_revisions_with_their_audit_rows_and_survive_a_reopen(open_store: Opener) -> None:
    store = open_store()
    assert store.silences() == []
    assert store.put_silence(doc("s1", 200.0, "泵站检修"), "alice", "silence.create", 100.0, "{}") == 1
    assert store.put_silence(doc("s2", 300.0), "bob", "silence.create", 101.0, "{}") == 2
    assert store.put_silence({**doc("s1", 150.0), "expired_by": "carol"}, "carol", "silence.expire", 150.0, "{}") == 3
    store.close()
    store = open_store()
    rows = store.silences()
    assert [(r["rev"], r["doc"]["id"], r["doc"]["end"]) for r in rows] == [(2, "s2", 300.0), (3, "s1", 150.0)]
    assert store.silences(after_rev=2) == [rows[1]]
    assert [r["rev"] for r in store.silences(newest_first=True, limit=1)] == [3]
    assert store.silences(after_rev=3) == []
    assert [(a["actor"], a["action"], a["target"]) for a in store.audit_log(3)] == [
        ("carol", "silence.expire", "s1"), ("bob", "silence.create", "s2"), ("alice", "silence.create", "s1")]


def test_a_silence_whose_audit_row_fails_is_not_stored(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from fenghuo.core.store import chain_sql

    def broken(*_: object) -> None:
        raise RuntimeError("audit refused")

    monkeypatch.setattr(chain_sql, "audit_row", broken)
    with pytest.raises(RuntimeError):
        store.put_silence(doc("s1", 200.0), "alice", "silence.create", 100.0, "{}")
    monkeypatch.undo()
    assert store.silences() == []
