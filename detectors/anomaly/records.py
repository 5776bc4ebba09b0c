"""Record-breaking ("new extreme") signals over a rolling window, and the detector built on them.

A value that leaves the range of the last ``window`` points is surprising on its own, and the
surprise is self-calibrating: on any stream, records of a stationary signal get rarer as the
window fills, so one corpus-wide threshold works for every stream. :class:`RollingRecord`
scores such records by how far they leave the range and how long ago the previous one was.
:class:`RecordFusion` applies it to the value itself (a spatial anomaly), to a short moving
average of the value (a level shift) and to the smoothed contextual surprise of
:class:`~fenghuo.detectors.anomaly.context.ContextSurprise` (a change of shape or rhythm inside the
normal range), optionally to the residual from a daily or weekly profile
(:class:`~fenghuo.detectors.anomaly.seasonal.SeasonalGate`, a changed seasonal shape) and to the value
against a short window (a spike out of a quiet stretch, far above the recent range although
inside the long one), and reports the largest.
"""

from __future__ import annotations

import math
from collections import deque
from math import isfinite

from fenghuo.core import state as saved
from fenghuo.detectors.anomaly._window import ScoreThenLearn
from fenghuo.detectors.anomaly.context import ContextSurprise
from fenghuo.detectors.anomaly.seasonal import SeasonalGate
from fenghuo.detectors.base import check_value


class RollingRecord:
    """Score how far ``x`` breaks the range of the last ``window`` values, in {0} or [0.5, 1].

    A record scores ``0.5 + 0.5 * (1 - exp(-gap / tau)) * r / (r + scale)``: ``r`` is the excess
    over the range as a fraction of the range (or of an external ``unit``, see :meth:`score`),
    ``gap`` the number of points since the previous record (so a run of records raises one early
    alarm). Rolling min and max are monotonic deques, O(1) amortised per point.

    Parameters
    ----------
    window
        Number of previous values the range is taken over.
    tau
        Rarity scale in points (larger: a record soon after another counts for less).
    both
        Score records on both sides (else only new maxima).
    warmup
        Points to learn before scoring anything above 0.
    scale
        Relative excess at which a record scores half-way (larger: only large excesses score
        high; the corpus-wide threshold then passes only them).

    Examples
    --------
    >>> rec = RollingRecord(window=100, warmup=5)
    >>> for i in range(200):
    ...     rec.learn(float(i % 10))
    >>> rec.score(5.0), rec.score(9.0), rec.score(20.0) > 0.9
    (0.0, 0.0, True)
    """

    def __init__(self, window: int = 5000, tau: float = 10.0, both: bool = True, warmup: int = 50,
                 scale: float = 0.1) -> None:
        self.window = window
        self.tau = tau
        self.both = both
        self.warmup = warmup
        self.scale = scale
        self._max: deque[tuple[int, float]] = deque()
        self._min: deque[tuple[int, float]] = deque()
        self._gap = 0
        self._n = 0

    def span(self) -> float:
        """Width of the rolling range (0 when empty)."""
        return self._max[0][1] - self._min[0][1] if self._max else 0.0

    def excess(self, x: float, unit: float | None = None) -> float:
        """How far ``x`` leaves the rolling range, as a fraction of the range or of ``unit``
        (<= 0 inside, -1 when empty; +-1 when the unit is 0)."""
        if not self._max:
            return -1.0
        hi = self._max[0][1]
        lo = self._min[0][1]
        exc = max(x - hi, lo - x) if self.both else x - hi
        span = hi - lo if unit is None else unit
        if span > 0.0:
            return exc / span
        return 1.0 if exc > 0.0 else -1.0

    def score(self, x: float, unit: float | None = None) -> float:
        """Record score of ``x`` (0 inside the range); does not learn.

        ``unit``, if given, replaces the range as the measure of the excess (e.g. the range of the
        raw values for a record of their moving average, so both are judged in the same units).
        """
        if self._n < self.warmup or not self._max:
            return 0.0
        # excess() inlined (the same arithmetic): score() runs several times per reading
        hi, lo = self._max[0][1], self._min[0][1]
        exc = x - hi
        if self.both:
            below = lo - x
            if below > exc:  # max(exc, below), ties keep exc as max() does
                exc = below
        span = hi - lo if unit is None else unit
        r = exc / span if span > 0.0 else (1.0 if exc > 0.0 else -1.0)
        if r <= 0.0:
            return 0.0
        return 0.5 + 0.5 * (1.0 - math.exp(-self._gap / self.tau)) * r / (r + self.scale)

    def learn(self, x: float) -> None:
        """Add ``x`` to the window (evicting the oldest) and update the gap since a record."""
        # The hot path of every records detector: excess() is inlined (same arithmetic, so the same
        # gap) and the deques are bound to locals once.
        mx, mn = self._max, self._min
        if mx:
            hi, lo = mx[0][1], mn[0][1]
            exc = x - hi
            if self.both:
                below = lo - x
                if below > exc:  # max(exc, below), ties keep exc as max() does
                    exc = below
            span = hi - lo
            record = exc / span > 0.0 if span > 0.0 else exc > 0.0
            self._gap = 0 if record else self._gap + 1
        else:
            self._gap += 1
        i = self._n
        while mx and mx[-1][1] <= x:
            mx.pop()
        mx.append((i, x))
        while mn and mn[-1][1] >= x:
            mn.pop()
        mn.append((i, x))
        old = i - self.window
        if mx[0][0] <= old:
            mx.popleft()
        if mn[0][0] <= old:
            mn.popleft()
        self._n = i + 1


# What RecordFusion._prepare derives from one reading, a plain tuple (cheaper to build than a
# NamedTuple on the hot path): ts, value, the context keys and the level (sym) of the reading in
# the ContextSurprise member, its raw surprise, the mean of the recent surprises with it, the mean
# of the recent values with it (0 without a level record), and per seasonal profile (phase,
# residual, smoothed signal).
_Prepared = tuple[float, float, list[tuple[int, ...] | None], int, float, float, float,
                  list[tuple[int, float | None, float | None]]]


class RecordFusion(ScoreThenLearn):
    """Max of a rolling value record and a record of the smoothed contextual surprise.

    Parameters
    ----------
    window
        Rolling window (points) of both record signals.
    smooth
        Number of recent contextual surprises averaged before the record test.
    level_smooth
        If > 0, a third record signal: the mean of the last ``level_smooth`` values (a level
        shift too small for a single point to leave the range).
    buckets, order, phases
        Discretisation, context length and day phases of the :class:`ContextSurprise` member.
    context_warmup
        Points before smoothed surprises enter the context record's window (0: from the start,
        so the high surprise of the model's own learning phase sets a high bar; on NAB, a later
        start cost points).
    tau
        Rarity scale of both record signals.
    seasonal
        If given, one more record signal per seasonal profile (upper side): the smoothed
        residual from the daily or weekly profile of
        :class:`~fenghuo.detectors.anomaly.seasonal.SeasonalGate`, reported only for the profile that
        explains the stream (a changed daily or weekly shape inside the normal range).
    value_units
        Measure the excess of the level and seasonal records in units of the range of the raw
        values (the value record's window) instead of their own range. A moving average or a
        mean residual varies much less than the values, so against its own range a tiny
        wobble is a large relative excess; in value units all value-scale records share one
        yardstick.
    local_window
        If > 0, one more record (upper side): the value against the range of only the last
        ``local_window`` points, scored with ``local_scale`` (a spike out of a quiet stretch).
    local_scale
        Half-score relative excess of the local record. Large (50): a new local maximum counts
        only when it leaves the recent range by a multiple of that range.
    name
        Registry name.

    Examples
    --------
    >>> det = RecordFusion(window=500, smooth=20)
    >>> for i in range(600):
    ...     det.learn_one(i * 60.0, float(i % 6))
    >>> det.score_one(36000.0, 0.0), det.score_one(36000.0, 50.0) > 0.9
    (0.0, True)
    """

    def __init__(self, window: int = 5000, smooth: int = 120, level_smooth: int = 30, buckets: int = 8,
                 order: int = 2, phases: int = 0, context_warmup: int = 0, tau: float = 10.0,
                 seasonal: SeasonalGate | None = None, value_units: bool = False, local_window: int = 0,
                 local_scale: float = 50.0, name: str = "records") -> None:
        self.name = name
        self.smooth = smooth
        self.level_smooth = level_smooth
        self.context = ContextSurprise(buckets=buckets, order=order, phases=phases)
        self.value_record = RollingRecord(window=window, tau=tau, both=True)
        self.level_record = RollingRecord(window=window, tau=tau, both=True)
        self.context_record = RollingRecord(window=window, tau=tau, both=False)
        self.context_warmup = context_warmup
        self.seasonal = seasonal
        self.seasonal_records = ([RollingRecord(window=window, tau=tau, both=False) for _ in seasonal.profiles]
                                 if seasonal is not None else [])
        self.value_units = value_units
        self.local_record = (RollingRecord(window=local_window, tau=tau, both=False, scale=local_scale)
                             if local_window > 0 else None)
        self._recent: deque[float] = deque()
        self._values: deque[float] = deque()
        self._n = 0
        self._prepared: _Prepared | None = None

    # score_one and learn_one of the same reading (the order every caller uses: score, then learn)
    # need the same derived quantities (surprise, moving means, seasonal residuals), each a sum
    # over a window. score_one computes them once and learn_one reuses them when it gets the same
    # (ts, value): nothing can change in between, since only learn_one changes the state. The
    # cache is no part of the state: saved states leave it out, so score_one still changes no state.

    def _smoothed(self, raw: float) -> float:
        """Mean of the last ``smooth`` raw surprises, the current one included."""
        n = len(self._recent)
        if n < self.smooth:
            return (sum(self._recent) + raw) / (n + 1)
        return (sum(self._recent) - self._recent[0] + raw) / n

    def _level(self, value: float) -> float:
        """Mean of the last ``level_smooth`` values, the current one included."""
        n = len(self._values)
        if n < self.level_smooth:
            return (sum(self._values) + value) / (n + 1)
        return (sum(self._values) - self._values[0] + value) / n

    def _prepare(self, ts: float, value: float) -> _Prepared:
        """The derived quantities of a checked reading, from the state before it is learned."""
        prep = self._prepared
        if prep is not None and prep[0] == ts and prep[1] == value:
            return prep
        ctx = self.context
        keys = ctx._contexts(ts)
        sym = ctx.level(value)
        raw = 0.0 if ctx._n < ctx.warmup else ctx._surprise_of(keys, sym)
        level = self._level(value) if self.level_smooth > 0 else 0.0
        seasonal: list[tuple[int, float | None, float | None]] = []
        if self.seasonal is not None:
            for profile in self.seasonal.profiles:
                phase, resid = profile._residual_at(ts, value)
                seasonal.append((phase, resid, profile._smoothed(resid)))
        prep = self._prepared = (ts, value, keys, sym, raw, self._smoothed(raw), level, seasonal)
        return prep

    def score_one(self, ts: float, value: float) -> float:
        """Score in {0} or [0.5, 1]; does not learn."""
        if type(value) is not float or not isfinite(value):  # check_value's cost only where it can act
            value = check_value(value)
        _, _, _, _, _, smoothed, level, seasonal = self._prepare(ts, value)
        unit = self.value_record.span() if self.value_units else None
        score = max(self.value_record.score(value), self.context_record.score(smoothed))
        if self.level_smooth > 0:
            score = max(score, self.level_record.score(level, unit))
        if self.seasonal is not None:
            best = self.seasonal.best()
            if best >= 0:
                sig = seasonal[best][2]
                if sig is not None:
                    score = max(score, self.seasonal_records[best].score(sig, unit))
        if self.local_record is not None:
            score = max(score, self.local_record.score(value))
        return score

    def learn_one(self, ts: float, value: float) -> None:
        """Learn the value in the records and the context model."""
        if type(value) is not float or not isfinite(value):
            value = check_value(value)
        _, _, keys, sym, raw, smoothed, level, seasonal = self._prepare(ts, value)
        self._prepared = None
        if self._n >= self.context_warmup:
            self.context_record.learn(smoothed)
        self._recent.append(raw)
        if len(self._recent) > self.smooth:
            self._recent.popleft()
        self.value_record.learn(value)
        if self.local_record is not None:
            self.local_record.learn(value)
        if self.level_smooth > 0:
            self.level_record.learn(level)
            self._values.append(value)
            if len(self._values) > self.level_smooth:
                self._values.popleft()
        self.context._learn_keys(value, keys, sym)
        if self.seasonal is not None:
            for profile, rec, (phase, resid, sig) in zip(self.seasonal.profiles, self.seasonal_records, seasonal,
                                                         strict=True):
                if sig is not None:
                    rec.learn(sig)
                profile._learn_at(ts, value, phase, resid)
        self._n += 1


# saved state: plain data (fenghuo.core.state), under a tag that survives renaming the class
saved.register("anomaly.rolling-record", RollingRecord)
saved.register("anomaly.record-fusion", RecordFusion)
