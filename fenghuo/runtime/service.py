"""The one thing the API depends on: :class:`Service`, implemented in full by both runtimes.

The embedded :class:`~fenghuo.runtime.embedded.Pipeline` runs everything in the API's process; the Kafka
runtime's :class:`~fenghuo.runtime.kafka.front.KafkaFront` hands events to Kafka and alert commands to the
alert service, and reads what the workers stored. The routes call only what :class:`Service` declares
(tests/acceptance/test_service_protocol.py checks both classes against it, member by member).

:class:`StoreReads` is the part both runtimes share: the reads of the shared store (alerts, rules, series,
audit, reports, dead letters, backtests) and of the grid tree.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from fenghuo.alerts.closure import ClosureTally, with_alert_times
from fenghuo.alerts.external import WarningResult
from fenghuo.alerts.incidents import Incident
from fenghuo.alerts.oncall import Roster
from fenghuo.alerts.reports import response_times
from fenghuo.alerts.service import AlertConflict, AlertNotFound
from fenghuo.alerts.silences import SilenceBook
from fenghuo.core import chain as hash_chain
from fenghuo.core.clock import Clocks
from fenghuo.core.config import Config, Rule
from fenghuo.core.grids import GridTree
from fenghuo.core.models import Alert, Event
from fenghuo.core.rulebook import RuleBook
from fenghuo.core.settings import Settings
from fenghuo.core.store import AlertQuery, Notification, Store
from fenghuo.detectors.backtest import compare, report
from fenghuo.ingest.cap_in import CapAlert, CapError
from fenghuo.ingest.cap_poll import CapPoller
from fenghuo.ingest.events import Rejected
from fenghuo.runtime.broadcast import Broadcaster

LEVELS = ("blue", "yellow", "orange", "red")
COMPLAINT_PAGE = 5_000  # complaints read from the store per page by complaint_report
COMBINED_MEMBERS = 100  # an incident's combined timeline: the entries of its latest members ...
COMBINED_ENTRIES = 1_000  # ... the latest entries, with the incident's own
MAX_COMPLAINTS = 200_000  # at most this many complaints per report; beyond, it says truncated and up to when


class NotAccepted(RuntimeError):
    """The service took nothing of this request; the client should send it again after ``retry_after`` seconds
    (the API answers 503 with Retry-After)."""

    retry_after = 5


class AlertsBehind(NotAccepted):
    """Embedded: the store has refused alert changes for a while (``MAX_UNAPPLIED`` signals wait): new events
    are not taken until it takes them, so no signal is ever dropped to bound the wait."""


class BusUnavailable(NotAccepted):
    """Kafka mode: the bus did not take the events (unreachable, timed out, refused): nothing was accepted."""


class CommandTimeout(TimeoutError):
    """Kafka mode: a command (ack, resolve) is queued but the alert service did not confirm it in time."""


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


@dataclass(slots=True)
class Stats:
    """What this process counted (the figures of /metrics that are not read from the store)."""

    events: int = 0
    duplicates: int = 0
    rejected: int = 0
    signals: int = 0
    alerts_changed: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds from receipt to alert persisted

    def observe_latency(self, seconds: float) -> None:
        self.latencies.append(seconds)
        if len(self.latencies) > 10_000:
            del self.latencies[:5_000]


@dataclass(slots=True)
class MetricFigures:
    """What ``GET /metrics`` shows. ``delivered``/``failed`` are None where this process delivers nothing
    (Kafka mode: the alert service delivers); signals and alert changes count what this process saw."""

    events: int
    duplicates: int
    rejected: int
    signals: int
    alerts_changed: int
    latencies: list[float]
    outbox_pending: int
    open_by_level: dict[str, int]
    delivered: int | None = None
    failed: int | None = None
    outbox_by_level: dict[str, int] | None = None  # pending notifications by the alert's level (drills with them)
    extra: list[str] = field(default_factory=list)  # more lines in the text format (Kafka mode: consumer lag)


@runtime_checkable
class Service(Protocol):
    """The service behind the HTTP API (both runtimes implement every member)."""

    settings: Settings
    tree: GridTree

    # -- lifecycle
    def start(self) -> None: ...
    def stop(self) -> None: ...

    # -- ingest
    def ingest(self, records: list[Any], drill: str | None = None, *, may_drill: bool = True,
               refused: Sequence[Rejected] = ()) -> IngestResult:
        """Validate and accept ``records``; every rejected record goes to the dead letters (by this call), with
        ``refused`` (records the caller could not read: their index in ``records``, reason, raw text) among them.
        Indexes in the result are indexes in ``records``."""
        ...

    def dead_letters(self, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        """(count of all dead letters, one page of them)."""
        ...

    # -- alerts
    def list_alerts(self, query: AlertQuery) -> list[Alert]: ...
    def get_alert(self, alert_id: str) -> Alert | None: ...
    def notifications(self, alert_id: str) -> list[Notification]: ...
    def open_alerts(self) -> list[Alert]: ...
    def ack(self, alert_id: str, actor: str, comment: str = "") -> Alert: ...
    def resolve(self, alert_id: str, actor: str, comment: str = "") -> Alert: ...
    # notes and incidents (docs/incidents.md): AlertNotFound -> 404, AlertConflict -> 409
    def add_note(self, alert_id: str, actor: str, text: str, public: bool = False) -> Alert: ...
    def list_incidents(self, status: str | None, limit: int) -> list[dict[str, Any]]: ...
    def get_incident(self, incident_id: str) -> dict[str, Any] | None: ...
    def act_incident(self, incident_id: str, op: str, actor: str, comment: str = "") -> dict[str, Any]:
        """``op`` ack or resolve (the incident and every member alert with it) or note (``comment`` the text)."""
        ...
    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        """A queue of live alert changes (``{"type", "alert"}``) for the caller's event loop."""
        ...

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None: ...

    # -- rules
    def list_rules(self) -> list[dict[str, Any]]: ...
    def current_rules(self) -> list[Rule]: ...
    def rule_history(self, rule_id: str) -> list[dict[str, Any]]: ...
    def put_rule(self, rule_id: str, body: Any, actor: str) -> tuple[dict[str, Any], int]: ...
    def delete_rule(self, rule_id: str, actor: str) -> int: ...
    def backtest(self, rule: Rule, start: float, end: float, *, grid: str | None = None, source: str | None = None,
                 series: str | None = None, charts: int = 1, drill: str | None = None) -> dict[str, Any]: ...

    # -- silences (fenghuo.alerts.silences): SilenceInvalid -> 422, SilenceNotFound -> 404, SilenceConflict -> 409
    def create_silence(self, body: Any, actor: str) -> dict[str, Any]:
        """A new silence from ``body`` (match, starts_at, ends_at or duration_s, comment) made by ``actor``;
        stored and audited before it applies."""
        ...

    def list_silences(self, state: str | None) -> list[dict[str, Any]]: ...
    def expire_silence(self, silence_id: str, actor: str) -> dict[str, Any]: ...

    # -- reads
    def series(self, *, feed: str, grid: str | None, source: str | None, metric: str | None,
               category: str | None, start: float, end: float, limit: int) -> list[Event]: ...
    def response_times(self, group_by: str, drill: bool) -> dict[str, Any]: ...
    def complaint_report(self, group_by: str, start: float, end: float, drill: bool) -> dict[str, Any]:
        """Closure, on-time and satisfaction figures of the complaints with ``start <= ts < end``
        (:mod:`fenghuo.alerts.closure`), with the alerts' MTTA/MTTR of that range beside them; ValueError for a
        bad ``group_by``. At most :data:`MAX_COMPLAINTS` complaints, the earliest: beyond, ``truncated`` is
        true and ``covered_until`` says up to when the figures count."""
        ...

    def grids(self) -> list[dict[str, Any]]: ...
    def chain(self, grid: str) -> list[str]: ...
    def now(self) -> float: ...
    def oncall(self, at: float) -> dict[str, Any]:
        """Who is on duty at ``at`` per node (the ``oncall`` rotations), until when, and who takes over next."""
        ...

    # -- audit
    def audit(self, actor: str, action: str, target: str, detail: str) -> None: ...
    def audit_log(self, limit: int) -> list[dict[str, Any]]: ...
    def verify_chains(self) -> dict[str, Any]: ...
    def chain_heads(self) -> dict[str, dict[str, Any]]: ...

    # -- health
    def health(self) -> dict[str, Any]: ...
    def metrics(self) -> MetricFigures: ...

    # -- CAP warnings taken in (alerts/external.py, docs/warnings.md)
    def take_warnings(self, alerts: list[CapAlert | CapError], origin: str, drill: str | None = None
                      ) -> list[WarningResult]:
        """Parsed CAP alerts (bad ones as CapError: dead-lettered) to alerts; one WarningResult each."""
        ...
    def list_warnings(self, state: str | None = "open", drill: str | None = None, limit: int = 500
                      ) -> list[dict[str, Any]]: ...

    # -- polled CAP sources (ingest/cap_poll.py)
    def warning_sources(self) -> list[dict[str, Any]]:
        """Each polled CAP source's health (last ok, last error and reason, next poll, items taken, ETag)."""
        ...


class StoreReads:
    """The members of :class:`Service` both runtimes answer the same way, from the shared store and the tree."""

    settings: Settings
    store: Store
    tree: GridTree
    rulebook: RuleBook
    clocks: Clocks
    config: Config
    broadcaster: Broadcaster

    cap_poller: CapPoller | None = None  # the runtime's poller of warnings.sources, when it has any

    def dead_letters(self, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        return self.store.dead_letter_count(), self.store.dead_letters(limit, offset)

    def warning_sources(self) -> list[dict[str, Any]]:
        return self.cap_poller.health() if self.cap_poller is not None else []

    def list_alerts(self, query: AlertQuery) -> list[Alert]:
        return self.store.list_alerts(query)

    def get_alert(self, alert_id: str) -> Alert | None:
        return self.store.get_alert(alert_id)

    def notifications(self, alert_id: str) -> list[Notification]:
        return self.store.notifications_for(alert_id)

    def open_alerts(self) -> list[Alert]:
        return self.store.open_alerts()

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        return self.broadcaster.subscribe()

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self.broadcaster.unsubscribe(queue)

    def list_rules(self) -> list[dict[str, Any]]:
        return self.rulebook.listing()

    def current_rules(self) -> list[Rule]:
        return self.rulebook.current()

    def rule_history(self, rule_id: str) -> list[dict[str, Any]]:
        return self.store.rule_history(rule_id)

    # silences: the store has them; both runtimes change them here (the distributed alert service reads each
    # change from the store before its next batch: fenghuo.alerts.silences.SilenceBook.refresh)
    def _silences(self) -> SilenceBook:
        book = self.__dict__.get("silence_book")
        if book is None:
            book = self.__dict__["silence_book"] = SilenceBook(self.store, self.tree, self.clocks.wall_now)
        return book  # type: ignore[no-any-return]

    def create_silence(self, body: Any, actor: str) -> dict[str, Any]:
        book = self._silences()
        return book.create(body, actor).to_json(book.now())

    def list_silences(self, state: str | None) -> list[dict[str, Any]]:
        return self._silences().listing(state)

    def expire_silence(self, silence_id: str, actor: str) -> dict[str, Any]:
        book = self._silences()
        return book.expire(silence_id, actor).to_json(book.now())

    def backtest(self, rule: Rule, start: float, end: float, *, grid: str | None = None, source: str | None = None,
                 series: str | None = None, charts: int = 1, drill: str | None = None) -> dict[str, Any]:
        current = {r.id: r for r in self.current_rules()}.get(rule.id)
        c = compare(self.store, rule, current, self.chain, start, end, grid=grid, source=source, series=series,
                    drill=drill)
        alerts = ([] if current is None else self.store.all_alerts(drill=False) if drill is None
                  else [a for a in self.store.all_alerts(drill=True) if a.drill == drill])
        return {**report(c, self.chain, alerts, grid=grid, source=source, series=series, charts=charts),
                "drill": drill}

    def series(self, *, feed: str, grid: str | None, source: str | None, metric: str | None,
               category: str | None, start: float, end: float, limit: int) -> list[Event]:
        return self.store.series(feed=feed, grid=grid, source=source, metric=metric, category=category,
                                 start=start, end=end, limit=limit)

    def response_times(self, group_by: str, drill: bool) -> dict[str, Any]:
        return response_times(self.store.all_alerts(drill=drill), group_by)

    def complaint_report(self, group_by: str, start: float, end: float, drill: bool) -> dict[str, Any]:
        return complaint_report(self.store, group_by, start, end, drill)

    def grids(self) -> list[dict[str, Any]]:
        return self.tree.to_json()  # type: ignore[no-any-return]

    def chain(self, grid: str) -> list[str]:
        """The grid's chain of nodes, bottom up (the grid itself when the tree does not know it)."""
        return self.tree.chain_ids(grid)

    def now(self) -> float:
        return self.clocks.wall_now()

    def oncall(self, at: float) -> dict[str, Any]:
        nodes = [(n.id, n.name, n.name_en or n.name) for n in self.config.nodes]
        return {"at": at, "timezone": self.config.timezone, "nodes": Roster(self.config).board(at, nodes)}

    # incidents: the store has them (written by the alert service with their members' changes)
    def list_incidents(self, status: str | None, limit: int) -> list[dict[str, Any]]:
        return [Incident.from_doc(d).to_json(full=False) for d in self.store.incidents(status, limit)]

    def get_incident(self, incident_id: str) -> dict[str, Any] | None:
        """The incident with its members and a combined timeline: its own entries and those of its most recently
        joined members (at most ``COMBINED_MEMBERS`` of them), by time, the latest ``COMBINED_ENTRIES``."""
        doc = self.store.get_incident(incident_id)
        if not doc:
            return None
        out = Incident.from_doc(doc).to_json()
        entries = [{**e, "alert": None} for e in out["timeline"]]
        for m in out["members"][-COMBINED_MEMBERS:]:
            a = self.store.get_alert(m["id"])
            if a is not None:
                entries += [{**e.to_json(), "alert": a.id, "grid": a.grid} for e in a.timeline]
        entries.sort(key=lambda e: str(e["ts"]))
        out["combined_timeline"] = entries[-COMBINED_ENTRIES:]
        out["combined_members"] = min(len(out["members"]), COMBINED_MEMBERS)
        return out

    # the distributed runtime's changes, carried out by the alert service as commands (the embedded Pipeline
    # overrides both): the command goes keyed by a grid of the target, the reply comes on the alerts topic
    def add_note(self, alert_id: str, actor: str, text: str, public: bool = False) -> Alert:
        stored = self.store.get_alert(alert_id)
        if stored is None:
            raise AlertNotFound(alert_id)
        self._command({"op": "note", "alert": alert_id, "actor": actor, "comment": text, "public": public},
                      stored.grid)
        return self.store.get_alert(alert_id) or stored

    def act_incident(self, incident_id: str, op: str, actor: str, comment: str = "") -> dict[str, Any]:
        doc = self.store.get_incident(incident_id)
        if doc is None or op not in ("ack", "resolve", "note"):
            raise AlertNotFound(incident_id)
        members = doc.get("members") or []
        grid = str(members[0][1]) if members else str(doc.get("node"))
        self._command({"op": f"incident_{op}", "alert": incident_id, "actor": actor, "comment": comment}, grid)
        return self.get_incident(incident_id) or Incident.from_doc(doc).to_json()

    def _command(self, cmd: dict[str, Any], grid: str) -> dict[str, Any]:
        """Send a command to the alert service (KafkaFront's bus and reply futures) and wait for its answer."""
        import json
        import time
        import uuid
        from concurrent.futures import Future

        front: Any = self
        if not front.listening.is_set():
            raise BusUnavailable("not connected to the alerts topic yet")
        cid = uuid.uuid4().hex
        fut: Future[dict[str, Any]] = Future()
        front.alerts.pending[cid] = fut
        cmd = {**cmd, "id": cid, "grid": grid, "ts": time.time()}
        try:
            front.kafka.produce(front.topics.commands, grid.encode(), json.dumps(cmd, ensure_ascii=False).encode())
            reply: dict[str, Any] = fut.result(front.alerts.timeout_s)
        except TimeoutError:
            raise CommandTimeout(f"the alert service did not confirm the {cmd['op']} of {cmd['alert']} within "
                                 f"{front.alerts.timeout_s:g} s; it is queued and will be applied") from None
        finally:
            front.alerts.pending.pop(cid, None)
        if reply.get("ok"):
            return reply
        if reply.get("status") == 404:
            raise AlertNotFound(str(cmd["alert"]))
        raise AlertConflict(str(reply.get("error", "refused")))

    def audit(self, actor: str, action: str, target: str, detail: str) -> None:
        self.store.audit(self.clocks.wall_now(), actor, action, target, detail)

    def audit_log(self, limit: int) -> list[dict[str, Any]]:
        return self.store.audit_log(limit)

    def verify_chains(self) -> dict[str, Any]:
        heads = Path(self.settings.data_dir) / hash_chain.HEADS_FILE
        exported = hash_chain.checkpoints(hash_chain.read_exported(heads))
        return hash_chain.verify(self.store, exported).to_json()  # type: ignore[no-any-return]

    def chain_heads(self) -> dict[str, dict[str, Any]]:
        return self.store.chain_heads()

    def health(self) -> dict[str, Any]:
        return {"events_stored": self.store.event_count(), "open_alerts": len(self.open_alerts()),
                "outbox_pending": self.store.pending_notification_count()}


def complaint_report(store: Store, group_by: str, start: float, end: float, drill: bool) -> dict[str, Any]:
    """:meth:`Service.complaint_report` over ``store`` (also ``fenghuo report complaints``): the complaints read
    page by page (:data:`COMPLAINT_PAGE`), at most :data:`MAX_COMPLAINTS` of them."""
    tally = ClosureTally(group_by)
    after: tuple[float, int] | None = None
    read = 0
    truncated = False
    last: float | None = None
    while True:
        limit = min(COMPLAINT_PAGE, MAX_COMPLAINTS + 1 - read)  # one beyond the cap tells it is reached
        page = store.complaint_page(start=start, end=end, drill=drill, after=after, limit=limit)
        take = page[:MAX_COMPLAINTS - read]
        for _, _, e in take:
            tally.add(e)
        read += len(take)
        if take:
            last = take[-1][0]
        if len(page) > len(take):
            truncated = True
            break
        if len(page) < limit:
            break
        after = page[-1][0], page[-1][1]
    out = tally.report()
    alerts = [a for a in store.all_alerts(drill=drill) if start <= a.created_at < end]
    # alerts have a grid, not a complaint category or department: beside grid rows, and beside the total
    with_alert_times(out, response_times(alerts, "grid"))
    if group_by != "grid":
        for g in out["groups"]:
            g["alerts"] = None
    return {**out, "start": start, "end": end, "drill": drill, "complaints_read": read, "truncated": truncated,
            "cap": MAX_COMPLAINTS, "covered_until": last if truncated else None}


def merge_refused(records: list[Any], refused: Sequence[Rejected], parse: Callable[[list[Any]], tuple[list[Event],
                  list[Rejected]]]) -> tuple[list[Event], list[Rejected]]:
    """Parse the records the caller could read; the rejects (``refused`` among them) by their index in ``records``.

    >>> ok = lambda rs: ([], [(i, "bad", r) for i, r in enumerate(rs) if r == "x"])
    >>> merge_refused(["a", None, "x"], [(1, "not JSON", "{")], ok)
    ([], [(1, 'not JSON', '{'), (2, 'bad', 'x')])
    """
    skip = {i for i, _, _ in refused}
    index = [i for i in range(len(records)) if i not in skip]
    events, bad = parse([records[i] for i in index])
    every = [*refused, *((index[i], e, r) for i, e, r in bad)]
    return events, sorted(every, key=lambda b: b[0])


def outbox_by_level(by_priority: dict[int, int]) -> dict[str, int]:
    """The outbox backlog per level from its counts per priority (2 x level, one less for a drill:
    fenghuo.alerts.notify.priority).

    >>> outbox_by_level({8: 2, 7: 1, 2: 4})
    {'blue': 4, 'yellow': 0, 'orange': 0, 'red': 3}
    """
    out = dict.fromkeys(LEVELS, 0)
    for priority, n in by_priority.items():
        name = LEVELS[min(len(LEVELS), max(1, (priority + 1) // 2)) - 1]
        out[name] += n
    return out


def open_by_level(alerts: Sequence[Alert]) -> dict[str, int]:
    out = dict.fromkeys(LEVELS, 0)
    for a in alerts:
        out[a.level.name_en] = out.get(a.level.name_en, 0) + 1
    return out
