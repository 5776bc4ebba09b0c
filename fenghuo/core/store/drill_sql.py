"""Drill runs and purging a run's data: the SQL both stores share (``mark`` is the driver's placeholder).

A run is a row of ``drill_runs`` (its document: the scenario, progress, scorecard), numbered per scenario.
Purging a run deletes its events, alerts, notifications and incidents in one transaction and appends a
tombstone to the alert journal for each alert removed (digest :data:`fenghuo.core.chain.PURGED`), so the
hash chain still verifies: a purged alert is accounted for, not silently gone. The run's row stays, marked
purged, with its scorecard: a scenario's history of scores outlives the data of its runs.
"""

from __future__ import annotations

import json
from typing import Any

from fenghuo.core import chain
from fenghuo.core.store import chain_sql

DDL = """
CREATE TABLE drill_runs (id TEXT PRIMARY KEY, scenario TEXT NOT NULL, number INTEGER NOT NULL,
                         status TEXT NOT NULL, started_at {real} NOT NULL, updated_at {real} NOT NULL,
                         doc TEXT NOT NULL, UNIQUE (scenario, number));
CREATE INDEX drill_runs_started ON drill_runs (started_at);
"""


def ddl(real: str) -> str:
    return DDL.format(real=real)


def create_run(cur: Any, mark: str, scenario: str, doc: dict[str, Any], ts: float) -> dict[str, Any]:
    """Insert the next run of ``scenario`` (the caller holds a lock or retries on the unique key): its id is
    ``<scenario>-r<number>``; returns the document with ``run`` and ``number`` set."""
    cur.execute(f"SELECT coalesce(max(number), 0) + 1 FROM drill_runs WHERE scenario = {mark}", (scenario,))
    number = int(cur.fetchone()[0])
    run = f"{scenario}-r{number}"
    doc = {**doc, "run": run, "number": number, "scenario": scenario}
    cur.execute(f"INSERT INTO drill_runs VALUES ({mark}, {mark}, {mark}, {mark}, {mark}, {mark}, {mark})",
                (run, scenario, number, str(doc.get("status", "running")), ts, ts, json.dumps(doc, ensure_ascii=False)))
    return doc


def update_run(cur: Any, mark: str, doc: dict[str, Any], ts: float) -> None:
    cur.execute(f"UPDATE drill_runs SET status = {mark}, updated_at = {mark}, doc = {mark} WHERE id = {mark}",
                (str(doc["status"]), ts, json.dumps(doc, ensure_ascii=False), str(doc["run"])))


def get_run(cur: Any, mark: str, run: str) -> dict[str, Any] | None:
    cur.execute(f"SELECT doc FROM drill_runs WHERE id = {mark}", (run,))
    row = cur.fetchone()
    return json.loads(row[0]) if row else None


def runs(cur: Any, mark: str, scenario: str | None, status: str | None, limit: int) -> list[dict[str, Any]]:
    where, args = [], []
    if scenario is not None:
        where.append(f"scenario = {mark}")
        args.append(scenario)
    if status is not None:
        where.append(f"status = {mark}")
        args.append(status)
    sql = "SELECT doc FROM drill_runs" + (" WHERE " + " AND ".join(where) if where else "")
    cur.execute(sql + f" ORDER BY started_at DESC, number DESC LIMIT {mark}", (*args, limit))
    return [json.loads(r[0]) for r in cur.fetchall()]


def purge_run(cur: Any, mark: str, lock: bool, run: str, ts: float, event_ids: bool = False) -> dict[str, int]:
    """Delete the drill ``run``'s events, alerts, their notifications and its incidents; tombstone the alerts
    in the journal. ``event_ids``: PostgreSQL's claimed ids (table ``event_ids``) go too. Returns the counts."""
    cur.execute(f"SELECT id FROM alerts WHERE drill = {mark} ORDER BY id", (run,))
    alert_ids = [r[0] for r in cur.fetchall()]
    counts = {"events": 0, "alerts": len(alert_ids), "notifications": 0, "incidents": 0}
    cur.execute(f"DELETE FROM outbox WHERE alert_id IN (SELECT id FROM alerts WHERE drill = {mark})", (run,))
    counts["notifications"] = max(cur.rowcount, 0)
    cur.execute(f"DELETE FROM alerts WHERE drill = {mark}", (run,))
    if event_ids:
        cur.execute(f"DELETE FROM event_ids WHERE (source, id) IN (SELECT source, id FROM events WHERE drill = {mark})",
                    (run,))
    cur.execute(f"DELETE FROM events WHERE drill = {mark}", (run,))
    counts["events"] = max(cur.rowcount, 0)
    cur.execute("SELECT id, doc FROM incidents")
    gone = [i for i, doc in cur.fetchall() if json.loads(doc).get("drill") == run]
    for i in gone:
        cur.execute(f"DELETE FROM outbox WHERE alert_id = {mark}", (i,))
        cur.execute(f"DELETE FROM incidents WHERE id = {mark}", (i,))
    counts["incidents"] = len(gone)
    if alert_ids:
        entries = [(a, ts, chain.PURGED) for a in alert_ids]
        links, head = chain.append(chain_sql.head(cur, mark, "alerts", lock),
                                   [lambda n, e=e: chain.alert_entry_content(n, *e) for e in entries])  # type: ignore[misc]
        rows = [(seq, a, t, d, prev, h) for (seq, prev, h), (a, t, d) in zip(links, entries, strict=True)]
        for row in rows:
            cur.execute(chain_sql.ALERT_LOG_INSERT + f"({', '.join([mark] * 6)})", row)
        chain_sql.set_head(cur, mark, "alerts", head, ts)
    return counts
