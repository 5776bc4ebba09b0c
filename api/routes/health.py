"""/healthz, /metrics (Prometheus text format) and /v1/grids."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from api.deps import PipelineDep, Viewer
from fenghuo.pipeline import Pipeline

router = APIRouter()


@router.get("/healthz", tags=["health"])
def healthz(pipeline: PipelineDep) -> dict[str, Any]:
    return {"status": "ok", "events_stored": pipeline.store.event_count(),
            "open_alerts": len(pipeline.alerts.dedup.open),
            "outbox_pending": pipeline.store.pending_notification_count()}


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def render_metrics(p: Pipeline) -> str:
    s = p.stats
    open_by_level: dict[str, int] = {}
    for a in p.alerts.dedup.open.values():
        open_by_level[a.level.name_en] = open_by_level.get(a.level.name_en, 0) + 1
    lines = [
        "# HELP fenghuo_events_total Events accepted.", "# TYPE fenghuo_events_total counter",
        f"fenghuo_events_total {s.events}",
        "# HELP fenghuo_events_duplicate_total Events dropped as duplicates.",
        "# TYPE fenghuo_events_duplicate_total counter", f"fenghuo_events_duplicate_total {s.duplicates}",
        "# HELP fenghuo_events_rejected_total Records rejected to the dead-letter store.",
        "# TYPE fenghuo_events_rejected_total counter", f"fenghuo_events_rejected_total {s.rejected}",
        "# HELP fenghuo_signals_total Detector signals.", "# TYPE fenghuo_signals_total counter",
        f"fenghuo_signals_total {s.signals}",
        "# HELP fenghuo_alert_changes_total Alert changes published.",
        "# TYPE fenghuo_alert_changes_total counter", f"fenghuo_alert_changes_total {s.alerts_changed}",
        "# HELP fenghuo_notifications_total Notification outcomes.", "# TYPE fenghuo_notifications_total counter",
        f'fenghuo_notifications_total{{outcome="delivered"}} {p.delivery.delivered}',
        f'fenghuo_notifications_total{{outcome="failed"}} {p.delivery.failed}',
        "# HELP fenghuo_outbox_pending Notifications waiting in the outbox.", "# TYPE fenghuo_outbox_pending gauge",
        f"fenghuo_outbox_pending {p.store.pending_notification_count()}",
        "# HELP fenghuo_open_alerts Open alerts by level.", "# TYPE fenghuo_open_alerts gauge",
    ]
    lines += [f'fenghuo_open_alerts{{level="{lv}"}} {open_by_level.get(lv, 0)}'
              for lv in ("blue", "yellow", "orange", "red")]
    lines += ["# HELP fenghuo_event_to_alert_seconds Receipt to alert persisted (recent).",
              "# TYPE fenghuo_event_to_alert_seconds summary"]
    for q in (0.5, 0.9, 0.99):
        lines.append(f'fenghuo_event_to_alert_seconds{{quantile="{q}"}} {_quantile(s.latencies, q):.6f}')
    lines.append(f"fenghuo_event_to_alert_seconds_count {len(s.latencies)}")
    return "\n".join(lines) + "\n"


@router.get("/metrics", tags=["health"], response_class=PlainTextResponse)
def metrics(pipeline: PipelineDep) -> str:
    return render_metrics(pipeline)


@router.get("/v1/grids", tags=["grids"], summary="The grid tree with geometries")
def grids(pipeline: PipelineDep, who: Viewer) -> dict[str, Any]:
    return {"nodes": pipeline.tree.to_json()}
