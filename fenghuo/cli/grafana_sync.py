"""Create or update fenghuo's Grafana datasource, folder and dashboards through Grafana's HTTP API.

``fenghuo grafana sync --url URL --token TOKEN`` calls :func:`sync`: it checks ``/api/health``,
creates or updates the PostgreSQL datasource by uid (``fenghuo-pg``; one provisioned from a file
is read-only and left alone), creates the folder ``fenghuo`` if absent and uploads every
dashboard JSON of ``dashboards_dir`` into it with ``overwrite`` (so a second sync updates, never
duplicates). It uses grafana-client.

>>> ds = datasource_payload("postgresql://reader:s3cret@db.internal:5432/fenghuo?sslmode=require")
>>> ds["uid"], ds["url"], ds["user"], ds["jsonData"]["database"], ds["jsonData"]["sslmode"]
('fenghuo-pg', 'db.internal:5432', 'reader', 'fenghuo', 'require')
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException, GrafanaUnauthorizedError

DATASOURCE_UID = "fenghuo-pg"
DATASOURCE_TYPE = "grafana-postgresql-datasource"
FOLDER_UID = "fenghuo"
FOLDER_TITLE = "fenghuo"
DEFAULT_DASHBOARDS = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards"
TOKEN_HELP = ("make a service-account token in Grafana (Administration > Users and access > Service accounts > "
              "Add service account, role Editor — Admin if it must create the datasource — then Add service "
              "account token) and pass it with --token")


class GrafanaSyncError(Exception):
    """A sync that could not finish; the message says what was wrong and what to do."""


@dataclass
class SyncReport:
    url: str
    grafana_version: str | None = None
    datasource: str = "skipped"  # created | updated | provisioned (read-only, left as is) | skipped | missing
    folder: str = ""  # created | exists
    dashboards: list[dict[str, Any]] = field(default_factory=list)  # uid, title, status, version, url
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"Grafana {self.grafana_version or '?'} at {self.url}",
                 f"  datasource {DATASOURCE_UID}: {self.datasource}",
                 f"  folder {FOLDER_TITLE}: {self.folder}"]
        lines += [f"  dashboard {d['uid']} ({d['title']}): {d['status']} version {d.get('version')}"
                  for d in self.dashboards]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def datasource_payload(pg_url: str, name: str = "fenghuo", uid: str = DATASOURCE_UID) -> dict[str, Any]:
    """The datasource body of ``POST /api/datasources`` from a ``postgresql://user:pw@host:port/db`` URL."""
    parts = urlsplit(pg_url)
    if parts.scheme not in ("postgres", "postgresql") or not parts.hostname or not parts.path.strip("/"):
        raise GrafanaSyncError(f"the database URL must look like postgresql://user:password@host:5432/dbname, "
                               f"got {parts.scheme or '?'}://{parts.hostname or '?'}/...")
    body: dict[str, Any] = {
        "uid": uid, "name": name, "type": DATASOURCE_TYPE, "access": "proxy",
        "url": f"{parts.hostname}:{parts.port or 5432}", "user": unquote(parts.username or ""),
        "isDefault": True, "basicAuth": False,
        "jsonData": {"database": parts.path.strip("/"),
                     "sslmode": parse_qs(parts.query).get("sslmode", ["disable"])[0],
                     "postgresVersion": 1500, "timescaledb": True, "timeInterval": "1m"},
    }
    if parts.password:
        body["secureJsonData"] = {"password": unquote(parts.password)}
    return body


def load_dashboards(dashboards_dir: str | Path) -> list[dict[str, Any]]:
    """Every ``*.json`` dashboard of the folder, checked for a uid and a title."""
    folder = Path(dashboards_dir)
    files = sorted(folder.glob("*.json"))
    if not files:
        raise GrafanaSyncError(f"no dashboard JSON files in {folder}: point --dashboards at deploy/grafana/dashboards")
    out = []
    for path in files:
        try:
            dash = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise GrafanaSyncError(f"{path}: not a readable dashboard JSON ({exc})") from None
        if not isinstance(dash, dict) or not dash.get("uid") or not dash.get("title"):
            raise GrafanaSyncError(f"{path}: a dashboard needs a uid and a title")
        out.append(dash)
    return out


def _explain(exc: Exception, url: str, doing: str) -> GrafanaSyncError:
    if isinstance(exc, GrafanaUnauthorizedError):
        return GrafanaSyncError(f"Grafana at {url} refused the token (401) while {doing}: {TOKEN_HELP}")
    if isinstance(exc, GrafanaClientError) and exc.status_code == 403:
        return GrafanaSyncError(f"the token may not do this (403) while {doing}: give its service account the "
                                "Editor role (Admin to manage datasources), or leave out the database URL so "
                                "the datasource is not touched")
    if isinstance(exc, GrafanaException):
        return GrafanaSyncError(f"Grafana at {url} answered an error while {doing}: {exc.message}")
    return GrafanaSyncError(f"cannot reach Grafana at {url} while {doing} ({type(exc).__name__}: {exc}); "
                            "check --url (e.g. http://localhost:3000) and that Grafana is running")


def _datasource(api: GrafanaApi, body: dict[str, Any] | None, report: SyncReport) -> None:
    uid = body["uid"] if body else DATASOURCE_UID
    try:
        current = api.datasource.get_datasource_by_uid(uid)
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise
        current = None
    if body is None:
        report.datasource = "exists" if current else "missing"
        if not current:
            report.warnings.append(f"no datasource with uid {uid}: the dashboards will show no data until it exists "
                                   "(pass the database URL, or provision deploy/grafana/provisioning/datasources)")
        return
    if current is None:
        api.datasource.create_datasource(body)
        report.datasource = "created"
    elif current.get("readOnly"):
        report.datasource = "provisioned (read-only, left as is)"
    else:
        api.datasource.update_datasource_by_uid(uid, {**body, "id": current.get("id")})
        report.datasource = "updated"


def _folder(api: GrafanaApi, report: SyncReport) -> str:
    for f in api.folder.get_all_folders():
        if f.get("uid") == FOLDER_UID or f.get("title") == FOLDER_TITLE:
            report.folder = "exists"
            return str(f["uid"])
    created = api.folder.create_folder(FOLDER_TITLE, uid=FOLDER_UID)
    report.folder = "created"
    return str(created["uid"])


def sync(url: str, token: str, dashboards_dir: str | Path = DEFAULT_DASHBOARDS,
         datasource: dict[str, Any] | None = None, timeout: float = 10.0) -> SyncReport:
    """Create or update the datasource (when ``datasource`` is given), the folder and the dashboards.

    ``datasource`` is a ``POST /api/datasources`` body, e.g. from :func:`datasource_payload`; None
    leaves datasources alone and only warns when ``fenghuo-pg`` is missing. Raises
    :class:`GrafanaSyncError` with what went wrong and what to do.
    """
    if not token:
        raise GrafanaSyncError(f"no token given: {TOKEN_HELP}")
    dashboards = load_dashboards(dashboards_dir)
    report = SyncReport(url=url)
    api = GrafanaApi.from_url(url, credential=token, timeout=timeout)
    step = "checking /api/health"
    try:
        health = api.client.GET("/health")
        report.grafana_version = health.get("version") if isinstance(health, dict) else None
        step = "creating or updating the datasource"
        _datasource(api, datasource, report)
        step = "finding or creating the folder"
        folder_uid = _folder(api, report)
        for dash in dashboards:
            step = f"uploading dashboard {dash['uid']}"
            body = {"dashboard": {**dash, "id": None}, "folderUid": folder_uid, "overwrite": True,
                    "message": "fenghuo grafana sync"}
            r = api.dashboard.update_dashboard(body)
            report.dashboards.append({"uid": dash["uid"], "title": dash["title"], "status": r.get("status"),
                                      "version": r.get("version"), "url": r.get("url")})
    except (GrafanaException, OSError) as exc:
        raise _explain(exc, url, step) from None
    return report
