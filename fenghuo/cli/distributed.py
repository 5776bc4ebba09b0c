"""The distributed runtime's commands, added to ``fenghuo`` by :func:`add_subcommands`:

``fenghuo kafka create-topics [--partitions N]``, ``fenghuo worker detectors|alerts|store-writer``.
Every command takes the broker from ``FENGHUO_KAFKA_BOOTSTRAP``, the store from
``FENGHUO_STORE_URL`` (empty: SQLite in the data directory) and topic names under
``FENGHUO_TOPIC_PREFIX``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

from fenghuo.cli.common import port_arg, positive_float, positive_int
from fenghuo.core.config import Config, ConfigError
from fenghuo.core.settings import Settings, make_settings
from fenghuo.runtime.kafka.bus import Topics, create_topics

log = logging.getLogger("fenghuo.distributed")


def _settings(args: argparse.Namespace) -> Settings:
    return make_settings(data_dir=getattr(args, "data_dir", None), config=getattr(args, "config", None))


def _config(settings: Settings) -> Config:
    from fenghuo.cli.config_check import load_checked

    return load_checked(settings.config)  # every error at once, as check-config lists them


def cmd_create_topics(args: argparse.Namespace) -> int:
    settings = _settings(args)
    deadline = time.monotonic() + args.wait
    while True:
        try:
            made = create_topics(settings.kafka_bootstrap, args.partitions, Topics.of(settings),
                                 replication=settings.kafka_replication_factor)
            break
        except Exception as exc:  # the broker may still be starting (compose one-shot): retry until --wait
            if time.monotonic() > deadline:
                print(f"fenghuo: cannot create topics on {settings.kafka_bootstrap}: {exc}", file=sys.stderr)
                return 1
            time.sleep(2)
    print(f"topics created: {', '.join(made) or 'none (all existed)'}")
    return 0


def _until_signalled(stop: Any) -> None:
    def handler(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


STORE_WAIT_S = 120.0  # how long a worker waits at start for a store that does not answer yet


def _open_store_when_up(settings: Settings, wait_s: float = STORE_WAIT_S) -> Any:
    """The store, once it answers: a worker may start before its database (compose) or while it restarts.
    A damaged database is refused at once; one that does not answer within ``wait_s`` ends the worker with
    the reason (its supervisor restarts it)."""
    from fenghuo.core.store import StoreIntegrityError, open_store

    deadline, delay = time.monotonic() + wait_s, 0.5
    while True:
        try:
            return open_store(settings.store_url, settings.data_dir)
        except StoreIntegrityError:
            raise
        except Exception as exc:  # psycopg2.OperationalError and the like: not up yet
            if time.monotonic() + delay > deadline:
                raise StoreUnreachable(f"the store did not answer within {wait_s:.0f} s: {exc}".strip()) from None
            log.warning("the store does not answer yet (%s); trying again in %.1f s", type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


class StoreUnreachable(RuntimeError):
    """The store did not answer while a worker waited for it at start."""


def _serve(probes: Any, host: str, port: int) -> bool:
    """Serve the worker's /livez and /readyz (port 0: none); False, said on stderr, when the port cannot be had."""
    try:
        probes.serve(host, port)
    except OSError as exc:
        print(f"fenghuo: cannot serve /livez and /readyz on {host}:{port} ({exc.strerror or exc}); set another "
              "--probe-port (FENGHUO_PROBE_PORT)", file=sys.stderr)
        return False
    return True


def cmd_worker(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        config = _config(settings)
    except ConfigError as exc:
        print(f"fenghuo: {exc}", file=sys.stderr)
        return 2
    from fenghuo.runtime.kafka.probes import FaustApps, Probes, consumer_checks, faust_checks

    port = args.probe_port if args.probe_port is not None else settings.probe_port
    if args.role == "detectors":
        from fenghuo.runtime.kafka.detector_worker import run_worker

        apps = FaustApps().connect()
        if not _serve(Probes(*faust_checks(apps), role=args.role, metrics=apps.metrics), settings.probe_host, port):
            return 1
        return run_worker(settings, config, partitions=args.partitions, batch=args.batch, within=args.within,
                          per_event=args.per_event, worker_id=args.worker_id)
    worker: Any = None  # the probes answer while the store is waited for: alive, not ready
    if not _serve(Probes(*consumer_checks(lambda: worker), role=args.role), settings.probe_host, port):
        return 1
    try:
        store = _open_store_when_up(settings)
    except StoreUnreachable as exc:
        print(f"fenghuo: {exc}", file=sys.stderr)
        return 1
    try:
        from kafka.errors import KafkaError
    except ImportError:  # the Kafka client is an extra
        KafkaError = OSError  # noqa: N806
    try:
        if args.role == "alerts":
            from fenghuo.runtime.kafka.alert_service.worker import make_alert_worker

            worker = make_alert_worker(settings, config, store)
        else:
            from fenghuo.runtime.kafka.store_writer import StoreWriter

            worker = StoreWriter(settings.kafka_bootstrap, store, Topics.of(settings))
        _until_signalled(worker.stop)
        worker.run()
    except KafkaError as exc:
        print(f"fenghuo: the Kafka broker at {settings.kafka_bootstrap} does not answer ({type(exc).__name__}); "
              "is it running? (FENGHUO_KAFKA_BOOTSTRAP)", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0


def add_subcommands(sub: Any) -> None:
    """Add ``kafka`` and ``worker`` to the ``fenghuo`` parser's subcommands."""
    kafka = sub.add_parser("kafka", help="Kafka administration for the distributed runtime")
    ksub = kafka.add_subparsers(dest="kafka_command", required=True)
    ct = ksub.add_parser("create-topics", help="create the event, signal, alert and dead-letter topics")
    ct.add_argument("--partitions", type=positive_int, default=8, help="partitions per topic (default 8)")
    ct.add_argument("--wait", type=positive_float, default=60.0, help="seconds to keep trying while the broker starts")
    ct.set_defaults(fn=cmd_create_topics)

    worker = sub.add_parser("worker", help="run one worker of the distributed runtime")
    worker.add_argument("role", choices=["detectors", "alerts", "store-writer"],
                        help="which worker: the detectors (faust), the alert service, or the store writer")
    worker.add_argument("--data-dir", type=Path, help="local state (default .data, or FENGHUO_DATA_DIR)")
    worker.add_argument("--config", type=Path, help="the configuration YAML (default FENGHUO_CONFIG)")
    worker.add_argument("--partitions", type=positive_int, default=8, help="detectors: partitions of the event topics")
    worker.add_argument("--batch", type=positive_int, default=2000, help="detectors: events per batch at most")
    worker.add_argument("--within", type=positive_float, default=0.05,
                        help="no longer used: a batch is what one fetch brings (up to --batch); kept so "
                             "existing units and scripts still start")
    worker.add_argument("--per-event", action="store_true", help="detectors: the per-event agent (benchmark)")
    worker.add_argument("--worker-id", default="0", help="detectors: names this worker's local directory")
    worker.add_argument("--probe-port", type=port_arg, metavar="PORT",
                        help="serve GET /livez and /readyz on this port (default FENGHUO_PROBE_PORT; 0: none)")
    worker.set_defaults(fn=cmd_worker)


def main(argv: list[str] | None = None) -> int:
    """Run these commands on their own (``python -m fenghuo.cli.distributed``) until fenghuo.cli.main has them."""
    p = argparse.ArgumentParser(prog="fenghuo")
    add_subcommands(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(argv)
    import os

    logging.basicConfig(level=os.environ.get("FENGHUO_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
