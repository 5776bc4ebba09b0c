"""Forecast early warning: "red expected in 40 min" before a threshold rule's level is crossed.

:class:`ForecastWarner` keeps, per sensor series, a bounded history, a Holt trend (the cheap
fallback, updated per reading) and the grid of the last Prophet fit. Prophet is refit every
``refit_every_s`` seconds of event time, inline, on the warner's own one-thread executor
(``refit_mode="background"``: the hot path never waits, a finished fit is swapped in at the next
reading) or in one fitting process shared by all warners (``refit_mode="process"``: the same, and
Prophet's Python work no longer takes turns with the hot path for the GIL; the process starts by
``forkserver``, so a script that embeds the pipeline needs the usual ``if __name__ == "__main__"``).
Per reading, in this order (score before learn):

1. anomaly: the reading against the forecast made before it; beyond ``anomaly_k`` x the 80 %
   half-width, a ``forecast-anomaly`` signal (its own alert; blue, yellow from 2x, orange from 4x);
2. learn the reading;
3. the path for the next ``horizon_s``: Prophet's grid shifted through the reading while the reading
   is within ``stale_k`` half-widths of it, else the Holt trend; with ``select="error"`` (the default)
   Prophet's path only while its forecasts ``select_lead`` x ``horizon_s`` ahead have had no larger
   recent error than Holt's (online model selection; ``"union"``: either model's path warns);
4. per threshold rule: the highest level the path reaches and holds for the rule's ``for_seconds``
   (a level the rule itself would raise), confirmed: the lowest of those levels over the last
   ``confirm_readings`` readings. Above the rule's current level (its own state machine,
   ``for_seconds`` included) and above what was already warned, a ``kind="forecast"`` signal with
   that level. Fulfilled warnings reset silently; one out of reach at ``withdraw_readings``
   consecutive readings (and for ``withdraw_after_s``) is withdrawn. Details and measurements:
   docs/benchmarks-forecast.md.

Glitches (issue 11, item 3): a one-sample spike is held out of the Holt trend until the next reading
confirms it (``robust_k``), needs ``confirm_readings`` readings to become a warning, and raises a
``forecast-anomaly`` no higher than blue unless the reading before it was off the forecast too.

Pickling keeps histories, Holt states, the precomputed grids and level states; the executor and
fits in flight are dropped (such a series refits at its next reading). Fitted Prophet objects are
never kept.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import multiprocessing as mp
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from fenghuo.core import state as saved
from fenghuo.core.config import Rule
from fenghuo.core.levels import Level
from fenghuo.core.models import Event, Signal
from fenghuo.detectors.forecast_model import (
    ANOMALY,
    ForecastGrid,
    ForecastParams,
    HoltTrend,
    anomaly_signal,
    fill_slots,
    fit_prophet,
    forecast_signal,
    hold_points,
    prophet_available,
    reached,
    withdraw_signal,
)
from fenghuo.detectors.hysteresis import LevelParams, LevelState
from fenghuo.detectors.protocol import VersionedDetector
from fenghuo.detectors.registry import BuildContext, register
from fenghuo.detectors.rules import SensorRulesInForce

_process_pool: cf.ProcessPoolExecutor | None = None
_MADE = 40  # bound on the forecasts kept for scoring: at most one per lead / 32 of event time
_process_lock = threading.Lock()


def _fit_process() -> cf.ProcessPoolExecutor:
    """One fitting process shared by every warner (``refit_mode="process"``): Prophet's pandas and
    Stan preparation then run beside the hot path instead of taking turns with it for the GIL."""
    global _process_pool
    with _process_lock:
        if _process_pool is None:
            _process_pool = cf.ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("forkserver"))
        return _process_pool


def close_fit_process() -> None:
    """End the shared fitting process (the command line, before it exits); a later warner starts a new one."""
    global _process_pool
    with _process_lock:
        pool, _process_pool = _process_pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


@dataclass(slots=True)
class _Series:
    holt: HoltTrend
    ts: deque[float]
    vals: deque[float]
    grid: ForecastGrid | None = None
    next_fit: float = -math.inf
    fits: int = 0
    fit_seconds: float = 0.0
    fit_errors: int = 0
    last_error: str | None = None
    # online model selection (``select="error"``): forecasts made ``select_lead`` x horizon ago (target time,
    # Prophet's, Holt's; None: that model had none), and each model's exponential mean absolute error of them
    # (negative: no record yet; not NaN, so that saved states compare equal)
    made: deque[tuple[float, float | None, float | None]] = field(default_factory=lambda: deque(maxlen=_MADE))
    err_prophet: float = -1.0
    err_holt: float = -1.0

    def __setstate__(self, state: Any) -> None:
        fill_slots(self, state)


class _Path(NamedTuple):
    """A forecast path: values ``y`` at times ``t0 + step * (k0 + i)`` (the times are computed only
    for a warning, with the same expression as the grid's or the Holt path's own times)."""

    y: list[float]
    t0: float
    step: float
    k0: int
    model: str
    fitted_at: float

    def time(self, i: int) -> float:
        return self.t0 + self.step * (self.k0 + i)


@dataclass(slots=True)
class _RuleState:
    level: LevelState = field(default_factory=LevelState)
    warned: int = 0
    out_of_reach_since: float | None = None
    recent: list[int] = field(default_factory=list)  # the level the path reached at the last few readings
    recent_holt: list[int] = field(default_factory=list)  # the same for the Holt path (``select="union"``)
    out_of_reach: int = 0  # consecutive readings the warned level has been out of reach

    def __setstate__(self, state: Any) -> None:
        fill_slots(self, state)


# a forecast-anomaly from one reading (the reading before it was near the forecast) stays blue: just below yellow
_SINGLE_READING_CAP = math.nextafter(ANOMALY.thresholds[1][1], 0.0)


class ForecastWarner:
    """Forecast early warnings and forecast anomalies for every sensor series it is shown."""

    def __init__(self, params: ForecastParams | None = None, use_prophet: bool | None = None) -> None:
        self.p = params or ForecastParams()
        want = self.p.model == "prophet"
        self.use_prophet = want and (prophet_available() if use_prophet is None else use_prophet)
        self.series: dict[str, _Series] = {}
        self.rules: dict[tuple[str, str], _RuleState] = {}
        self.anomaly: dict[str, LevelState] = {}
        self._executor: cf.ThreadPoolExecutor | None = None
        self._pending: dict[str, cf.Future[ForecastGrid]] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_executor"], state["_pending"] = None, {}
        state["series"] = {k: replace(s, next_fit=-math.inf) if k in self._pending else s  # refit at next reading
                           for k, s in self.series.items()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def close(self) -> None:
        """Stop the executor (fits in flight are abandoned)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self._pending.clear()

    def drain(self) -> None:
        """Wait for every fit in flight and swap it in (tests, benchmarks, shutdown)."""
        for key in list(self._pending):
            cf.wait([self._pending[key]])
            self._collect(key, self.series[key])

    def _collect(self, key: str, s: _Series) -> None:
        fut = self._pending.get(key)
        if fut is None or not fut.done():
            return
        del self._pending[key]
        try:
            self._install(s, fut.result())
        except Exception as exc:  # a failed fit keeps the previous grid; counted, visible in stats()
            s.fit_errors, s.last_error = s.fit_errors + 1, repr(exc)

    @staticmethod
    def _install(s: _Series, grid: ForecastGrid) -> None:
        s.grid, s.fits, s.fit_seconds = grid, s.fits + 1, s.fit_seconds + grid.fit_seconds

    def _fit(self, ts: np.ndarray, vals: np.ndarray, now: float) -> ForecastGrid:
        p = self.p
        return fit_prophet(ts, vals, now, p.refit_every_s + p.horizon_s, p.step_s,
                           changepoint_prior_scale=p.changepoint_prior_scale, n_changepoints=p.n_changepoints,
                           seed=p.seed)

    def _maybe_refit(self, key: str, s: _Series, now: float) -> None:
        if not self.use_prophet or now < s.next_fit or key in self._pending:
            return
        if not s.ts or now - s.ts[0] < self.p.min_history_s:
            return
        s.next_fit = now + self.p.refit_every_s
        ts, vals = np.fromiter(s.ts, float), np.fromiter(s.vals, float)
        if self.p.refit_mode == "inline":
            try:
                self._install(s, self._fit(ts, vals, now))
            except Exception as exc:  # as in _collect: keep the previous grid, count the failure
                s.fit_errors, s.last_error = s.fit_errors + 1, repr(exc)
            return
        if self.p.refit_mode == "process":
            pool = _fit_process()
            p = self.p
            self._pending[key] = pool.submit(fit_prophet, ts, vals, now, p.refit_every_s + p.horizon_s, p.step_s,
                                             changepoint_prior_scale=p.changepoint_prior_scale,
                                             n_changepoints=p.n_changepoints, seed=p.seed)
            return
        if self._executor is None:
            self._executor = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="fenghuo-forecast")
        self._pending[key] = self._executor.submit(self._fit, ts, vals, now)

    def _state(self, key: str) -> _Series:
        s = self.series.get(key)
        if s is None:
            p = self.p
            holt = HoltTrend(alpha=p.alpha, beta=p.beta, damping_s=p.damping_s, min_scale=p.min_scale)
            s = self.series[key] = _Series(holt, deque(maxlen=p.max_points), deque(maxlen=p.max_points))
        return s

    def _expected(self, s: _Series, ts: float, at: tuple[float, float, float] | None = None
                  ) -> tuple[float, float, str] | None:
        """(yhat, 80 % half-width, model) for a reading at ``ts``, made before seeing it (``at``: the
        grid's ``at(ts)`` when the caller has it)."""
        g = s.grid
        if g is not None and g.t0 <= ts <= g.end:
            y, lo, hi = at if at is not None else g.at(ts)
            return y, max((hi - lo) / 2.0, self.p.min_scale), "prophet"
        if s.holt.n >= 3:
            return s.holt.predict(ts), s.holt.half_width(ts - s.holt.last_ts), "fallback"
        return None

    def step(self, e: Event, rules: list[tuple[Rule, LevelParams]], key: str | None = None) -> list[Signal]:
        """One reading of a sensor series with the threshold rules that apply to it; the signals it raises."""
        if e.value is None or not math.isfinite(e.value):
            return []  # the documented rule for gaps: a missing reading is skipped, the models wait
        key = key or e.series
        ts, v, p = e.ts, float(e.value), self.p
        s = self._state(key)
        if self._pending:
            self._collect(key, s)
        out: list[Signal] = []
        g = s.grid
        # the grid's value at ts serves both the anomaly test and the path (the grid cannot change in between)
        at = g.at(ts) if g is not None and g.t0 <= ts <= g.end else None
        exp = self._expected(s, ts, at)
        if exp is not None:
            z = abs(v - exp[0]) / exp[1] / p.anomaly_k
            st = self.anomaly.get(key)
            if st is None:  # not setdefault: that would build a LevelState on every reading
                st = self.anomaly[key] = LevelState()
            if st.last_value is None or st.last_value < 1.0:  # one reading off the forecast: at most blue
                changed = st.step(ANOMALY, ts, min(z, _SINGLE_READING_CAP))
            else:
                changed = st.step(ANOMALY, ts, z)
            if changed is not None:
                out.append(anomaly_signal(e, key, changed, v, exp, z * p.anomaly_k))
        if p.select == "error" and self.use_prophet:
            self._score(s, ts, v)
        times, vals = s.ts, s.vals
        times.append(ts)
        vals.append(v)
        cut = ts - p.window_s
        while times and times[0] < cut:
            times.popleft()
            vals.popleft()
        s.holt.learn_one(ts, v, p.robust_k)
        fresh = self._prophet_path(s, ts, v, at)
        held = s.holt.held  # the Holt path has not seen this reading yet
        if p.select == "union":
            cands = [(fresh, False, 0), (self._holt_path(s, ts), held, 1)]
        elif fresh is not None and not (p.select == "error" and s.err_prophet > s.err_holt >= 0.0):
            cands = [(fresh, False, 0)]  # (no record yet of either model keeps Prophet, as "stale")
        else:
            cands = [(self._holt_path(s, ts), held, 0)]  # (the Holt path only when it is a candidate)
        if p.select == "error" and self.use_prophet:
            self._record(s, ts, v, at)
        for rule, lp in rules:
            sig = self._judge(e, key, rule, lp, cands, v)
            if sig is not None:
                out.append(sig)
        self._maybe_refit(key, s, ts)
        return out

    def _lead(self) -> float:
        return max(self.p.select_lead * self.p.horizon_s, 1e-9)

    def _record(self, s: _Series, ts: float, v: float, at: tuple[float, float, float] | None) -> None:
        """Keep both models' forecasts for ``ts + lead`` (at most one per lead / 32), to score them then."""
        lead = self._lead()
        if s.made and ts + lead - s.made[-1][0] < lead / 32:
            return
        g, target = s.grid, ts + lead
        yp = g.at(target)[0] + (v - at[0]) if g is not None and at is not None and target <= g.end else None
        s.made.append((target, yp, s.holt.predict(target) if s.holt.n >= 3 else None))

    def _score(self, s: _Series, ts: float, v: float) -> None:
        """Each model's absolute error on the forecasts made for now or before (exponential mean, time
        constant ``lead``: the errors of the last lead or so count)."""
        lead = self._lead()
        gain = 1.0 - math.exp(-max(s.holt.dt, lead / 32) / lead)
        made = s.made
        while made and made[0][0] <= ts:
            _, yp, yh = made.popleft()
            if yp is not None:
                err = abs(v - yp)
                s.err_prophet = err if s.err_prophet < 0.0 else s.err_prophet + gain * (err - s.err_prophet)
            if yh is not None:
                err = abs(v - yh)
                s.err_holt = err if s.err_holt < 0.0 else s.err_holt + gain * (err - s.err_holt)

    def _prophet_path(self, s: _Series, ts: float, v: float, at: tuple[float, float, float] | None
                      ) -> _Path | None:
        """Prophet's path for the next ``horizon_s`` shifted through the reading, while the reading is within
        ``stale_k`` half-widths of the grid (``at``: the grid's ``at(ts)`` if it covers ts); else None."""
        g, p = s.grid, self.p
        if g is not None and at is not None:
            y, lo, hi = at
            if abs(v - y) <= p.stale_k * max((hi - lo) / 2.0, p.min_scale):
                i, j = g.index(ts), g.index(ts + p.horizon_s)
                shift = v - y
                return _Path([x + shift for x in g.yhat[i:j + 1].tolist()], g.t0, g.step, i, "prophet", g.fitted_at)
        return None

    def _holt_path(self, s: _Series, ts: float) -> _Path:
        p = self.p
        return _Path(s.holt.path_values(ts, p.horizon_s, p.step_s), ts, p.step_s, 0, "fallback", ts)

    def _path(self, s: _Series, ts: float, v: float, at: tuple[float, float, float] | None) -> _Path:
        """The forecast path for the next ``horizon_s``: Prophet's while fresh, else Holt's."""
        return self._prophet_path(s, ts, v, at) or self._holt_path(s, ts)

    def _judge(self, e: Event, key: str, rule: Rule, lp: LevelParams, cands: list[tuple[_Path | None, bool, int]],
               v: float) -> Signal | None:
        """The warning (or withdrawal) for one rule from the candidate paths (path or None: no such path now,
        held, slot of its recent levels: 0 ``recent``, 1 ``recent_holt``); the highest confirmed level of
        any candidate warns. ``held``: the reading is held out of the Holt path until the next one confirms
        it, so this path is the one before it: neither a confirmation nor a withdrawal."""
        rs = self.rules.get((rule.id, key))
        if rs is None:
            rs = self.rules[(rule.id, key)] = _RuleState()
        rs.level.step(lp, e.ts, v)
        actual = rs.level.level
        p = self.p
        if rs.warned and actual >= rs.warned:
            rs.warned, rs.out_of_reach_since, rs.out_of_reach = 0, None, 0  # fulfilled: the rule itself now speaks
        n = max(1, p.confirm_readings)
        best: tuple[int, int, int, _Path] | None = None  # (confirmed, level, index, path) of the best candidate
        level, extreme, model = 0, math.nan, ""
        for path, held, slot in cands:
            if held:
                continue
            recent = rs.recent_holt if slot else rs.recent
            if path is None:  # no path from this model now: it reaches nothing
                lv, i, ext = 0, -1, math.nan
            else:
                lv, i, ext = reached(path.y, lp, hold_points(lp.for_seconds, path.step))
            recent.append(lv)
            if len(recent) > n:
                del recent[:-n]
            if path is None:
                continue
            conf = min(recent) if len(recent) == n else 0  # reached at each of the last n readings
            if best is None or conf > best[0]:
                best = (conf, lv, i, path)
            if lv > level or not model:
                level, extreme, model = lv, ext, path.model
        if best is None:
            return None
        confirmed, lv, i, path = best
        hold = hold_points(lp.for_seconds, path.step)
        if confirmed > actual and confirmed > rs.warned:
            rs.warned, rs.out_of_reach_since, rs.out_of_reach = confirmed, None, 0
            if confirmed < lv:  # where the path reaches the confirmed level (not the higher one of now)
                _, i, _ = reached(path.y, replace(lp, thresholds=tuple(t for t in lp.thresholds if t[0] <= confirmed)),
                                  hold)
            return forecast_signal(e, key, rule, Level(confirmed), path.time(i), path.y[i], path.model,
                                   path.fitted_at, actual, p.horizon_s)
        if rs.warned and level <= actual:
            rs.out_of_reach_since = rs.out_of_reach_since if rs.out_of_reach_since is not None else e.ts
            rs.out_of_reach += 1
            if rs.out_of_reach >= p.withdraw_readings and e.ts - rs.out_of_reach_since >= p.withdraw_after_s:
                rs.warned, rs.out_of_reach_since, rs.out_of_reach = 0, None, 0
                return withdraw_signal(e, key, rule, actual, extreme, model, p.horizon_s)
        elif rs.warned:
            rs.out_of_reach_since, rs.out_of_reach = None, 0
        return None

    def stats(self) -> dict[str, float]:
        """Fits, fit failures and the mean fit time per fit over all series."""
        fits = sum(s.fits for s in self.series.values())
        secs = sum(s.fit_seconds for s in self.series.values())
        return {"series": len(self.series), "fits": fits, "fit_errors": sum(s.fit_errors for s in self.series.values()),
                "fit_seconds": secs, "mean_fit_s": secs / fits if fits else 0.0}


class ForecastExtra(VersionedDetector):
    """The ``forecast`` :class:`fenghuo.detectors.protocol.Detector`: forecasts for every sensor series a
    threshold rule watches.

    ``rules_provider()`` returns the current rules (only enabled sensor threshold rules are used);
    it is called again once event time passes ``refresh_s`` beyond the last load (or on
    :meth:`refresh`: call it when rules change). The effective levels per (grid, source) come
    from :func:`fenghuo.detectors.rules.params_for` over ``chain(grid)``. A drill gets its own warner
    (fresh history), as live state never sees it.
    """

    name = "forecast"
    feeds = frozenset({"sensor"})

    def __init__(self, rules_provider: Any, params: ForecastParams | None = None, chain: Any = None,
                 use_prophet: bool | None = None, refresh_s: float = 60.0) -> None:
        self.params = params or ForecastParams()
        self.use_prophet = use_prophet
        self.warners: dict[str | None, ForecastWarner] = {}
        self.rules = SensorRulesInForce(rules_provider, chain, refresh_s)

    def refresh(self) -> None:
        self.rules.refresh()

    def forget_drill(self, drill: str) -> None:
        """A purged drill run's forecasts go."""
        self.warners.pop(drill, None)

    def __call__(self, e: Event) -> list[Signal]:
        if e.feed != "sensor" or e.value is None:
            return []
        rules = self.rules.applying(e)
        if not rules:
            return []
        warner = self.warners.get(e.drill)
        if warner is None:
            warner = self.warners[e.drill] = ForecastWarner(self.params, self.use_prophet)
        return warner.step(e, rules)

    def settle_drill(self, drill: str) -> None:
        """Wait for the drill's fits in flight and put them in place. A drill run calls it (outside the service's
        lock) before each moment of its replay, so every fit is in place before the next reading however fast
        the drill replays, and two runs of one scenario raise the same warnings (a background fit landing at a
        reading that depends on the machine's speed would not)."""
        warner = self.warners.get(drill)
        if warner is not None:
            warner.drain()

    process = __call__

    def close(self) -> None:
        for w in self.warners.values():
            w.close()

    def live_state(self) -> dict[str, Any]:
        """The state as the live objects (not copied), for :meth:`use_live_state`."""
        return {"warners": dict(self.warners)}

    def use_live_state(self, live: dict[str, Any]) -> None:
        self.warners = dict(live.get("warners", {}))
        for w in self.warners.values():  # the settings in force, not the ones saved with the state
            w.p = self.params

    STATE_VERSION = 1  # of the forecasts' state (a ForecastWarner per drill); bump it (and read the old) on a change


saved.register("forecast.series", _Series)
saved.register("forecast.rule", _RuleState)
saved.register("forecast.path", _Path, lambda p: p._asdict(), lambda d: _Path(**d))
saved.register("forecast.warner", ForecastWarner)


def make_forecast_extra(rules_provider: Any, params: ForecastParams | None = None, chain: Any = None,
                        use_prophet: bool | None = None) -> ForecastExtra:
    """The forecast :class:`~fenghuo.detectors.protocol.Detector` for ``DetectorEngine.add``."""
    return ForecastExtra(rules_provider, params, chain, use_prophet)


@register("forecast", ForecastParams, feeds=("sensor",), scope="grid")
def _build(params: ForecastParams, ctx: BuildContext) -> ForecastExtra:
    """Forecasts follow the levels of the threshold rules in force (``ctx.rules()``)."""
    return ForecastExtra(ctx.rules, params, chain=ctx.chain)
