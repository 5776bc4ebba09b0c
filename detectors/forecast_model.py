"""Forecast models for early warning (a precomputed grid, Prophet, a cheap Holt fallback) and their signals.

A model's output is a :class:`ForecastGrid`: ``yhat``, ``lower``, ``upper`` on a regular grid
(10 minutes by default) from the fit time to the horizon, so the hot path only looks values up.

* :func:`fit_prophet` fits Prophet (0.1-1 s per series) on a window of history. Its interval
  comes from the in-sample residuals, not from Prophet's sampling (``uncertainty_samples=0``):
  Prophet draws that from numpy's global random state, which is neither deterministic nor
  thread-safe, and sampling costs more than the fit.
* :class:`HoltTrend` is the fallback: Holt's linear trend on irregular times, updated in O(1)
  per reading, with a damped trend for the forecast (a slope that lasts ``damping_s``
  seconds, fading exponentially) and a random-walk widening interval.

>>> h = HoltTrend()
>>> for i in range(12):
...     h.learn_one(i * 600.0, 1.0 + 0.1 * i)
>>> g = h.forecast(6600.0, 3600.0)
>>> round(float(g.at(6600.0 + 3600.0)[0]), 2) > 2.1
True
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from fenghuo.core import state as saved
from fenghuo.core.config import Rule
from fenghuo.core.levels import Level
from fenghuo.core.models import Certainty, Event, Risk, Signal
from fenghuo.detectors.hysteresis import LevelParams

Z80 = 1.2816  # the half-width of an 80 % normal interval, in sigmas (Prophet's default width)
# forecast-anomaly levels on |reading - forecast| / (anomaly_k x half-width): blue 1, yellow 2, orange 4
ANOMALY = LevelParams(((1, 1.0), (2, 2.0), (3, 4.0)), above=True, for_seconds=0.0, hysteresis=0.25)


@dataclass(frozen=True, slots=True)
class ForecastParams:
    """Settings of :class:`fenghuo.detectors.forecast.ForecastWarner` (times in seconds of event time)."""

    model: Literal["prophet", "fallback"] = "prophet"
    refit_mode: Literal["inline", "background", "process"] = "process"
    horizon_s: float = 3 * 3600.0
    step_s: float = 600.0
    refit_every_s: float = 6 * 3600.0
    window_s: float = 3 * 86400.0
    min_history_s: float = 86400.0
    max_points: int = 3 * 144 * 3  # bound on history (10-min data: 3 x the window)
    anomaly_k: float = 4.0
    stale_k: float = 3.0
    withdraw_after_s: float = 0.0  # and at least this long out of reach (besides ``withdraw_readings``)
    alpha: float = 0.6
    beta: float = 0.25
    damping_s: float = 3 * 3600.0
    min_scale: float = 0.01
    changepoint_prior_scale: float = 0.5
    n_changepoints: int = 12  # one per 6 h on a 3-day window (Prophet's 25 doubles the fit time)
    seed: int = 0
    # glitches (issue 11, item 3): a warning needs its level reached (held for the rule's for_seconds) by the
    # path at ``confirm_readings`` consecutive readings; one out of reach at ``withdraw_readings`` consecutive
    # readings (and for at least ``withdraw_after_s``) is withdrawn; the Holt trend learns a reading more than
    # ``robust_k`` half-widths off its forecast only once the next reading sides with it (0: at once).
    # New fields go last, with defaults: a previous release's pickle gives the fields in order.
    confirm_readings: int = 2
    withdraw_readings: int = 3
    robust_k: float = 4.0
    # which path warns (model "prophet"): "stale" Prophet's grid while the reading is within ``stale_k`` of it,
    # else Holt; "error" of those, the model whose forecasts ``select_lead`` x ``horizon_s`` ahead have had the
    # smaller recent absolute error (an exponential mean with a time constant of that lead); "union" either
    # model's confirmed path (docs/benchmarks-forecast.md)
    select: Literal["stale", "error", "union"] = "error"
    select_lead: float = 0.5

    def __setstate__(self, state: Any) -> None:
        fill_slots(self, state)


@dataclass(frozen=True, slots=True)
class ForecastGrid:
    """A forecast on a regular grid: ``t0 + i * step`` for i in 0..n-1 (epoch seconds)."""

    model: str
    fitted_at: float
    t0: float
    step: float
    yhat: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    fit_seconds: float = 0.0

    @property
    def end(self) -> float:
        return self.t0 + self.step * (len(self.yhat) - 1)

    def index(self, ts: float) -> int:
        """The grid point at or just after ``ts`` (clamped to the grid)."""
        i = math.ceil((ts - self.t0) / self.step - 1e-9)
        return min(max(i, 0), len(self.yhat) - 1)

    def at(self, ts: float) -> tuple[float, float, float]:
        """(yhat, lower, upper) at ``ts``, linearly interpolated, clamped to the grid."""
        x = min(max((ts - self.t0) / self.step, 0.0), len(self.yhat) - 1.0)
        i = min(int(x), len(self.yhat) - 2) if len(self.yhat) > 1 else 0
        f = x - i if len(self.yhat) > 1 else 0.0
        j = min(i + 1, len(self.yhat) - 1)
        return tuple(float(a[i] + (a[j] - a[i]) * f) for a in (self.yhat, self.lower, self.upper))  # type: ignore[return-value]

    def window(self, start: float, horizon_s: float) -> tuple[list[float], list[float]]:
        """Grid times and yhat from ``start`` to ``start + horizon_s`` (the part the grid covers)."""
        i, j = self.index(start), self.index(start + horizon_s)
        return [self.t0 + self.step * k for k in range(i, j + 1)], self.yhat[i:j + 1].tolist()


@dataclass(slots=True)
class HoltTrend:
    """Holt's linear trend for irregular times (the cheap fallback model).

    ``alpha`` smooths the level, ``beta`` the slope (per second); ``scale`` is an exponential
    mean of absolute one-step errors (x 1.25 ~ sigma for normal errors), floored at
    ``min_scale`` so a flat gauge reading in centimetres does not make every step a surprise.

    Robust to a one-sample spike: a reading more than ``robust_k`` half-widths off the forecast is
    held, not learned (level, slope and error scale stay as they were, so the path does not
    extrapolate it); the next reading decides: closer to the held value than to the forecast, both
    are learned (a real jump); else the held one is dropped (a glitch). ``robust_k`` (an argument of
    :meth:`learn_one`, the warner's setting) 0 learns every reading at once.

    >>> h = HoltTrend()
    >>> for i in range(10):
    ...     h.learn_one(i * 60.0, 1.0, robust_k=4.0)
    >>> h.learn_one(600.0, 6.0, robust_k=4.0)  # a glitch: held
    >>> h.held, h.level
    (True, 1.0)
    >>> h.learn_one(660.0, 1.0, robust_k=4.0)  # contradicted by the next reading: dropped
    >>> h.held, h.level, h.slope
    (False, 1.0, 0.0)
    """

    alpha: float = 0.6
    beta: float = 0.25
    damping_s: float = 3 * 3600.0
    min_scale: float = 0.01
    gain: float = 0.05
    level: float = math.nan
    slope: float = 0.0
    mae: float = 0.0
    last_ts: float = math.nan
    dt: float = 600.0
    n: int = 0
    pending_ts: float | None = None  # a reading held until the next one confirms it (robust_k > 0)
    pending_v: float = 0.0

    def __setstate__(self, state: Any) -> None:
        fill_slots(self, state)

    @property
    def held(self) -> bool:
        """Whether the last reading is held, waiting for the next one to confirm it."""
        return self.pending_ts is not None

    def predict(self, ts: float) -> float:
        """The point forecast at ``ts`` (damped trend)."""
        h = max(ts - self.last_ts, 0.0)
        return self.level + self.slope * self.damping_s * (1.0 - math.exp(-h / self.damping_s))

    @property
    def sigma(self) -> float:
        return max(1.25 * self.mae, self.min_scale)

    def half_width(self, h: float) -> float:
        """80 % interval half-width ``h`` seconds ahead (random-walk widening)."""
        return Z80 * self.sigma * math.sqrt(max(1.0, h / self.dt))

    def expect(self, ts: float) -> tuple[float, float]:
        """(:meth:`predict`, :meth:`half_width`) for a reading at ``ts``, in one call: the hot path's (the same
        float operations in the same order, written without the calls and ``max()`` of two floats)."""
        off = ts - self.last_ts
        tau = self.damping_s
        yhat = self.level + self.slope * tau * (1.0 - math.exp(-(0.0 if 0.0 > off else off) / tau))
        s, floor = 1.25 * self.mae, self.min_scale
        r = off / self.dt
        return yhat, Z80 * (floor if floor > s else s) * math.sqrt(r if r > 1.0 else 1.0)

    def learn_one(self, ts: float, value: float, robust_k: float = 0.0, half_width: float | None = None) -> None:
        """Learn a reading (held first if it is more than ``robust_k`` half-widths off: see the class doc).
        ``half_width``: this reading's :meth:`half_width` when the caller has just computed it (spares the hot
        path computing it twice; only used before anything was learned or dropped)."""
        n = self.n
        if n == 0:
            self.level, self.last_ts, self.n = value, ts, 1
            return
        dt = ts - self.last_ts
        if dt <= 0:  # a repeated timestamp: take the newer value as the level
            self.level = value
            return
        if robust_k > 0 and n >= 3:
            if self.pending_ts is None:  # the common case, inlined: the robust test, then _update's arithmetic
                level, slope = self.level, self.slope
                pred = level + slope * dt
                err = value - pred
                if half_width is None:
                    half_width = self.half_width(dt)
                if abs(err) > robust_k * half_width:
                    self.pending_ts, self.pending_v = ts, value
                    return
                gain = self.gain
                self.mae = (1 - gain) * self.mae + gain * abs(err)
                new_level = pred + self.alpha * err
                beta = self.beta
                self.slope = beta * (new_level - level) / dt + (1 - beta) * slope
                self.level, self.last_ts = new_level, ts
                self.dt = 0.9 * self.dt + 0.1 * (21600.0 if 21600.0 < dt else dt)  # (n > 1: min(dt, 6 h))
                self.n = n + 1
                return
            held_ts, held_v = self.pending_ts, self.pending_v  # (held: the next reading decides)
            self.pending_ts, self.pending_v = None, 0.0
            # (the held reading repeated, ts == held_ts: the newer value is judged afresh)
            if ts != held_ts and abs(value - held_v) <= abs(value - (self.level + self.slope * dt)):
                self._update(held_ts, held_v)  # confirmed: a real jump, learn both
                self._update(ts, value)
                return
            # dropped: its error, clipped at the hold limit, still widens the scale (Huber), so a sensor that
            # turned noisier is learned within a few readings instead of having every reading held
            h = held_ts - self.last_ts
            lim = robust_k * self.half_width(h)
            self.mae = (1 - self.gain) * self.mae + self.gain * min(abs(held_v - self.predict(held_ts)), lim)
            if abs(value - (self.level + self.slope * dt)) > robust_k * self.half_width(dt):
                self.pending_ts, self.pending_v = ts, value
                return
        self._update(ts, value)

    def _update(self, ts: float, value: float) -> None:
        dt = ts - self.last_ts
        pred = self.level + self.slope * dt
        err = value - pred
        self.mae = abs(err) if self.n == 1 else (1 - self.gain) * self.mae + self.gain * abs(err)
        new_level = pred + self.alpha * err
        self.slope = self.beta * (new_level - self.level) / dt + (1 - self.beta) * self.slope
        self.level, self.last_ts = new_level, ts
        self.dt = 0.9 * self.dt + 0.1 * min(dt, 6 * 3600.0) if self.n > 1 else dt
        self.n += 1

    def path(self, now: float, horizon_s: float, step: float = 600.0) -> tuple[list[float], list[float]]:
        """Times and point forecasts from ``now`` to ``now + horizon_s`` (the hot path: plain floats)."""
        n = int(horizon_s // step + 0.5) + 1
        times = [now + step * i for i in range(n)]
        return times, self.path_values(now, horizon_s, step)

    def path_values(self, now: float, horizon_s: float, step: float = 600.0) -> list[float]:
        """The point forecasts of :meth:`path` without the times."""
        n = int(horizon_s // step + 0.5) + 1
        level, amp = self.level, self.slope * self.damping_s
        return [level + amp * d for d in damped_terms(now - self.last_ts, self.damping_s, step, n)]

    def forecast(self, now: float, horizon_s: float, step: float = 600.0) -> ForecastGrid:
        """The grid from ``now`` to ``now + horizon_s``, with its interval."""
        hs = np.arange(0.0, horizon_s + step / 2, step) + (now - self.last_ts)
        hs = np.maximum(hs, 0.0)
        yhat = self.level + self.slope * self.damping_s * (1.0 - np.exp(-hs / self.damping_s))
        half = Z80 * self.sigma * np.sqrt(np.maximum(1.0, hs / self.dt))
        return ForecastGrid("fallback", now, now, step, yhat, yhat - half, yhat + half)


_DAMPED: dict[tuple[float, float, float, int], tuple[float, ...]] = {}


def damped_terms(off: float, tau: float, step: float, n: int) -> tuple[float, ...]:
    """``1 - exp(-max(off + step * i, 0) / tau)`` for i in 0..n-1, memoised.

    The damped-trend factors of :meth:`HoltTrend.path`. Right after a reading ``off`` is 0 and
    they depend on the settings only, so the hot path would compute the same ``n`` exponentials
    for every reading; the memo computes them once (the same expression, so the same floats).
    Bounded: cleared when it grows past a few hundred keys (odd offsets after repeated times).
    """
    key = (off, tau, step, n)
    terms = _DAMPED.get(key)
    if terms is None:
        if len(_DAMPED) >= 256:
            _DAMPED.clear()
        terms = _DAMPED[key] = tuple(1.0 - math.exp(-max(off + step * i, 0.0) / tau) for i in range(n))
    return terms


def prophet_available() -> bool:
    """Whether Prophet imports here (it is an optional dependency)."""
    _quiet()
    try:
        import prophet  # noqa: F401
    except ImportError:
        return False
    _quiet()  # cmdstanpy configures its logger when imported
    return True


def _quiet() -> None:
    """Silence Prophet's and cmdstanpy's loggers and Prophet's own pandas deprecation warnings.

    The filters are process-wide and narrow (warnings attributed to ``prophet.*``), installed
    before every fit rather than inside ``warnings.catch_warnings``: that context manager saves
    and restores the global filter list, so fits in two threads would undo each other's filters.
    """
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"prophet(\..*)?$")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"prophet(\..*)?$")
    for name in ("prophet", "prophet.plot", "cmdstanpy"):
        log = logging.getLogger(name)
        log.setLevel(logging.CRITICAL)
        log.propagate = False
        if not log.handlers:  # cmdstanpy adds its own stream handler to a logger without one
            log.addHandler(logging.NullHandler())


def fit_prophet(ts: np.ndarray, values: np.ndarray, now: float, horizon_s: float, step: float = 600.0,
                changepoint_prior_scale: float = 0.5, n_changepoints: int = 12, daily: bool = True,
                seed: int = 0) -> ForecastGrid:
    """Fit Prophet on (ts, values) and precompute the grid from ``now`` to ``now + horizon_s``.

    The interval is ``Z80 x`` the in-sample residual sigma, widened like a random walk over the
    horizon (Prophet's own interval needs sampling: see the module docstring).
    """
    _quiet()
    import pandas as pd
    from prophet import Prophet
    _quiet()
    started = time.perf_counter()
    df = pd.DataFrame({"ds": pd.to_datetime(ts, unit="s"), "y": values})
    span = float(ts[-1] - ts[0]) if len(ts) else 0.0
    m = Prophet(growth="linear", changepoint_prior_scale=changepoint_prior_scale, n_changepoints=n_changepoints,
                daily_seasonality=daily and span >= 2 * 86400.0, weekly_seasonality=False,
                yearly_seasonality=False, uncertainty_samples=0)
    m.fit(df, seed=seed)
    grid = now + step * np.arange(0, int(horizon_s // step) + 1)
    fut = pd.DataFrame({"ds": pd.to_datetime(np.concatenate([ts, grid]), unit="s")})
    pred = m.predict(fut)["yhat"].to_numpy(dtype=float)
    resid = values - pred[: len(ts)]
    sigma = max(float(np.std(resid)), 1e-6)
    dt = float(np.median(np.diff(ts))) if len(ts) > 1 else step
    yhat = pred[len(ts):]
    half = Z80 * sigma * np.sqrt(np.maximum(1.0, (grid - ts[-1]) / dt))
    return ForecastGrid("prophet", now, now, step, yhat, yhat - half, yhat + half,
                        fit_seconds=time.perf_counter() - started)


def predicted(path_t: list[float], path_y: list[float], p: LevelParams) -> tuple[int, float, float]:
    """(highest level the path reaches, when it first reaches it, the path's extreme); level 0 if none.

    Plain lists: a path has a few dozen points, where numpy's per-call cost dominates.

    >>> p = LevelParams(((1, 3.0), (4, 4.5)))
    >>> predicted([0.0, 600.0, 1200.0], [2.0, 3.2, 4.6], p)
    (4, 1200.0, 4.6)
    """
    level, i, extreme = reached(path_y, p)
    return level, (path_t[i] if level else math.nan), extreme


def reached(path_y: list[float], p: LevelParams, hold: int = 0) -> tuple[int, int, float]:
    """:func:`predicted` by index: (highest level, index of the first point reaching it or -1, extreme).

    With ``hold`` > 0 points (the rule's ``for_seconds`` on the path's step, :func:`hold_points`) a level
    counts only where the path stays at or beyond its threshold for ``hold`` further points, as the rule
    itself needs; the index is then where the rule would enter it (the end of that run's first ``hold``).

    >>> p = LevelParams(((1, 3.0), (4, 4.5)), for_seconds=600)
    >>> reached([2.0, 4.6, 2.0, 3.1, 3.2], p, hold=1)  # 4.6 for one point only: not red
    (1, 4, 4.6)
    """
    if not path_y:
        return 0, -1, math.nan
    above = p.above
    extreme = max(path_y) if above else min(path_y)
    for level, thr in reversed(p.thresholds):
        if extreme >= thr if above else extreme <= thr:
            run = 0
            for i, y in enumerate(path_y):
                run = run + 1 if (y >= thr if above else y <= thr) else 0
                if run > hold:
                    return level, i, extreme
    return 0, -1, extreme


def hold_points(for_seconds: float, step: float) -> int:
    """Path points after the first that a level must hold for to last ``for_seconds`` on a ``step`` grid.

    >>> hold_points(600.0, 600.0), hold_points(0.0, 600.0), hold_points(900.0, 600.0)
    (1, 0, 2)
    """
    return max(0, math.ceil(for_seconds / step - 1e-9)) if step > 0 else 0


def fill_slots(obj: Any, state: Any) -> None:
    """``__setstate__`` of a slotted dataclass that reads a pickle written before it gained fields: the
    fields the pickle lacks take their defaults (dataclasses' own ``__setstate__`` would leave them unset)."""
    import dataclasses

    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
        state = {**(state[0] or {}), **state[1]}  # object's own pickle state of a slotted object: (dict, slots)
    fields = dataclasses.fields(obj)
    values = list(state) if isinstance(state, (list, tuple)) else [state.get(f.name, dataclasses.MISSING)
                                                                   for f in fields]
    for i, f in enumerate(fields):
        v = values[i] if i < len(values) else dataclasses.MISSING
        if v is dataclasses.MISSING:
            v = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        object.__setattr__(obj, f.name, v)


def _base(e: Event, key: str) -> dict[str, Any]:
    return {"feed": e.feed, "grid": e.grid, "series": key, "source": e.source, "ts": e.ts, "drill": e.drill}


def forecast_signal(e: Event, key: str, rule: Rule, level: Level, at: float, value: float, model: str,
                    fitted_at: float, actual: int, horizon_s: float) -> Signal:
    """The early warning: ``level`` expected at ``at`` (``actual`` is the level observed now)."""
    mins = max(0, round((at - e.ts) / 60.0))
    reason = (f"{rule.id}: {level.name_zh}预计 {mins} 分钟后 / {level.name_en} expected in {mins} min "
              f"(forecast {value:.3g}, {model})")
    ev = {"event": e.id, "observed": e.value, "metric": e.metric, "predicted_at": at,
          "predicted_level": level.name_en, "predicted_value": value, "horizon_s": horizon_s,
          "fitted_at": fitted_at, "model": model, "kind": "forecast", "observed_level": actual}
    return Signal(detector="forecast", rule=rule.id, risk=Risk(rule.risk_type), level=level, score=value,
                  reason=reason, evidence=ev, kind="forecast", certainty=Certainty.LIKELY, **_base(e, key))


def withdraw_signal(e: Event, key: str, rule: Rule, actual: int, extreme: float, model: str,
                    horizon_s: float) -> Signal:
    """A warning withdrawn: back to the observed level (None when nothing is observed)."""
    level = Level(actual) if actual else None
    reason = (f"{rule.id}: 预报解除 / forecast withdrawn (peak now expected {extreme:.3g} within "
              f"{horizon_s / 3600:g} h, {model})")
    ev = {"event": e.id, "observed": e.value, "metric": e.metric, "withdrawn": True, "predicted_value": extreme,
          "horizon_s": horizon_s, "model": model, "kind": "forecast"}
    return Signal(detector="forecast", rule=rule.id, risk=Risk(rule.risk_type), level=level, score=extreme,
                  reason=reason, evidence=ev, kind="forecast", certainty=Certainty.LIKELY, **_base(e, key))


def anomaly_signal(e: Event, key: str, changed: int, v: float, exp: tuple[float, float, str], k: float) -> Signal:
    """A reading ``k`` half-widths off the forecast ``exp`` (yhat, half-width, model); level 0 clears."""
    level = Level(changed) if changed else None
    what = f"{k:.1f} x the interval half-width off the forecast {exp[0]:.3g}" if level else "back near forecast"
    ev = {"event": e.id, "observed": v, "metric": e.metric, "expected": exp[0], "half_width": exp[1],
          "model": exp[2], "k": k}
    return Signal(detector="forecast-anomaly", rule="forecast-anomaly", risk=Risk.SAFETY, level=level, score=k,
                  reason=f"forecast-anomaly: {v:.3g} is {what} ({exp[2]})", evidence=ev,
                  kind="level" if level else "clear", **_base(e, key))


saved.register("forecast.params", ForecastParams)
saved.register("forecast.grid", ForecastGrid)
saved.register("forecast.holt", HoltTrend)
