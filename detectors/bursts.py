"""Complaint bursts per (node, category) against a seasonal baseline, tested for surprise.

Each complaint counts towards its grid and, with ``chain``, every ancestor of the grid
(community, street, district): a burst spread thin across a whole district is flagged on the
district. The window is ``window_hours`` at the grid and shorter above (``tier_window_hours``):
a node with more traffic needs less time to be sure. The baseline (:mod:`fenghuo.detectors.burst_baseline`)
is seasonal (hour of day, day of week) and learned hour by hour, slowly (``half_life_days``).

The test: the count in the window against the expected count, ``surprise = -log10 P(X >= count)``
with X negative binomial (dispersion learned per category), mapped to levels with hysteresis
(:class:`fenghuo.detectors.hysteresis.LevelState`). The surprise is 0 unless the count is at least
``min_count`` and ``min_ratio`` times the expected count (half of it once in alert).

What counts is independent reports. A complaint from the same place, of the same category, within
``dedupe_minutes`` of the last one counted is a duplicate; one within ``link_minutes`` and
``link_km`` of another of its category, while at least ``1 / link_share`` of that category's
recent complaints are that near, is one person walking or driving round and reporting each spot
(graffiti, street lights): both are neither counted nor learned. When ``repeat_min`` or more
complaints in the window come from one place (``attrs["location"]`` or lat/lon rounded to
``place_decimals``; placeholder locations excluded), a raised level goes up one. Events whose
``attrs["channel"]`` is in ``ignore_channels`` (work orders a city crew logs itself, say) are
skipped. Events of a chain with a key in alert, or at surprise ``learn_guard`` or more, learn at
weight ``learn_in_alert`` so a burst does not become the norm at once. Keys in alert are re-tested
at each hour boundary. At the top of a chain (the district), a one-sided CUSUM of
``log((x + .5) / (mu + .5)) - cusum_drift`` over hourly counts (reset when the alert clears) can raise an alert
already open: a sustained city-wide rise escalates (surprise ``cusum_scale`` x CUSUM) though no
single window is extreme; and to open an alert there the window's surprise is lowered by
``cusum_open`` minus the CUSUM (if positive); once the CUSUM reaches ``cusum_raise`` (about seven
hours at several times the expected rate) it opens an alert there by itself, at ``cusum_scale`` x CUSUM.

Date-only records (a source whose recent times are all 00:00:00 local, or ``date_only`` set) count in
daily windows, a day's count against the whole day's expected count, judged again when the day is over.
A category first seen after the warm-up is learned, not tested, for ``new_category_hours`` and its rates
run from when it appeared. Cases one office (``attrs[batch_attr]``) types in within ``batch_minutes`` of
each other are one report while that office makes a third of the category's entries (raw count in the
evidence).

Scheduled campaigns (``campaigns``: a tax season, an enrolment window) lift the expected count of their
category inside their window, so the scheduled rise does not alert (one far beyond the lifted expectation
still does); their cases learn at ``1 / lift``. ``holidays`` take Sunday's day-of-week profile.

Against crying wolf across many series: thresholds rise by ``tier_correction`` x log10 of how
many more (node, category) keys are tested at a tier than at the tier with the fewest (about +1.2
at Boston's 23 grids against its one district), and with ``cover`` a key raises (or escalates)
only above what another node of its chain (an ancestor or descendant) already shows for the same
category: one burst is one alert, not one per tier.

>>> from fenghuo.core.models import Event
>>> det = ComplaintBurst(BurstParams(warmup_hours=24))
>>> ev = lambda i, t: Event("complaint", "hotline", t, "G1", f"e{i}", category="noise", text="x")
>>> [s for i in range(6 * 14) for s in det.process(ev(i, i * 14400.0))]  # one every 4 h: quiet
[]
>>> burst = [s for i in range(20) for s in det.process(ev(100 + i, 14 * 86400.0 + i * 120))]
>>> [(s.level.name_en, s.evidence["count"]) for s in burst]  # 20 in 40 minutes
[('blue', 9), ('yellow', 12), ('orange', 14), ('red', 17)]
>>> [(s.kind, s.series) for s in det.process(ev(200, 15 * 86400.0))]  # a day later
[('clear', 'G1/noise')]
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fenghuo.core import state as saved
from fenghuo.core.levels import Level
from fenghuo.core.models import Certainty, Event, Risk, Signal
from fenghuo.detectors.burst_baseline import (
    Baseline,
    Campaign,
    nb_surprise,
    parse_campaigns,
    parse_holidays,
    poisson_surprise,
)
from fenghuo.detectors.hysteresis import LevelParams, LevelState
from fenghuo.detectors.protocol import VersionedDetector
from fenghuo.detectors.registry import BuildContext, register

__all__ = ["BurstExtra", "BurstParams", "ComplaintBurst", "make_burst_extra", "poisson_surprise", "risk_for"]

ChainFn = Callable[[str], Iterable[Any]]
log = logging.getLogger("fenghuo.detectors.bursts")
MAX_PLACES = 4096  # recent (grid, category, place) dedupe entries kept (beyond: the oldest go, with a log line)
MAX_SOURCES = 1024  # sources whose date-only run is followed (beyond: the least recently seen is forgotten)
MAX_IDLE_KEYS = 512  # keys beyond it: the idle ones are dropped at the next hour boundary
MAX_CATEGORIES_BOUND = 10_000  # the most max_categories may be set to (a district state of ~5.5 MiB at 0.55 KiB each)
_TRANSIENT = frozenset({"_window_s", "_lp_at"})  # ComplaintBurst's caches left out of its saved state
_PRUNE_AT = 64  # dedupe and batch entries: pruned to their spans at an hour boundary once there are more
SAFETY_WORDS = ("fire", "gas", "smoke", "flood", "structural", "collapse", "explosion", "carbon monoxide",
                "火", "燃气", "煤气", "洪", "涝", "坍塌", "倒塌", "爆炸")


def risk_for(category: str) -> Risk:
    """Safety for categories that clearly are (fire, gas, flood, structural...), else contradiction.

    >>> risk_for("Gas Leak"), risk_for("Noise Disturbance")
    (<Risk.SAFETY: 'safety'>, <Risk.CONTRADICTION: 'contradiction'>)
    """
    low = category.lower()
    return Risk.SAFETY if any(w in low for w in SAFETY_WORDS) else Risk.CONTRADICTION


def _burst_params(values: dict[str, Any]) -> BurstParams:
    """Read the previous release's pickles (0.1.0 pickled the parameters through this function), by field
    name: a field added or removed since is defaulted or dropped. Saved state is data now
    (:mod:`fenghuo.core.state` reads a dataclass by field name the same way)."""
    known = {f.name for f in fields(BurstParams)}
    return BurstParams(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True, slots=True)
class BurstParams:
    """Parameters; ``thresholds`` are surprises (-log10 p) for blue, yellow, orange and red."""

    window_hours: float = 6.0  # at the grid
    tier_window_hours: tuple[float, ...] = (3.0, 2.0)  # community, street and above (the last repeats)
    thresholds: tuple[float, float, float, float] = (5.0, 7.0, 9.0, 12.0)
    hysteresis: float = 1.5
    half_life_days: float = 56.0
    prior_hours: float = 24.0
    share_prior: float = 20.0
    dispersion_prior: float = 0.5
    dispersion_pseudo: float = 2.0
    cusum_drift: float = 0.4  # top of the chain: CUSUM of log((x + .5) / (mu + .5)) - drift per hour
    cusum_scale: float = 1.25  # surprise per unit of CUSUM, escalating a raised alert (0: off)
    dispersion_max: float = 0.5  # 1.0 halves false alarms but misses the third blizzard at orange
    min_count: int = 4
    min_ratio: float = 3.0
    dedupe_minutes: float = 30.0
    link_minutes: float = 15.0  # a complaint within link_minutes and link_km of one of its category (any
    link_km: float = 0.75  # grid, any place) is the same reporter walking or driving on: not counted...
    link_share: float = 3.0  # ...if at least 1/link_share of the category's recent complaints are that near
    cover: bool = True  # a key rises only above what a node of its chain already shows for the category
    tier_correction: float = 1.0  # thresholds + this x log10(keys at the tier / keys at the sparsest tier)
    cusum_open: float = 2.0  # the top of a chain opens at surprise - max(0, cusum_open - CUSUM)
    cusum_raise: float = 7.0  # the top of a chain also opens on CUSUM >= this, at cusum_scale x CUSUM (0: never)
    min_rate_per_day: float = 0.05
    warmup_hours: float = 168.0
    repeat_min: int = 3
    place_decimals: int = 3
    learn_in_alert: float = 0.2
    learn_guard: float = 2.0
    ignore_channels: tuple[str, ...] = ()
    tz: str = "UTC"
    feeds: tuple[str, ...] = ("complaint",)
    max_surprise: float = 50.0
    # date-only records: True counts every event in daily windows (its local calendar day), False never;
    # None (automatic): a source's events are daily while its last ``date_only_after`` times were all at
    # 00:00:00 local, and from its first event if that is at midnight (one time of day makes it timed again)
    date_only: bool | None = None
    date_only_after: int = 24
    # entry batches: a complaint whose ``attrs[batch_attr]`` office entered one of its category at most
    # ``batch_minutes`` before is one report with it, while that office made at least 1/link_share of the
    # category's entries of that span (a storm comes through many offices); the raw count is in the evidence
    batch_minutes: float = 10.0
    batch_attr: str = "office"
    new_category_hours: float | None = None  # a category with no history is learned, not tested, this long
    # (None: ``warmup_hours``, the detector's own warm-up)
    # scheduled campaigns: [{category (name or glob), from, to (MM-DD every year, or YYYY-MM-DD), grids (optional
    # node ids), lift (default 3)}]: inside the window the category's expected count is lift times the baseline's
    campaigns: tuple[Campaign, ...] = ()
    holidays: tuple[str, ...] = ()  # dates YYYY-MM-DD whose day-of-week profile is Sunday's
    # a yearly profile by month, learned from past years (used once every month has been seen; see burst_baseline)
    yearly: bool = True
    yearly_prior_hours: float = 360.0  # pseudo-hours shrinking a category's monthly rate to the city's shape
    # the categories a district's state keeps (its baseline, keys and counts): a new one beyond them makes the
    # least recently seen category forgotten (a log line, ``evicted["categories"]``), so a free-text category
    # field cannot grow the state without end
    max_categories: int = 256

    def __post_init__(self) -> None:
        if not 1 <= self.max_categories <= MAX_CATEGORIES_BOUND:
            raise ValueError(f"max_categories takes 1 to {MAX_CATEGORIES_BOUND}, not {self.max_categories}")
        object.__setattr__(self, "campaigns", parse_campaigns(self.campaigns))
        object.__setattr__(self, "holidays", parse_holidays(self.holidays))

    def level_params(self) -> LevelParams:
        return LevelParams(tuple(zip((1, 2, 3, 4), self.thresholds, strict=True)), True, 0.0, self.hysteresis)

    def window_s(self, tier: int) -> float:
        if tier == 0 or not self.tier_window_hours:
            return self.window_hours * 3600.0
        return self.tier_window_hours[min(tier, len(self.tier_window_hours)) - 1] * 3600.0


@dataclass(slots=True)
class _Key:
    window: deque[tuple[float, str | None]] = field(default_factory=deque)
    state: LevelState = field(default_factory=LevelState)
    level: int = 0  # emitted level (state level, +1 for repeats)
    tier: int = 0
    source: str = ""
    feed: str = "complaint"
    daily: bool = False  # counted in daily windows (a date-only source)
    batched: deque[float] = field(default_factory=deque)  # times of entries folded into a batch (not counted)

    def __setstate__(self, state: Any) -> None:
        """Read a pickle (0.1.0 pickled its keys as ``(None, {slot: value})``): fields it lacks take defaults."""
        self.daily, self.batched = False, deque()
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = state[1]
        items = state.items() if isinstance(state, dict) else zip((f.name for f in fields(self)), state, strict=False)
        for name, value in items:
            object.__setattr__(self, name, value)


def _idle(k: _Key, horizon: float) -> bool:
    """Whether a timed key holds nothing a later complaint would read: no level, nothing in its window or
    batches after ``horizon`` (its window's start), so a fresh key in its place gives the same results."""
    return (not k.daily and not k.level and not k.state.level and not k.state.since
            and (not k.window or k.window[-1][0] <= horizon) and (not k.batched or k.batched[-1] <= horizon))


class ComplaintBurst:
    """Streaming burst detector; ``process(event)`` returns the level changes it causes.

    ``chain(grid)`` gives the grid and its ancestors, bottom up (node ids or objects with ``.id``);
    without it only grids are tested. The callable is not saved: set ``chain`` again after
    restoring (chains already seen are kept).
    """

    def __init__(self, params: BurstParams | None = None, chain: ChainFn | None = None) -> None:
        self.p = params or BurstParams()
        self.lp = self.p.level_params()
        self.tier_keys: dict[int, int] = {}  # keys (node, category) seen per tier
        self._tier_lp: dict[int, LevelParams] = {}  # cleared when a key is added
        self._window_s: dict[int, float] = {}  # tier -> window in seconds (_TRANSIENT: not saved)
        self._lp_at: dict[float, LevelParams] = {}  # thresholds' offset -> level parameters (_TRANSIENT)
        self.chain = chain
        self.base = Baseline(self.p)
        self.keys: dict[tuple[str, str], _Key] = {}
        self.active: set[tuple[str, str]] = set()  # keys in alert, swept at each hour boundary
        self.last_at: dict[tuple[str, str, str], float] = {}  # (grid, category, place) -> last counted
        self._chains: dict[str, tuple[str, ...]] = {}
        self.related: dict[str, set[str]] = {}  # node -> the other nodes on a chain with it
        self.tops: set[str] = set()  # nodes at the top of a chain of two or more
        self.cusum: dict[tuple[str, str], float] = {}  # top-of-chain keys: positive CUSUMs
        self.hour_n: dict[tuple[str, str], int] = {}  # top-of-chain keys: counts of the open hour
        self.recent: dict[str, deque[tuple[float, float, float]]] = {}  # category -> recent (t, lat, lon)
        self.midnights: dict[str, int] = {}  # source -> events at 00:00:00 local in a row (date-only detection)
        self.cat_first: dict[str, float] = {}  # category -> first seen, for categories with no history then
        self.entries: dict[str, deque[tuple[float, str]]] = {}  # category -> recent (t, office), batch rule
        self.batch_last: dict[tuple[str, str], float] = {}  # (office, category) -> last entry
        self.cat_seen: dict[str, float] = {}  # category -> last seen, least recently seen first (the cap's order)
        self.evicted: dict[str, int] = {}  # what the bounds forgot: "categories", "places", "sources"

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in _TRANSIENT}
        state["chain"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({"cusum": {}, "hour_n": {}, "recent": {}, "tier_keys": {}, "midnights": {},
                              "cat_first": {}, "entries": {}, "batch_last": {}, "cat_seen": {}, "evicted": {},
                              **state})
        self._tier_lp, self._window_s, self._lp_at = {}, {}, {}
        if not self.cat_seen:  # a state saved before the categories were capped: its categories, oldest first
            known = dict.fromkeys([*self.base.cats, *(c for _, c in self.keys), *self.cat_first])
            self.cat_seen = dict.fromkeys(known, -math.inf)
        if "related" not in state:
            self.related, self.tops = {}, set()
            for nodes in self._chains.values():
                self._relate(nodes)

    def use_params(self, params: BurstParams) -> None:
        """Go on with other parameters (after a restore), keeping the counts and the baseline."""
        self.p, self.lp, self._tier_lp, self._window_s, self._lp_at = params, params.level_params(), {}, {}, {}
        self.base.p = params
        self.base._bins.clear()  # holidays and campaigns may have changed
        self.base.drop_rates()

    def _window_of(self, tier: int) -> float:
        """The window of a tier in seconds (kept in ``_window_s``, not saved)."""
        window_s = self._window_s[tier] = self.p.window_s(tier)
        return window_s

    def _lp(self, tier: int) -> LevelParams:
        """Level parameters of a tier: thresholds raised by ``tier_correction`` x log10 of how many
        more (node, category) keys are tested at this tier than at the tier with the fewest."""
        lp = self._tier_lp.get(tier)
        if lp is not None:
            return lp
        lp = self.lp
        if self.p.tier_correction and self.tier_keys:
            off = round(self.p.tier_correction * math.log10(self.tier_keys[tier] / min(self.tier_keys.values())), 1)
            if off:
                lp = self._lp_at.get(off)
                if lp is None:
                    t = self.p.thresholds
                    lp = replace(self.p, thresholds=(t[0] + off, t[1] + off, t[2] + off, t[3] + off)).level_params()
                    if len(self._lp_at) >= 64:  # (a few offsets in practice: log10 of the tiers' key ratios)
                        self._lp_at.clear()
                    self._lp_at[off] = lp
        self._tier_lp[tier] = lp
        return lp

    def nodes(self, grid: str) -> tuple[str, ...]:
        """The grid and its ancestors (just the grid without ``chain``)."""
        nodes = self._chains.get(grid)
        if nodes is None:
            found = [n if isinstance(n, str) else n.id for n in self.chain(grid)] if self.chain else []
            nodes = tuple(dict.fromkeys([grid, *found]))
            if self.chain is not None:
                self._chains[grid] = nodes
                self._relate(nodes)
        return nodes

    def _relate(self, nodes: tuple[str, ...]) -> None:
        for n in nodes:
            self.related.setdefault(n, set()).update(m for m in nodes if m != n)
        if len(nodes) > 1:
            self.tops.add(nodes[-1])

    def _place(self, e: Event) -> str | None:
        loc = e.attrs.get("location")
        if loc:
            return str(loc)
        if e.lat is None or e.lon is None or e.attrs.get("placeholder_location"):
            return None
        return f"{round(e.lat, self.p.place_decimals)},{round(e.lon, self.p.place_decimals)}"

    def _duplicate(self, grid: str, cat: str, place: str | None, t: float) -> bool:
        if place is None or self.p.dedupe_minutes <= 0:
            return False
        key = (grid, cat, place)
        last = self.last_at.get(key)
        if last is not None and t - last < self.p.dedupe_minutes * 60.0:
            return True
        if last is None and len(self.last_at) >= MAX_PLACES:  # (pruned to the dedupe span every hour, in _bound)
            self.last_at = self._make_room(self.last_at, t - self.p.dedupe_minutes * 60.0)
        self.last_at[key] = t
        return False

    def _make_room(self, times: dict[Any, float], horizon: float) -> dict[Any, float]:
        """``times`` (dedupe or batch entries, each its last time) with room for new entries: those at or before
        ``horizon`` (past their span) dropped and, if still at least MAX_PLACES, the oldest too, down to three
        quarters of it (counted and logged once for the lot). Dropping in bulk keeps a full table cheap: when
        complaints come out of time order (a backlog read from several partitions at once, each at its own time,
        so the hourly prune of _bound keeps entries "from the future") one sort per complaint was the worker's
        largest cost."""
        kept = {k: v for k, v in times.items() if v > horizon}
        if len(kept) >= MAX_PLACES:
            keep = MAX_PLACES * 3 // 4
            self._count("places", len(kept) - keep)
            kept = dict(sorted(kept.items(), key=lambda kv: kv[1])[-keep:])
        return kept

    def _linked(self, e: Event, cat: str) -> bool:
        """True if ``e`` looks like the next report of one person walking or driving around: within
        ``link_minutes`` and ``link_km`` of another complaint of its category (any grid) while at
        least ``1 / link_share`` of the category's complaints of the last ``link_minutes`` are that
        near. In a city-wide storm the recent complaints are spread out, so a neighbour's call counts."""
        p = self.p
        if p.link_minutes <= 0 or e.lat is None or e.lon is None or e.attrs.get("placeholder_location"):
            return False
        q = self.recent.get(cat)
        if q is None:
            q = self.recent[cat] = deque()
        horizon = e.ts - p.link_minutes * 60.0
        while q and q[0][0] < horizon:
            q.popleft()
        kx, r2 = 111.32 * math.cos(math.radians(e.lat)), p.link_km * p.link_km
        near = sum(1 for _, la, lo in q if ((e.lat - la) * 110.57) ** 2 + ((e.lon - lo) * kx) ** 2 <= r2)
        q.append((e.ts, e.lat, e.lon))
        return near > 0 and near * p.link_share >= len(q) - 1

    def _day(self, ts: float) -> float:
        """The start (00:00 local) of the local calendar day of ``ts``."""
        dt = datetime.fromtimestamp(ts, ZoneInfo(self.p.tz))
        return dt.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()

    def _daily(self, e: Event) -> bool:
        """Whether ``e`` counts in daily windows: ``date_only`` if set, else whether its source is date-only
        (its last ``date_only_after`` times all at 00:00:00 local; a source's first event at midnight
        makes it date-only at once, one time of day makes it timed)."""
        p = self.p
        if p.date_only is not None:
            return p.date_only
        midnight = e.ts % 60.0 == 0.0 and self._day(e.ts) == e.ts
        if not midnight:
            if self.midnights.get(e.source, 1):
                self._remember_source(e.source, 0)
            return False
        run = self.midnights.get(e.source)
        run = p.date_only_after if run is None else min(p.date_only_after, run + 1)
        self._remember_source(e.source, run)
        return run >= p.date_only_after

    def _batched(self, e: Event, cat: str) -> bool:
        """True if ``e`` goes on an entry batch: its office entered one of its category at most
        ``batch_minutes`` before (a run of such entries is one batch), while that office made at least
        ``1 / link_share`` of the category's other entries of the last ``batch_minutes``."""
        p = self.p
        office = e.attrs.get(p.batch_attr) if p.batch_minutes > 0 and p.batch_attr else None
        if office is None:
            return False
        office, gap = str(office), p.batch_minutes * 60.0
        q = self.entries.get(cat)
        if q is None:
            q = self.entries[cat] = deque()
        while q and q[0][0] < e.ts - gap:
            q.popleft()
        same = sum(1 for _, o in q if o == office)
        q.append((e.ts, office))
        last = self.batch_last.get((office, cat))
        if last is None and len(self.batch_last) >= MAX_PLACES:
            self.batch_last = self._make_room(self.batch_last, e.ts - gap - 1e-9)
        self.batch_last[(office, cat)] = e.ts
        return last is not None and e.ts - last <= gap and same * p.link_share >= len(q) - 1

    def _new_category(self, cat: str, t: float) -> bool:
        """True while a category that had no history when first seen is younger than ``new_category_hours``."""
        first = self.cat_first.get(cat)
        hours = self.p.warmup_hours if self.p.new_category_hours is None else self.p.new_category_hours
        return first is not None and t - first < hours * 3600.0

    # -- the state's bound: nothing here grows with the length of the history ---------------------------------
    # Every hour boundary drops what can no longer change a result: dedupe and batch entries older than their
    # spans (once there are more than _PRUNE_AT), link and batch queues past their horizons, the first-seen times
    # of categories past their learning hours, and keys with no level and nothing in their window (once there
    # are more than MAX_IDLE_KEYS keys). The categories are capped at ``max_categories`` (the least recently
    # seen forgotten, with a log line and ``evicted``), dedupe places at MAX_PLACES and sources at MAX_SOURCES.
    # A district's state then holds: per category (at most max_categories) its baseline sums, about 0.55 KiB
    # written; per (node, category) pair seen its share and dispersion sums, about 20 bytes; the keys with
    # complaints in their window (about 60 bytes each, plus 30 per complaint) and up to MAX_IDLE_KEYS idle ones;
    # the last minutes' queues.
    # tests/unit/detectors/test_bursts_state_bound.py holds it to 320 KiB for 11 nodes and 256 categories.

    def _count(self, what: str, n: int) -> None:
        self.evicted[what] = self.evicted.get(what, 0) + n
        log.warning("complaint bursts: forgot %d %s to keep the state within its bound (%d so far)",
                    n, what, self.evicted[what])

    def _seen(self, cat: str, t: float) -> None:
        """``cat`` seen at ``t``: it becomes the most recently seen; a new one beyond ``max_categories`` makes
        the least recently seen category forgotten."""
        seen = self.cat_seen
        if seen.pop(cat, None) is None and len(seen) >= self.p.max_categories:
            gone = list(seen)[: len(seen) - self.p.max_categories + 1]
            for old in gone:
                self._forget_category(old)
            self._count("categories", len(gone))
        seen[cat] = t

    def _forget_category(self, cat: str) -> None:
        """Everything the detector learned or counts of ``cat``: it starts afresh if it comes back."""
        self.cat_seen.pop(cat, None)
        tiers = {n: i for nodes in self._chains.values() for i, n in enumerate(nodes)}
        pairs = {key for key in self.keys if key[1] == cat} | {key for key in self.base.pair_n if key[1] == cat}
        for node, _ in pairs:
            k = self.keys.pop((node, cat), None)
            tier = k.tier if k is not None else tiers.get(node, 0)
            if self.tier_keys.get(tier, 0) > 1:
                self.tier_keys[tier] -= 1
            else:
                self.tier_keys.pop(tier, None)
            self.active.discard((node, cat))
            self.cusum.pop((node, cat), None)
            self.hour_n.pop((node, cat), None)
        self._tier_lp.clear()
        for d in (self.recent, self.entries, self.cat_first):
            d.pop(cat, None)  # type: ignore[attr-defined]
        self.last_at = {k: v for k, v in self.last_at.items() if k[1] != cat}
        self.batch_last = {k: v for k, v in self.batch_last.items() if k[1] != cat}
        self.base.forget(cat)

    def _remember_source(self, source: str, run: int) -> None:
        """The date-only run of ``source`` (the least recently updated source goes beyond MAX_SOURCES)."""
        m = self.midnights
        if m.pop(source, None) is None and len(m) >= MAX_SOURCES:
            del m[next(iter(m))]
            self._count("sources", 1)
        m[source] = run

    def _bound(self, t: float) -> None:
        """At an hour boundary (``t``, events come in time order): drop what no later event can read."""
        p = self.p
        if len(self.last_at) > _PRUNE_AT:  # (a few entries are not worth a pass)
            horizon = t - p.dedupe_minutes * 60.0
            self.last_at = {k: v for k, v in self.last_at.items() if v > horizon}
        if len(self.batch_last) > _PRUNE_AT:
            horizon = t - p.batch_minutes * 60.0
            self.batch_last = {k: v for k, v in self.batch_last.items() if v >= horizon}
        for queues, span in ((self.recent, p.link_minutes), (self.entries, p.batch_minutes)):
            horizon = t - span * 60.0
            for cat in list(queues):
                q = queues[cat]
                while q and q[0][0] < horizon:
                    q.popleft()
                if not q:
                    del queues[cat]
        if self.cat_first:
            hours = p.warmup_hours if p.new_category_hours is None else p.new_category_hours
            self.cat_first = {c: f for c, f in self.cat_first.items()
                              if t - f < hours * 3600.0 or c not in self.base.cats}
        if len(self.keys) > MAX_IDLE_KEYS:
            active, windows = self.active, self._window_s
            for key in [key for key, k in self.keys.items() if key not in active
                        and _idle(k, t - (windows.get(k.tier) or self._window_of(k.tier)))]:
                del self.keys[key]  # comes back (same tier, not counted again in tier_keys) with its next complaint

    def _evaluate(self, node: str, cat: str, k: _Key, t: float, cause: str, sweep: bool = False) -> Signal | None:
        p = self.p
        daily = k.daily
        if daily:  # a day's count against the whole day's expected count
            start = self._day(t)
            if sweep:  # the sweep judges the last closed day (if the key has nothing today)
                if k.window and k.window[-1][0] >= start:
                    return None
                start = self._day(start - 3600.0)
            end = self._day(start + 26 * 3600.0)
            window_s = end - start
            while k.window and k.window[0][0] < start:
                k.window.popleft()
            while k.batched and k.batched[0] < start:
                k.batched.popleft()
        else:
            window_s = self._window_s.get(k.tier) or self._window_of(k.tier)
            end, horizon = t, t - window_s
            window, batched = k.window, k.batched
            while window and window[0][0] <= horizon:
                window.popleft()
            while batched and batched[0] <= horizon:
                batched.popleft()
        count = len(k.window)
        prob, surprise, alpha = 1.0, 0.0, 0.0
        if count < p.min_count:  # the surprise is 0 (every test below needs min_count) whatever the expected
            expected: float | None = None  # count: it is worked out only for a signal
            self.base.defer_expected(node, cat, end, window_s)
        else:
            expected = self.base.expected(node, cat, end, window_s)
            if ((count / expected if expected > 0 else math.inf) >= p.min_ratio * (0.5 if k.state.level else 1.0)
                    and self.base.hours_seen >= p.warmup_hours and not self._new_category(cat, t)):
                alpha = self.base.alpha(node, cat)
                prob, surprise = nb_surprise(count, expected, alpha, p.max_surprise)
            if daily:  # an hourly CUSUM means nothing when a day's records share one time
                pass
            elif p.cusum_open and p.cusum_scale > 0 and not k.state.level and node in self.tops:
                # the top of a chain (the district) opens on a window that is surprising and sustained
                surprise = max(0.0, surprise - max(0.0, p.cusum_open - self.cusum.get((node, cat), 0.0)))
            cusum = 0.0 if daily else self.cusum.get((node, cat), 0.0)
            if k.state.level or p.cusum_raise and cusum >= p.cusum_raise:
                # sustained excess escalates a raised alert (and, from cusum_raise, opens one at the top)
                surprise = max(surprise, min(p.max_surprise, p.cusum_scale * cusum))
        if daily and not sweep and k.state.level and surprise < (k.state.last_value or 0.0):
            return None  # a day's count only grows while its records come in: it falls when the day is over
        if (k.state.step(self._tier_lp.get(k.tier) or self._lp(k.tier), t, surprise) is None
                and not k.level and not k.state.level):
            return None
        if expected is None:
            expected = self.base.expected(node, cat, end, window_s)
        ratio = count / expected if expected > 0 else math.inf
        places: dict[str, int] = {}
        for _, place in k.window:
            if place is not None:
                places[place] = places.get(place, 0) + 1
        top = max(places.values(), default=0)
        repeats = count - len(places) - sum(1 for _, pl in k.window if pl is None)
        level = min(4, k.state.level + 1) if k.state.level and top >= p.repeat_min else k.state.level
        if p.cover and level > k.level and any(
                (o := self.keys.get((n, cat))) is not None and o.level >= level for n in self.related.get(node, ())):
            level = k.level  # covered: a related node (ancestor or descendant) shows this burst already
        (self.active.add if level or k.state.level else self.active.discard)((node, cat))
        if not k.state.level:
            self.cusum.pop((node, cat), None)  # reset on clear
        if level == k.level:
            return None
        k.level = level
        lv = Level(level) if level else None
        hours = window_s / 3600.0
        span = f"on {datetime.fromtimestamp(end - 1.0, ZoneInfo(p.tz)):%Y-%m-%d}" if daily else f"in {hours:g} h"
        what = f"{count} {cat} complaints {span} (expected {expected:.2f}, p={prob:.2g})"
        reason = f"complaint-burst: {what}" + (f", {top} from one place" if top >= p.repeat_min else "")
        if k.batched:
            reason += f", {len(k.batched)} more entered in batches"
        if lv is None:
            reason = f"complaint-burst: {cat} back to normal ({what})"
        return Signal(
            detector="burst", rule="complaint-burst", risk=risk_for(cat), feed=k.feed, grid=node,
            series=f"{node}/{cat}", source=k.source, ts=t, level=lv, score=surprise, reason=reason,
            kind="level" if lv else "clear", certainty=Certainty.POSSIBLE,
            evidence={"count": count, "expected": expected, "ratio": ratio, "p_value": prob,
                      "window_hours": hours, "dispersion": alpha, "tier": k.tier, "repeats": repeats,
                      "max_per_place": top, "surprise": surprise, "daily": daily,
                      "raw_count": count + len(k.batched),
                      "cusum": self.cusum.get((node, cat), 0.0), "category": cat, "event": cause})

    def process(self, e: Event) -> list[Signal]:
        """Score one event (then learn it); return the signals of every key whose level changed."""
        p = self.p
        if e.feed not in p.feeds or (p.ignore_channels and e.attrs.get("channel") in p.ignore_channels):
            return []
        out: list[Signal] = []
        cat = e.category or "*"
        nodes = self.nodes(e.grid)
        if p.cusum_scale > 0 and self.base.cusum_step(self.cusum, self.hour_n, e.ts, p.cusum_drift):
            self.hour_n = {}
        if self.base.advance(e.ts):
            for node, c in sorted(self.active - {(n, cat) for n in nodes}):  # lower or clear them
                s = self._evaluate(node, c, self.keys[(node, c)], e.ts, e.id, sweep=True)
                if s is not None:
                    out.append(s)
            self._bound(e.ts)
        self._seen(cat, e.ts)
        if cat not in self.cat_first and cat not in self.base.cats and self.base.hours_seen >= p.warmup_hours:
            self.cat_first[cat] = e.ts  # no history: learned for new_category_hours before it is tested
        daily = self._daily(e)
        place = self._place(e)
        if self._linked(e, cat) or self._duplicate(e.grid, cat, place, e.ts):
            return out
        if self._batched(e, cat):  # one report with its batch: kept for the evidence's raw count
            stamp = self._day(e.ts) if daily else e.ts
            for tier, node in enumerate(nodes):
                k = self.keys.get((node, cat))
                if k is None and (node, cat) in self.base.pair_n:  # a key dropped while idle (see _bound)
                    k = self.keys[(node, cat)] = _Key(tier=tier, daily=daily)
                if k is not None and k.daily == daily:
                    k.batched.append(stamp)
            return out
        guarded = alerted = False
        keys, ts, source, feed = self.keys, e.ts, e.source, e.feed
        day = self._day(ts) if daily else ts
        top = len(nodes) - 1 if p.cusum_scale > 0 and not daily else 0  # its hourly counts (tier 0: none)
        for tier, node in enumerate(nodes):
            k = keys.get((node, cat))
            if k is None:
                k = keys[(node, cat)] = _Key(tier=tier)
                if (node, cat) not in self.base.pair_n:  # else a key dropped while idle (_bound) is back
                    self.tier_keys[tier] = self.tier_keys.get(tier, 0) + 1
                    self._tier_lp.clear()
            k.source, k.feed = source, feed
            if daily != k.daily:
                k.daily = daily
                k.window.clear()  # the other kind of window
            if daily and (k.level or k.state.level) and k.window and k.window[-1][0] < day:
                s = self._evaluate(node, cat, k, ts, e.id, sweep=True)  # first judge the closed day
                if s is not None:
                    out.append(s)
            k.window.append((day, place))
            if tier and tier == top:
                self.hour_n[(node, cat)] = self.hour_n.get((node, cat), 0) + 1
            s = self._evaluate(node, cat, k, ts, e.id)
            if s is not None:
                out.append(s)
            state = k.state
            last = state.last_value
            alerted = alerted or bool(k.level or state.level)
            guarded = guarded or alerted or last is not None and last >= p.learn_guard
        self.base.pending.append((nodes, cat, p.learn_in_alert if guarded else 1.0,
                                   0.0 if alerted else 1.0))
        return out


class BurstExtra(VersionedDetector):
    """The ``bursts`` :class:`fenghuo.detectors.protocol.Detector`: one detector for live events, one per
    drill (fresh baseline)."""

    name = "bursts"

    def __init__(self, params: BurstParams | None = None, chain: ChainFn | None = None) -> None:
        self.params = params or BurstParams()
        self.chain = chain
        self.detectors: dict[str | None, ComplaintBurst] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"params": self.params, "chain": None, "detectors": self.detectors}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def forget_drill(self, drill: str) -> None:
        """A purged drill run's baseline goes (see :meth:`fenghuo.detectors.engine.DetectorEngine.forget_drill`)."""
        self.detectors.pop(drill, None)

    def __call__(self, e: Event) -> list[Signal]:
        det = self.detectors.get(e.drill)
        if det is None:
            det = self.detectors[e.drill] = ComplaintBurst(self.params, self.chain)
        elif det.chain is None:
            det.chain = self.chain
        out = det.process(e)
        for s in out:
            s.drill = e.drill
        return out

    process = __call__

    @property
    def feeds(self) -> frozenset[str]:  # type: ignore[override]
        return frozenset(self.params.feeds)

    def live_state(self) -> dict[str, Any]:
        """The state as the live objects (not copied), for :meth:`use_live_state`."""
        return {"detectors": dict(self.detectors)}

    def use_live_state(self, live: dict[str, Any]) -> None:
        """Take the saved detectors with the parameters of *this* configuration (a changed config
        applies after a restart; the saved counts and baselines are kept)."""
        self.detectors = dict(live.get("detectors", {}))
        for det in self.detectors.values():
            det.chain = self.chain
            det.use_params(self.params)

    # of the bursts' state (a ComplaintBurst per drill); bump it (and read the old) on a change. 2: the baseline's
    # (node, category) sums written by category; a state of version 1 is read as it is and bounded at the next hour
    STATE_VERSION = 2

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a snapshot of this version or of version 1 (an empty dict: start afresh)."""
        if not state:
            self.use_live_state({})
            return
        self.use_live_state(saved.unversioned(state, self.name, {1: saved.from_plain, 2: saved.from_plain}))


saved.register("bursts.params", BurstParams)
saved.register("bursts.key", _Key)
saved.register("bursts.detector", ComplaintBurst)
saved.register("bursts.extra", BurstExtra)


def make_burst_extra(params: BurstParams | None = None, chain: ChainFn | None = None) -> BurstExtra:
    """The bursts :class:`~fenghuo.detectors.protocol.Detector` (``Event -> list[Signal]``) for ``DetectorEngine.add``.

    ``chain(grid)`` (the engine's chain: node ids, grid first) rolls bursts up the grid tree.
    """
    return BurstExtra(params, chain)


@register("bursts", BurstParams, feeds=("complaint",), scope="district")
def _build(params: BurstParams, ctx: BuildContext) -> BurstExtra:
    """Complaint bursts roll up the grid tree, so they need a whole district's complaints."""
    return BurstExtra(params, chain=ctx.chain)
