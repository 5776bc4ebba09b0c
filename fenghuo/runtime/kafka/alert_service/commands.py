"""Ack and resolve commands from the API, and the replies the alert service sends back.

The alert service is the only writer of alerts: the API (KafkaFront) puts an ack or resolve on the
commands topic, keyed by the alert's grid, and waits for the reply on the alerts topic, keyed by the
alert's id, that carries the command's id and the outcome (``ok``; else an HTTP ``status`` and an
``error``).

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
from typing import Any

from fenghuo.alerts.service import AlertConflict, AlertNotFound, AlertService
from fenghuo.runtime.kafka.alert_service.grid_clocks import GridClocks

log = logging.getLogger("fenghuo.alerts.kafka")


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
