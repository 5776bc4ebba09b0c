"""The forecast's track record: how the top grids of past forecasts turned out (``GET /v1/risk/track-record``).

For up to ``weeks`` stored forecasts of the default horizon whose horizon has passed (one a week, the newest of
each), the top 5 grids (category group "all") and whether each had the event it forecast, by the same label the
model is trained and backtested on (:func:`fenghuo.detectors.risk.happened`: a burst episode in the grid,
or its count above its seasonal expectation's upper bound); ``precision_at_5`` (the share of the top 5 that had
it) beside ``base_rate`` (the share of all grids that had it). A past forecast's outcome never changes, so it is
worked out once per forecast and kept in memory.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fenghuo.runtime.risk_job import RiskJob

DAY = 86400.0
TOP = 5


def one_a_week(forecasts: list[dict[str, Any]], weeks: int) -> list[dict[str, Any]]:
    """Of forecasts newest first, the newest and then each at least 7 days older than the last kept; oldest first.

    >>> [f["made_at_ts"] for f in one_a_week([{"made_at_ts": t * DAY} for t in (20, 19, 13, 12, 6, 1)], 2)]
    [1123200.0, 1728000.0]
    """
    kept: list[dict[str, Any]] = []
    for f in forecasts:
        if len(kept) >= weeks:
            break
        if not kept or float(kept[-1]["made_at_ts"]) - float(f["made_at_ts"]) >= 7 * DAY - 1:
            kept.append(f)
    return kept[::-1]


def outcome(job: RiskJob, doc: dict[str, Any], drill: str | None) -> dict[str, Any]:
    """One past forecast's top grids and whether each had the event; its precision at 5 and base rate."""
    from fenghuo.detectors.risk import happened

    start = float(doc["made_at_ts"])
    end = start + int(doc["horizon_days"]) * DAY
    cases, marks = job.history(drill, start, end)
    counts = Counter(c.grid for c in cases)
    bursts = {m.grid for m in marks if m.burst}
    alpha = float(doc.get("dispersion") or 0.0)
    quantile = job.params.quantile
    rows = [r for r in doc.get("rows", []) if r.get("kind") == "grid" and (r.get("group") or "all") == "all"]
    rows.sort(key=lambda r: -float(r.get("probability") or 0.0))

    def had(r: dict[str, Any]) -> bool:
        node = str(r["node"])
        return bool(happened(counts.get(node, 0), float(r.get("expected") or 0.0), alpha, node in bursts, quantile))

    top = [{"node": r["node"], "probability": r.get("probability"), "happened": had(r)} for r in rows[:TOP]]
    every = [had(r) for r in rows]
    return {"made_at": doc.get("made_at"), "horizon_days": doc["horizon_days"], "model_version":
            doc.get("model_version"), "top": top,
            "precision_at_5": round(sum(t["happened"] for t in top) / len(top), 4) if top else None,
            "base_rate": round(sum(every) / len(every), 4) if every else None}


def track_record(job: RiskJob, drill: str | None, weeks: int) -> dict[str, Any]:
    """The body of ``GET /v1/risk/track-record``."""
    horizon = job.params.horizon_days
    now = job.now(drill)
    out: dict[str, Any] = {"weeks": [], "precision_at_5": None, "base_rate": None, "horizon_days": horizon,
                           "drill": drill}
    if now is None:
        return out
    past = job.store.risk_forecasts(drill, horizon, before=now - horizon * DAY + 1, limit=min(2000, weeks * 60))
    for doc in one_a_week(past, weeks):
        key = int(doc["id"])
        if key not in job.record_cache:
            if len(job.record_cache) >= 5000:  # bounded: a few forecasts a day, years of them
                job.record_cache.clear()
            job.record_cache[key] = outcome(job, doc, drill)
        out["weeks"].append(job.record_cache[key])
    for figure in ("precision_at_5", "base_rate"):
        values = [w[figure] for w in out["weeks"] if w[figure] is not None]
        out[figure] = round(sum(values) / len(values), 4) if values else None
    return out
