"""CAP warnings taken in (fenghuo/alerts/external.py): the SQL both stores share (``mark`` is the placeholder).

One row per message, keyed by CAP's (sender, identifier), so the same message twice is found, not stored twice.
``state`` says where the message stands: ``open`` (its alert is the warning's current one), ``superseded`` (an
Update replaced it), ``cancelled``, ``expired``, ``test`` (recorded only), ``outside`` (its area covers none of
the grids). The document holds the rest (event, level, area, grids, origin, the alert's fingerprints...).
"""

from __future__ import annotations

import json
from typing import Any

DDL = """
CREATE TABLE warnings (sender TEXT NOT NULL, identifier TEXT NOT NULL, sent {real} NOT NULL,
                       received_at {real} NOT NULL, updated_at {real} NOT NULL, state TEXT NOT NULL, drill TEXT,
                       expires {real}, doc TEXT NOT NULL, PRIMARY KEY (sender, identifier));
CREATE INDEX warnings_state ON warnings (state, expires);
CREATE INDEX warnings_received ON warnings (received_at);
"""
STATES = ("open", "superseded", "cancelled", "expired", "test", "outside")


def ddl(real: str) -> str:
    return DDL.format(real=real)


def put(cur: Any, mark: str, docs: list[dict[str, Any]], upsert: str) -> None:
    """Insert or replace each warning document (``sender``, ``identifier``, ``sent``, ``received_at``,
    ``updated_at``, ``state``, ``drill``, ``expires`` among its keys). ``upsert``: the driver's
    ``INSERT ... ON CONFLICT`` tail."""
    for d in docs:
        cur.execute(f"INSERT INTO warnings VALUES ({', '.join([mark] * 9)}) {upsert}",
                    (d["sender"], d["identifier"], float(d["sent"]), float(d["received_at"]), float(d["updated_at"]),
                     str(d["state"]), d.get("drill"), d.get("expires"), json.dumps(d, ensure_ascii=False)))


UPSERT = ("ON CONFLICT (sender, identifier) DO UPDATE SET updated_at = excluded.updated_at, state = excluded.state, "
          "expires = excluded.expires, doc = excluded.doc")


def get(cur: Any, mark: str, sender: str, identifier: str) -> dict[str, Any] | None:
    cur.execute(f"SELECT doc FROM warnings WHERE sender = {mark} AND identifier = {mark}", (sender, identifier))
    row = cur.fetchone()
    return json.loads(row[0]) if row else None


def listing(cur: Any, mark: str, state: str | None, drill: str | None, limit: int) -> list[dict[str, Any]]:
    """Newest received first. ``drill``: None every one, ``"false"`` real ones only, ``"true"`` drills only,
    else that drill's."""
    where, args = [], []
    if state is not None:
        where.append(f"state = {mark}")
        args.append(state)
    if drill == "false":
        where.append("drill IS NULL")
    elif drill == "true":
        where.append("drill IS NOT NULL")
    elif drill is not None:
        where.append(f"drill = {mark}")
        args.append(drill)
    sql = "SELECT doc FROM warnings" + (" WHERE " + " AND ".join(where) if where else "")
    cur.execute(sql + f" ORDER BY received_at DESC, sent DESC LIMIT {mark}", (*args, int(limit)))
    return [json.loads(r[0]) for r in cur.fetchall()]


def purge_drill(cur: Any, mark: str, run: str) -> int:
    """Delete a purged drill run's warnings (in the purge's transaction); how many."""
    cur.execute(f"DELETE FROM warnings WHERE drill = {mark}", (run,))
    return max(cur.rowcount, 0)
