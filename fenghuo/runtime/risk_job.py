"""The risk forecast job (issue 17): reads the store, retrains on a schedule, forecasts, stores, sends watch notices.

It runs off the hot path, in the API process of either runtime (:class:`RiskThread`, started and stopped with the
app): the forecast only reads the store (complaints by :meth:`Store.complaint_page`, alerts), so it needs no
worker of its own in Kafka mode, and there is nothing more to deploy or keep running. Every ``every_hours`` (by
the clock of the data: the service's clock, or the newest complaint's time where that clock has not run) it makes
a forecast of the default horizon; the model (:mod:`fenghuo.detectors.risk`) is retrained when older than
``retrain_hours`` and kept with ``put_state`` (its version and training window in the store's audit log and in
every forecast it makes). Drills: a drill run's forecast reads that run's complaints and alerts only, and is made
when asked (``POST /v1/risk/forecast?drill=``) and once when the run has ended.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fenghuo.alerts.routing import Router
from fenghuo.core.config import Config, ConfigError
from fenghuo.core.grids import GridTree
from fenghuo.core.store import Store
from fenghuo.runtime import risk_record
from fenghuo.runtime.risk_watch import watch_notices

log = logging.getLogger("fenghuo.risk")
DAY = 86400.0
MODEL_KEY = "risk:model"  # the real data's trained model (RiskModel.to_bytes)
PAGE = 5000  # complaints per store page
MAX_CASES = 3_000_000  # complaints read for one forecast, at most (a year of a large city's 311)
DEMAND_INTERVAL = 30.0  # wall seconds between two forecasts made on demand for one domain (the POST's rate limit)


def risk_params(config: Config) -> Any:
    """The configuration's ``risk_forecast`` as :class:`fenghuo.detectors.risk.RiskForecastParams`; a
    :class:`ConfigError` listing each problem as ``risk_forecast.<field>: <what>``.

    >>> risk_params(Config()).horizon_days
    7
    >>> try:
    ...     risk_params(Config(risk_forecast={"horizon_days": 99, "colour": "red"}))
    ... except ConfigError as exc:
    ...     print(*exc.errors, sep=chr(10))
    risk_forecast.horizon_days: Input should be less than or equal to 28
    risk_forecast.colour: Extra inputs are not permitted
    """
    from pydantic import ValidationError

    from fenghuo.detectors.risk import RiskForecastParams

    try:
        return RiskForecastParams.model_validate(config.risk_forecast)
    except ValidationError as exc:
        raise ConfigError([f"risk_forecast.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                           for e in exc.errors()], "risk_forecast") from None


class RiskBusy(Exception):
    """An on-demand forecast refused for now: one is being made, or one was made a moment ago."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def iso(ts: float | None) -> str | None:
    """>>> iso(1425254400.0)
    '2015-03-02T00:00:00Z'
    """
    return None if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RiskJob:
    """Makes and keeps forecasts for one service. ``clock(drill)``: the time of that domain (the real data's:
    ``drill`` None), or None where it has not run; ``wall``: wall seconds (rate limits, when stored)."""

    def __init__(self, store: Store, config: Config, tree: GridTree, clock: Callable[[str | None], float | None],
                 wall: Callable[[], float], audit: Callable[[str, str, str], None] | None = None,
                 readonly: bool = False) -> None:
        self.store, self.config, self.tree = store, config, tree
        self.readonly = readonly  # `fenghuo risk forecast`: nothing is written (no forecast, model, notice)
        self.params = risk_params(config)
        self.clock, self.wall, self.audit = clock, wall, audit
        self.router = Router(config, tree.chain_ids)
        self._model: Any = None
        self._model_loaded = False
        self._lock = threading.Lock()  # one forecast at a time (training is CPU-bound)
        self._demand: dict[str | None, float] = {}
        self._failed: set[str] = set()  # drill runs whose forecast at the end failed (logged once)
        self.record_cache: dict[int, dict[str, Any]] = {}  # a past forecast's outcome, by forecast id

    # -- time and history --------------------------------------------------------------------------
    def now(self, drill: str | None) -> float | None:
        """The domain's time: its clock, else its newest complaint (a service that has not seen events yet)."""
        t = self.clock(drill)
        if t is not None and t > 0:
            return float(t)
        latest = self.store.risk_latest_complaint(drill)
        return None if latest is None else latest + 1.0

    def history(self, drill: str | None, start: float, end: float) -> tuple[list[Any], list[Any]]:
        """The domain's complaints (as cases) and alerts (as marks) in ``[start, end)``."""
        from fenghuo.detectors.risk import AlertMark, cases_from_events

        events: list[Any] = []
        after: tuple[float, int] | None = None
        while len(events) < MAX_CASES:
            page = self.store.complaint_page(start=start, end=end, drill=drill or False, after=after, limit=PAGE)
            events += [e for _, _, e in page]
            if len(page) < PAGE:
                break
            after = (page[-1][0], page[-1][1])
        else:
            log.warning("risk forecast: more than %d complaints in the history window; the oldest are left out",
                        MAX_CASES)
        marks = []
        for m in self.store.risk_alert_marks(start, end, drill):
            burst = m["rule"] == "complaint-burst"
            category = m["series"].split("/", 1)[1] if burst and "/" in m["series"] else None
            marks.append(AlertMark(ts=m["ts"], grid=m["grid"], level=m["level"], risk=m["risk"], burst=burst,
                                   category=category))
        return cases_from_events(events, self.tree), marks

    # -- the model -----------------------------------------------------------------------------------
    def _stored_model(self) -> Any:
        if not self._model_loaded:
            from fenghuo.detectors.risk import RiskModel

            self._model_loaded = True
            raw = self.store.get_state(MODEL_KEY)
            if raw:
                try:
                    self._model = RiskModel.from_bytes(raw)
                except Exception as exc:  # an older release's model: retrain rather than fail
                    log.warning("risk forecast: the stored model cannot be read (%s); it will be retrained", exc)
        return self._model

    def model_for(self, drill: str | None, at: float, cases: list[Any], marks: list[Any]) -> Any:
        """The model to forecast with at ``at``: the real data's, retrained when missing, older than
        ``retrain_hours`` or trained after ``at`` (the clock went back); a drill's, trained on the run's history."""
        from fenghuo.detectors.risk import train

        current = None if drill is not None else self._stored_model()
        fresh = current is not None and 0 <= at - current.trained_at < self.params.retrain_hours * 3600
        if fresh and current.groups == self.params.group_names() and current.horizon_days == self.params.horizon_days:
            return current
        try:
            model = train(cases, marks, self.tree, self.params, until=at, tz=self.config.timezone)
        except Exception:
            log.exception("risk forecast: training failed; %s", "the previous model stays" if current else "no model")
            return current
        if model is not None and drill is None and not self.readonly:
            self.store.put_state(MODEL_KEY, model.to_bytes())
            self._model = model
            detail = json.dumps({"version": model.version, "kind": model.kind, "trained_at": iso(model.trained_at),
                                 "window": [iso(model.window[0]), iso(model.window[1])], "cases": len(cases)})
            log.info("risk forecast: model %s trained on %s .. %s", model.version, iso(model.window[0]),
                     iso(model.window[1]))
            if self.audit is not None:
                self.audit("risk-forecast", "risk.retrain", detail)
        return model if model is not None else current

    # -- forecasts -----------------------------------------------------------------------------------
    def make(self, drill: str | None = None, horizon_days: int | None = None, at: float | None = None,
             notify: bool = True) -> dict[str, Any]:
        """Make, store and return a forecast of the domain now (or at ``at``); watch notices go out for the grids
        that reach the watch level (``notify``), once per grid, group and horizon window."""
        from fenghuo.detectors.risk import forecast

        horizon = int(horizon_days or self.params.horizon_days)
        with self._lock:
            when = at if at is not None else self.now(drill)
            if when is None:
                return self.empty(drill, horizon, "no complaints in the store yet: nothing to forecast from")
            start = when - self.params.history_days * DAY
            cases, marks = self.history(drill, start, when + 1e-3)
            model = self.model_for(drill, when, cases, marks)
            fc = forecast(model, cases, marks, self.tree, self.params, at=when, horizon_days=horizon,
                          tz=self.config.timezone)
            doc = self.document(fc.to_json(self.params.watch_level, drill), when, fc.window, model)
            if self.readonly:
                return doc
            doc["id"] = self.store.save_risk_forecast(doc, drill, self.wall())
            if notify:
                self.send_watch(doc, drill)
        log.info("risk forecast made for %s at %s, horizon %d d: %d rows, model %s", drill or "the real data",
                 iso(when), horizon, len(doc["rows"]), doc.get("model_version"))
        return doc

    def document(self, body: dict[str, Any], at: float, window: tuple[float, float] | None,
                 model: Any) -> dict[str, Any]:
        """The API body (the contract in docs/risk-forecast.md) with what the store and the track record need:
        the times as epoch seconds and the label's dispersion for the group "all" (its outcome's upper bound)."""
        rows = sorted(body.get("rows") or [], key=lambda r: -float(r.get("probability") or 0.0))
        alpha = (getattr(model, "alpha", None) or {}).get("all", 0.0) if body.get("model_version") else 0.0
        return {**body, "rows": rows, "made_at_ts": at, "window_ts": list(window) if window else None,
                "dispersion": float(alpha)}

    def empty(self, drill: str | None, horizon: int, reason: str) -> dict[str, Any]:
        """No forecast: the body says why (never an error)."""
        return {"made_at": None, "horizon_days": horizon, "model_version": None, "window": None, "reason": reason,
                "drill": drill, "watch_level": self.params.watch_level, "rows": []}

    def send_watch(self, doc: dict[str, Any], drill: str | None) -> list[dict[str, Any]]:
        names = {n.id: n.name for n in self.config.nodes}
        notices = watch_notices(doc["rows"], tree=self.tree, router=self.router, made_at=float(doc["made_at_ts"]),
                                horizon_days=int(doc["horizon_days"]), watch_level=self.params.watch_level,
                                drill=drill, names=lambda g: names.get(g) or g)
        new = self.store.save_risk_watch(notices) if notices else []
        if new:
            log.info("risk forecast: %d watch notice(s) sent to community offices", len(new))
        return new

    def demand(self, drill: str | None, horizon_days: int | None) -> dict[str, Any]:
        """A forecast made on request (the POST), at most one per domain every :data:`DEMAND_INTERVAL` seconds."""
        now = self.wall()
        last = self._demand.get(drill)
        if last is not None and now - last < DEMAND_INTERVAL:
            raise RiskBusy("a forecast was made a moment ago; try again shortly", DEMAND_INTERVAL - (now - last))
        if self._lock.locked():
            raise RiskBusy("a forecast is being made; try again shortly", 5.0)
        self._demand[drill] = now
        return self.make(drill, horizon_days)

    def latest(self, drill: str | None, horizon_days: int) -> dict[str, Any]:
        """The newest stored forecast of that domain and horizon, or an empty one saying why there is none."""
        found = self.store.risk_forecasts(drill, horizon_days, limit=1)
        if found:
            return found[0]
        what = f"drill run {drill}" if drill else "the real data"
        when = "is made when the run ends, or on request" if drill else \
            f"is made every {self.params.every_hours:g} h" if horizon_days == self.params.horizon_days else \
            "is made on request (POST /v1/risk/forecast, analyst)"
        return self.empty(drill, horizon_days, f"no {horizon_days}-day forecast of {what} yet: one {when}")

    # -- the schedule --------------------------------------------------------------------------------
    def due(self) -> float | None:
        """The time to make the real data's scheduled forecast at, or None when the last one is recent enough."""
        now = self.now(None)
        if now is None:
            return None
        last = self.store.risk_forecasts(None, self.params.horizon_days, limit=1)
        if last and 0 <= now - float(last[0]["made_at_ts"]) < self.params.every_hours * 3600:
            return None
        return now

    def tick(self) -> int:
        """One look at the schedule: the real data's forecast when due, and one for each ended drill run that has
        none yet. The number of forecasts made."""
        made = 0
        at = self.due()
        if at is not None:
            self.make(None, at=at)
            made += 1
        for run in self.store.drill_runs(status="ended", limit=20):
            name = str(run.get("run"))
            if run.get("purged") or name in self._failed or self.store.risk_forecasts(name, limit=1):
                continue
            try:
                self.make(name)
            except Exception:  # that run is not tried again by the schedule (on request it is)
                log.exception("risk forecast: the forecast of drill run %s failed", name)
                self._failed.add(name)
                continue
            made += 1
        return made

    def track_record(self, drill: str | None, weeks: int) -> dict[str, Any]:
        return risk_record.track_record(self, drill, weeks)


class RiskThread:
    """Runs :meth:`RiskJob.tick` every ``poll`` seconds on a thread of its own until stopped."""

    def __init__(self, job: RiskJob, poll: float = 60.0) -> None:
        self.job, self.poll = job, poll
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="risk-forecast", daemon=True)

    def start(self) -> RiskThread:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.job.tick()
            except Exception:  # the next tick tries again; the service goes on
                log.exception("risk forecast: the scheduled run failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=120)


def for_service(service: Any) -> RiskJob:
    """The job over a running service of either runtime (its store, configuration, tree and clocks)."""
    clocks = service.clocks

    def clock(drill: str | None) -> float | None:
        if drill is None:
            return float(clocks.now_of(None))
        c = clocks.drills.get(drill)
        return None if c is None else float(c.now())

    def audit(actor: str, action: str, detail: str) -> None:
        service.store.audit(clocks.wall_now(), actor, action, "risk-model", detail)

    return RiskJob(service.store, service.config, service.tree, clock, clocks.wall_now, audit)


def start_risk(service: Any) -> RiskThread | None:
    """The forecast's schedule over a started service: a :class:`RiskThread` (None when ``risk_forecast.enabled``
    is false, or the service has no store to read). ``FENGHUO_RISK_POLL_SECONDS`` (the setting
    ``risk_poll_seconds``) sets how often it looks at the schedule (default 60 s; the schedule itself is
    ``risk_forecast.every_hours``)."""

    config = getattr(service, "config", None)
    if config is None or getattr(service, "store", None) is None:
        return None
    try:
        job = for_service(service)
    except ConfigError as exc:  # fenghuo check-config reports it too; the service runs without the forecast
        log.error("risk forecast off: %s", exc)
        return None
    if not job.params.enabled:
        return None
    poll = getattr(getattr(service, "settings", None), "risk_poll_seconds", 60.0)
    return RiskThread(job, poll=max(0.05, float(poll))).start()
