"""Backtests: what a rule would have raised on stored history, vectorised, exactly as the engine.

:func:`simulate` takes a rule and the real events of its feed (columns, sorted by time) and returns
the episodes the :class:`~fenghuo.detectors.engine.DetectorEngine` would have produced fed the same events in
time order: raised when a series leaves level 0, every level change, cleared when it returns to 0.
Series, parameters (grid overrides, per-source levels), values (``value or 0.0`` for sensors, 1 for
text feeds), the rate of change (half-window rule) and the sliding count all follow
:mod:`fenghuo.detectors.rules`; the level state machine is :mod:`fenghuo.detectors.hysteresis_vector`. A series whose
parameters change along the way (its events move between grids with different overrides) is run
through the streaming detector instead, which is exact and rare.

>>> from fenghuo.core.config import Rule
>>> rule = Rule(id="r", metric="m", levels={"blue": 1.0, "red": 2.0})
>>> rows = [("s", "G", None, float(t), v) for t, v in enumerate([0.5, 1.5, 2.5, 0.2])]
>>> [(e.raised_at, e.cleared_at, e.max_level, e.changes) for e in simulate(rule, rows).episodes]
[(1.0, 3.0, 4, [(1.0, 1), (2.0, 4)])]
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from fenghuo.core.config import Rule
from fenghuo.core.levels import LEVEL_NAMES, Level
from fenghuo.core.models import Alert, iso
from fenghuo.detectors.hysteresis import LevelParams
from fenghuo.detectors.hysteresis_vector import level_changes_many
from fenghuo.detectors.rules import make_rule_detector, params_for

Chain = Callable[[str], list[str]]
Row = tuple[Any, ...]  # (source, grid, category, ts, value), as Store.history_rows returns them
OBSERVED = {"threshold": "value", "rate": "rate per hour", "count": "count in window"}


@dataclass(slots=True)
class Episode:
    """One alert a rule would have raised: from leaving level 0 to coming back (or the end of the range)."""

    series: str
    source: str
    grid: str
    raised_at: float
    changes: list[tuple[float, int]]  # (ts, level) from the raise on; the clearing is not listed
    max_level: int
    cleared_at: float | None = None


@dataclass(slots=True)
class SeriesRun:
    """One series as the rule saw it: the times and observed values fed to the levels, and its parameters."""

    key: str
    source: str
    grid: str
    params: LevelParams | None  # None when they changed along the series
    ts: np.ndarray
    observed: np.ndarray


@dataclass(slots=True)
class Backtest:
    rule: Rule
    episodes: list[Episode] = field(default_factory=list)
    series: dict[str, SeriesRun] = field(default_factory=dict)
    points: int = 0


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of row tuples are made and unpacked.

    Tuples are tracked containers: building millions of them triggers repeated full collections that
    cost more than the work itself (4.3M rows: 7 s with, 2 s without). They hold no cycles.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _no_chain(grid: str) -> list[str]:
    return [grid]


def _values(rule: Rule, raw: Sequence[Any]) -> np.ndarray:
    """Sensor values as the engine reads them (``e.value or 0.0``); text feeds count 1 per event."""
    if rule.feed != "sensor":
        return np.ones(len(raw))
    out = np.array(raw, dtype=float)
    for i in np.flatnonzero(np.isnan(out)):
        out[i] = 0.0 if raw[i] is None else out[i]
    return out


def _observe(rule: Rule, ts: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mask of points fed to the levels, observed value) of one series, as the rule's detector computes them."""
    if rule.kind == "rate":  # RateDetector: oldest point within the window, needs half a window of history
        j0 = np.searchsorted(ts, ts - rule.window_seconds, side="left")
        dt = ts - ts[j0]
        fed = ~(dt < rule.window_seconds / 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = (v - v[j0]) / dt * 3600.0
        return fed, np.where(fed, rate, 0.0)
    if rule.kind == "count":  # CountDetector: events in (ts - window, ts]
        n = np.arange(1, len(ts) + 1) - np.searchsorted(ts, ts - rule.window_seconds, side="right")
        return np.ones(len(ts), dtype=bool), n.astype(float)
    return np.ones(len(ts), dtype=bool), v


def _streamed(rule: Rule, params: list[LevelParams], ts: np.ndarray,
              v: np.ndarray) -> tuple[list[tuple[int, int]], np.ndarray]:
    """The streaming detector itself, for a series whose parameters change along the way."""
    det = make_rule_detector(rule)
    changes, observed = [], np.empty(len(ts))
    for i, (p, t, x) in enumerate(zip(params, ts.tolist(), v.tolist(), strict=True)):
        changed, observed[i] = det.step(p, t, x)
        if changed is not None:
            changes.append((i, changed))
    return changes, observed


def _episodes(run: SeriesRun, grids: np.ndarray, changes: list[tuple[int, int]]) -> list[Episode]:
    out: list[Episode] = []
    current: Episode | None = None
    for i, level in changes:
        t = float(run.ts[i])
        if level == 0:
            if current is not None:
                current.cleared_at = t
                current = None
        elif current is None:
            current = Episode(run.key, run.source, str(grids[i]), t, [(t, level)], level)
            out.append(current)
        else:
            current.changes.append((t, level))
            current.max_level = max(current.max_level, level)
    return out


def simulate(rule: Rule, rows: Sequence[Row], chain: Chain = _no_chain, grid: str | None = None,
             series: str | None = None) -> Backtest:
    """Run ``rule`` over ``rows`` (real events of its feed, by time); optionally only series under ``grid``
    (a node of the tree) or one ``series`` key."""
    result = Backtest(rule)
    if not rows:
        return result
    with paused_gc():
        source, grids, category, ts, raw = zip(*rows, strict=True)
    src, src_names = pd.factorize(np.array(source, dtype=object))
    grd, grid_names = pd.factorize(np.array(grids, dtype=object))
    # the engine's series of a text event is grid/category, with no category (or "") as "*"
    if rule.feed == "sensor":
        cat, cat_names = np.zeros(len(src), dtype=np.int64), pd.Index([])
    else:
        cat, cat_names = pd.factorize(np.array([c if c else None for c in category], dtype=object))
    keep = np.ones(len(src), dtype=bool)
    if rule.feed != "sensor" and rule.category not in (None, "*"):
        keep &= cat == (list(cat_names).index(rule.category) if rule.category in cat_names else -2)
    if rule.feed == "sensor":
        key, names = src, [f"{x}/{rule.metric or ''}" for x in src_names]
    else:
        width = len(cat_names) + 1
        key, pairs = pd.factorize(grd * width + cat + 1)
        names = [f"{grid_names[u // width]}/{cat_names[u % width - 1] if u % width else '*'}" for u in pairs]
    if series is not None:
        keep &= key == (names.index(series) if series in names else -2)
    # parameters per (grid, source), as DetectorEngine._applies; rows the rule does not apply to are dropped
    by_source = bool(rule.sources)
    where, combos = pd.factorize(grd * len(src_names) + src if by_source else grd)
    table: list[LevelParams | None] = []
    for u in combos:
        g = str(grid_names[u // len(src_names)] if by_source else grid_names[u])
        links = chain(g)
        if (grid is not None and grid not in links) or (rule.grid != "*" and rule.grid not in links):
            table.append(None)
        else:
            table.append(params_for(rule, links, str(src_names[u % len(src_names)]) if by_source else None))
    distinct = sorted({p for p in table if p is not None}, key=repr)
    pcode = np.array([-1 if p is None else distinct.index(p) for p in table])[where]
    picked = np.flatnonzero(keep & (pcode >= 0))
    if not len(picked):
        return result
    order = picked[np.argsort(key[picked], kind="stable")]  # by series, keeping time order within each
    values = _values(rule, raw)
    cols = {"source": src[order], "grid": grd[order], "ts": np.array(ts, dtype=float)[order],
            "value": values[order], "p": pcode[order]}
    skey = key[order]
    bounds = np.r_[0, np.flatnonzero(np.diff(skey)) + 1, len(order)]
    uniques = [names[k] for k in skey[bounds[:-1]]]
    vec_runs, vec_params, vec_ts, vec_obs, slow = [], [], [], [], []
    for i, key in enumerate(uniques):
        a, b = bounds[i], bounds[i + 1]
        t, p = cols["ts"][a:b], cols["p"][a:b]
        same = bool((p == p[0]).all())
        fed, obs = _observe(rule, t, cols["value"][a:b])
        run = SeriesRun(key, str(src_names[cols["source"][a]]), str(grid_names[cols["grid"][b - 1]]),
                        distinct[p[0]] if same else None, t[fed], obs[fed])
        result.series[run.key] = run
        result.points += int(b - a)
        if same:
            vec_runs.append((run, grid_names[cols["grid"][a:b][fed]]))
            vec_params.append(run.params)
            vec_ts.append(run.ts)
            vec_obs.append(run.observed)
        else:
            slow.append((run, grid_names[cols["grid"][a:b]], [distinct[k] for k in p], t, cols["value"][a:b]))
    if vec_runs:
        offsets = np.cumsum([0] + [len(t) for t in vec_ts])
        every = level_changes_many(vec_params, offsets, np.concatenate(vec_ts), np.concatenate(vec_obs))
        for (run, g), changes in zip(vec_runs, every, strict=True):
            result.episodes += _episodes(run, g, changes)
    for run, g, plist, t, v in slow:
        changes, observed = _streamed(rule, plist, t, v)
        run.ts, run.observed = t, observed
        result.episodes += _episodes(run, g, changes)
    result.episodes.sort(key=lambda e: (e.raised_at, e.series))
    return result


# -- one backtest, for the HTTP route (POST /v1/rules/thresholds/backtest) and ``fenghuo backtest`` ---------------
MAX_EPISODES = 5000
MAX_SERIES = 500
CHART_POINTS = 1000
CHUNK = 50  # series per progress step
Progress = Callable[[str, int, int], None]  # (side: "proposed" | "current", series done, series in all)


class HistoryStore(Protocol):
    """What a backtest reads of the store (:class:`fenghuo.core.store.Store` has it)."""

    def history_rows(self, *, feed: str, metric: str | None, category: str | None, source: str | None,
                     start: float, end: float, drill: str | None = None) -> list[tuple[Any, ...]]: ...


@dataclass(slots=True)
class Comparison:
    """A proposed rule and the current rule of the same id (if any), run over the same range of history."""

    proposed: Backtest
    current: Backtest | None
    start: float
    end: float
    fetched: int  # stored events of the proposed rule's feed (and metric or category) in the range
    fetch_ms: float
    simulate_ms: float


def history(store: HistoryStore, rule: Rule, source: str | None, start: float, end: float,
            drill: str | None = None) -> list[Row]:
    """The stored events ``rule`` reads between ``start`` and ``end`` (sorted by time), optionally of one source;
    real events, or with ``drill`` that drill's."""
    return store.history_rows(
        feed=rule.feed, metric=rule.metric if rule.feed == "sensor" else None,
        category=None if rule.feed == "sensor" or rule.category in (None, "*") else rule.category,
        source=source, start=start, end=end, drill=drill)


def _group_key(rule: Rule, row: Row) -> str:
    return str(row[0]) if rule.feed == "sensor" else str(row[1])  # sensors by source, texts by grid


def _chunked(side: str, rule: Rule, rows: Sequence[Row], chain: Chain, grid: str | None, series: str | None,
             progress: Progress) -> Backtest:
    """:func:`simulate` a chunk of series at a time (series are independent), reporting progress."""
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(_group_key(rule, r), []).append(r)
    keys = sorted(groups)
    out = Backtest(rule)
    progress(side, 0, len(keys))
    for i in range(0, len(keys), CHUNK):
        chunk = sorted((r for k in keys[i: i + CHUNK] for r in groups[k]), key=lambda r: r[3])
        part = simulate(rule, chunk, chain, grid, series)
        out.episodes += part.episodes
        out.series.update(part.series)
        out.points += part.points
        progress(side, min(i + CHUNK, len(keys)), len(keys))
    out.episodes.sort(key=lambda e: (e.raised_at, e.series))
    return out


def compare(store: HistoryStore, proposed: Rule, current: Rule | None, chain: Chain, start: float, end: float, *,
            grid: str | None = None, source: str | None = None, series: str | None = None,
            progress: Progress | None = None, drill: str | None = None) -> Comparison:
    """What ``proposed`` would have raised between ``start`` and ``end``, beside ``current`` (the rule in force
    with the same id, or None) over the same events; only series under ``grid``, of ``source``, or the one
    ``series`` when given. ``progress`` (a CLI's bar) makes it simulate a chunk of series at a time."""
    clock = time.perf_counter()
    with paused_gc():
        rows = history(store, proposed, source, start, end, drill)
        same = current is not None and (current.feed, current.metric, current.category) == (
            proposed.feed, proposed.metric, proposed.category)
        current_rows = rows if same or current is None else history(store, current, source, start, end, drill)
    fetched = time.perf_counter()

    def run(side: str, rule: Rule, rows: Sequence[Row]) -> Backtest:
        if progress is None:
            return simulate(rule, rows, chain, grid, series)
        return _chunked(side, rule, rows, chain, grid, series, progress)

    a = run("proposed", proposed, rows)
    b = run("current", current, current_rows) if current is not None else None
    done = time.perf_counter()
    return Comparison(a, b, start, end, len(rows), round((fetched - clock) * 1000, 1),
                      round((done - fetched) * 1000, 1))


def downsample(ts: np.ndarray, v: np.ndarray, limit: int = CHART_POINTS) -> list[int]:
    """Indices of at most ``limit`` points keeping each bucket's lowest and highest (peaks survive).

    >>> downsample(np.arange(10.0), np.array([0, 5, 1, 1, 9, 1, 1, 1, 2, 1.0]), 4)
    [0, 4, 5, 8]
    """
    n = len(ts)
    if n <= limit:
        return list(range(n))
    edges = np.linspace(0, n, limit // 2 + 1).astype(int)
    out: list[int] = []
    for a, b in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        lo, hi = a + int(np.argmin(v[a:b])), a + int(np.argmax(v[a:b]))
        out += sorted({lo, hi})
    return out


def _level(n: int) -> str:
    return Level(n).name_en


def _episode(e: Episode) -> dict[str, Any]:
    return {"series": e.series, "source": e.source, "grid": e.grid, "raised_at": iso(e.raised_at),
            "cleared_at": iso(e.cleared_at), "first_level": _level(e.changes[0][1]), "max_level": _level(e.max_level),
            "levels": [{"ts": iso(t), "level": _level(k)} for t, k in e.changes]}


def _side(bt: Backtest) -> dict[str, Any]:
    by_level = dict.fromkeys(LEVEL_NAMES, 0)
    entered = dict.fromkeys(LEVEL_NAMES, 0)
    for e in bt.episodes:
        by_level[_level(e.max_level)] += 1
        for _, k in e.changes:
            entered[_level(k)] += 1
    return {"rule": bt.rule.model_dump(exclude_defaults=True),
            "summary": {"episodes": len(bt.episodes), "by_level": by_level, "entered": entered,
                        "series_alerting": len({e.series for e in bt.episodes}),
                        "still_raised": sum(e.cleared_at is None for e in bt.episodes)},
            "episodes": [_episode(e) for e in bt.episodes[:MAX_EPISODES]],
            "truncated": len(bt.episodes) > MAX_EPISODES}


def _levels(p: LevelParams | None) -> dict[str, float] | None:
    return None if p is None else {_level(k): th for k, th in p.thresholds}


def _params(rule: Rule, run: SeriesRun | None, chain: Chain) -> LevelParams | None:
    if run is None:
        return None
    if run.params is not None:
        return run.params
    return params_for(rule, chain(run.grid), run.source if rule.sources else None)


def _chart(key: str, proposed: Backtest, current: Backtest | None, chain: Chain) -> dict[str, Any]:
    run = proposed.series.get(key) or (current.series[key] if current else None)
    assert run is not None
    pp = _params(proposed.rule, proposed.series.get(key), chain)
    cp = _params(current.rule, current.series.get(key), chain) if current else None
    keep = downsample(run.ts, run.observed)
    points = [{"ts": iso(float(run.ts[i])), "value": float(run.observed[i])
               if math.isfinite(run.observed[i]) else None} for i in keep]
    return {"series": key, "source": run.source, "grid": run.grid, "observed": OBSERVED[proposed.rule.kind],
            "current_observed": OBSERVED[current.rule.kind] if current else None, "points": points,
            "thresholds": {"proposed": _levels(pp), "current": _levels(cp)},
            "hysteresis": {"proposed": pp.hysteresis if pp else None, "current": cp.hysteresis if cp else None},
            "for_seconds": {"proposed": pp.for_seconds if pp else None, "current": cp.for_seconds if cp else None}}


def _series(proposed: Backtest, current: Backtest | None) -> list[dict[str, Any]]:
    runs = {**(current.series if current else {}), **proposed.series}
    count: dict[tuple[str, str], list[int]] = {}
    for side, bt in (("proposed", proposed), ("current", current)):
        for e in bt.episodes if bt else []:
            count.setdefault((side, e.series), []).append(e.max_level)
    out = []
    for key, run in runs.items():
        p, c = count.get(("proposed", key), []), count.get(("current", key), [])
        out.append({"series": key, "source": run.source, "grid": run.grid, "points": len(run.ts),
                    "proposed": len(p), "current": len(c), "max_proposed": _level(max(p)) if p else None,
                    "max_current": _level(max(c)) if c else None})
    out.sort(key=lambda s: (-(s["proposed"] + s["current"]), s["series"]))
    return out


def _recorded(alerts: Sequence[Alert], rule_id: str, start: float, end: float, chain: Chain, grid: str | None,
              source: str | None, series: str | None) -> dict[str, Any]:
    """The alerts the rule really raised in the range; a raise after clearing on a still open alert is a recurrence."""
    mine = [a for a in alerts
            if a.rule == rule_id and start <= a.created_at <= end and (source is None or a.source == source)
            and (series is None or a.series == series) and (grid is None or grid in chain(a.grid))]
    by_level = dict.fromkeys(LEVEL_NAMES, 0)
    for a in mine:
        by_level[a.max_level.name_en] += 1
    raises = sorted(e.ts for a in mine for e in a.timeline if e.kind in ("raised", "recurred"))
    return {"alerts": len(mine), "by_level": by_level, "raises": [iso(t) for t in raises]}


def report(c: Comparison, chain: Chain, alerts: Sequence[Alert], *, grid: str | None = None,
           source: str | None = None, series: str | None = None, charts: int = 1) -> dict[str, Any]:
    """The JSON answer of POST /v1/rules/thresholds/backtest for a :class:`Comparison`; ``alerts`` are the real
    alerts stored (the ones the current rule raised in the range are counted), ``charts`` the number of series
    to return values for (most alerts first)."""
    proposed, current = c.proposed, c.current
    rows = _series(proposed, current)
    keys = [series] if series and rows else [s["series"] for s in rows[:charts]]
    return {"rule_id": proposed.rule.id, "kind": proposed.rule.kind, "start": iso(c.start), "end": iso(c.end),
            "points": proposed.points, "series_count": len(rows),
            "proposed": _side(proposed), "current": _side(current) if current else None,
            "recorded": _recorded(alerts, proposed.rule.id, c.start, c.end, chain, grid, source, series)
            if current else None,
            "series": rows[:MAX_SERIES], "charts": [_chart(k, proposed, current, chain) for k in keys],
            "elapsed_ms": {"fetch": c.fetch_ms, "simulate": c.simulate_ms}}
