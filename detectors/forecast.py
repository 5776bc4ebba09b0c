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
import signal
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
    damped_terms,
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
            _process_pool = cf.ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("forkserver"),
                                                   initializer=_ignore_interrupt)
        return _process_pool


def _ignore_interrupt() -> None:
    """In the fitting process: a Ctrl-C (SIGINT to the terminal's whole process group) is the command's to handle;
    the process ends when the command closes it or exits (it printed a KeyboardInterrupt traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


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


class _HoltPath:
    """The Holt path of a reading (:meth:`HoltTrend.path_values`, the same floats), its values computed only
    when a rule's level is within its reach: the damped trend is monotone, so its extreme is one of its ends.
    Like a :class:`_Path` otherwise (``y``, ``time``, ``model``, ``fitted_at``); never saved."""

    __slots__ = ("level", "amp", "terms", "monotone", "t0", "step", "first", "last", "_y")
    model = "fallback"
    k0 = 0

    def __init__(self, level: float, amp: float, terms: tuple[float, ...], monotone: bool, t0: float,
                 step: float) -> None:
        self.level, self.amp, self.terms, self.monotone, self.t0, self.step = level, amp, terms, monotone, t0, step
        self.first, self.last = level + amp * terms[0], level + amp * terms[-1]
        self._y: list[float] | None = None

    @property
    def fitted_at(self) -> float:
        return self.t0

    @property
    def y(self) -> list[float]:
        y = self._y
        if y is None:
            level, amp = self.level, self.amp
            y = self._y = [level + amp * d for d in self.terms]
        return y

    def time(self, i: int) -> float:
        return self.t0 + self.step * (self.k0 + i)

    def reached(self, lp: LevelParams) -> tuple[int, int, float]:
        """:func:`reached` of the path for the rule's levels ``lp``, without the values when none is in reach."""
        first, last = self.first, self.last
        if self.monotone:
            above = lp.above
            # max()/min() of the values: their first extreme (both ends when equal: the same float)
            extreme = (last if last > first else first) if above else (last if last < first else first)
            if extreme != 0.0:  # (a zero extreme: the values say which sign it has)
                for _, thr in lp.thresholds:
                    if extreme >= thr if above else extreme <= thr:
                        break
                else:
                    return 0, -1, extreme
        return reached(self.y, lp, hold_points(lp.for_seconds, self.step))


@dataclass(frozen=True, slots=True)
class _Hot:
    """What the hot path reads of the settings, derived once per settings object (not saved)."""

    p: ForecastParams
    error: bool  # select == "error"
    union: bool  # select == "union"
    lead: float  # select_lead x horizon_s (the lead the models' forecasts are scored at)
    lead32: float  # lead / 32
    confirm: int  # max(1, confirm_readings)
    points: int  # points of a path: horizon_s / step_s + 1
    terms: tuple[float, ...]  # the damped-trend factors right after a reading (offset 0)
    monotone: bool  # ... rise (they do: the Holt path's extreme is one of its ends)

    @staticmethod
    def of(p: ForecastParams) -> _Hot:
        lead = max(p.select_lead * p.horizon_s, 1e-9)
        n = int(p.horizon_s // p.step_s + 0.5) + 1
        terms = damped_terms(0.0, p.damping_s, p.step_s, n)
        return _Hot(p, p.select == "error", p.select == "union", lead, lead / 32, max(1, p.confirm_readings), n,
                    terms, all(a <= b for a, b in zip(terms, terms[1:], strict=False)))


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
        self._unused()

    def _unused(self) -> None:
        """The attributes that are not state: fits finished since (keys, added by the futures' callbacks), and
        what the hot path reads of the settings (derived again when ``p`` is another object)."""
        self._landed: set[str] = set()
        self._hot: _Hot | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_executor"], state["_pending"] = None, {}
        del state["_landed"], state["_hot"]
        state["series"] = {k: replace(s, next_fit=-math.inf) if k in self._pending else s  # refit at next reading
                           for k, s in self.series.items()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._unused()

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
        self._landed.discard(key)  # (before looking: a fit that finishes now is landed again by its callback)
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
            fut = pool.submit(fit_prophet, ts, vals, now, p.refit_every_s + p.horizon_s, p.step_s,
                              changepoint_prior_scale=p.changepoint_prior_scale, n_changepoints=p.n_changepoints,
                              seed=p.seed)
        else:
            if self._executor is None:
                self._executor = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="fenghuo-forecast")
            fut = self._executor.submit(self._fit, ts, vals, now)
        self._pending[key] = fut
        landed = self._landed  # the hot path looks at a series' fit only once it has finished (set.add: atomic)
        fut.add_done_callback(lambda _, key=key: landed.add(key))  # type: ignore[misc]

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
        value = e.value
        if value is None or not math.isfinite(value):
            return []  # the documented rule for gaps: a missing reading is skipped, the models wait
        key = key or e.series
        ts, v, p = e.ts, float(value), self.p
        hot = self._hot
        if hot is None or hot.p is not p:
            hot = self._hot = _Hot.of(p)
        s = self.series.get(key)
        if s is None:
            s = self._state(key)
        if self._landed and key in self._landed:
            self._collect(key, s)
        out: list[Signal] = []
        holt = s.holt
        g = s.grid
        # the grid's value at ts serves both the anomaly test and the path (the grid cannot change in between)
        at = g.at(ts) if g is not None and g.t0 <= ts <= g.end else None
        half: float | None = None  # the Holt half-width at ts, when computed (learn_one needs it too)
        if at is not None:  # (_expected, inlined)
            yhat, width, floor, model = at[0], (at[2] - at[1]) / 2.0, p.min_scale, "prophet"
            width = floor if floor > width else width
        elif holt.n >= 3:
            yhat, half = holt.expect(ts)
            width, model = half, "fallback"
        else:
            model = ""
        if model:
            z = abs(v - yhat) / width / p.anomaly_k
            st = self.anomaly.get(key)
            if st is None:  # not setdefault: that would build a LevelState on every reading
                st = self.anomaly[key] = LevelState()
            last = st.last_value
            if last is None or last < 1.0:  # one reading off the forecast: at most blue
                changed = st.step(ANOMALY, ts, _SINGLE_READING_CAP if _SINGLE_READING_CAP < z else z)
            else:
                changed = st.step(ANOMALY, ts, z)
            if changed is not None:
                out.append(anomaly_signal(e, key, changed, v, (yhat, width, model), z * p.anomaly_k))
        scored = hot.error and self.use_prophet
        made = s.made
        if scored and made and made[0][0] <= ts:  # (most readings: nothing made for now yet)
            self._score(s, ts, v, hot.lead)
        times, vals = s.ts, s.vals
        times.append(ts)
        vals.append(v)
        cut = ts - p.window_s
        while times and times[0] < cut:
            times.popleft()
            vals.popleft()
        holt.learn_one(ts, v, p.robust_k, half)
        fresh = self._prophet_path(s, ts, v, at) if at is not None else None
        held = holt.pending_ts is not None  # the Holt path has not seen this reading yet
        cands: list[tuple[_Path | _HoltPath | None, bool, int]]
        if fresh is not None and not hot.union and not (hot.error and s.err_prophet > s.err_holt >= 0.0):
            cands = [(fresh, False, 0)]  # (no record yet of either model keeps Prophet, as "stale")
        else:  # the Holt path only when it is a candidate
            path = self._holt_lazy(s, ts, hot)
            cands = [(fresh, False, 0), (path, held, 1)] if hot.union else [(path, held, 0)]
        if scored and not (made and ts + hot.lead - made[-1][0] < hot.lead32):  # (_record's own test, first)
            self._record(s, ts, v, at, hot.lead)
        for rule, lp in rules:
            sig = self._judge(e, key, rule, lp, cands, v)
            if sig is not None:
                out.append(sig)
        if self.use_prophet and not ts < s.next_fit and key not in self._pending:  # (_maybe_refit's first test)
            self._maybe_refit(key, s, ts)
        return out

    def _holt_lazy(self, s: _Series, ts: float, hot: _Hot) -> _HoltPath:
        """The Holt path for the next ``horizon_s`` (:meth:`_holt_path`'s floats), its values computed on demand."""
        h, p = s.holt, self.p
        off, tau = ts - h.last_ts, h.damping_s
        if off == 0.0 and tau == p.damping_s:  # right after learning a reading: the factors of the settings
            terms, monotone = hot.terms, hot.monotone
        else:
            terms, monotone = damped_terms(off, tau, p.step_s, hot.points), False
        return _HoltPath(h.level, h.slope * tau, terms, monotone, ts, p.step_s)

    def _lead(self) -> float:
        hot = self._hot
        return hot.lead if hot is not None and hot.p is self.p else max(self.p.select_lead * self.p.horizon_s, 1e-9)

    def _record(self, s: _Series, ts: float, v: float, at: tuple[float, float, float] | None,
                lead: float | None = None) -> None:
        """Keep both models' forecasts for ``ts + lead`` (at most one per lead / 32), to score them then."""
        if lead is None:
            lead = self._lead()
        if s.made and ts + lead - s.made[-1][0] < lead / 32:
            return
        g, target = s.grid, ts + lead
        yp = g.at(target)[0] + (v - at[0]) if g is not None and at is not None and target <= g.end else None
        s.made.append((target, yp, s.holt.predict(target) if s.holt.n >= 3 else None))

    def _score(self, s: _Series, ts: float, v: float, lead: float | None = None) -> None:
        """Each model's absolute error on the forecasts made for now or before (exponential mean, time
        constant ``lead``: the errors of the last lead or so count)."""
        made = s.made
        if not made or made[0][0] > ts:
            return  # (most readings: nothing made for now yet)
        if lead is None:
            lead = self._lead()
        dt, lead32 = s.holt.dt, lead / 32
        gain = 1.0 - math.exp(-(lead32 if lead32 > dt else dt) / lead)  # (max(dt, lead / 32))
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

    def _judge(self, e: Event, key: str, rule: Rule, lp: LevelParams,
               cands: list[tuple[_Path | _HoltPath | None, bool, int]], v: float) -> Signal | None:
        """The warning (or withdrawal) for one rule from the candidate paths (path or None: no such path now,
        held, slot of its recent levels: 0 ``recent``, 1 ``recent_holt``); the highest confirmed level of
        any candidate warns. ``held``: the reading is held out of the Holt path until the next one confirms
        it, so this path is the one before it: neither a confirmation nor a withdrawal."""
        rs = self.rules.get((rule.id, key))
        if rs is None:
            rs = self.rules[(rule.id, key)] = _RuleState()
        state = rs.level
        state.step(lp, e.ts, v)
        actual = state.level
        p = self.p
        warned = rs.warned
        if warned and actual >= warned:
            rs.warned, rs.out_of_reach_since, rs.out_of_reach = 0, None, 0  # fulfilled: the rule itself now speaks
            warned = 0
        hot = self._hot
        n = hot.confirm if hot is not None and hot.p is p else max(1, p.confirm_readings)
        # (confirmed, level, index, path) of the best candidate
        best: tuple[int, int, int, _Path | _HoltPath] | None = None
        level, extreme, model = 0, math.nan, ""
        for path, held, slot in cands:
            if held:
                continue
            recent = rs.recent_holt if slot else rs.recent
            if path is None:  # no path from this model now: it reaches nothing
                lv, i, ext = 0, -1, math.nan
            elif type(path) is _HoltPath:
                lv, i, ext = path.reached(lp)
            else:
                lv, i, ext = reached(path.y, lp, hold_points(lp.for_seconds, path.step))
            recent.append(lv)
            if len(recent) > n:
                del recent[:-n]
            if path is None or (lv == 0 and not warned):  # (nothing to warn of, nothing to withdraw: no signal)
                continue
            conf = min(recent) if len(recent) == n else 0  # reached at each of the last n readings
            if best is None or conf > best[0]:
                best = (conf, lv, i, path)
            if lv > level or not model:
                level, extreme, model = lv, ext, path.model
        if best is None:
            return None
        confirmed, lv, i, path = best
        if confirmed > actual and confirmed > rs.warned:
            hold = hold_points(lp.for_seconds, path.step)
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
