"""CAP 1.2: one alert's message as XML, and an Atom feed of current alerts.

``GET /v1/cap/alerts/{id}.xml`` returns the alert's latest CAP message; ``?seq=N`` returns its
N-th message (1 = the first Alert; Updates and a Cancel follow), which is what the
``references`` of later messages point at. ``GET /v1/cap/feed.atom`` lists open alerts and
those resolved in the last day (so consumers see the Cancel), real ones unless ``drill`` says
otherwise.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import Response

from fenghuo.alerts.cap import CAP_MIME, Area, area_of, atom_feed, messages, to_xml
from fenghuo.alerts.notifiers.wording import alert_link
from fenghuo.api.deps import ServiceDep, Viewer
from fenghuo.api.errors import NOT_FOUND
from fenghuo.core.models import Alert
from fenghuo.core.store import AlertQuery
from fenghuo.runtime.service import Service

router = APIRouter(prefix="/v1/cap", tags=["cap"])
RECENT_SECONDS = 86400.0
FEED_LIMIT = 500


def _sender(service: Service, request: Request) -> str:
    """This instance's CAP sender: FENGHUO_CAP_SENDER, else the config's ``warnings.sender`` (one name for what
    it publishes and for the echoes it refuses, docs/federation.md)."""
    return service.settings.cap_sender or service.config.warnings.sender


def _public_url(service: Service, request: Request) -> str:
    return service.settings.public_url or str(request.base_url)


def _area(service: Service, alert: Alert) -> Area:
    return area_of(alert.grid, service.tree.nodes, service.tree.centroid(alert.grid))


@router.get("/alerts/{alert_id}.xml", summary="An alert as a CAP 1.2 message (the latest, or ?seq=N)",
            response_class=Response, responses={200: {"content": {CAP_MIME: {}}}, **NOT_FOUND})
def cap_alert(request: Request, service: ServiceDep, who: Viewer, alert_id: str = Path(..., max_length=200),
              seq: int | None = Query(None, ge=1, le=100_000, description="1-based message number; default the latest")
              ) -> Response:
    alert = service.get_alert(alert_id)
    if alert is None:
        raise HTTPException(404, f"no alert {alert_id}")
    count = len(messages(alert))
    if seq is not None and seq > count:
        raise HTTPException(404, f"alert {alert_id} has {count} CAP message(s); ask for seq 1..{count}")
    xml = to_xml(alert, (seq - 1) if seq else -1, _area(service, alert), _sender(service, request),
                 alert_link(_public_url(service, request), alert.id))
    return Response(xml, media_type=CAP_MIME)


@router.get("/feed.atom", summary="Atom feed of current alerts, each linking to its CAP message",
            response_class=Response, responses={200: {"content": {"application/atom+xml": {}}}})
def cap_feed(request: Request, service: ServiceDep, who: Viewer,
             drill: str = Query("false", max_length=200,
                                description="false: real alerts; true: drills; or a drill name")
             ) -> Response:
    now = service.now()
    alerts = [a for a in service.list_alerts(AlertQuery(drill=drill, limit=FEED_LIMIT))
              if a.is_open or (a.resolved_at or 0.0) >= now - RECENT_SECONDS]
    base = str(request.base_url).rstrip("/")
    xml = atom_feed(alerts, str(request.url), lambda a: f"{base}/v1/cap/alerts/{a.id}.xml",
                    lambda a: _area(service, a), now, _sender(service, request))
    return Response(xml, media_type="application/atom+xml")
