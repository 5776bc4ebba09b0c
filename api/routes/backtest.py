"""POST /v1/rules/thresholds/backtest: what a proposed rule would have raised on stored history.

Beside the proposed rule's episodes it runs the current rule with the same id (if any) over the same
events, and counts the alerts that rule really raised in the range. Both runs are
:func:`fenghuo.detectors.backtest.simulate`, the vectorised equal of the streaming engine.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, HTTPException
from fenghuo.api.bounds import Clean, CleanStr, check_json, when
from fenghuo.api.deps import Analyst, PipelineDep
from fenghuo.detectors.backtest import OBSERVED, Backtest, Episode, SeriesRun, paused_gc, simulate
from fenghuo.detectors.hysteresis import LevelParams
from fenghuo.detectors.rules import params_for
from pydantic import BaseModel, Field, StringConstraints

from fenghuo.core.config import Rule
from fenghuo.core.levels import LEVEL_NAMES, Level
from fenghuo.core.models import iso
from fenghuo.core.rulebook import RuleError, validate_rule
from fenghuo.runtime.embedded import Pipeline

router = APIRouter(prefix="/v1/rules/thresholds", tags=["rules"])
MAX_EPISODES = 5000
MAX_SERIES = 500
CHART_POINTS = 1000
MAX_RANGE_DAYS = 366  # the rows of a longer range may not fit a request's memory budget


TimeText = Annotated[str, StringConstraints(max_length=64), Clean]


class BacktestRequest(BaseModel):
    rule: dict[str, Any] = Field(..., description="the proposed rule, as for PUT /v1/rules/thresholds/{id}")
    start: TimeText | float = Field(..., description="ISO 8601 time or epoch seconds (1970..2100)")
    end: TimeText | float = Field(..., description="ISO 8601 time or epoch seconds (1970..2100)")
    grid: CleanStr | None = Field(None, max_length=200, description="only series in this node of the grid tree")
    source: CleanStr | None = Field(None, max_length=200, description="only events of this source")
    series: CleanStr | None = Field(None, max_length=400,
                                    description="only this series (e.g. 'hubeau:Y063402001/water_level_m')")
    charts: int = Field(1, ge=0, le=20, description="series to return values for (most alerts first)")


def chain(pipeline: Pipeline) -> Callable[[str], list[str]]:
    """The grid chain (bottom up) as the engine sees it."""
    return lambda grid: [n.id for n in pipeline.tree.chain(grid)] or [grid]


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


def _params(rule: Rule, run: SeriesRun | None, pipeline: Pipeline) -> LevelParams | None:
    if run is None:
        return None
    if run.params is not None:
        return run.params
    return params_for(rule, chain(pipeline)(run.grid), run.source if rule.sources else None)


def _chart(key: str, proposed: Backtest, current: Backtest | None, pipeline: Pipeline) -> dict[str, Any]:
    run = proposed.series.get(key) or (current.series[key] if current else None)
    assert run is not None
    pp = _params(proposed.rule, proposed.series.get(key), pipeline)
    cp = _params(current.rule, current.series.get(key), pipeline) if current else None
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


def _fetch(pipeline: Pipeline, rule: Rule, req: BacktestRequest, t0: float, t1: float) -> list[tuple[Any, ...]]:
    return pipeline.store.history_rows(
        feed=rule.feed, metric=rule.metric if rule.feed == "sensor" else None,
        category=None if rule.feed == "sensor" or rule.category in (None, "*") else rule.category,
        source=req.source, start=t0, end=t1)


def _recorded(pipeline: Pipeline, rule_id: str, req: BacktestRequest, t0: float, t1: float) -> dict[str, Any]:
    """The alerts the rule really raised in the range; a raise after clearing on a still open alert is a recurrence."""
    alerts = [a for a in pipeline.store.all_alerts(drill=False)
              if a.rule == rule_id and t0 <= a.created_at <= t1 and (req.source is None or a.source == req.source)
              and (req.series is None or a.series == req.series)
              and (req.grid is None or req.grid in chain(pipeline)(a.grid))]
    by_level = dict.fromkeys(LEVEL_NAMES, 0)
    for a in alerts:
        by_level[a.max_level.name_en] += 1
    raises = sorted(e.ts for a in alerts for e in a.timeline if e.kind in ("raised", "recurred"))
    return {"alerts": len(alerts), "by_level": by_level, "raises": [iso(t) for t in raises]}


@router.post("/backtest", summary="What a proposed rule would have raised on stored history, beside the current rule")
def backtest(req: BacktestRequest, pipeline: PipelineDep, who: Analyst) -> dict[str, Any]:
    check_json(req.rule, "rule")
    try:
        rule = validate_rule(req.rule, pipeline.tree)
    except RuleError as exc:
        raise HTTPException(422, {"message": "the proposed rule is not valid", "errors": exc.errors}) from None
    t0, t1 = when(req.start, "start"), when(req.end, "end")
    if t1 <= t0:
        raise HTTPException(422, "end must be after start")
    if t1 - t0 > MAX_RANGE_DAYS * 86400:
        raise HTTPException(422, f"a backtest covers at most {MAX_RANGE_DAYS} days: narrow start and end")
    now = {r.id: r for r in pipeline.rulebook.current()}.get(rule.id)
    clock = time.perf_counter()
    with paused_gc():
        rows = _fetch(pipeline, rule, req, t0, t1)
        same = now is not None and (now.feed, now.metric, now.category) == (rule.feed, rule.metric, rule.category)
        current_rows = rows if same or now is None else _fetch(pipeline, now, req, t0, t1)
    fetched = time.perf_counter()
    proposed = simulate(rule, rows, chain(pipeline), req.grid, req.series)
    current = simulate(now, current_rows, chain(pipeline), req.grid, req.series) if now else None
    done = time.perf_counter()
    series = _series(proposed, current)
    keys = [req.series] if req.series and series else [s["series"] for s in series[:req.charts]]
    return {"rule_id": rule.id, "kind": rule.kind, "start": iso(t0), "end": iso(t1),
            "points": proposed.points, "series_count": len(series),
            "proposed": _side(proposed), "current": _side(current) if current else None,
            "recorded": _recorded(pipeline, rule.id, req, t0, t1) if now else None,
            "series": series[:MAX_SERIES], "charts": [_chart(k, proposed, current, pipeline) for k in keys],
            "elapsed_ms": {"fetch": round((fetched - clock) * 1000, 1), "simulate": round((done - fetched) * 1000, 1)}}
