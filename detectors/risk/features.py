"""Features per (grid, category group) at a forecast origin, computed causally from the cases and alerts.

Everything at origin ``t`` reads only what was known before ``t``: cases opened before ``t``, a case counts as
closed only if it was closed before ``t`` (one closed later was open then), alerts raised before ``t``. The
seasonal expectation is learned from the training window ``[t - history_days, t)``: per grid and group an
hour-of-week profile (local time), shrunk to the city's profile of that group with weight ``SHRINK`` counts,
times the grid's mean weekly count in the window. Over a whole week it is that mean; over a shorter horizon
the profile decides (a Monday has more complaints than a Sunday).

The features (model input; ``shown`` keeps the plain value for the explanation):

==================== ============================================================ ==================
name                 model input                                                  shown
==================== ============================================================ ==================
recent_count         log(1 + complaints in the last 7 days)                       the count
trend                log((last 7 days + 1) / (weekly mean of last 28 days + 1))   the ratio
expected             log(1 + seasonal expectation over the horizon)               the expectation
open_share           of the cases opened in the last 90 days, the share open at t the share
overdue_share        of the same cases, the share open and past their deadline    the share
repeat_share         share of the last 7 days' cases from a place reported twice+ the share
flagged_share        share of the last 28 days' cases with risk-flagged text      the share
alert_level          highest level of the alerts raised in the grid in the last   the level
                     7 days (0 none, 1 blue .. 4 red)
neighbour_activity   mean over the neighbouring grids of log((last 7 days + 1) /  the ratio
                     (their seasonal expectation + 1))
==================== ============================================================ ==================

Tried and left out (docs/benchmarks-risk.md): the count of recent alerts and of recent burst episodes beside the
highest level (the same marks three times over; worse on a held-back half year), the city-wide ratio of the last
7 days to their expectation (a shift of the whole week that the pooled calibration carries badly: pooled AUC on
Boston 0.590 with it, 0.614 without). Recent counts against their expectation are not a feature of their own:
with ``recent_count`` and ``expected`` both in a linear model they would be collinear, and the split of the
effect between them (the explanation) arbitrary.

Neighbours: grids whose centroids are within ``neighbour_km``, and grids under the same parent (community).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from fenghuo.core.grids import GridTree, haversine_km
from fenghuo.detectors.risk.cases import AlertMark, Case
from fenghuo.detectors.risk.params import RiskForecastParams

DAY, WEEK = 86400.0, 7 * 86400.0
SHRINK = 168.0  # counts of the city profile mixed into a grid's hour-of-week profile (one per hour on average)
OPEN_DAYS = 90  # unresolved cases: those opened in the last 90 days

# name, 中文, English
FEATURES: tuple[tuple[str, str, str], ...] = (
    ("recent_count", "近7天诉求量", "complaints, last 7 days"),
    ("trend", "近7天与近28天周均之比", "trend: last 7 days against the 28-day weekly mean"),
    ("expected", "预测期季节预期诉求量", "seasonal expectation over the horizon"),
    ("open_share", "未办结诉求占比", "share of cases still unresolved"),
    ("overdue_share", "超期未办结诉求占比", "share of cases unresolved past their deadline"),
    ("repeat_share", "同一地点重复投诉占比", "share of repeat reports from one place"),
    ("flagged_share", "风险文本占比", "share of risk-flagged text"),
    ("alert_level", "近7天最高告警等级", "highest alert level, last 7 days"),
    ("neighbour_activity", "周边网格活跃度", "neighbouring grids' activity"),
)
NAMES = tuple(f[0] for f in FEATURES)
LABELS = {f[0]: (f[1], f[2]) for f in FEATURES}


class HourOfWeek:
    """Local hour of the week (0 = Monday 00:00) of epoch seconds, with the UTC offset cached per hour.

    >>> HourOfWeek("UTC")(np.array([0.0, 3600.0 * 24 * 4]))  # 1970-01-01 was a Thursday
    array([72,  0])
    """

    def __init__(self, tz: str) -> None:
        self.zone = ZoneInfo(tz)
        self._offset: dict[int, int] = {}

    def offset(self, hour: int) -> int:
        off = self._offset.get(hour)
        if off is None:
            delta = datetime.fromtimestamp(hour * 3600.0, self.zone).utcoffset()
            off = self._offset[hour] = int(delta.total_seconds()) if delta is not None else 0
        return off

    def __call__(self, ts: np.ndarray) -> np.ndarray:
        hours = np.floor(np.asarray(ts, dtype=float) / 3600.0).astype(np.int64)
        uniq, inv = np.unique(hours, return_inverse=True)
        offs = np.array([self.offset(int(h)) for h in uniq], dtype=np.int64)[inv]
        local_h = (hours * 3600 + offs) // 3600
        return ((local_h + 72) % 168).astype(np.int64)  # epoch day 0 was a Thursday: hour 72 of the week


@dataclass
class Data:
    """The cases and alerts as arrays (time-sorted), indexed by grid and group."""

    grids: list[str]
    groups: list[str]
    ts: np.ndarray
    grid: np.ndarray  # grid index
    member: np.ndarray  # (n, groups) bool
    closed: np.ndarray  # inf while open
    target: np.ndarray  # inf without a deadline
    place: np.ndarray  # place id, -1 none
    flagged: np.ndarray
    how: np.ndarray  # local hour of week
    a_ts: np.ndarray
    a_grid: np.ndarray
    a_level: np.ndarray
    a_member: np.ndarray  # (m, groups) bool: burst marks of a category in the group (all bursts for "all")
    neighbours: np.ndarray  # (grids, grids) row-normalised
    first_ts: float | None
    hours: HourOfWeek


def neighbour_matrix(tree: GridTree, grids: list[str], km: float) -> np.ndarray:
    """Row-normalised: grid i's neighbours (centroids within ``km``, or the same parent node)."""
    n = len(grids)
    m = np.zeros((n, n))
    parent = {g: (tree.nodes[g].parent if g in tree.nodes else None) for g in grids}
    for i, a in enumerate(grids):
        ca = tree.centroid(a)
        for j, b in enumerate(grids):
            if i == j:
                continue
            cb = tree.centroid(b)
            near = ca is not None and cb is not None and haversine_km(ca[0], ca[1], cb[0], cb[1]) <= km
            if near or (parent[a] is not None and parent[a] == parent[b]):
                m[i, j] = 1.0
    s = m.sum(axis=1, keepdims=True)
    return np.divide(m, s, out=np.zeros_like(m), where=s > 0)


def prepare(cases: Sequence[Case], alerts: Sequence[AlertMark], tree: GridTree, params: RiskForecastParams,
            tz: str) -> Data:
    """Index the cases and alerts once (a forecast or a training run reads them at many origins)."""
    grids = [g.id for g in tree.grids]
    known = set(grids)
    grids += sorted({c.grid for c in cases} - known)
    gi = {g: i for i, g in enumerate(grids)}
    groups = params.group_names()
    order = sorted(range(len(cases)), key=lambda i: cases[i].ts)
    cs = [cases[i] for i in order]
    memo: dict[str | None, list[bool]] = {}

    def member(cat: str | None) -> list[bool]:
        row = memo.get(cat)
        if row is None:
            inside = set(params.in_groups(cat))
            row = memo[cat] = [g in inside for g in groups]
        return row

    places: dict[tuple[str, str], int] = {}
    hours = HourOfWeek(tz)
    ts = np.array([c.ts for c in cs], dtype=float)
    alerts_s = sorted(alerts, key=lambda a: a.ts)
    alerts_s = [a for a in alerts_s if a.grid in gi]
    a_member = np.array([[a.burst and (g == "all" or a.category is None or member(a.category)[k])
                          for k, g in enumerate(groups)] for a in alerts_s], dtype=bool).reshape(-1, len(groups))
    return Data(
        grids=grids, groups=groups, ts=ts, grid=np.array([gi[c.grid] for c in cs], dtype=np.int64),
        member=np.array([member(c.category) for c in cs], dtype=bool).reshape(-1, len(groups)),
        closed=np.array([math.inf if c.closed is None else c.closed for c in cs], dtype=float),
        target=np.array([math.inf if c.target is None else c.target for c in cs], dtype=float),
        place=np.array([-1 if c.place is None else places.setdefault((c.grid, c.place), len(places)) for c in cs],
                       dtype=np.int64),
        flagged=np.array([c.flagged for c in cs], dtype=bool), how=hours(ts),
        a_ts=np.array([a.ts for a in alerts_s], dtype=float),
        a_grid=np.array([gi[a.grid] for a in alerts_s], dtype=np.int64),
        a_level=np.array([a.level for a in alerts_s], dtype=np.int64), a_member=a_member,
        neighbours=neighbour_matrix(tree, grids, params.neighbour_km),
        first_ts=float(ts[0]) if len(ts) else None, hours=hours)


@dataclass
class Frame:
    """Features of every (grid, group) at one origin; rows are grid-major: row = grid * len(groups) + group."""

    at: float
    horizon_days: float
    X: np.ndarray  # (rows, len(NAMES)) model input
    shown: np.ndarray  # (rows, len(NAMES)) plain values
    expected: np.ndarray  # (rows,) seasonal expectation over the horizon
    recent: np.ndarray  # (rows,) count in the last 7 days
    active: np.ndarray  # (rows,) the grid has cases in the window (a grid with none is not scored)


def _slice(ts: np.ndarray, a: float, b: float) -> slice:
    return slice(int(np.searchsorted(ts, a, "left")), int(np.searchsorted(ts, b, "left")))


def _counts(d: Data, a: float, b: float, weights: np.ndarray | None = None) -> np.ndarray:
    """(grids, groups) count (or sum of ``weights``) of cases opened in [a, b)."""
    s = _slice(d.ts, a, b)
    n_g, n_k = len(d.grids), len(d.groups)
    out = np.zeros((n_g, n_k))
    g, mem = d.grid[s], d.member[s]
    w = None if weights is None else weights[s] if len(weights) == len(d.ts) else weights
    for k in range(n_k):
        m = mem[:, k]
        out[:, k] = np.bincount(g[m], weights=None if w is None else w[m], minlength=n_g)
    return out


def horizon_profile(d: Data, a: float, hours: float) -> np.ndarray:
    """How many times each hour of the week occurs in [a, a + hours): (168,) counts."""
    n = max(1, int(round(hours)))
    starts = a + 3600.0 * np.arange(n)
    return np.bincount(d.hours(starts), minlength=168).astype(float)


def seasonal(d: Data, at: float, history_days: float) -> tuple[np.ndarray, np.ndarray]:
    """(level, shape): the mean weekly count (grids, groups) in the window before ``at``, and the hour-of-week
    profile (grids, groups, 168) summing to 1, shrunk to the city's. No data: zeros and a flat profile."""
    n_g, n_k = len(d.grids), len(d.groups)
    if d.first_ts is None or d.first_ts >= at:
        return np.zeros((n_g, n_k)), np.full((n_g, n_k, 168), 1 / 168)
    w0 = max(at - history_days * DAY, d.first_ts)
    weeks = max((at - w0) / WEEK, 1.0)
    s = _slice(d.ts, w0, at)
    g, how, mem = d.grid[s], d.how[s], d.member[s]
    c = np.zeros((n_g, n_k, 168))
    for k in range(n_k):
        m = mem[:, k]
        c[:, k, :] = np.bincount(g[m] * 168 + how[m], minlength=n_g * 168).reshape(n_g, 168)
    total = c.sum(axis=2)
    city = c.sum(axis=0)  # (groups, 168)
    city_share = (city + 1.0) / (city.sum(axis=1, keepdims=True) + 168.0)
    shape = (c + SHRINK * city_share[None, :, :]) / (total[:, :, None] + SHRINK)
    return total / weeks, shape


def expectation(d: Data, level: np.ndarray, shape: np.ndarray, a: float, hours: float) -> np.ndarray:
    """Seasonal expectation (grids, groups) over [a, a + hours)."""
    prof = horizon_profile(d, a, hours)
    return level * (shape @ prof)


def frame(d: Data, at: float, horizon_days: float, history_days: float) -> Frame:
    """The features of every (grid, group) at origin ``at`` (only what was known before ``at``)."""
    n_g, n_k = len(d.grids), len(d.groups)
    level, shape = seasonal(d, at, history_days)
    exp_next = expectation(d, level, shape, at, horizon_days * 24)
    exp_last = expectation(d, level, shape, at - WEEK, 168)
    r7 = _counts(d, at - WEEK, at)
    r28 = _counts(d, at - 4 * WEEK, at)
    w0 = at - history_days * DAY
    active = _counts(d, w0, at)[:, :1] > 0  # by "all"
    s = _slice(d.ts, at - OPEN_DAYS * DAY, at)
    open_now = (d.closed[s] > at).astype(float)
    overdue = open_now * (d.target[s] < at)
    opened = _counts(d, at - OPEN_DAYS * DAY, at, open_now)
    late = _counts(d, at - OPEN_DAYS * DAY, at, overdue)
    # repeat reports: cases of the last 7 days whose (grid, place) was reported at least twice in them
    s7 = _slice(d.ts, at - WEEK, at)
    pl = d.place[s7]
    rep = np.zeros(len(pl))
    if len(pl):
        _, inv, cnt = np.unique(pl, return_inverse=True, return_counts=True)
        rep = ((cnt[inv] >= 2) & (pl >= 0)).astype(float)
    repeats = _counts(d, at - WEEK, at, rep)
    s28 = _slice(d.ts, at - 4 * WEEK, at)
    flagged = _counts(d, at - 4 * WEEK, at, d.flagged[s28].astype(float))
    # alerts: the highest level raised in the grid in the last 7 days
    sa7 = _slice(d.a_ts, at - WEEK, at)
    level7 = np.zeros(n_g)
    np.maximum.at(level7, d.a_grid[sa7], d.a_level[sa7].astype(float))
    rve = np.log((r7 + 1) / (exp_last + 1))
    trend = np.log((r7 + 1) / (r28 / 4 + 1))
    neigh = d.neighbours @ rve
    rep_share = repeats / np.maximum(r7, 1)
    n90 = _counts(d, at - OPEN_DAYS * DAY, at)
    open_share, late_share = opened / np.maximum(n90, 1), late / np.maximum(n90, 1)
    flag_share = flagged / np.maximum(r28, 1)
    l7 = np.broadcast_to(level7[:, None], (n_g, n_k))
    shown = np.stack([r7, np.exp(trend), exp_next, open_share, late_share, rep_share, flag_share, l7,
                      np.exp(neigh)], axis=2)
    X = np.stack([np.log1p(r7), trend, np.log1p(exp_next), open_share, late_share, rep_share,
                  flag_share, l7, neigh], axis=2)
    rows = n_g * n_k
    return Frame(at=at, horizon_days=horizon_days, X=X.reshape(rows, -1), shown=shown.reshape(rows, -1),
                 expected=exp_next.reshape(rows), recent=r7.reshape(rows),
                 active=np.broadcast_to(active, (n_g, n_k)).reshape(rows).copy())


def outcome(d: Data, at: float, horizon_days: float) -> tuple[np.ndarray, np.ndarray]:
    """(count, burst) per row over [at, at + horizon): complaints, and whether a burst mark of the group was
    raised in the grid (the label's two halves; only for origins whose horizon has passed)."""
    end = at + horizon_days * DAY
    count = _counts(d, at, end)
    s = _slice(d.a_ts, at, end)
    n_g, n_k = len(d.grids), len(d.groups)
    burst = np.zeros((n_g, n_k), dtype=bool)
    for k in range(n_k):
        m = d.a_member[s][:, k]
        burst[d.a_grid[s][m], k] = True
    return count.reshape(-1), burst.reshape(-1)
