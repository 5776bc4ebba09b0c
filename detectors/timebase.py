"""Alerting in each series' own time base: a score becomes a level the same way on 1 s and on 1 day data.

A fixed time constant suits one sampling rate only: a 6 h hold is 36 readings of a 10-minute gauge and
21,600 readings of a 1 Hz pump sensor (in alarm for ever). Here every timing is a count of the series' own
readings, turned into time with the interval the series is learned to report at (:class:`Cadence`):

- ``warmup``: readings a series learns before it may raise anything;
- ``confirm``: consecutive readings a level above blue must hold before it is raised, so one reading,
  a glitch that the next readings contradict, never raises more than blue;
- ``hold``: intervals a raised level stays after the score last reached it (an anomaly model that scores
  high only at the onset of a long anomaly keeps its alert through short lulls);
- ``clear``: consecutive readings back below blue (minus the hysteresis) before the alert clears;
- ``cooldown``: intervals after a clear during which a new raise needs ``confirm`` readings even for blue;
- ``max_freeze``: readings a raised series may go without learning (``frozen``: the caller does not learn
  while a level is raised, so a long anomaly does not become the new normal; after ``max_freeze`` readings
  it learns again, and a lasting change of level is accepted as the new normal and clears).

>>> t = Timing(warmup=3, confirm=2, hold=2, clear=2)
>>> sl = ScoreLevels((0.6, 0.75, 0.9, 0.98), 0.05, t)
>>> [sl.step(i * 60.0, s, 60.0) for i, s in enumerate([0.1, 0.1, 0.1, 0.99, 0.1, 0.1, 0.1])]
[None, None, None, 1, None, None, 0]

One reading of 0.99 after the warm-up raises blue only (red would need two in a row); two normal readings
and the hold of two intervals clear it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from fenghuo.core import state as saved

MIN_INTERVAL = 1.0
MAX_INTERVAL = 86400.0
DEFAULT_INTERVAL = 60.0  # before a series has shown two readings
GAPS = 31  # the interval is the median of this many recent gaps


@dataclass(slots=True)
class Cadence:
    """The interval a series reports at: the median of its recent gaps, clamped to 1 s .. 1 day.

    >>> c = Cadence()
    >>> for t in [0, 1, 2, 3, 10, 11, 12]:
    ...     c.observe(float(t))
    >>> c.interval, c.last_ts
    (1.0, 12.0)
    """

    last_ts: float | None = None
    gaps: deque[float] = field(default_factory=lambda: deque(maxlen=GAPS))
    median: float = DEFAULT_INTERVAL

    def observe(self, ts: float) -> None:
        """One reading's time (readings at the same time, or late ones, teach nothing)."""
        last = self.last_ts
        if last is not None and ts > last:
            gaps = self.gaps
            if gaps.maxlen != GAPS:  # restored from plain data: re-bound
                gaps = self.gaps = deque(gaps, maxlen=GAPS)
            gap = ts - last
            if len(gaps) == GAPS and gaps[0] == gap:  # (a regular series) it replaces an equal gap: the same median
                gaps.append(gap)
                self.last_ts = ts
                return
            gaps.append(gap)
            ordered = sorted(gaps)
            n = len(ordered)
            self.median = ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] + ordered[n // 2])
        if last is None or ts > last:
            self.last_ts = ts

    @property
    def interval(self) -> float:
        m = self.median  # min(max(median, MIN_INTERVAL), MAX_INTERVAL), without the calls
        m = MIN_INTERVAL if MIN_INTERVAL > m else m
        return MAX_INTERVAL if MAX_INTERVAL < m else m


@dataclass(frozen=True, slots=True)
class Timing:
    """The alerting timings, each a count of the series' own readings or intervals (see the module doc)."""

    warmup: int = 288
    confirm: int = 2
    hold: float = 12.0
    clear: int = 3
    cooldown: float = 0.0
    max_freeze: int = 288

    def check(self) -> None:
        """Raise ValueError on a timing no series could use."""
        if self.warmup < 0 or self.confirm < 1 or self.hold < 0 or self.clear < 1 or self.cooldown < 0 \
                or self.max_freeze < 0:
            raise ValueError("timing: warmup, hold, cooldown and max_freeze must be >= 0, confirm and clear >= 1")

    def seconds(self, interval: float) -> dict[str, float]:
        """The timings in seconds at this interval (for reasons and documentation).

        >>> Timing(hold=12).seconds(1.0)["hold"], Timing(hold=12).seconds(600.0)["hold"]
        (12.0, 7200.0)
        """
        return {"warmup": self.warmup * interval, "confirm": self.confirm * interval, "hold": self.hold * interval,
                "clear": self.clear * interval, "cooldown": self.cooldown * interval}


@dataclass(slots=True)
class ScoreLevels:
    """A score in [0, 1] to a level (0 none, 1 blue .. 4 red) with the timings of :class:`Timing`.

    ``levels`` are the scores of blue, yellow, orange and red; once a level is raised, its threshold
    relaxes by ``hysteresis``. :meth:`step` returns the new level when it changes, else None.
    """

    levels: tuple[float, ...] = (0.6, 0.75, 0.9, 0.98)
    hysteresis: float = 0.05
    timing: Timing = field(default_factory=Timing)
    level: int = 0
    seen: int = 0
    streak: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])  # consecutive readings reaching each level
    last_at: list[float] = field(default_factory=lambda: [float("-inf")] * 5)  # when each level was last reached
    below: int = 0  # consecutive readings below blue
    cleared_at: float = float("-inf")
    raised_for: int = 0  # readings since the level was raised (frozen while < max_freeze)
    peak: float = 0.0  # highest score since the level was raised

    @property
    def frozen(self) -> bool:
        """True while a level is raised and the series has not yet gone ``max_freeze`` readings without learning."""
        return self.level > 0 and self.raised_for < self.timing.max_freeze

    def reached(self, score: float) -> int:
        """The highest level ``score`` reaches now (hysteresis on the levels at or below the current one)."""
        best = 0
        for i, threshold in enumerate(self.levels, start=1):
            slack = self.hysteresis if i <= self.level else 0.0
            if score >= threshold - slack:
                best = i
        return best

    def step(self, ts: float, score: float, interval: float) -> int | None:
        """One reading's score at ``ts`` for a series reporting every ``interval`` seconds."""
        t = self.timing
        self.seen += 1
        if self.seen <= t.warmup:
            return None
        level, hysteresis = self.level, self.hysteresis
        top = 0  # self.reached(score), inlined
        for i, threshold in enumerate(self.levels, start=1):
            if score >= threshold - (hysteresis if i <= level else 0.0):
                top = i
        streak, last_at = self.streak, self.last_at
        if top == 0 and level == 0:  # (the common case: nothing reached, nothing raised; the same as below)
            streak[1] = streak[2] = streak[3] = streak[4] = 0
            self.below += 1
            return None
        for i in range(1, 5):
            if i <= top:
                streak[i] += 1
                last_at[i] = ts
            else:
                streak[i] = 0
        self.below = self.below + 1 if top == 0 else 0
        cooling = ts - self.cleared_at < t.cooldown * interval
        rise = 0
        for i in range(top, 0, -1):
            need = 1 if i == 1 and not cooling else t.confirm
            if streak[i] >= need:
                rise = i
                break
        hold_s = t.hold * interval
        held = 0
        for i in range(self.level, 0, -1):
            if ts - last_at[i] <= hold_s:
                held = i
                break
        new = max(rise, held)
        if new == 0 and self.level > 0 and self.below < t.clear:
            new = self.level  # not cleared yet: the level stays until ``clear`` readings are normal
        if self.level > 0:
            self.raised_for += 1
            self.peak = max(self.peak, score)
        if new == self.level:
            return None
        if new == 0:
            self.cleared_at, self.raised_for, self.peak = ts, 0, 0.0
        elif self.level == 0:
            self.raised_for, self.peak = 0, score
        self.level = new
        return new


saved.register("timebase.cadence", Cadence)
saved.register("timebase.timing", Timing)
saved.register("timebase.score-levels", ScoreLevels)
