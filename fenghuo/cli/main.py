"""The command line: ``fenghuo run | replay | check-config | keys | ...``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fenghuo.cli.common import port_arg, positive_int, speed_arg
from fenghuo.core.config import Config, ConfigError, load_config
from fenghuo.core.settings import Settings, make_settings
from fenghuo.ingest.adapters import ADAPTERS

if TYPE_CHECKING:
    from fenghuo.runtime.service import Service

EXAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "demo" / "fenghuo.example.yaml"


def _fail(message: str, code: int = 2) -> int:
    """Say why on stderr; exit 2 (could not start as asked) unless ``code`` (1: ran and failed)."""
    print(f"fenghuo: {message}", file=sys.stderr)
    return code


def demo_config(config: Config) -> Config:
    """The demo reaches nobody: every channel becomes a duty-log channel."""
    channels = [c.model_copy(update={"type": "log", "url": None, "secret": None}) for c in config.channels]
    return config.model_copy(update={"channels": channels})


def _load(settings: Settings, demo: bool) -> Config:
    if demo and settings.config is None:
        os.environ.setdefault("FENGHUO_WEBHOOK_SECRET", "demo-only-not-a-secret")
        return demo_config(load_config(EXAMPLE_CONFIG))
    from fenghuo.cli.config_check import load_checked

    config = load_checked(settings.config)  # every error at once, as check-config lists them
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
    from fenghuo.api.auth import ensure_keys
    from fenghuo.cli.common import Stopped, listen_problem, notify_max_age, stop_on_signals
    from fenghuo.runtime.embedded import build_pipeline
    from fenghuo.runtime.gc_tuning import tune_gc

    settings = make_settings(host=args.host, port=args.port, data_dir=args.data_dir, config=args.config,
                             demo=args.demo or None, tls_cert=args.tls_cert, tls_key=args.tls_key,
                             forwarded_allow_ips=args.forwarded_allow_ips)
    problem = tls_problem(settings.tls_cert, settings.tls_key)
    if problem:
        return _fail(problem)
    try:
        max_age = notify_max_age(args.notify_max_age)
    except ValueError as exc:
        return _fail(str(exc))
    new_dir = not settings.data_dir.exists() and not settings.store_url
    from fenghuo.core.store import check_store

    try:
        config = _load(settings, settings.demo)
        check_store(settings.store_url, settings.data_dir)  # a damaged or vanished database: refused before all
        keyring, created = ensure_keys(settings)
    except ConfigError as exc:
        return _fail(f"{exc}\nfix the configuration and try again (fenghuo check-config FILE lists every error)")
    except ValueError as exc:
        return _fail(str(exc))
    except Exception as exc:
        problem = _store_problem(settings, exc)
        if problem is None:
            raise
        return _fail(problem)
    problem = listen_problem(settings.host, settings.port)  # before the service starts, not from uvicorn
    if problem:
        if created:  # made now: shown now, or never
            print(f"admin API key: {created}  (created now, named admin; only its hash is kept, in "
                  f"{settings.key_file_path}: note it now, it is not shown again)", flush=True)
        return _fail(problem, 1)
    scheme = "https" if settings.tls_cert else "http"
    url = f"{scheme}://{settings.host}:{settings.port}"
    print(f"fenghuo 烽火 serving on {url}  (API docs: {url}/docs)", flush=True)
    print(f"data directory: {settings.data_dir.resolve()}" + ("  (new: created now)" if new_dir else ""),
          flush=True)
    if created:
        print(f"admin API key: {created}  (created now, named admin; only its hash is kept, in "
              f"{settings.key_file_path}: note it now, it is not shown again)", flush=True)
    elif not settings.api_keys:
        print(f"API keys: kept hashed in {settings.key_file_path} (a key is shown only when made; a lost one: "
              f"fenghuo keys rotate admin --data-dir {settings.data_dir})", flush=True)

    def started(service: Service) -> None:
        if settings.demo:
            threading.Thread(target=_run_demo, args=(service, args.demo_speed), daemon=True,
                             name="fenghuo-demo").start()

    def make() -> Service:
        if settings.bus == "kafka":  # the API ingests into Kafka; the workers detect, alert and deliver
            from fenghuo.runtime.kafka.front import build_kafka_front

            return build_kafka_front(settings, config)
        return build_pipeline(settings, config, notify_max_age=max_age)

    # built and started before the server, so a saved state this release cannot read (after a downgrade)
    # is refused with its reason rather than a traceback from inside the server's startup
    from fenghuo.core.state import StateVersionError

    try:
        service = make()
        service.start()
        tune_gc()  # after the start: what it built is long-lived
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
        # uvicorn stops gracefully on SIGINT/SIGTERM, then raises the signal again: SIGTERM then ends in
        # Stopped (a normal exit, so child processes such as the forecast's fitting process are ended too),
        # SIGINT in Interrupted (exit 130)
        with stop_on_signals():
            uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
                        timeout_graceful_shutdown=5, server_header=False, **tls, **proxy)
    except Stopped:
        print("fenghuo: stopped (SIGTERM)", file=sys.stderr, flush=True)
    finally:
        if not served:  # the server failed before its startup: the service it never took is stopped here
            service.stop()
    return 0


DEMO_SCENARIOS = {"gloria_river_levels.csv.gz": "gloria-flood",  # the bundled scenario of each demo slice
                  "boston311_blizzard_2015.csv.gz": "boston-blizzard-2015"}


def _run_demo(service: Service, speed: float) -> None:
    """Each bundled slice as its own drill, side by side: a run of its bundled scenario (scored, with simulated
    duty officers; a new run at every start), or, where the runtime has no drill runs (Kafka), a replay."""
    from fenghuo.demo import demo_files

    control = getattr(service, "drills", None)
    left = []
    for path, fmt in demo_files():
        name = DEMO_SCENARIOS.get(path.name)
        if control is not None and name in control.known():
            _, doc, folder = control.known()[name]
            # duty officers acknowledge but leave the alerts open: the board shows them as they stand
            demo = {**doc, "responders": {"ack_after": "15m", "resolve_after": None}}
            try:
                control.start(spec=demo, base_dir=folder, actor="demo", speed=speed)
                continue
            except Exception as exc:  # the service stopped meanwhile: one line, no traceback
                logging.getLogger("fenghuo.demo").info("demo drill %s not started (%s: %s)", name,
                                                       type(exc).__name__, exc)
                continue
        left.append((path, fmt))
    threads = [threading.Thread(target=_replay_demo_file, args=(service, path, fmt, speed), daemon=True)
               for path, fmt in left]
    for t in threads:
        t.start()


def _replay_demo_file(service: Service, path: Path, fmt: str, speed: float) -> None:
    from fenghuo.ingest.adapters import read_records
    from fenghuo.ingest.replay import replay

    records = list(read_records(path, fmt=fmt))
    drill = f"demo-{path.name.split('_')[0]}"
    logging.getLogger("fenghuo.demo").info("drill %s: replaying %d real records at %gx", drill, len(records), speed)
    try:
        stats = replay(records, lambda batch: service.ingest(batch, drill).to_json(), speed=speed, batch_size=200,
                       drill=drill, progress=False)
    except Exception as exc:  # the service stopped under the replay (Ctrl-C, SIGTERM): one line, no traceback
        logging.getLogger("fenghuo.demo").info("drill %s: replay ended early (%s: %s)", drill,
                                               type(exc).__name__, exc)
        return
    logging.getLogger("fenghuo.demo").info("drill %s finished: %s", drill, stats.summary())


def cmd_replay(args: argparse.Namespace) -> int:
    from fenghuo.cli.common import RejectionCount, missing_data_dir
    from fenghuo.ingest.adapters import read_records
    from fenghuo.ingest.replay import SinkError, http_sink, replay

    speed = args.speed  # None: as fast as possible (parsed by speed_arg)
    if args.notify and args.url:
        return _fail("--notify is for a replay into a data directory (a service at --url notifies as it is "
                     "configured)", 2)
    reasons = RejectionCount()
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
                stats = replay(records, reasons.counting(sink), speed=speed, batch_size=args.batch,
                               drill=args.drill)
        except SinkError as exc:
            return _fail(str(exc))
    else:
        from fenghuo.runtime.embedded import build_pipeline

        settings = make_settings(data_dir=args.data_dir, config=args.config)
        try:
            from fenghuo.cli.config_check import load_checked

            config = load_checked(settings.config)
        except ConfigError as exc:
            return _fail(str(exc))
        created = missing_data_dir(settings) is not None
        try:
            # a replay is history: its alerts are recorded, their notifications are not sent ("not sent:
            # backfill" in the outbox) unless --notify
            pipeline = build_pipeline(settings, config, backfill=not args.notify)
        except Exception as exc:
            problem = _store_problem(settings, exc)
            if problem is None:
                raise
            return _fail(problem)
        if created:
            print(f"fenghuo: new data directory {settings.data_dir} (created now)", file=sys.stderr)
        pipeline.start()
        try:
            stats = replay(records, reasons.counting(lambda b: pipeline.ingest(b, args.drill).to_json()),
                           speed=speed, batch_size=args.batch, drill=args.drill)
            if args.notify:  # what the replay decided to send goes out before the command exits
                with pipeline.lock:
                    pipeline.alerts.tick(pipeline.clocks.domains())
                left = pipeline.delivery.flush(timeout=60.0)
                if left:
                    print(f"fenghuo: {left} notification(s) still queued (a receiver failing or slow): the next "
                          "fenghuo run on this directory sends them", file=sys.stderr)
        finally:
            pipeline.stop()
        if not args.notify:
            withheld = pipeline.delivery.withheld
            print(f"fenghuo: backfill: alerts recorded, {withheld} notification(s) recorded as \"not sent: "
                  "backfill\" (--notify sends them)", file=sys.stderr)
    print(stats.summary())
    if stats.rejected:
        print(reasons.report(config_given=args.url is not None or args.config is not None
                             or make_settings().config is not None), file=sys.stderr)
    return 0 if not stats.rejected else 1


def cmd_check_config(args: argparse.Namespace) -> int:
    from fenghuo.cli.config_check import config_errors, scenario_file_errors

    scenario = scenario_file_errors(args.file, args.config)
    if scenario is not None:  # a drill scenario, checked against a configuration
        summary, errors = scenario
        if errors:
            print(f"{args.file}: {len(errors)} error(s)\n" + "\n".join(f"  - {e}" for e in errors), file=sys.stderr)
            return 1
        print(f"{args.file}: ok — {summary}")
        return 0

    # every layer (fields, cross references, the channel and detector registries run builds from,
    # coordinates) in one round
    config, errors = config_errors(args.file)
    if errors or config is None:
        print(ConfigError(errors, str(args.file)), file=sys.stderr)
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
    run.add_argument("--host", help="address to listen on (default 127.0.0.1, or FENGHUO_HOST)")
    run.add_argument("--port", type=port_arg, help="port to listen on (default 8000, or FENGHUO_PORT)")
    run.add_argument("--data-dir", type=Path, help="where the database, keys and state live (default .data, or "
                                                   "FENGHUO_DATA_DIR); created if it does not exist, and said so")
    run.add_argument("--config", type=Path, help="the configuration YAML (default FENGHUO_CONFIG; check it with "
                                                 "fenghuo check-config FILE)")
    run.add_argument("--demo", action="store_true", help="replay bundled real data as a drill")
    run.add_argument("--demo-speed", type=speed_arg, default=6000.0, help="demo replay speed (x real time)")
    run.add_argument("--notify-max-age", metavar="DURATION",
                     help="queued notifications older than this at start are not sent but recorded as expired "
                          "(e.g. 30m, 1h, 2d; default 1h, or FENGHUO_NOTIFY_MAX_AGE)")
    run.add_argument("--tls-cert", type=Path, help="serve HTTPS: the certificate chain (PEM)")
    run.add_argument("--tls-key", type=Path, help="serve HTTPS: the private key (PEM)")
    run.add_argument("--forwarded-allow-ips", help="a reverse proxy's address(es), comma-separated: trust its "
                                                   "X-Forwarded-For/-Proto (see docs/security.md)")
    run.set_defaults(fn=cmd_run)
    rp = sub.add_parser("replay", help="stream a file in event-time order into a service or in-process")
    rp.add_argument("file", help="the recorded events (CSV, JSON lines, gzip; --format when it is not guessed)")
    rp.add_argument("--feed", choices=["sensor", "complaint", "opinion"], help="the feed of every record "
                                                                               "(default: from the file)")
    rp.add_argument("--format", choices=ADAPTERS.names(), help="the file's format (default: guessed from its "
                                                               "name and header)")
    rp.add_argument("--speed", type=speed_arg, default=None, help="N times real time (above 0), or max "
                                                                  "(default: max, as fast as possible)")
    rp.add_argument("--drill", help="replay as this drill: drill alerts reach only drill channels")
    rp.add_argument("--url", help="a running service, e.g. http://127.0.0.1:8000 (default: in-process)")
    rp.add_argument("--api-key", help="API key for --url (or FENGHUO_API_KEY)")
    rp.add_argument("--batch", type=positive_int, default=1000, help="records per request at most (default 1000)")
    rp.add_argument("--data-dir", type=Path, help="in-process: the data directory to write (created if new, "
                                                  "and said so; default .data, or FENGHUO_DATA_DIR)")
    rp.add_argument("--config", type=Path, help="in-process: the configuration whose grids place the records "
                                                "(default FENGHUO_CONFIG)")
    rp.add_argument("--notify", action="store_true",
                    help="in-process: send the notifications of the replay's alerts (default: a backfill, its "
                         "alerts recorded and their notifications recorded as not sent)")
    rp.set_defaults(fn=cmd_replay)
    cc = sub.add_parser("check-config", help="validate a configuration or drill scenario file and list every error")
    cc.add_argument("file", type=Path, help="the configuration YAML, or a drill scenario (its scenario: key)")
    cc.add_argument("--config", type=Path, help="for a scenario: the configuration it runs against (default "
                                                "FENGHUO_CONFIG, else the example configuration)")
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
    from fenghuo.cli.drill import add_subcommand as add_drill
    from fenghuo.cli.incident import add_subcommand as add_incident
    from fenghuo.cli.keys import add_subcommand as add_keys
    from fenghuo.cli.purge import add_subcommand as add_purge
    from fenghuo.cli.report import add_subcommand as add_report
    from fenghuo.cli.risk import add_subcommand as add_risk
    from fenghuo.cli.silence import add_subcommand as add_silence

    add_backtest(sub)
    add_keys(sub)  # keys add|list|revoke|rotate
    add_purge(sub)  # purge --data-dir DIR [--dry-run]
    add_admin(sub)  # audit verify|head, backup
    add_report(sub)  # report complaints
    add_silence(sub)  # silence add|list|expire (through a running service's API)
    add_incident(sub)  # incident list|show|ack|resolve|note (through a running service's API)
    add_drill(sub)  # drill run|list|show|end|purge|compare
    add_risk(sub)  # risk forecast|backtest (docs/risk-forecast.md)
    add_subcommands(sub)  # kafka create-topics, worker detectors|alerts|store-writer
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit code (see :mod:`fenghuo.cli.common`: 0, 1 failed, 2 usage, 130 Ctrl-C).
    No traceback reaches the user: an unexpected error is one line (FENGHUO_LOG_LEVEL=DEBUG for the trace)."""
    try:
        args = parser().parse_args(argv)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    level = os.environ.get("FENGHUO_LOG_LEVEL", "INFO").upper()
    if level not in logging.getLevelNamesMapping():
        return _fail(f"FENGHUO_LOG_LEVEL takes DEBUG, INFO, WARNING or ERROR, not {level!r}")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    import signal

    from fenghuo.cli.common import Interrupted, disarm_stop_watchdog, end_child_processes, keyboard_interrupt
    from fenghuo.core.state import StateVersionError
    from fenghuo.core.store import StoreIntegrityError

    previous = None
    if threading.current_thread() is threading.main_thread():  # (not when a test calls main from a thread)
        previous = signal.signal(signal.SIGINT, keyboard_interrupt)
    try:
        return int(args.fn(args))
    except StoreIntegrityError as exc:  # a damaged, missing or emptied database: say what to do, no traceback
        return _fail(str(exc))
    except StateVersionError as exc:  # a worker's saved state from a newer release (after a downgrade)
        return _fail(f"refusing to run on a saved state this release cannot read: {exc}")
    except (KeyboardInterrupt, Interrupted):  # Ctrl-C: what was done is kept (a replay's accepted events)
        return _fail("interrupted", 130)
    except Exception as exc:  # a bug: one line for the user, the trace in the log at DEBUG
        logging.getLogger("fenghuo.cli").debug("unexpected error", exc_info=True)
        return _fail(f"unexpected error: {type(exc).__name__}: {exc} (FENGHUO_LOG_LEVEL=DEBUG shows where)", 1)
    finally:
        end_child_processes()  # the forecast's fitting process and the like: no orphans
        disarm_stop_watchdog()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


if __name__ == "__main__":
    sys.exit(main())
