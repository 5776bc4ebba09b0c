"""Drill runs in a service: start a scenario as a new run, watch it, end it, score it, compare, purge.

Every run is stored (``drill_runs``) before it starts, and its document (the scenario as given, progress,
the scorecard) is written again every few seconds and when it ends. A run still marked running when the
service starts again was cut short by a stop: it is marked ``interrupted`` and scored as far as it got.
While a run is going, a notification of its alerts on a channel its scenario fails (``channel_fails``) fails
at delivery and is retried as any failed delivery is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fenghuo.core.config import Config
from fenghuo.core.grids import GridTree
from fenghuo.core.models import Alert, iso
from fenghuo.core.store import AlertQuery, Notification, Store
from fenghuo.drills import inject, scorecard
from fenghuo.drills.runner import DrillHost, DrillRun
from fenghuo.drills.scenario import (
    ChannelFails,
    Kill,
    NoAck,
    PauseBroker,
    Scenario,
    ScenarioError,
    load_scenario,
    parse_scenario,
    scenario_errors,
)
from fenghuo.drills.sources import BUNDLED_SCENARIOS, first_time, load_records

log = logging.getLogger("fenghuo.drills")
SAVE_EVERY = 2.0  # wall seconds between writes of a running run's document
MAX_RUN_ALERTS = 5000  # alerts a scorecard reads
MAX_ACTIVE = 4  # runs going at once in one service
RESCORE_EVERY = 1.0  # wall seconds: a running run's live scorecard is made at most this often (board polls)


class DrillRefused(Exception):
    """A run that cannot start or change now (``status``: the HTTP status that says why)."""

    def __init__(self, message: str, status: int = 409) -> None:
        self.status = status
        super().__init__(message)


@dataclass
class _Active:
    doc: dict[str, Any]
    scenario: Scenario
    runner: DrillRun
    counts: dict[str, int]
    thread: threading.Thread | None = None
    saved: float = 0.0
    interrupted: bool = False  # the service stopped while it was going
    scored_at: float = float("-inf")  # wall time of the live scorecard in ``doc``


class DrillControl:
    def __init__(self, host: DrillHost, store: Store, config: Config, tree: GridTree, *,
                 wall: Callable[[], float] = time.time, data_dirs: list[Path] | None = None,
                 scenario_dirs: list[Path] | None = None, sleep: Callable[[float], None] | None = None,
                 max_pace: float | None = None) -> None:
        """``max_pace``: where alerts come back from other processes (Kafka mode), the pace a ``speed: max``
        scenario runs at (a request for ``max`` is refused): as fast as possible, a run would outrun its own
        alerts. None: ``max`` runs as fast as possible (embedded, where alerts are there when ingest returns)."""
        self.max_pace = max_pace
        self.host = host
        self.store = store
        self.config = config
        self.tree = tree
        self.wall = wall
        self.sleep = sleep
        self.data_dirs = data_dirs or []
        self.scenario_dirs = scenario_dirs if scenario_dirs is not None else [BUNDLED_SCENARIOS]
        self.kinds = {n.id: n.kind for n in config.nodes}
        self.active: dict[str, _Active] = {}  # runs going in this process (an ended run leaves it)
        self._starting = 0  # starts past the MAX_ACTIVE check, not yet in ``active``
        self.lock = threading.RLock()
        self._known: dict[str, tuple[Scenario, dict[str, Any], Path]] | None = None
        self._unfit: dict[str, list[str]] = {}  # bundled scenarios made for another configuration: why
        self._owned: dict[str, bool] = {}  # drill name -> it is a run of this service (cached)

    # -- scenarios ---------------------------------------------------------------------------------------
    def known(self) -> dict[str, tuple[Scenario, dict[str, Any], Path]]:
        """The scenarios that can be started by name: bundled, and those in the configured folders."""
        if self._known is None:
            found: dict[str, tuple[Scenario, dict[str, Any], Path]] = {}
            for folder in self.scenario_dirs:
                for path in sorted(folder.glob("*.yaml")):
                    try:
                        s, doc = load_scenario(path)
                    except ScenarioError as exc:
                        log.warning("scenario %s skipped: %s", path.name, exc)
                        continue
                    unfit = scenario_errors(s, self.config)
                    if unfit:  # made for another configuration
                        self._unfit.setdefault(s.scenario, unfit)
                        continue
                    found.setdefault(s.scenario, (s, doc, path.parent))
            self._known = found
        return self._known

    def scenarios(self) -> list[dict[str, Any]]:
        return [s.summary() for s, _, _ in self.known().values()]

    # -- helpers -------------------------------------------------------------------------------------------
    def tiers(self, alert: Alert) -> list[tuple[str, str]]:
        return [(n, self.kinds.get(n, "")) for n in self.tree.chain_ids(alert.grid)]

    def under(self, grid: str, node: str) -> bool:
        return node in self.tree.chain_ids(grid)

    def _save(self, doc: dict[str, Any]) -> None:
        self.store.update_drill_run(doc, self.wall())

    # -- start ---------------------------------------------------------------------------------------------
    def start(self, *, name: str | None = None, spec: dict[str, Any] | None = None, base_dir: Path | None = None,
              actor: str, speed: float | str | None = None, background: bool = True) -> dict[str, Any]:
        """Start a run of the bundled scenario ``name`` or of ``spec`` (a scenario document; ``base_dir``: the
        folder of the file it came from, on this machine). ScenarioError for a scenario that cannot run."""
        if name is not None:
            entry = self.known().get(name)
            if entry is None:
                if name in self._unfit:
                    raise DrillRefused(f"the scenario {name!r} does not fit this configuration: "
                                       + "; ".join(self._unfit[name][:3]), 404)
                names = ", ".join(sorted(self.known())) or "none fits this configuration"
                raise DrillRefused(f"no scenario {name[:60]!r} (those that can be started: {names})", 404)
            scenario, doc, base_dir = entry
        else:
            doc = dict(spec or {})
            scenario = parse_scenario(doc)
        if speed is not None:
            if speed == "max" and self.max_pace is not None:
                raise DrillRefused(f'speed "max" cannot run here: the alerts come back from the workers after a '
                                   f"round trip over Kafka and the run would outrun them; give a number (scenario "
                                   f"seconds per second; a scenario's own \"max\" runs at {self.max_pace:g})", 422)
            doc = {**doc, "speed": speed}
            scenario = parse_scenario(doc)
        errors = scenario_errors(scenario, self.config)
        if errors:
            raise ScenarioError(errors)
        with self.lock:  # the slot is taken now: two starts at once cannot both pass the bound
            if sum(1 for a in self.active.values() if not a.runner.done) + self._starting >= MAX_ACTIVE:
                raise DrillRefused(f"{MAX_ACTIVE} drill runs are going already: end one first", 429)
            self._starting += 1
        slot = [True]
        try:
            return self._begin(scenario, doc, base_dir, actor, background, slot)
        finally:
            if slot[0]:
                with self.lock:
                    self._starting -= 1

    def _begin(self, scenario: Scenario, doc: dict[str, Any], base_dir: Path | None, actor: str, background: bool,
               slot: list[bool]) -> dict[str, Any]:
        """Load, store and plan the run, then run it (``slot``: the start's reserved place, handed to ``active``)."""
        records = load_records(scenario, base_dir, self.data_dirs, self.store.series)
        start = scenario.start if scenario.start is not None else first_time(records)
        if start is None:
            raise ScenarioError(["start: the sources have no readable time: give the scenario a start"])
        now = self.wall()
        run_doc = self.store.create_drill_run(scenario.scenario, {
            **scenario.summary(), "status": "running", "started_at": iso(now), "ended_at": None,
            "requested_by": actor, "spec": doc, "start": iso(start), "notes": []}, now)
        run = run_doc["run"]
        try:
            planned = inject.plan(records, scenario.injections, start=start, run=run)
        except ValueError as exc:
            run_doc.update(status="failed", ended_at=iso(self.wall()), error=str(exc))
            self._save(run_doc)
            raise ScenarioError([str(exc)]) from None
        last = planned.last if planned.last is not None else start
        end = start + scenario.duration if scenario.duration is not None else last + scenario.settle
        chaos = [i for i in scenario.injections if isinstance(i, Kill | PauseBroker)]
        pace = scenario.pace()
        if pace is None and self.max_pace is not None:  # see __init__
            pace = self.max_pace
            run_doc["notes"].append(f'speed "max" runs at {pace:g} here (the alerts come back over Kafka)')
        runner = DrillRun(run, self.host, planned.deliveries, start=start, end=end, speed=pace,
                          responders=scenario.responders,
                          no_ack=[i for i in scenario.injections if isinstance(i, NoAck)], tiers=self.tiers,
                          wall=self.wall, sleep=self.sleep, chaos=chaos)
        run_doc.update(end=iso(end), speed=scenario.speed if pace == scenario.pace() else pace)
        active = _Active(run_doc, scenario, runner, planned.counts)
        with self.lock:
            self.active[run] = active
            self._starting -= 1
            slot[0] = False
        self._save(self._live(active))
        log.info("drill %s started by %s: %d deliveries planned, %s", run, actor, len(planned.deliveries),
                 scenario.speed)
        if background:
            active.thread = threading.Thread(target=self._run, args=(active,), name=f"drill-{run}", daemon=True)
            active.thread.start()
        else:
            self._run(active)
        return self.get(run) or run_doc

    def _run(self, active: _Active) -> None:
        runner = active.runner
        t = threading.Thread(target=runner.run_loop, name=f"drill-loop-{active.doc['run']}", daemon=True)
        t.start()
        while t.is_alive():
            t.join(timeout=0.5)
            if self.wall() - active.saved >= SAVE_EVERY:
                try:
                    self._save(self._live(active))
                    active.saved = self.wall()
                except Exception:  # the next save tries again
                    log.exception("drill %s: saving progress failed", active.doc["run"])
        self._finish(active, "failed" if runner.error else "interrupted" if active.interrupted else "ended")

    # -- status ----------------------------------------------------------------------------------------------
    def _alerts(self, run: str) -> list[Alert]:
        return self.store.list_alerts(AlertQuery(drill=run, limit=MAX_RUN_ALERTS))

    def _score(self, active: _Active, final: bool) -> dict[str, Any]:
        runner, s = active.runner, active.scenario
        alerts = self._alerts(active.doc["run"])
        notes: dict[str, list[Notification]] = {}
        run = active.doc["run"]
        incidents = [i["id"] for i in self.store.incidents(None, 1000) if i.get("drill") == run]
        for key in [a.id for a in alerts] + incidents:  # an incident's members are notified through it
            # drill notifications are queued at drill time: their delay is measured in wall time
            notes[key] = [_walled(n, runner.wall_of) for n in self.store.notifications_for(key)]
        events = active.runner.progress.to_json(active.counts)
        card = scorecard.score([e.resolved(runner.start) for e in s.expect], alerts, notes, start=runner.start,
                               end=runner.end if final else None, tiers=self.tiers, under=self.under,
                               events=events, now=runner.clock)
        card["alerts"] = len(alerts)
        return card

    def _live(self, active: _Active, final: bool = False) -> dict[str, Any]:
        doc = active.doc
        doc["progress"] = active.runner.progress.to_json(active.counts)
        doc["injections_applied"] = dict(active.counts)
        doc["rejections"] = list(active.runner.progress.errors)
        doc["chaos"] = list(active.runner.notes)
        doc.update(active.runner.status())
        if not final and self.wall() - active.scored_at < RESCORE_EVERY:
            return doc  # the scorecard of a moment ago: each look reads every alert and notification of the run
        try:
            doc["scorecard"] = self._score(active, final)
            doc["verdict"] = doc["scorecard"]["verdict"]
            active.scored_at = self.wall()
        except Exception:  # a live scorecard that cannot be made now is made again on the next look
            log.exception("drill %s: scoring failed", doc["run"])
        return doc

    def _finish(self, active: _Active, status: str) -> None:
        runner = active.runner
        try:  # what the run queued goes out (or fails) first
            self.host.flush_drill_notifications(3.0)
        except Exception:
            log.exception("drill %s: delivering its last notifications failed", active.doc["run"])
        doc = self._live(active, final=True)
        doc.update(status=status, ended_at=iso(self.wall()))
        if runner.error:
            doc["error"] = runner.error
        self._save(doc)
        with self.lock:  # the store has it: the run leaves memory with its planned deliveries
            self.active.pop(doc["run"], None)
        runner.deliveries = []
        log.info("drill %s %s: %s", doc["run"], status, doc.get("verdict"))

    def get(self, run: str) -> dict[str, Any] | None:
        with self.lock:
            active = self.active.get(run)
        if active is not None and active.doc.get("status") == "running":
            return self._live(active)
        return self.store.get_drill_run(run)

    def runs(self, scenario: str | None = None, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        out = self.store.drill_runs(scenario, status, limit)
        for i, doc in enumerate(out):
            active = self.active.get(doc["run"])
            if active is not None and doc.get("status") == "running":
                out[i] = {k: v for k, v in active.doc.items() if k != "spec"}
            else:
                out[i] = {k: v for k, v in doc.items() if k != "spec"}
        return out

    def compare(self, scenario: str, limit: int = 50) -> dict[str, Any]:
        docs = list(reversed(self.store.drill_runs(scenario, None, limit)))
        return {"scenario": scenario, **scorecard.compare(docs)}

    # -- end, purge ------------------------------------------------------------------------------------------
    def end(self, run: str, actor: str) -> dict[str, Any]:
        with self.lock:
            active = self.active.get(run)
        if active is None or active.doc.get("status") != "running":
            doc = self.store.get_drill_run(run)
            if doc is None:
                raise DrillRefused(f"no drill run {run}", 404)
            raise DrillRefused(f"drill run {run} is {doc.get('status')} already", 409)
        active.doc.setdefault("notes", []).append(f"ended by {actor} at scenario time {iso(active.runner.clock)}")
        active.runner.stop()
        if active.thread is not None:
            active.thread.join(timeout=30)
        return self.get(run) or active.doc

    def purge(self, run: str, actor: str) -> dict[str, Any]:
        doc = self.store.get_drill_run(run)
        if doc is None:
            raise DrillRefused(f"no drill run {run}", 404)
        if doc.get("status") == "running":
            raise DrillRefused(f"drill run {run} is running: end it first (POST /v1/drills/{run}/end)", 409)
        counts = self.host.purge_drill(run, actor)
        doc.update(purged=counts, purged_by=actor, purged_at=iso(self.wall()))
        self._save(doc)
        return doc

    def owns(self, drill: str) -> bool:
        """Whether drill ``drill`` is (or was) a run: its time is the run's to drive, not the service tick's."""
        known = self._owned.get(drill)
        if known is None:
            known = drill in self.active or self.store.get_drill_run(drill) is not None
            if len(self._owned) > 10_000:
                self._owned.clear()
            self._owned[drill] = known
        return known

    # -- faults and lifecycle ----------------------------------------------------------------------------------
    def fault(self, n: Notification) -> str | None:
        """Why a notification of a running drill fails now (its scenario's ``channel_fails``), else None."""
        run = n.payload.get("drill") if isinstance(n.payload, dict) else None
        if not run:
            return None
        active = self.active.get(str(run))
        if active is None or active.runner.done:
            return None
        for inj in active.scenario.injections:
            if isinstance(inj, ChannelFails) and inj.channel == n.channel:
                lo, hi = inj.bounds(active.runner.start)
                if lo <= active.runner.clock < hi:
                    return f"drill fault: channel {n.channel} fails (injected by {active.doc['run']})"
        return None

    def recover(self) -> int:
        """Runs left running by a stop are marked interrupted (their scorecard as far as they got)."""
        n = 0
        for doc in self.store.drill_runs(None, "running", 1000):
            if doc["run"] in self.active:
                continue
            doc.update(status="interrupted", ended_at=iso(self.wall()))
            doc.setdefault("notes", []).append("the service stopped while the run was going")
            self._save(doc)
            n += 1
        return n

    def close(self) -> None:
        with self.lock:
            going = [a for a in self.active.values() if not a.runner.done]
        for a in going:
            a.doc.setdefault("notes", []).append("the service stopped while the run was going")
            a.interrupted = True
            a.runner.stop()
        for a in going:
            if a.thread is not None:
                a.thread.join(timeout=30)


def _walled(n: Notification, wall_of: Callable[[float], float]) -> Notification:
    from dataclasses import replace

    return replace(n, created_at=wall_of(n.created_at))
