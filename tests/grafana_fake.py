"""A small stand-in for Grafana's HTTP API (no Grafana runs on this machine).

It implements the subset ``fenghuo grafana sync`` calls, and checks each request against
Grafana's documented HTTP API (grafana.com/docs/grafana/latest/developer-resources/api-reference/http-api/:
data_source, folder, dashboard, other > health): the ``Authorization: Bearer`` header, the
required fields of each body, the answers' shapes and status codes. Every request is logged in
``requests``; every payload that breaks the documented shape is listed in ``violations`` (and
answered 400, as Grafana would).
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_DS_UID = re.compile(r"^/api/datasources/uid/([^/]+)$")
_PANEL_KEYS = ("id", "type", "title", "gridPos", "datasource", "targets")


def dashboard_problems(body: Any, datasource_uids: set[str], folder_uids: set[str]) -> list[str]:
    """What is wrong with a ``POST /api/dashboards/db`` body, by the documented API and dashboard model."""
    if not isinstance(body, dict) or not isinstance(body.get("dashboard"), dict):
        return ["body.dashboard: required object"]
    problems = []
    if "overwrite" in body and not isinstance(body["overwrite"], bool):
        problems.append("body.overwrite: must be a boolean")
    if "folderUid" in body and body["folderUid"] not in folder_uids:
        problems.append(f"body.folderUid: no folder {body['folderUid']!r}")
    d = body["dashboard"]
    for key, kind in (("uid", str), ("title", str), ("schemaVersion", int), ("panels", list)):
        if not isinstance(d.get(key), kind):
            problems.append(f"dashboard.{key}: required {kind.__name__}")
    if d.get("id") is not None:
        problems.append("dashboard.id: must be null to create or overwrite by uid")
    if isinstance(d.get("uid"), str) and not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", d["uid"]):
        problems.append("dashboard.uid: 1-40 letters, digits, '-' or '_'")
    for i, p in enumerate(d.get("panels") or []):
        where = f"dashboard.panels[{i}]"
        problems += [f"{where}.{k}: required" for k in _PANEL_KEYS if k not in p]
        grid = p.get("gridPos") or {}
        if not all(isinstance(grid.get(k), int) for k in ("h", "w", "x", "y")) or grid.get("x", 0) + grid.get(
                "w", 0) > 24:
            problems.append(f"{where}.gridPos: h, w, x, y integers within 24 columns")
        for ref in [p.get("datasource")] + [t.get("datasource") for t in p.get("targets") or []]:
            if not isinstance(ref, dict) or ref.get("uid") not in datasource_uids:
                problems.append(f"{where}: datasource {ref!r} is not a known datasource uid")
        for j, t in enumerate(p.get("targets") or []):
            if not t.get("refId") or not isinstance(t.get("rawSql"), str) or not t["rawSql"].strip():
                problems.append(f"{where}.targets[{j}]: refId and rawSql required")
    for v in (d.get("templating") or {}).get("list", []):
        ref = v.get("datasource")
        if v.get("type") == "query" and (not isinstance(ref, dict) or ref.get("uid") not in datasource_uids):
            problems.append(f"templating {v.get('name')}: datasource must be a known uid")
    ids = [p.get("id") for p in d.get("panels") or []]
    if len(ids) != len(set(ids)):
        problems.append("dashboard.panels: ids must be unique")
    return problems


def datasource_problems(body: Any) -> list[str]:
    """Required fields of ``POST /api/datasources`` and ``PUT /api/datasources/uid/:uid``."""
    if not isinstance(body, dict):
        return ["body: required object"]
    problems = [f"datasource.{k}: required string" for k in ("name", "type", "access", "url")
                if not isinstance(body.get(k), str) or not body[k]]
    if body.get("access") not in (None, "proxy", "direct"):
        problems.append("datasource.access: proxy or direct")
    for k in ("jsonData", "secureJsonData"):
        if k in body and not isinstance(body[k], dict):
            problems.append(f"datasource.{k}: must be an object")
    return problems


class FakeGrafana:
    """A ThreadingHTTPServer on loopback that accepts one bearer token."""

    def __init__(self, token: str = "glsa_test_token", version: str = "11.2.0") -> None:
        self.token = token
        self.version = version
        self.datasources: dict[str, dict[str, Any]] = {}
        self.folders: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.violations: list[str] = []
        self.lock = threading.Lock()
        self._ids = iter(range(1, 10_000))
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                with outer.lock:
                    outer.requests.append((method, path))
                    status, body = outer.route(method, path, self.headers.get("Authorization"), raw)
                self._reply(status, body)

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

            def do_PUT(self) -> None:  # noqa: N802
                self._handle("PUT")

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _bad(self, problems: list[str]) -> tuple[int, Any]:
        self.violations += problems
        return 400, {"message": "; ".join(problems)}

    def route(self, method: str, path: str, auth: str | None, raw: bytes) -> tuple[int, Any]:
        if method == "GET" and path == "/api/health":  # documented as needing no authentication
            return 200, {"commit": "fake", "database": "ok", "version": self.version}
        if auth != f"Bearer {self.token}":
            if auth is None or not auth.startswith("Bearer "):
                self.violations.append(f"{method} {path}: no 'Authorization: Bearer' header")
            return 401, {"message": "Invalid API key"}
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return self._bad([f"{method} {path}: body is not JSON"])
        m = _DS_UID.match(path)
        if m and method == "GET":
            ds = self.datasources.get(m.group(1))
            return (200, ds) if ds else (404, {"message": "Data source not found"})
        if m and method == "PUT":
            return self._update_datasource(m.group(1), body)
        if path == "/api/datasources" and method == "POST":
            return self._create_datasource(body)
        if path == "/api/folders" and method == "GET":
            return 200, [{"id": f["id"], "uid": f["uid"], "title": f["title"]} for f in self.folders.values()]
        if path == "/api/folders" and method == "POST":
            return self._create_folder(body)
        if path == "/api/dashboards/db" and method == "POST":
            return self._save_dashboard(body)
        self.violations.append(f"{method} {path}: not an endpoint the sync should call")
        return 404, {"message": "Not found"}

    def _create_datasource(self, body: Any) -> tuple[int, Any]:
        if problems := datasource_problems(body):
            return self._bad(problems)
        uid = body.get("uid") or f"auto{len(self.datasources)}"
        if uid in self.datasources or any(d["name"] == body["name"] for d in self.datasources.values()):
            return 409, {"message": "data source with the same name already exists"}
        ds = {**body, "uid": uid, "id": next(self._ids), "orgId": 1, "readOnly": False, "version": 1}
        ds.pop("secureJsonData", None)
        ds["secureJsonFields"] = {k: True for k in body.get("secureJsonData") or {}}
        self.datasources[uid] = ds
        return 200, {"datasource": ds, "id": ds["id"], "message": "Datasource added", "name": ds["name"]}

    def _update_datasource(self, uid: str, body: Any) -> tuple[int, Any]:
        current = self.datasources.get(uid)
        if current is None:
            return 404, {"message": "Data source not found"}
        if current.get("readOnly"):
            return 403, {"message": "Cannot update read-only data source"}
        if problems := datasource_problems(body):
            return self._bad(problems)
        if body.get("uid", uid) != uid:
            return self._bad([f"PUT /api/datasources/uid/{uid}: body uid {body.get('uid')!r} differs"])
        ds = {**current, **body, "uid": uid, "id": current["id"], "version": current["version"] + 1}
        ds.pop("secureJsonData", None)
        self.datasources[uid] = ds
        return 200, {"datasource": ds, "id": ds["id"], "message": "Datasource updated", "name": ds["name"]}

    def _create_folder(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("title"), str) or not body["title"]:
            return self._bad(["folder.title: required string"])
        uid = body.get("uid") or f"f{len(self.folders)}"
        if uid in self.folders or any(f["title"] == body["title"] for f in self.folders.values()):
            return 409, {"message": "a folder with the same name already exists"}
        folder = {"id": next(self._ids), "uid": uid, "title": body["title"], "url": f"/dashboards/f/{uid}/",
                  "version": 1}
        self.folders[uid] = folder
        return 200, folder

    def _save_dashboard(self, body: Any) -> tuple[int, Any]:
        if problems := dashboard_problems(body, set(self.datasources), set(self.folders)):
            return self._bad(problems)
        d = body["dashboard"]
        current = self.dashboards.get(d["uid"])
        if current is not None and not body.get("overwrite"):
            return 412, {"message": "A dashboard with the same uid already exists", "status": "name-exists"}
        version = current["version"] + 1 if current else 1
        dbid = current["id"] if current else next(self._ids)
        self.dashboards[d["uid"]] = {"id": dbid, "version": version, "folderUid": body.get("folderUid"),
                                     "dashboard": d}
        slug = re.sub(r"[^a-z0-9]+", "-", d["title"].lower()).strip("-")
        return 200, {"id": dbid, "uid": d["uid"], "url": f"/d/{d['uid']}/{slug}", "status": "success",
                     "version": version, "slug": slug}
