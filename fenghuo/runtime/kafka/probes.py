"""A worker's liveness and readiness over HTTP, for an orchestrator's probes (Kubernetes, systemd watchdogs).

``fenghuo worker detectors|alerts|store-writer`` serves them when ``FENGHUO_PROBE_PORT`` (or ``--probe-port``) is
set, on ``FENGHUO_PROBE_HOST`` (default every address): a stdlib HTTP server on a thread of its own, answering only
``GET /livez`` and ``GET /readyz`` with a one-line JSON body (no data of the deployment beyond the worker's role);
a detector worker also answers ``GET /metrics`` with its state-restore time (:class:`FaustApps`).

* ``/livez``: 200 while the worker's consuming loop is alive (it is restarted otherwise): the process answers and
  ``alive()`` says the loop has not ended or stalled (a stalled rebalance is taken as not alive: see
  :func:`fenghuo.runtime.kafka.bus.rebalance_watch`).
* ``/readyz``: 200 once the worker does its work: its store is open (store writer, alert service; the detector
  workers read rules from it) and its consumer has partitions assigned, no rebalance going on (and for the
  detector workers, their tables recovered). 503 with the reason meanwhile: a worker in a group with more members
  than partitions stays unready, which is right (it takes over when another goes).

>>> p = Probes(lambda: (True, "ok"), lambda: (False, "no partitions assigned yet"), role="store-writer")
>>> p.answer("/livez"), p.answer("/readyz"), p.answer("/other")[0]
((200, '{"role":"store-writer","ok":true,"detail":"ok"}'), \
(503, '{"role":"store-writer","ok":false,"detail":"no partitions assigned yet"}'), 404)
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("fenghuo.runtime.kafka.probes")

Check = Callable[[], tuple[bool, str]]  # (ok, why) of a probe


class Probes:
    """The two probes of one worker; :meth:`serve` starts the HTTP server (``port`` 0: none)."""

    def __init__(self, alive: Check, ready: Check, role: str, metrics: Callable[[], str] | None = None) -> None:
        self.alive, self.ready, self.role, self.metrics = alive, ready, role, metrics
        self.server: ThreadingHTTPServer | None = None

    def answer(self, path: str) -> tuple[int, str]:
        """(status, body) of a GET of ``path``: JSON for the probes, the text format for ``/metrics``."""
        if path.split("?", 1)[0] == "/metrics" and self.metrics is not None:
            return 200, self.metrics()
        check = {"/livez": self.alive, "/readyz": self.ready}.get(path.split("?", 1)[0])
        if check is None:
            return 404, json.dumps({"detail": "GET /livez or /readyz"})
        try:
            ok, why = check()
        except Exception as exc:  # a probe that fails says so: not ready / not alive, never a traceback
            ok, why = False, f"probe failed: {type(exc).__name__}"
        body = json.dumps({"role": self.role, "ok": ok, "detail": why}, ensure_ascii=False, separators=(",", ":"))
        return (200 if ok else 503), body

    def serve(self, host: str, port: int) -> int:
        """Serve on ``host:port`` from a daemon thread (``port`` 0: not at all); the port served (0 for none)."""
        if not port:
            return 0
        probes = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                status, body = probes.answer(self.path)
                data = body.encode()
                self.send_response(status)
                kind = "application/json" if body.startswith("{") else "text/plain; version=0.0.4"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - probes every few s: not logged
                return

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="fenghuo-probes", daemon=True).start()
        served = int(self.server.server_address[1])
        log.info("%s: /livez and /readyz on %s:%d", self.role, host, served)
        return served

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def consumer_checks(worker: Callable[[], Any]) -> tuple[Check, Check]:
    """The probes of a kafka-python worker (the store writer, the alert service; ``worker()`` gives it, None while
    the process waits for its store): ``.watch`` is its rebalance listener
    (:func:`fenghuo.runtime.kafka.bus.rebalance_watch`), ``.stopping`` its stop event.

    >>> alive, ready = consumer_checks(lambda: None)
    >>> alive(), ready()
    ((True, 'waiting for the store'), (False, 'waiting for the store'))
    """
    def alive() -> tuple[bool, str]:
        w = worker()
        if w is None:
            return True, "waiting for the store"
        watch = getattr(w, "watch", None)
        if watch is not None and watch.stalled():
            return False, "the group rebalance stalled"
        return True, "stopping" if w.stopping.is_set() else "consuming"

    def ready() -> tuple[bool, str]:
        w = worker()
        if w is None:
            return False, "waiting for the store"
        watch = getattr(w, "watch", None)
        assigned = getattr(watch, "assigned", None)
        if watch is None or assigned is None:
            return False, "not in its consumer group yet"
        if watch.revoked_at is not None:
            return False, "a group rebalance is going on"
        if not assigned:
            return False, "no partitions assigned (more workers than partitions?)"
        return True, f"{len(assigned)} partition(s) assigned"

    return alive, ready


def faust_checks(the_app: Callable[[], Any]) -> tuple[Check, Check]:
    """The probes of a detector worker (a faust app; ``the_app()`` None until its first assignment): alive while
    the app has not crashed; ready once it has partitions assigned, no rebalance going on and its tables recovered
    from their changelogs."""
    def alive() -> tuple[bool, str]:
        app = the_app()
        return (False, "the app crashed") if getattr(app, "crash_reason", None) else (True, "running")

    def ready() -> tuple[bool, str]:
        app = the_app()
        if app is None:
            return False, "not in its consumer group yet"
        if app.rebalancing:
            return False, "a group rebalance is going on"
        if app.in_recovery:
            return False, "restoring the grid states from their changelogs"
        try:
            actives = app.assignor.assigned_actives()
        except Exception:  # no assignment yet
            return False, "not in its consumer group yet"
        if not actives:
            return False, "no partitions assigned (more workers than partitions?)"
        return True, f"{len(actives)} partition(s) assigned"

    return alive, ready


class FaustApps:
    """Catches the detector worker's faust app when its partitions are assigned (faust's class-level
    ``on_partitions_assigned`` signal: the app is made inside ``run_worker``), for :func:`faust_checks`; and times
    each state restore: from an assignment to faust's ``on_rebalance_complete`` (sent once the tables are restored
    from their changelogs), logged and shown in :meth:`metrics` (the probe port's ``/metrics``)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.app: Any = None
        self.clock = clock
        self.assigned_at: float | None = None
        self.restores = 0
        self.last_restore_s: float | None = None

    def connect(self) -> FaustApps:
        import faust

        faust.App.on_partitions_assigned.connect(self._assigned)  # strong references: this object lives on
        faust.App.on_rebalance_complete.connect(self._restored)
        return self

    def _assigned(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        self.app = sender
        self.assigned_at = self.clock()

    def _restored(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        if self.assigned_at is None:
            return
        self.last_restore_s, self.assigned_at = self.clock() - self.assigned_at, None
        self.restores += 1
        log.info("detector state restored %.2f s after the partitions were assigned", self.last_restore_s)

    def metrics(self) -> str:
        """The restore figures in the Prometheus text format.

        >>> t = [10.0]
        >>> apps = FaustApps(lambda: t[0])
        >>> apps._assigned("app"); t[0] = 12.5; apps._restored("app")
        >>> print(apps.metrics().splitlines()[-1])
        fenghuo_detector_restores_total 1
        """
        last = -1.0 if self.last_restore_s is None else self.last_restore_s
        lines = ["# HELP fenghuo_detector_restore_seconds Seconds from the last assignment to the tables restored.",
                 "# TYPE fenghuo_detector_restore_seconds gauge", f"fenghuo_detector_restore_seconds {last:.3f}",
                 "# HELP fenghuo_detector_restores_total State restores after an assignment (start, rebalances).",
                 "# TYPE fenghuo_detector_restores_total counter", f"fenghuo_detector_restores_total {self.restores}"]
        return "\n".join(lines) + "\n"

    def __call__(self) -> Any:
        return self.app
