"""The link notifications and CAP carry opens the alert's page on the board (issue 14: it pointed to a route
the board does not have)."""

from __future__ import annotations

import re
from pathlib import Path

from fenghuo.alerts.notifiers.wording import alert_link

APP = Path(__file__).resolve().parents[3] / "api/static/js/app.js"


def board_routes() -> list[tuple[re.Pattern[str], str]]:
    """The board router's (pattern, view) pairs, read from app.js (JS regex literals Python reads alike)."""
    found = re.findall(r'\[/(\^[^/]*(?:\\/[^/]*)*\$)/, "(\w+)", \(root(?:, (\w+))?\) => (\w+)\.render', APP.read_text())
    return [(re.compile(pattern), view) for pattern, _, _, view in found]


def test_the_alert_link_opens_the_alert_view_with_its_id() -> None:
    routes = board_routes()
    assert len(routes) >= 5  # the parse found the router
    for alert_id in ("a1b2c3", "id with/slash?"):
        link = alert_link("https://board.example/", alert_id)
        assert link is not None and link.startswith("https://board.example/#/")
        fragment = link[link.index("#"):]
        views = [(view, m) for pattern, view in routes if (m := pattern.match(fragment))]
        assert views and views[0][0] == "alertView", (fragment, views)
        from urllib.parse import unquote
        assert unquote(views[0][1].group(1)) == alert_id


def test_no_public_url_no_link() -> None:
    assert alert_link(None, "a1") is None and alert_link("", "a1") is None


def test_an_incident_link_opens_the_incident_view() -> None:
    from fenghuo.alerts.notifiers.wording import Wording

    routes = board_routes()
    payload = {"event": "incident_opened", "alert": {"id": "inc-1", "level": "red"}, "incident": {"id": "inc-1"}}
    w = Wording.of(payload, "https://board.example")
    assert w.link is not None and (w.kind_zh, w.kind_en) == ("事件汇总", "incident opened")
    fragment = w.link[w.link.index("#"):]
    assert [view for pattern, view in routes if pattern.match(fragment)][:1] == ["incidentView"]
