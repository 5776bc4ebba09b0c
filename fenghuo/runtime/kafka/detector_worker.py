"""The detector workers: a faust-streaming app whose agent consumes the event topics in batches.

``make_app`` builds the app (never at import time). One agent takes up to ``batch`` events
``within`` seconds (``stream.take_events``), groups them by grid (the message key, so a grid's
events are on one partition and one worker), runs :class:`fenghuo.runtime.kafka.grid_runner.GridRunner`
with that grid's state from a changelog-backed table, produces one signal batch per grid to the
signals topic, waits for Kafka to have them, then writes the grid states back to the table.
A replacement worker restores the table from its changelog; redelivered events are skipped by
the offsets kept in the state. Rules come from the store and are refreshed on a timer.

With complaint bursts configured (a roll-up over the grid tree), the grid stage does not run them:
it forwards the complaints it takes to ``<prefix>.complaints.by-district`` keyed by district, and a
second agent in the same app (:class:`fenghuo.runtime.kafka.district_runner.DistrictRunner`, table
``district-state``) runs them per district, under the same rules: signals in Kafka, then the state's
changelog record, then the next batch (which acks this one).

``per_event=True`` runs the plain per-event agent instead (the benchmark's comparison).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fenghuo.core.config import Config
from fenghuo.core.grids import GridTree
from fenghuo.core.rulebook import RuleBook
from fenghuo.core.settings import Settings
from fenghuo.core.store import Store, open_store
from fenghuo.runtime import topology
from fenghuo.runtime.kafka.bus import Topics, batch_to_wire, event_from_wire
from fenghuo.runtime.kafka.district_runner import DistrictRunner, forward_from_wire, forward_records
from fenghuo.runtime.kafka.grid_runner import GridRunner, GridState

log = logging.getLogger("fenghuo.detectors.worker")


class Rules:
    """The worker's view of the rule table, reloaded from the store when its versions change."""

    def __init__(self, store_url: str, data_dir: Path, tree: GridTree, runner: GridRunner) -> None:
        self.store_url, self.data_dir, self.tree, self.runner = store_url, data_dir, tree, runner
        self.store: Store | None = None
        self.version: tuple[Any, ...] = ()

    def refresh(self) -> bool:
        if self.store is None:
            self.store = open_store(self.store_url, self.data_dir)
        rows = self.store.rules()
        version = tuple(sorted((r["id"], r["version"]) for r in rows))
        if version == self.version:
            return False
        self.runner.set_rules(RuleBook(self.store, self.tree).current())
        self.version = version
        log.info("detector rules loaded: %s", ", ".join(f"{i} v{v}" for i, v in version) or "none")
        return True

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def key_partition(key: bytes, partitions: int) -> int:
    """The partition the default partitioner (Java's, kafka-python's, aiokafka's) gives a key: the changelog
    partition of a table with ``use_partitioner=True``, and the partition of the events keyed the same.

    >>> key_partition(b"G-AGLY", 2), key_partition(b"G-2", 2)
    (1, 0)
    """
    from aiokafka.partitioner import murmur2

    return (murmur2(key) & 0x7FFFFFFF) % partitions


def make_app(settings: Settings, config: Config, *, prefix: str | None = None, partitions: int = 8,
             batch: int = 2000, within: float = 0.05, per_event: bool = False, rules_every: float = 5.0,
             worker_id: str = "0") -> Any:
    import faust
    from mode.supervisors import CrashingSupervisor

    topics = Topics(prefix) if prefix else Topics.of(settings)
    tree = GridTree(config.nodes, config.grid_match_km)
    chain = tree.chain_ids

    # the topology's Kafka placement: grid-scope detectors here, district-scope ones in the roll-up stage
    runner = GridRunner((), chain, config.detectors, settings.data_dir / "models", scopes=topology.GRID)
    district = (DistrictRunner(config.detectors, chain, settings.data_dir / "models")
                if topology.runs(config, topology.DISTRICT) else None)
    rules = Rules(settings.store_url, settings.data_dir, tree, runner)
    datadir = settings.data_dir / "faust" / worker_id
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        topics.group("detectors-per-event" if per_event else "detectors"),
        broker=f"kafka://{settings.kafka_bootstrap}", store="memory://", topic_partitions=partitions,
        topic_replication_factor=1, web_enabled=False, producer_acks=-1, consumer_auto_offset_reset="earliest",
        datadir=str(datadir), broker_commit_every=1000,
        broker_commit_interval=1.0, broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0, stream_buffer_maxsize=max(4096, 2 * batch), producer_linger=0.002,
    )
    raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
    source = app.topic(*topics.events, **raw)
    signals = app.topic(topics.signals, **raw)
    # key_type/value_type bytes: without them faust decodes the changelog as JSON on recovery (and drops
    # every record with a warning), so a replacement worker would start from empty grid states
    table = app.Table("grid-state", default=None, partitions=partitions, use_partitioner=True,
                      key_type=bytes, value_type=bytes, schema=faust.Schema(**raw))
    rollup = app.topic(topics.complaints_by_district, **raw)
    app.fenghuo_runner = runner  # for tests and the benchmark: counts live on the app, not in globals
    app.fenghuo_district = district
    app.fenghuo_rules = rules

    @app.task
    async def load_rules() -> None:
        await asyncio.get_running_loop().run_in_executor(None, rules.refresh)

    @app.timer(interval=rules_every)
    async def refresh_rules() -> None:
        await asyncio.get_running_loop().run_in_executor(None, rules.refresh)

    async def ensure_rules() -> None:
        if not rules.version:  # never process an event before the rules are known
            await asyncio.get_running_loop().run_in_executor(None, rules.refresh)

    async def persist(sends: list[tuple[Any, bytes, bytes]], states: Any, writes: list[tuple[bytes, bytes]]) -> None:
        """Send the records (signal batches, forwarded complaints), wait until Kafka has them, then write
        the states to the table's changelog and wait again. The caller takes its next batch only after
        this, which acks the events of this one, so faust never commits an offset past a state Kafka has.
        """
        futures = [await topic.send(key=k, value=v) for topic, k, v in sends]
        if futures:
            await asyncio.gather(*futures)  # the signals are in Kafka before the state says so
        # table[key] = value would only queue the changelog record (send_soon); faust's commit-time
        # flush gives up after 0.1 s, so an offset could be committed before the state was written.
        # The partition is given: faust would hash the key with the producer's metadata of the changelog
        # topic, which a worker that has just created that topic may not have yet (TypeError, worker stops)
        written = [states.send_changelog(key_partition(key, partitions), key, value) for key, value in writes]
        if written:
            await asyncio.gather(*written)
        for key, value in writes:
            states.data[key] = value

    async def handle(groups: dict[bytes, list[tuple[Any, Any, Any]]], forwards: list[tuple[bytes, bytes]]) -> None:
        """Run each grid's events; persist their signal batches and the complaints forwarded to the
        district stage, then the grid states."""
        writes: list[tuple[bytes, bytes]] = []
        sends: list[tuple[Any, bytes, bytes]] = [(rollup, k, v) for k, v in forwards]
        for key, items in groups.items():
            gs = GridState.loads(table.get(key))
            out = runner.run(gs, items)
            if out.clock:
                sends.append((signals, key, batch_to_wire(key.decode(), out.signals, out.clock, out.rx,
                                                          out.positions)))
            writes.append((key, gs.dumps()))
        await persist(sends, table, writes)

    def forwarded(taken: list[tuple[Any, Any, bytes]]) -> list[tuple[bytes, bytes]]:
        return [] if district is None else forward_records(taken, district.wants, district.top)

    def item(ev: Any) -> tuple[bytes, tuple[Any, Any, Any]]:
        m = ev.message
        e, rx = event_from_wire(ev.value)
        return m.key or e.grid.encode(), (e, (m.topic, m.partition, m.offset), rx)

    if per_event:
        @app.agent(source, name="detect-per-event", supervisor_strategy=CrashingSupervisor)
        async def detect_per_event(stream: Any) -> AsyncIterator[None]:
            await ensure_rules()
            async for ev in stream.events():
                key, it = item(ev)
                await handle({key: [it]}, forwarded([(it[0], it[1], ev.value)]))
                yield None
    else:
        @app.agent(source, name="detect-batches", supervisor_strategy=CrashingSupervisor)
        async def detect_batches(stream: Any) -> AsyncIterator[None]:
            await ensure_rules()
            async for events in stream.take_events(batch, within=within):
                groups: dict[bytes, list[tuple[Any, Any, Any]]] = {}
                taken: list[tuple[Any, Any, bytes]] = []
                for ev in events:
                    key, it = item(ev)
                    groups.setdefault(key, []).append(it)
                    taken.append((it[0], it[1], ev.value))
                await handle(groups, forwarded(taken))
                yield None

    if district is not None:
        states = app.Table("district-state", default=None, partitions=partitions, use_partitioner=True,
                           key_type=bytes, value_type=bytes, schema=faust.Schema(**raw))

        async def run_districts(groups: dict[bytes, list[tuple[Any, Any, Any, Any]]]) -> None:
            """Run each district's complaints; persist one signal batch per node, then the district states."""
            writes: list[tuple[bytes, bytes]] = []
            sends: list[tuple[Any, bytes, bytes]] = []
            for key, items in groups.items():
                ds = GridState.loads(states.get(key))
                for node, out in district.run(ds, items).items():
                    wire = batch_to_wire(node, out.signals, out.clock, out.rx, out.positions)
                    sends.append((signals, node.encode(), wire))
                writes.append((key, ds.dumps()))
            await persist(sends, states, writes)

        @app.agent(rollup, name="roll-up-districts", supervisor_strategy=CrashingSupervisor)
        async def roll_up_districts(stream: Any) -> AsyncIterator[None]:
            async for events in stream.take_events(batch, within=within):
                groups: dict[bytes, list[tuple[Any, Any, Any, Any]]] = {}
                for ev in events:
                    m = ev.message
                    e, source, rx = forward_from_wire(ev.value)
                    groups.setdefault(m.key, []).append((e, source, (m.topic, m.partition, m.offset), rx))
                await run_districts(groups)
                yield None

    return app


def run_worker(settings: Settings, config: Config, **kw: Any) -> int:
    """Run one detector worker until SIGTERM/SIGINT (``fenghuo worker detectors``)."""
    import faust

    app = make_app(settings, config, **kw)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    try:
        worker.execute_from_commandline()
    finally:
        app.fenghuo_rules.close()
    return 0
