"""Sensor health: a series that stops reporting (``sensor-silent``) or repeats one value for far longer than
it ever did (``sensor-stuck``), and holding back the anomaly alerts of such a sensor.

Every sensor series (a source's metric; a drill's apart, as in the anomaly detector) learns the interval it
reports at (:class:`fenghuo.detectors.timebase.Cadence`: the median of its recent gaps, clamped to 1 s ..
1 day) and the longest run of one repeated value it usually shows.

- **Silent**: no reading for more than ``silent_after`` intervals (and at least ``silent_min_s``) raises a
  ``sensor-silent`` safety alert at ``silent_level``, or at ``silent_high_level`` when the gauge went silent
  while high (its last value at or beyond the blue level of a threshold rule that applies to it: in a flood
  a gauge that stops at its peak was often destroyed). Its next reading clears the alert. With
  ``silent_alert_per: source`` the alert is the source's instead (its ``series`` is the event's ``source``):
  a pump's eight sensors behind one dead modem are one alert listing each silent series, not eight; it
  clears when every series of it that fell silent has reported again. Silence is noticed
  on :meth:`HealthDetector.tick` (the runtime's tick with each clock domain's time) and whenever a later event
  of the same clock domain reaches the detector (in a replay, event time moves on with the other series),
  unless that event is more than ``watch_max_age_s`` older than the domain's last tick (history replayed on
  the wall clock: its gaps are not news).
  A series is watched once it has shown ``min_readings`` readings. A series whose last reading is more
  than ``watch_max_age_s`` older than now is not watched (a historical replay must not page everyone on the
  wall clock afterwards) until it reports again. After a restart (state restored), silence is counted from
  the first time each clock domain is seen again at the latest: the time the service was down does not
  page every gauge at once when it comes back. A reading older than the series' last one (late, or a
  duplicate time) is not a sign of life and changes nothing.
- **Stuck**: the same value (within ``stuck_tolerance``) for more than ``stuck_after`` times the longest
  equal-value run seen so far, and at least ``stuck_min_readings`` readings, raises ``sensor-stuck`` at
  ``stuck_level``; a changed value clears it. The longest run is learned over the first ``stuck_warmup``
  readings (the run in progress included, so a naturally flat series learns that it is flat) and after
  that from every run that ended without being called stuck; a series that has changed value fewer than
  ``stuck_min_changes`` times (a constant, a valve state) is never called stuck.
- **Inhibition**: while a series has an open silent or stuck state, :meth:`HealthDetector.process_signals`
  holds back (drops) the raising signals (kind ``level`` or ``forecast`` with a level) of the ``anomaly``
  and ``forecast-anomaly`` detectors for that series, and those of the ``asset`` detector whose most unusual
  channel (the first its evidence names) is that series: a dead sensor's readings are not anomalies of the
  river or the pump. Clears always pass. What was held back is counted per detector in :meth:`HealthDetector.stats`
  (``held_back``). The anomaly detector's own level is not told: once the health alert clears, its alert
  comes back at its next level change.

Memory is bounded: ``max_series`` series at most (past it, the tenth that reported least recently is
forgotten), each a fixed size (31 gaps and a few numbers), and one timer per series.

>>> from fenghuo.core.models import Event
>>> h = HealthDetector(HealthParams(silent_after=5, silent_min_s=60))
>>> out = []
>>> for i in range(20):
...     out += h.process(Event("sensor", "g1", 600.0 * i, "G1", f"e{i}", metric="level_m", value=1.0 + i % 3))
>>> h.next_due()
{'': 14400.0}
>>> [(s.rule, s.level.name_en, s.reason) for s in h.tick({"": 14_401.0})]  # doctest: +NORMALIZE_WHITESPACE
[('sensor-silent', 'yellow', 'g1/level_m: no reading for 50 min (5.0 x its usual interval of 10 min;
  silent after 5 intervals)')]
>>> [(s.rule, s.kind) for s in h.process(Event("sensor", "g1", 15_000.0, "G1", "e20", metric="level_m", value=2.0))]
[('sensor-silent', 'clear')]
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fenghuo.core import state as saved
from fenghuo.core.config import Rule
from fenghuo.core.levels import Level
from fenghuo.core.models import Certainty, Event, Risk, Signal
from fenghuo.detectors.protocol import VersionedDetector
from fenghuo.detectors.registry import BuildContext, register
from fenghuo.detectors.rules import SensorRulesInForce
from fenghuo.detectors.timebase import Cadence

INHIBITED = frozenset({"anomaly", "forecast-anomaly"})  # the detectors whose raises a silent/stuck sensor holds back
RAISING = frozenset({"level", "forecast"})


@dataclass(frozen=True, slots=True)
class HealthParams:
    """``detectors.health``: sensor silence and stuck values, and the feed watch of the runtime."""

    silent_after: float = 5.0  # intervals without a reading before a series is silent
    silent_min_s: float = 60.0  # ... and at least this long (a 1 Hz sensor is not silent after 5 s)
    silent_level: str = "yellow"
    silent_high_level: str = "orange"  # silent while at or beyond a threshold rule's blue
    silent_alert_per: str = "series"  # "series": an alert per silent series; "source": one per source (device)
    min_readings: int = 4  # readings a series shows before it is watched (its interval is learned)
    watch_max_age_s: float = 7 * 86_400.0  # a series whose last reading is older than this is not watched
    stuck_after: float = 3.0  # times the longest equal-value run seen so far
    stuck_min_readings: int = 30
    stuck_warmup: int = 500  # readings over which the longest run is learned whatever it is
    stuck_min_changes: int = 3  # changes of value a series must have shown to be called stuck at all
    stuck_tolerance: float = 0.0  # values this close count as equal
    stuck_level: str = "blue"
    max_series: int = 100_000
    # the runtime's feed watch (fenghuo.runtime.feed_watch): a whole source or feed going silent
    feed_silent_after: float = 10.0  # times its usual gap between receipts (and beyond its longest recent gap)
    feed_silent_min_s: float = 600.0
    feed_min_receipts: int = 10
    feed_level: str = "orange"

    def level(self, name: str) -> Level:
        return Level.parse(getattr(self, name))


def _check(p: HealthParams) -> None:
    for name in ("silent_level", "silent_high_level", "stuck_level", "feed_level"):
        try:
            p.level(name)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    if not (p.silent_after > 0 and p.silent_min_s >= 0 and p.watch_max_age_s > 0 and p.stuck_after > 0
            and p.feed_silent_after > 0 and p.feed_silent_min_s >= 0 and p.stuck_tolerance >= 0):
        raise ValueError("silent_after, stuck_after, feed_silent_after and watch_max_age_s must be > 0, "
                         "silent_min_s, feed_silent_min_s and stuck_tolerance >= 0")
    if p.silent_alert_per not in ("series", "source"):
        raise ValueError(f"silent_alert_per: 'series' or 'source', not {p.silent_alert_per!r}")
    if p.min_readings < 2 or p.stuck_min_readings < 2 or p.max_series < 1 or p.stuck_warmup < 0 \
            or p.stuck_min_changes < 0 or p.feed_min_receipts < 2:
        raise ValueError("min_readings, stuck_min_readings and feed_min_receipts must be >= 2, max_series >= 1, "
                         "stuck_warmup and stuck_min_changes >= 0")


@dataclass(slots=True)
class _Series:
    """One sensor series: where it is, when and what it last reported, its runs of equal values."""

    grid: str
    source: str
    series: str  # Event.series (the drill is in ``drill``)
    metric: str | None
    drill: str | None
    cadence: Cadence = field(default_factory=Cadence)
    readings: int = 0
    last_value: float | None = None
    high: bool = False  # the last value was at or beyond a threshold rule's blue
    run: int = 0  # readings of the current equal value
    run_since: float = 0.0
    longest: int = 0  # the longest equal-value run seen (stuck runs excepted)
    changes: int = 0
    silent_since: float | None = None  # when the silent alert was raised (None: not silent)
    stuck: bool = False
    queued: bool = False  # has a timer in its domain's heap


@dataclass(slots=True)
class _Watch:
    """The detector's state: the series by key (``drill|series``) and, per clock domain, a heap of timers
    ``(due, key)`` (one per watched series; a timer found early is pushed again at the series' due time)."""

    series: dict[str, _Series] = field(default_factory=dict)
    timers: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    silent: dict[str, list[str]] = field(default_factory=dict)  # source key (drill|source) -> its silent series
    # restored after a restart: silence counts from when each domain is first seen again, at the latest
    resuming: bool = False
    resumed: dict[str, float] = field(default_factory=dict)


def _key(drill: str | None, series: str) -> str:
    return f"{drill}|{series}" if drill else series


def _duration(s: float) -> str:
    """Seconds in plain words.

    >>> _duration(5.0), _duration(600.0), _duration(4800.0), _duration(3 * 86400.0 + 7200)
    ('5 s', '10 min', '1 h 20 min', '3 d 2 h')
    """
    s = max(0.0, s)
    if s < 120:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    if s < 86400:
        h, m = divmod(round(s / 60), 60)
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(round(s / 3600), 24)
    return f"{d} d {h} h" if h else f"{d} d"


def _driving(sig: Signal) -> str:
    """The series a signal is about: its own, or for an asset's the channel its evidence names most unusual."""
    if sig.detector != "asset":
        return sig.series
    channels = sig.evidence.get("channels")
    if isinstance(channels, list) and channels and isinstance(channels[0], dict):
        return str(channels[0].get("series", ""))
    return ""


def _no_rules() -> list[Rule]:
    return []


class HealthDetector(VersionedDetector):
    """The ``health`` :class:`fenghuo.detectors.protocol.Detector` (see the module's doc)."""

    name = "health"
    feeds = frozenset({"sensor"})
    STATE_VERSION = 1  # of the _Watch; bump it (and read the old) on a change

    def __init__(self, params: HealthParams | None = None, rules_provider: Callable[[], list[Rule]] = _no_rules,
                 chain: Callable[[str], list[str]] | None = None, refresh_s: float = 60.0) -> None:
        self.p = params or HealthParams()
        _check(self.p)
        self.levels = {n: self.p.level(n) for n in ("silent_level", "silent_high_level", "stuck_level")}
        self.rules = SensorRulesInForce(rules_provider, chain, refresh_s)
        self.w = _Watch()
        self.held_back: dict[str, int] = {}
        self.raised: dict[str, int] = {}
        self._ticked: dict[str, float] = {}  # the latest time each domain was ticked at (in this process)
        # the blue levels of each list of rules in force (by the list's id; a changed rule makes new lists)
        self._blues: dict[int, tuple[list[tuple[Rule, Any]], tuple[tuple[float, bool], ...]]] = {}

    # -- rules: the blue level a "high" gauge is at or beyond ---------------------------------------------------
    def refresh(self) -> None:
        self.rules.refresh()

    def _high(self, e: Event, v: float) -> bool:
        """Whether ``v`` is at or beyond the blue level of a threshold rule that applies to the event's series."""
        applying = self.rules.applying(e)
        kept = self._blues.get(id(applying))
        if kept is None or kept[0] is not applying:
            if len(self._blues) >= 1024:
                self._blues.clear()
            kept = self._blues[id(applying)] = (applying, tuple((t, lp.above) for _, lp in applying
                                                                for level, t in lp.thresholds if level == 1))
        for t, above in kept[1]:
            if v >= t if above else v <= t:
                return True
        return False

    # -- events -------------------------------------------------------------------------------------------------
    def process(self, e: Event) -> list[Signal]:
        if e.feed != "sensor":
            return []
        out: list[Signal] = []
        ts, drill = e.ts, e.drill
        key = f"{drill}|{e.series}" if drill else e.series  # (_key)
        w = self.w
        s = w.series.get(key)
        if s is None:
            if len(w.series) >= self.p.max_series:
                self._forget()
            s = w.series[key] = _Series(e.grid, e.source, e.series, e.metric, drill)
        last = s.cadence.last_ts
        if last is None or ts > last:
            self._reading(s, key, e, out)
        domain = drill or ""
        if ts >= self._ticked.get(domain, -math.inf) - self.p.watch_max_age_s:  # not history on a wall clock
            heap = w.timers.get(domain)
            if w.resuming or (heap and not heap[0][0] >= ts):  # (_due's own tests first: most readings find none due)
                self._due(domain, ts, out)  # the others of this clock domain, as event time moves on
        return out

    def _reading(self, s: _Series, key: str, e: Event, out: list[Signal]) -> None:
        p = self.p
        before = s.cadence.last_ts
        s.cadence.observe(e.ts)
        s.readings += 1
        s.grid, s.source = e.grid, e.source
        if s.silent_since is not None:
            s.silent_since = None
            group = self._group(s, key)
            listed = self.w.silent.get(group, [])
            if key in listed:
                listed.remove(key)
            if not listed:  # every series of the alert that fell silent reports again
                self.w.silent.pop(group, None)
                gap = e.ts - (before if before is not None else e.ts)
                what = f"a reading {_duration(gap)} after the one before"
                label = s.series if self.p.silent_alert_per == "series" else s.source
                if label != s.series:
                    what = f"{s.metric}: {what}"
                out.append(self._signal(s, "sensor-silent", e.ts, None, 0.0, f"{label}: reporting again ({what})",
                                        {"event": e.id, "gap_s": gap}, series=label))
        v = e.value
        if v is not None and math.isfinite(v):
            s.high = self._high(e, v)
            self._stuck(s, e, v, out)
        if not s.queued and s.readings >= p.min_readings:
            self._push(e.drill or "", self._deadline(s), key)
            s.queued = True

    def _stuck(self, s: _Series, e: Event, v: float, out: list[Signal]) -> None:
        p = self.p
        if s.last_value is not None and abs(v - s.last_value) <= p.stuck_tolerance:
            s.run += 1
        else:
            if s.stuck:
                out.append(self._signal(s, "sensor-stuck", e.ts, None, 0.0,
                                        f"{s.series}: value changed after {s.run} equal readings "
                                        f"({_duration(e.ts - s.run_since)})", {"event": e.id, "value": v}))
                s.stuck = False
            elif s.run > s.longest:
                s.longest = s.run
            if s.last_value is not None:
                s.changes += 1
            s.run, s.run_since = 1, e.ts
        s.last_value = v
        if s.readings <= p.stuck_warmup:
            if s.run > s.longest:  # max(longest, run)
                s.longest = s.run
        elif (not s.stuck and s.changes >= p.stuck_min_changes and s.run >= p.stuck_min_readings
              and s.run > p.stuck_after * s.longest):
            s.stuck = True
            self.raised["sensor-stuck"] = self.raised.get("sensor-stuck", 0) + 1
            out.append(self._signal(
                s, "sensor-stuck", e.ts, self.levels["stuck_level"], s.run / max(s.longest, 1),
                f"{s.series}: the same value {v:g} for {s.run} readings ({_duration(e.ts - s.run_since)}); "
                f"the longest run seen before was {s.longest} readings (stuck after {p.stuck_after:g} x that)",
                {"event": e.id, "value": v, "run": s.run, "longest_run": s.longest}))

    # -- time ---------------------------------------------------------------------------------------------------
    def _deadline(self, s: _Series) -> float:
        last = s.cadence.last_ts
        assert last is not None
        if self.w.resumed:
            last = max(last, self.w.resumed.get(s.drill or "", -math.inf))
        return last + max(self.p.silent_after * s.cadence.interval, self.p.silent_min_s)

    def _push(self, domain: str, due: float, key: str) -> None:
        heap = self.w.timers.get(domain)
        if heap is None:
            heap = self.w.timers[domain] = []
        heapq.heappush(heap, (due, key))

    def _due(self, domain: str, now: float, out: list[Signal]) -> None:
        """Raise ``sensor-silent`` for every series of the domain silent at ``now``."""
        w = self.w
        if w.resuming and domain not in w.resumed:
            w.resumed[domain] = now
        heap = self.w.timers.get(domain)
        if not heap or heap[0][0] >= now:
            return
        p, series = self.p, self.w.series
        newly: dict[str, list[str]] = {}  # source key -> its series found silent now
        while heap and heap[0][0] < now:
            _, key = heapq.heappop(heap)
            s = series.get(key)
            if s is None or not s.queued:
                continue  # forgotten (or a stale timer of a series forgotten and seen again)
            s.queued = False
            last = s.cadence.last_ts
            if s.silent_since is not None or last is None or now - last > p.watch_max_age_s:
                continue  # silent already, or too old to watch (a replay of history): until it reports again
            due = self._deadline(s)
            if due >= now:
                heapq.heappush(heap, (due, key))
                s.queued = True
                continue
            s.silent_since = now
            self.raised["sensor-silent"] = self.raised.get("sensor-silent", 0) + 1
            newly.setdefault(self._group(s, key), []).append(key)
        if not heap:
            del self.w.timers[domain]
        for group, keys in newly.items():
            listed = w.silent.setdefault(group, [])
            listed.extend(keys)
            out.append(self._silent([series[k] for k in listed if k in series], now))

    def _group(self, s: _Series, key: str) -> str:
        """The key of the silent alert a series belongs to: its own, or its source's (``silent_alert_per``)."""
        return key if self.p.silent_alert_per == "series" else _key(s.drill, s.source)

    def _silent(self, members: list[_Series], now: float) -> Signal:
        """The ``sensor-silent`` alert of a series, or of a source for all its series that are silent (a pump's
        8 sensors behind one dead modem are one alert), at the higher level if any went silent while high."""
        p = self.p
        parts, evidence = [], []
        for s in members:
            last = s.cadence.last_ts
            assert last is not None
            interval, gap = s.cadence.interval, now - last
            why = (f"no reading for {_duration(gap)} ({gap / interval:.1f} x its usual interval of "
                   f"{_duration(interval)}; silent after {p.silent_after:g} intervals")
            why += f", at least {_duration(p.silent_min_s)})" if p.silent_after * interval < p.silent_min_s else ")"
            if s.high:
                why += f"; it went silent while high (last value {s.last_value:g}, at or beyond a rule's blue)"
            parts.append(f"{s.series}: {why}")
            evidence.append({"series": s.series, "last_ts": last, "last_value": s.last_value, "interval_s": interval,
                             "silent_s": gap, "high": s.high})
        first = members[0]
        high = any(s.high for s in members)
        level = self.levels["silent_high_level" if high else "silent_level"]
        reason = parts[0] if len(parts) == 1 else f"{first.source}: {len(parts)} series silent: " + "; ".join(parts)
        score = max(e["silent_s"] / e["interval_s"] for e in evidence)
        return self._signal(first, "sensor-silent", now, level, score, reason,
                            {**evidence[0], "silent": evidence, "metrics": [s.metric for s in members]},
                            series=first.series if self.p.silent_alert_per == "series" else first.source)

    def tick(self, now: Mapping[str, float]) -> list[Signal]:
        """``sensor-silent`` for every series silent at its domain's time in ``now``."""
        out: list[Signal] = []
        ticked = self._ticked
        for domain, t in now.items():
            if t > ticked.get(domain, -math.inf):
                ticked[domain] = t
            self._due(domain, t, out)
        return out

    def next_due(self) -> dict[str, float]:
        """Per clock domain, the time the first watched series there turns silent (if it does not report)."""
        series, out = self.w.series, {}
        for domain, heap in self.w.timers.items():
            while heap:  # a timer set before the series' latest readings moves to its due time
                due, key = heap[0]
                s = series.get(key)
                if s is None or not s.queued:
                    heapq.heappop(heap)
                    continue
                actual = self._deadline(s)
                if actual == due:
                    out[domain] = due
                    break
                heapq.heapreplace(heap, (actual, key))
        return out

    def _signal(self, s: _Series, rule: str, ts: float, level: Level | None, score: float, reason: str,
                evidence: dict[str, Any], series: str | None = None) -> Signal:
        return Signal(detector="health", rule=rule, risk=Risk.SAFETY, feed="sensor", grid=s.grid,
                      series=series if series is not None else s.series,
                      source=s.source, ts=ts, level=level, score=score, reason=reason, drill=s.drill,
                      kind="level" if level is not None else "clear", certainty=Certainty.OBSERVED,
                      evidence={"metric": s.metric, **evidence})

    # -- inhibition ---------------------------------------------------------------------------------------------
    def process_signals(self, signals: list[Signal]) -> list[Signal]:
        """The batch without the anomaly raises of sensors that are silent or stuck (counted in ``held_back``)."""
        series = self.w.series
        out: list[Signal] = []
        for sig in signals:
            if sig.level is not None and sig.kind in RAISING and (sig.detector in INHIBITED or sig.detector == "asset"):
                s = series.get(_key(sig.drill, _driving(sig)))
                if s is not None and (s.silent_since is not None or s.stuck):
                    self.held_back[sig.detector] = self.held_back.get(sig.detector, 0) + 1
                    continue
            out.append(sig)
        return out

    def stats(self) -> dict[str, Any]:
        """Series watched, silent and stuck now; alerts raised and anomaly raises held back since the start."""
        series = self.w.series.values()
        return {"series": len(self.w.series), "silent": sum(s.silent_since is not None for s in series),
                "stuck": sum(s.stuck for s in series), "raised": dict(self.raised), "held_back": dict(self.held_back)}

    # -- memory and state ---------------------------------------------------------------------------------------
    def _forget(self) -> None:
        """Past ``max_series``: forget the tenth of the series that reported least recently."""
        series = self.w.series
        n = max(1, len(series) // 10)
        oldest = sorted(series, key=lambda k: (series[k].silent_since is not None,  # an open alert's series last
                                                series[k].cadence.last_ts or -math.inf))[:n]
        for k in oldest:
            del series[k]
        for skey, listed in list(self.w.silent.items()):
            listed[:] = [k for k in listed if k in series]
            if not listed:
                del self.w.silent[skey]
        for domain, heap in list(self.w.timers.items()):
            heap[:] = [(d, k) for d, k in heap if k in series]
            heapq.heapify(heap)
            if not heap:
                del self.w.timers[domain]

    def live_state(self) -> _Watch:
        """The state as the live object (not copied), for :meth:`use_live_state`."""
        return self.w

    def use_live_state(self, live: Any) -> None:
        self.w = live if isinstance(live, _Watch) else _Watch()

    def resume(self) -> None:
        """The service is back after being down: silence is counted from when each clock domain is seen again,
        at the latest (the time it was down does not page every gauge at once). Only a restart calls this, not
        a decode of the saved state: a Kafka worker reads a grid's state from its bytes at any tick."""
        self.w.resuming, self.w.resumed = bool(self.w.series), {}


saved.register("health.series", _Series)
saved.register("health.watch", _Watch)


@register("health", HealthParams, feeds=("sensor",), scope="grid", check=_check)
def _build(params: HealthParams, ctx: BuildContext) -> HealthDetector:
    """A gauge silent while high is judged against the threshold rules in force (``ctx.rules()``)."""
    return HealthDetector(params, ctx.rules, ctx.chain)
