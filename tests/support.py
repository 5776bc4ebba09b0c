"""Real parts for the tests: the service as a subprocess, a webhook receiver on loopback."""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FENGHUO_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """A real HTTP server that records every POST (path, headers, JSON body); can be told to fail."""

    def __init__(self, port: int = 0, keep_alive: bool = False) -> None:
        """``keep_alive``: HTTP/1.1 with kept-alive connections and a deep accept queue, so the order of arrival is
        the sender's order, not connection set-up luck."""
        self.requests: list[dict[str, Any]] = []
        self.fail_paths: set[str] = set()  # answer 503 there
        self.status_for: dict[str, int] = {}  # or any other status
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path in outer.fail_paths or self.path in outer.status_for:
                    self.send_response(outer.status_for.get(self.path, 503))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with outer.lock:
                    outer.requests.append({"path": self.path, "headers": dict(self.headers),
                                           "raw": body, "json": json.loads(body)})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 256 if keep_alive else 5

        self.server = Server(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                got = list(self.requests)
            if predicate(got):
                return got
            time.sleep(0.05)
        raise AssertionError(f"timed out; received {len(self.requests)} requests")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()


class Service:
    """``fenghuo run`` as a subprocess on a free port with its own data directory."""

    def __init__(self, data_dir: Path, config: dict[str, Any] | None = None, env: dict[str, str] | None = None,
                 keys: dict[str, str] | None = None, args: list[str] | None = None) -> None:
        self.data_dir = data_dir
        self.extra_args = list(args or [])  # more `fenghuo run` options
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.keys = keys or {"viewer": "viewer-key-000000000", "responder": "responder-key-0000000",
                             "analyst": "analyst-key-000000000", "admin": "admin-key-00000000000"}
        self.config_path = None
        if config is not None:
            self.config_path = data_dir / "config.yaml"
            data_dir.mkdir(parents=True, exist_ok=True)
            self.config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        self.env = {**os.environ, "FENGHUO_API_KEYS": ",".join(f"{r}:{k}" for r, k in self.keys.items()),
                    "FENGHUO_TICK_SECONDS": "0.1", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "service.log"

    def start(self) -> Service:
        args = [sys.executable, "-m", "fenghuo", "run", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        if self.config_path:
            args += ["--config", str(self.config_path)]
        args += self.extra_args
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        atexit.register(_kill, self.proc)  # a failing test never leaves a service running
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("service did not start:\n" + self.log.read_text()[-3000:])

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def client(self, role: str = "admin") -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.keys[role]}"}, timeout=60)


def district_of_eight_grids(receiver_url: str, path: str, detectors: dict[str, Any]) -> dict[str, Any]:
    """A config: district D-1 with four streets, one community per street, two grids per community (G-1..G-8),
    one webhook channel at ``receiver_url + path`` and a duty responder at the district."""
    nodes: list[dict[str, Any]] = [{"id": "D-1", "name": "district-1", "kind": "district"}]
    for k in range(1, 5):
        nodes.append({"id": f"S-{k}", "name": f"street-{k}", "kind": "street", "parent": "D-1"})
        nodes.append({"id": f"C-{k}", "name": f"community-{k}", "kind": "community", "parent": f"S-{k}"})
        for i in (2 * k - 1, 2 * k):
            nodes.append({"id": f"G-{i}", "name": f"grid-{i}", "kind": "grid", "parent": f"C-{k}",
                          "centroid": [30.0 + i / 100, 114.0]})
    return {
        "nodes": nodes,
        "channels": [{"name": "hook", "type": "webhook", "url": f"{receiver_url}{path}",
                      "secret": "test-webhook-secret-1234", "max_attempts": 3}],
        "responders": [{"id": "duty-district", "name": "值班-district", "node": "D-1", "channels": ["hook"]}],
        "detectors": detectors,
    }


STAGES = ("ingest", "detectors", "alerts", "api")


def fenghuo_modules() -> dict[str, Path]:
    """Every module of the installed ``fenghuo`` namespace by name, with its file.

    The stage folders are mapped into the namespace (setup.py), so in an editable install
    ``fenghuo.__path__`` holds only fenghuo/: each stage package is walked from its own ``__path__``.
    """
    import importlib
    import importlib.util
    import pkgutil

    import fenghuo

    out = {"fenghuo": Path(fenghuo.__file__)}
    roots = [(list(fenghuo.__path__), "fenghuo.")]
    for stage in STAGES:
        package = importlib.import_module(f"fenghuo.{stage}")
        out[package.__name__] = Path(package.__file__ or "")
        roots.append((list(package.__path__), f"fenghuo.{stage}."))
    for path, prefix in roots:
        for info in pkgutil.walk_packages(path, prefix):
            spec = importlib.util.find_spec(info.name)
            assert spec is not None and spec.origin is not None, info.name
            out[info.name] = Path(spec.origin)
    return out
