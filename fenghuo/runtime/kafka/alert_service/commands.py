"""Ack and resolve commands from the API, and the replies the alert service sends back; a drill run's clock.

The alert service is the only writer of alerts: the API (KafkaFront) puts an ack or resolve on the
commands topic, keyed by the alert's grid, and waits for the reply on the alerts topic, keyed by the
alert's id, that carries the command's id and the outcome (``ok``; else an HTTP ``status`` and an
``error``).

A drill run (fenghuo/drills) drives its own clock, also after its last record, when no event carries it
to the alert service. The API puts ``{"op": "drill_clock", "drill", "ts", "partitions"}`` on *every*
partition of the commands topic (no reply: fire-and-forget). The instance that owns a partition moves
the drill's clock to ``ts`` in each grid of that partition that has a clock of the drill, and ticks that
drill's escalations there (:func:`apply_drill_clock`). A simulated ack of the run comes after the clock on
the same partition (its grid's), so it is stamped on the run's clock.

>>> from types import SimpleNamespace
>>> from fenghuo.core.clock import FixedClock
>>> from fenghuo.runtime.kafka.alert_service.grid_clocks import GridClocks
>>> alerts = SimpleNamespace(lock=__import__("threading").RLock(), ack=None, resolve=None)
>>> clocks = GridClocks("event", FixedClock(0.0))
>>> apply_command(alerts, clocks, b'{"id": "c1", "op": "mute", "alert": "a"}')
(b'a', {'type': 'command', 'command': 'c1', 'ok': False, 'status': 400, 'error': "unknown command 'mute'"})
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from fenghuo.alerts.service import AlertConflict, AlertNotFound, AlertService
from fenghuo.runtime.kafka.alert_service.grid_clocks import GridClocks

log = logging.getLogger("fenghuo.alerts.kafka")
DRILL_CLOCK = "drill_clock"  # the op of a drill run's clock command (no reply)


def apply_command(alerts: AlertService, clocks: GridClocks, raw: bytes) -> tuple[bytes, dict[str, Any]]:
    """Apply one command (in its grid's clock scope); return the reply's key (the alert id) and the reply."""
    cmd = json.loads(raw)
    reply: dict[str, Any] = {"type": "command", "command": cmd.get("id"), "ok": False}
    op = str(cmd.get("op"))
    act = {"ack": alerts.ack, "resolve": alerts.resolve}.get(op)
    try:
        if act is None and op not in ("note", "incident_ack", "incident_resolve", "incident_note"):
            raise ValueError(f"unknown command {cmd.get('op')!r}")
        target, actor, comment = str(cmd["alert"]), str(cmd.get("actor") or "api"), str(cmd.get("comment") or "")
        with alerts.lock, clocks.scoped(cmd.get("grid") or None):
            if op.startswith("incident_"):  # an incident (docs/incidents.md): ack/resolve with its members, a note
                reply.update(ok=True, incident=alerts.act_incident(target, op.removeprefix("incident_"), actor,
                                                                   comment).to_json(full=False))
                return target.encode(), reply
            if op == "note":
                alert = alerts.add_note(target, actor, comment, bool(cmd.get("public")))
            else:
                assert act is not None
                alert = act(target, actor, comment)
        reply.update(ok=True, alert=alert.to_json())
    except AlertNotFound:
        reply.update(status=404, error=f"no alert {cmd.get('alert')}")
    except AlertConflict as exc:
        reply.update(status=409, error=str(exc))
    except ValueError as exc:
        reply.update(status=400, error=str(exc))
    except Exception as exc:  # the store refused it: nothing changed (the step rolled back); say so
        log.exception("the %s of alert %s could not be stored", cmd.get("op"), cmd.get("alert"))
        reply.update(status=503, error=f"the change could not be stored ({type(exc).__name__}); nothing changed")
    return str(cmd.get("alert", "")).encode(), reply


def reply_to_wire(reply: dict[str, Any]) -> bytes:
    return json.dumps(reply, ensure_ascii=False).encode()


def grid_partition(grid: str, partitions: int) -> int:
    """The partition the producers' default partitioner gives a grid's key (murmur2, as Java's and aiokafka's).

    >>> grid_partition("G-AGLY", 2), grid_partition("G-2", 2)
    (1, 0)
    """
    from aiokafka.partitioner import murmur2

    return (murmur2(grid.encode()) & 0x7FFFFFFF) % partitions


def drill_clock_command(drill: str, ts: float, partitions: int) -> bytes:
    """The command that moves drill ``drill``'s clock to ``ts`` (sent to each of the ``partitions``)."""
    return json.dumps({"op": DRILL_CLOCK, "drill": drill, "ts": ts, "partitions": partitions}).encode()


def apply_drill_clock(alerts: AlertService, clocks: GridClocks, cmd: dict[str, Any],
                      partition: int | None = None) -> list[str]:
    """Move the drill's clock to ``cmd["ts"]`` in every grid of ``partition`` (of ``cmd["partitions"]``; every grid
    when either is unknown) that has a clock of that drill, and tick the drill's escalations there, in the grid's
    scope; the grids moved. A grid of another partition is left to the instance that owns that partition (it may
    hold the grid's alerts in memory from before partitions moved).

    >>> import threading
    >>> from types import SimpleNamespace
    >>> from fenghuo.core.clock import FixedClock
    >>> ticked = []
    >>> alerts = SimpleNamespace(lock=threading.RLock(), tick=lambda ds: ticked.append((clocks.scope, ds)))
    >>> clocks = GridClocks("event", FixedClock(0.0))
    >>> for grid in ("G-AGLY", "G-2"):
    ...     with clocks.scoped(grid):
    ...         _ = clocks.now_of("flood-r1", 100.0)
    >>> apply_drill_clock(alerts, clocks, json.loads(drill_clock_command("flood-r1", 7300.0, 2)), partition=1)
    ['G-AGLY']
    >>> ticked, clocks.of("G-AGLY").now_of("flood-r1"), clocks.of("G-2").now_of("flood-r1")
    ([('G-AGLY', ['flood-r1'])], 7300.0, 100.0)
    >>> apply_drill_clock(alerts, clocks, {"op": DRILL_CLOCK, "drill": "other-r1", "ts": 1.0, "partitions": 2}, 0)
    []
    """
    drill, ts = str(cmd["drill"]), float(cmd["ts"])
    if not math.isfinite(ts):
        raise ValueError(f"drill clock of {drill}: not a time: {cmd.get('ts')!r}")
    n = int(cmd.get("partitions") or 0)
    moved = []
    with alerts.lock:
        for grid, grid_clocks in list(clocks.grids.items()):
            if drill not in grid_clocks.drills:
                continue
            if n > 0 and partition is not None and grid_partition(grid, n) != partition:
                continue
            with clocks.scoped(grid):
                clocks.now_of(drill, ts)
                alerts.tick([drill])
            moved.append(grid)
    return moved
