"""/healthz, /metrics (Prometheus text format) and /v1/grids.

``/healthz`` is liveness for anyone (no counts); with a valid key it adds the counts. ``/metrics`` needs a
viewer key unless the settings say ``metrics_public``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse

from fenghuo.api.deps import OptionalCaller, ServiceDep, Viewer, get_principal
from fenghuo.runtime.service import LEVELS, MetricFigures

router = APIRouter()


@router.get("/healthz", tags=["health"], summary="Liveness (no key needed); with a key, also counts")
def healthz(service: ServiceDep, who: OptionalCaller) -> dict[str, Any]:
    if who is None:
        return {"status": "ok"}
    return {"status": "ok", **service.health()}


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def render_metrics(s: MetricFigures) -> str:
    """The figures in the Prometheus text format (no delivery outcomes where the process delivers nothing)."""
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
        "# HELP fenghuo_outbox_pending Notifications waiting in the outbox.", "# TYPE fenghuo_outbox_pending gauge",
        f"fenghuo_outbox_pending {s.outbox_pending}",
        "# HELP fenghuo_open_alerts Open alerts by level.", "# TYPE fenghuo_open_alerts gauge",
    ]
    lines += [f'fenghuo_open_alerts{{level="{lv}"}} {s.open_by_level.get(lv, 0)}' for lv in LEVELS]
    if s.delivered is not None:  # Kafka mode: the alert service delivers, not the API
        lines += ["# HELP fenghuo_notifications_total Notification outcomes.",
                  "# TYPE fenghuo_notifications_total counter",
                  f'fenghuo_notifications_total{{outcome="delivered"}} {s.delivered}',
                  f'fenghuo_notifications_total{{outcome="failed"}} {s.failed or 0}']
    lines += ["# HELP fenghuo_event_to_alert_seconds Receipt to alert persisted (recent).",
              "# TYPE fenghuo_event_to_alert_seconds summary"]
    for q in (0.5, 0.9, 0.99):
        lines.append(f'fenghuo_event_to_alert_seconds{{quantile="{q}"}} {_quantile(s.latencies, q):.6f}')
    lines.append(f"fenghuo_event_to_alert_seconds_count {len(s.latencies)}")
    if s.outbox_by_level is not None:
        lines += ["# HELP fenghuo_outbox_pending_by_level Notifications waiting in the outbox, by alert level.",
                  "# TYPE fenghuo_outbox_pending_by_level gauge"]
        lines += [f'fenghuo_outbox_pending_by_level{{level="{lv}"}} {s.outbox_by_level.get(lv, 0)}' for lv in LEVELS]
    return "\n".join([*lines, *s.extra]) + "\n"


@router.get("/metrics", tags=["health"], response_class=PlainTextResponse,
            summary="Prometheus metrics (a viewer key unless metrics_public)",
            responses={401: {"description": "no key, an unknown key, or an expired key"}})
def metrics(request: Request, service: ServiceDep) -> str:
    if not service.settings.metrics_public:
        who = get_principal(request)  # 401 without a valid key
        if not who.can("viewer"):
            raise HTTPException(403, "this needs the viewer role")
    return render_metrics(service.metrics())


@router.get("/v1/grids", tags=["grids"], summary="The grid tree with geometries")
def grids(service: ServiceDep, who: Viewer) -> dict[str, Any]:
    return {"nodes": service.grids()}
