"""The command line: ``fenghuo run | replay | check-config | keys | ...``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fenghuo.core.config import Config, ConfigError, load_config
from fenghuo.core.settings import Settings, make_settings
from fenghuo.ingest.adapters import ADAPTERS

if TYPE_CHECKING:
    from fenghuo.runtime.service import Service

EXAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "demo" / "fenghuo.example.yaml"


def _fail(message: str) -> int:
    print(f"fenghuo: {message}", file=sys.stderr)
    return 2


def demo_config(config: Config) -> Config:
    """The demo reaches nobody: every channel becomes a duty-log channel."""
    channels = [c.model_copy(update={"type": "log", "url": None, "secret": None}) for c in config.channels]
    return config.model_copy(update={"channels": channels})


def _load(settings: Settings, demo: bool) -> Config:
    if demo and settings.config is None:
        os.environ.setdefault("FENGHUO_WEBHOOK_SECRET", "demo-only-not-a-secret")
        return demo_config(load_config(EXAMPLE_CONFIG))
    config = load_config(settings.config)
    return demo_config(config) if demo else config


def _store_problem(settings: Settings, exc: Exception) -> str | None:
    """What to tell the user when the data directory or the store cannot be opened (None: another error)."""
    from fenghuo.core.store import StoreIntegrityError

    if isinstance(exc, StoreIntegrityError):
        return None  # main() says what to do
    if isinstance(exc, OSError):  # e.g. the data directory is a file, or a key file cannot be written
        return f"cannot use the data directory {settings.data_dir}: {exc}"
    if settings.store_url.startswith("postgres"):  # psycopg2.OperationalError and the like
        return f"the store does not answer ({type(exc).__name__}): {str(exc).strip()}"
    return None


def tls_problem(cert: Path | None, key: Path | None) -> str | None:
    """Why the TLS files cannot be used, or None (both given and readable, or neither)."""
    if (cert is None) != (key is None):
        return "HTTPS needs both --tls-cert FILE and --tls-key FILE"
    for flag, path in (("--tls-cert", cert), ("--tls-key", key)):
        if path is not None and not path.is_file():
            return f"{flag} {path}: no such file"
        if path is not None and not os.access(path, os.R_OK):
            return f"{flag} {path}: not readable by this user"
    if cert is not None and key is not None:
        import ssl

        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
        except (ssl.SSLError, OSError, ValueError) as exc:
            return f"--tls-cert {cert} / --tls-key {key}: not a PEM certificate and its key ({exc})"
    return None


def cmd_run(args: argparse.Namespace) -> int:
    import uvicorn

    from fenghuo.api.app import create_app
    from fenghuo.api.auth import ensure_keys, issue_demo_key
    from fenghuo.runtime.embedded import build_pipeline

    settings = make_settings(host=args.host, port=args.port, data_dir=args.data_dir, config=args.config,
                             demo=args.demo or None, tls_cert=args.tls_cert, tls_key=args.tls_key,
                             forwarded_allow_ips=args.forwarded_allow_ips)
    problem = tls_problem(settings.tls_cert, settings.tls_key)
    if problem:
        return _fail(problem)
    from fenghuo.core.store import check_store

    try:
        config = _load(settings, settings.demo)
        check_store(settings.store_url, settings.data_dir)  # a damaged or vanished database: refused before all
        keyring, created = ensure_keys(settings)
        demo_key = issue_demo_key(settings) if settings.demo and not created else None
    except ConfigError as exc:
        return _fail(f"{exc}\nfix the configuration and try again (fenghuo check-config FILE lists every error)")
    except ValueError as exc:
        return _fail(str(exc))
    except Exception as exc:
        problem = _store_problem(settings, exc)
        if problem is None:
            raise
        return _fail(problem)
    scheme = "https" if settings.tls_cert else "http"
    url = f"{scheme}://{settings.host}:{settings.port}"
    print(f"fenghuo 烽火 serving on {url}  (API docs: {url}/docs)", flush=True)
    print(f"data directory: {settings.data_dir.resolve()}", flush=True)
    if created:
        print(f"admin API key: {created}  (created now, named admin; only its hash is kept, in "
              f"{settings.key_file_path}: note it now)", flush=True)
    elif demo_key:
        print(f"admin API key: {demo_key}  (the demo's key, named demo: a new one at every demo start)", flush=True)

    def started(service: Service) -> None:
        if settings.demo:
            threading.Thread(target=_run_demo, args=(service, args.demo_speed), daemon=True,
                             name="fenghuo-demo").start()

    def make() -> Service:
        if settings.bus == "kafka":  # the API ingests into Kafka; the workers detect, alert and deliver
            from fenghuo.runtime.kafka.front import build_kafka_front

            return build_kafka_front(settings, config)
        return build_pipeline(settings, config)

    # built and started before the server, so a saved state this release cannot read (after a downgrade)
    # is refused with its reason rather than a traceback from inside the server's startup
    from fenghuo.core.state import StateVersionError

    try:
        service = make()
        service.start()
    except StateVersionError as exc:
        return _fail(f"refusing to start: {exc}\nrun the release that wrote this data directory, or restore a "
                     f"backup made by this release (fenghuo backup)")
    served = False  # set once the app's lifespan has the service: from then on it stops it at shutdown

    def serve() -> Service:
        nonlocal served
        served = True
        return service

    app = create_app(serve, keyring, started, settings, started=True)
    tls: dict[str, Any] = {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)} \
        if settings.tls_cert else {}
    proxy: dict[str, Any] = {"proxy_headers": True, "forwarded_allow_ips": settings.forwarded_allow_ips} \
        if settings.forwarded_allow_ips else {"proxy_headers": False}
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
                    timeout_graceful_shutdown=5, server_header=False, **tls, **proxy)
    finally:
        if not served:  # the server failed before its startup: the service it never took is stopped here
            service.stop()
    return 0


def _run_demo(service: Service, speed: float) -> None:
    """Replay each bundled slice as its own drill, side by side (each drill runs on its own clock)."""
    from fenghuo.demo import demo_files

    threads = [threading.Thread(target=_replay_demo_file, args=(service, path, fmt, speed), daemon=True)
               for path, fmt in demo_files()]
    for t in threads:
        t.start()


def _replay_demo_file(service: Service, path: Path, fmt: str, speed: float) -> None:
    from fenghuo.ingest.adapters import read_records
    from fenghuo.ingest.replay import replay

    records = list(read_records(path, fmt=fmt))
    drill = f"demo-{path.name.split('_')[0]}"
    logging.getLogger("fenghuo.demo").info("drill %s: replaying %d real records at %gx", drill, len(records), speed)
    stats = replay(records, lambda batch: service.ingest(batch, drill).to_json(), speed=speed, batch_size=200,
                   drill=drill, progress=False)
    logging.getLogger("fenghuo.demo").info("drill %s finished: %s", drill, stats.summary())


def cmd_replay(args: argparse.Namespace) -> int:
    from fenghuo.ingest.adapters import read_records
    from fenghuo.ingest.replay import SinkError, http_sink, replay

    speed = None if args.speed == "max" else float(args.speed)
    try:
        records = list(read_records(Path(args.file), feed=args.feed, fmt=args.format))
    except (OSError, ValueError) as exc:
        return _fail(f"cannot read {args.file}: {exc}")
    if args.url:
        key = args.api_key or os.environ.get("FENGHUO_API_KEY", "")
        if not key:
            return _fail("replaying into a service needs an API key: pass --api-key or set FENGHUO_API_KEY")
        try:
            with http_sink(args.url, key) as sink:
                stats = replay(records, sink, speed=speed, batch_size=args.batch, drill=args.drill)
        except SinkError as exc:
            return _fail(str(exc))
    else:
        from fenghuo.runtime.embedded import build_pipeline

        settings = make_settings(data_dir=args.data_dir, config=args.config)
        try:
            config = load_config(settings.config)
        except ConfigError as exc:
            return _fail(str(exc))
        try:
            pipeline = build_pipeline(settings, config)
        except Exception as exc:
            problem = _store_problem(settings, exc)
            if problem is None:
                raise
            return _fail(problem)
        pipeline.start()
        try:
            stats = replay(records, lambda b: pipeline.ingest(b, args.drill).to_json(), speed=speed,
                           batch_size=args.batch, drill=args.drill)
        finally:
            pipeline.stop()
    print(stats.summary())
    return 0 if not stats.rejected else 1


def cmd_check_config(args: argparse.Namespace) -> int:
    from fenghuo.alerts.notifiers import channel_errors
    from fenghuo.detectors.registry import check_models

    try:
        config = load_config(args.file)
        # the same registries (detector parameters, channel fields) that run builds from
        model_errors = channel_errors(config) + check_models(config.detectors)
        if model_errors:
            raise ConfigError(model_errors, str(args.file))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    grids = sum(1 for n in config.nodes if n.kind == "grid")
    print(f"{args.file}: ok — {len(config.nodes)} nodes ({grids} grids), {len(config.responders)} responders, "
          f"{len(config.channels)} channels, {len(config.rules)} rules")
    return 0


def cmd_grafana_sync(args: argparse.Namespace) -> int:
    from fenghuo.cli.grafana_sync import DEFAULT_DASHBOARDS, GrafanaSyncError, datasource_payload, sync

    if not args.url or not args.token:
        return _fail("grafana sync needs --url and --token (or GRAFANA_URL and GRAFANA_TOKEN): "
                     "make a service-account token with the Editor role in Grafana")
    settings = make_settings()
    pg_url = args.pg_url or (settings.store_url if settings.store_url.startswith("postgres") else None)
    try:
        report = sync(args.url, args.token, args.dashboards or DEFAULT_DASHBOARDS,
                      datasource_payload(pg_url) if pg_url else None)
    except GrafanaSyncError as exc:
        return _fail(str(exc))
    print(report)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fenghuo", description="fenghuo 烽火: risk early warning and response")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the embedded service")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--data-dir", type=Path)
    run.add_argument("--config", type=Path)
    run.add_argument("--demo", action="store_true", help="replay bundled real data as a drill")
    run.add_argument("--demo-speed", type=float, default=6000.0, help="demo replay speed (x real time)")
    run.add_argument("--tls-cert", type=Path, help="serve HTTPS: the certificate chain (PEM)")
    run.add_argument("--tls-key", type=Path, help="serve HTTPS: the private key (PEM)")
    run.add_argument("--forwarded-allow-ips", help="a reverse proxy's address(es), comma-separated: trust its "
                                                   "X-Forwarded-For/-Proto (see docs/security.md)")
    run.set_defaults(fn=cmd_run)
    rp = sub.add_parser("replay", help="stream a file in event-time order into a service or in-process")
    rp.add_argument("file")
    rp.add_argument("--feed", choices=["sensor", "complaint", "opinion"])
    rp.add_argument("--format", choices=ADAPTERS.names())
    rp.add_argument("--speed", default="max", help="N times real time, or max")
    rp.add_argument("--drill", help="replay as this drill: drill alerts reach only drill channels")
    rp.add_argument("--url", help="a running service, e.g. http://127.0.0.1:8000 (default: in-process)")
    rp.add_argument("--api-key", help="API key for --url (or FENGHUO_API_KEY)")
    rp.add_argument("--batch", type=int, default=1000)
    rp.add_argument("--data-dir", type=Path)
    rp.add_argument("--config", type=Path)
    rp.set_defaults(fn=cmd_replay)
    cc = sub.add_parser("check-config", help="validate a configuration file and list every error")
    cc.add_argument("file", type=Path)
    cc.set_defaults(fn=cmd_check_config)
    gr = sub.add_parser("grafana", help="Grafana dashboards and datasource")
    gsub = gr.add_subparsers(dest="grafana_command", required=True)
    gs = gsub.add_parser("sync", help="create or update the datasource and dashboards through Grafana's API")
    gs.add_argument("--url", default=os.environ.get("GRAFANA_URL"), help="e.g. http://grafana:3000")
    gs.add_argument("--token", default=os.environ.get("GRAFANA_TOKEN"), help="a service-account token (Editor)")
    gs.add_argument("--pg-url", help="PostgreSQL URL for the datasource (default: FENGHUO_STORE_URL)")
    gs.add_argument("--dashboards", type=Path, help="folder of dashboard JSON (default: deploy/grafana/dashboards)")
    gs.set_defaults(fn=cmd_grafana_sync)
    from fenghuo.cli.admin import add_subcommands as add_admin
    from fenghuo.cli.backtest import add_subcommand as add_backtest
    from fenghuo.cli.distributed import add_subcommands
    from fenghuo.cli.keys import add_subcommand as add_keys
    from fenghuo.cli.purge import add_subcommand as add_purge
    from fenghuo.cli.report import add_subcommand as add_report

    add_backtest(sub)
    add_keys(sub)  # keys add|list|revoke|rotate
    add_purge(sub)  # purge --data-dir DIR [--dry-run]
    add_admin(sub)  # audit verify|head, backup
    add_report(sub)  # report complaints
    add_subcommands(sub)  # kafka create-topics, worker detectors|alerts|store-writer
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=os.environ.get("FENGHUO_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.command == "replay" and args.speed != "max":
        try:
            float(args.speed)
        except ValueError:
            return _fail(f"--speed takes a number or max, not {args.speed!r}")
    from fenghuo.core.state import StateVersionError
    from fenghuo.core.store import StoreIntegrityError

    try:
        return int(args.fn(args))
    except StoreIntegrityError as exc:  # a damaged, missing or emptied database: say what to do, no traceback
        return _fail(str(exc))
    except StateVersionError as exc:  # a worker's saved state from a newer release (after a downgrade)
        return _fail(f"refusing to run on a saved state this release cannot read: {exc}")


if __name__ == "__main__":
    sys.exit(main())
