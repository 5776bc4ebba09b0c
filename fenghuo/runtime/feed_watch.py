"""A whole source or feed that stops sending: a system alert, in the runtime (not a detector: it watches
receipts on the wall clock, whatever the events' own times are).

:class:`FeedWatch` is pure (the runtime gives it the receipt times and the time of each tick). For each
source (an event's ``source``: a station, a hotline) and each feed (sensor, complaint, opinion) it learns
the usual gap between receipts (:class:`fenghuo.detectors.timebase.Cadence`: the median of recent gaps;
records received together count once) and the longest gap of the last ``GAP_MEMORY_S`` (a week: a hotline
quiet every night and every weekend learns that). Once it has been seen
``min_receipts`` times, it is silent when nothing came for more than ``silent_after`` usual gaps, more than
its longest recent gap and at least ``silent_min_s``: a ``source-silent`` / ``feed-silent`` signal (risk
``system``, detector ``health``, on the system node, as a failing notification channel's alert is), cleared
when it sends again. Drill records are not watched (a replay ends when it ends).

State is in memory: after a restart the watch learns again (nothing is raised before ``min_receipts``).

>>> w = FeedWatch(FeedWatchParams(silent_after=10, silent_min_s=60, min_receipts=3), "D")
>>> for t in range(0, 600, 60):
...     w.seen("hotline", "complaint", float(t))
>>> [(s.rule, s.series, s.level.name_en) for s in w.tick(1200.0)]
[('source-silent', 'source:hotline', 'orange'), ('feed-silent', 'feed:complaint', 'orange')]
>>> w.seen("hotline", "complaint", 1300.0)
>>> [(s.rule, s.kind) for s in w.tick(1301.0)]
[('source-silent', 'clear'), ('feed-silent', 'clear')]
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fenghuo.core.levels import Level
from fenghuo.core.models import Risk, Signal
from fenghuo.detectors.timebase import Cadence

if TYPE_CHECKING:
    from fenghuo.core.config import Config
    from fenghuo.detectors.health import HealthParams

GAP_MEMORY_S = 7 * 86_400.0  # the longest gap of this long is part of the silence threshold
MAX_GAPS = 256  # gaps kept for it at most (a falling sequence: in practice a handful)
MAX_WATCHED = 100_000  # sources and feeds watched at most (past it, the longest quiet is forgotten)


@dataclass(frozen=True, slots=True)
class FeedWatchParams:
    """The ``feed_*`` parameters of ``detectors.health`` (:class:`fenghuo.detectors.health.HealthParams`)."""

    silent_after: float = 10.0
    silent_min_s: float = 600.0
    min_receipts: int = 10
    level: str = "orange"

    @classmethod
    def of_health(cls, p: HealthParams) -> FeedWatchParams:
        """From the health detector's parameters."""
        return cls(p.feed_silent_after, p.feed_silent_min_s, p.feed_min_receipts, p.feed_level)


@dataclass(slots=True)
class _Watched:
    kind: str  # "source" | "feed"
    name: str
    cadence: Cadence = field(default_factory=Cadence)
    longest: deque[tuple[float, float]] = field(default_factory=deque)  # (ended at, gap), gaps falling
    receipts: int = 0
    silent_since: float | None = None
    cleared: bool = False  # reported again since the silent alert: a clear is due on the next tick


class FeedWatch:
    """Sources and feeds that used to send and went quiet (see the module's doc)."""

    def __init__(self, params: FeedWatchParams | None = None, grid: str = "system") -> None:
        self.p = params or FeedWatchParams()
        self.level = Level.parse(self.p.level)
        self.grid = grid
        self.watched: dict[tuple[str, str], _Watched] = {}

    def seen(self, source: str, feed: str, rx_time: float) -> None:
        """Records of this source and feed were received at ``rx_time`` (the wall clock)."""
        self._seen("source", source, rx_time)
        self._seen("feed", feed, rx_time)

    def _seen(self, kind: str, name: str, t: float) -> None:
        w = self.watched.get((kind, name))
        if w is None:
            if len(self.watched) >= MAX_WATCHED:
                self._forget()
            w = self.watched[(kind, name)] = _Watched(kind, name)
        last = w.cadence.last_ts
        if last is not None and t <= last:
            return  # received together with the previous ones
        if last is not None:  # a sliding-window maximum: the gaps a longer later one outdoes are dropped
            gap, longest = t - last, w.longest
            while longest and longest[-1][1] <= gap:
                longest.pop()
            longest.append((t, gap))
            while longest and (longest[0][0] < t - GAP_MEMORY_S or len(longest) > MAX_GAPS):
                longest.popleft()
        w.cadence.observe(t)
        w.receipts += 1
        if w.silent_since is not None:
            w.cleared = True

    def threshold(self, w: _Watched) -> float:
        """Seconds without a receipt after which this source or feed is silent."""
        p = self.p
        return max(p.silent_after * w.cadence.interval, w.longest[0][1] if w.longest else 0.0, p.silent_min_s)

    def tick(self, now: float) -> list[Signal]:
        """The silent alerts to raise and to clear at ``now`` (the wall clock)."""
        out: list[Signal] = []
        for w in self.watched.values():
            last = w.cadence.last_ts
            if last is None:
                continue
            if w.cleared:
                gap = last - (w.silent_since or last)
                out.append(self._signal(w, now, None, f"{w.kind} {w.name}: sending again "
                                                      f"({gap:.0f} s after the silent alert)"))
                w.silent_since, w.cleared = None, False
            elif w.silent_since is None and w.receipts >= self.p.min_receipts and now - last > self.threshold(w):
                w.silent_since = now
                out.append(self._signal(w, now, self.level,
                                        f"{w.kind} {w.name}: nothing received for {now - last:.0f} s (it usually "
                                        f"sends every {w.cadence.interval:.0f} s; silent after "
                                        f"{self.threshold(w):.0f} s)"))
        return out

    def _signal(self, w: _Watched, now: float, level: Level | None, reason: str) -> Signal:
        return Signal(detector="health", rule=f"{w.kind}-silent", risk=Risk.SYSTEM, feed="system", grid=self.grid,
                      series=f"{w.kind}:{w.name}", source=w.name, ts=now, level=level,
                      score=0.0 if level is None else 1.0, reason=reason,
                      kind="level" if level is not None else "clear",
                      evidence={w.kind: w.name, "last_received": w.cadence.last_ts,
                                "usual_gap_s": w.cadence.interval})

    def _forget(self) -> None:
        """Past ``MAX_WATCHED``: forget the tenth quiet longest (none of them has an open alert)."""
        quiet = sorted((k for k, w in self.watched.items() if w.silent_since is None),
                       key=lambda k: self.watched[k].cadence.last_ts or 0.0)
        for k in quiet[:max(1, len(self.watched) // 10)]:
            del self.watched[k]


def feed_watch_for(config: Config, grid: str) -> FeedWatch | None:
    """The feed watch a config asks for: on with the ``health`` detector (its ``feed_*`` parameters), raising
    on ``grid`` (the system node: :meth:`fenghuo.alerts.routing.Router.system_node`); None when it is off."""
    values = config.detectors.configured().get("health")
    if values is None:
        return None
    from fenghuo.detectors.registry import REGISTRY

    return FeedWatch(FeedWatchParams.of_health(REGISTRY.get("health").parse(values)), grid)


__all__ = ["FeedWatch", "FeedWatchParams", "feed_watch_for"]
