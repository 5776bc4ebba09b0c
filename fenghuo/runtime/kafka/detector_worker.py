"""The detector workers: a faust-streaming app that consumes the event topics in batches.

``make_app`` builds the app (never at import time). The events are taken straight from the app's consumer, one
fetch (up to ``batch`` records) at a time, by :class:`fenghuo.runtime.kafka.batch_drain.BatchDrain` in place of
faust's per-message stream (the app, its group and rebalances, the tables and their recovery stay faust's). A batch
is grouped by grid (the message key, so a grid's events are on one partition and one worker), each grid run by
:class:`fenghuo.runtime.kafka.grid_runner.GridRunner` with its state from a changelog-backed table; one signal batch
per grid goes to the signals topic and the worker waits for Kafka to have them; the grid states changed stay in
memory (:class:`fenghuo.runtime.kafka.checkpoints.DirtyStates`) and are written to the changelog at the drain's next
checkpoint, every ``kafka_checkpoint_seconds`` (:func:`fenghuo.runtime.kafka.changelog.write_states`: a state beyond
``kafka_state_max_bytes`` is logged and kept in memory, never sent); a batch's offsets are committed only after a
checkpoint. A replacement worker restores the table from its changelog (the last checkpoint) and runs the events
after it again: those a restored state covers are skipped by its offsets, the others' signals are sent again with
the same positions and dropped by the alert service.
Rules come from the store: read before the first event, again at each rule mark
met on an event partition that names a version not applied yet (a change made through the API: the events before
the mark run under the old rules, those behind it under the new; :mod:`fenghuo.runtime.kafka.rule_marks`), and on
a timer as a safety net.

With complaint bursts configured (a roll-up over the grid tree), the grid stage does not run them:
it forwards the complaints it takes to ``<prefix>.complaints.by-district``, one record per district and batch
keyed by district, and a
second agent in the same app (:class:`fenghuo.runtime.kafka.district_runner.DistrictRunner`, table
``district-state``) runs them per district, under the same rules: signals in Kafka, then the state's
changelog record, then the next batch (which acks this one).

Time alone raises too (a sensor gone silent, ``detectors.health``): a timer every ``settings.tick_seconds`` ticks
the grids whose due time has passed (:class:`fenghuo.runtime.kafka.grid_runner.DueGrids`, kept in memory from what
each run and tick reported, so a tick loads only those grids' states), each at its own time per clock domain: the
wall clock (or, with ``FENGHUO_CLOCK=event``, the grid's latest real event time), each drill's latest event time in
that grid, and never past the time up to which the grid's partition is processed (a worker catching up a backlog
does not call sensors silent whose readings wait in Kafka). A tick's signals and state are persisted as a batch's
(``persist``: signals in Kafka, then the state's changelog record), under one lock with the batches. After a start
or a rebalance, the due times are read again from the table's states of the grids owned (256 per tick; no grid is
ticked until all are read).

``per_event=True`` runs faust's plain per-event agent instead (the benchmark's comparison). ``within`` is no longer
used: the batched path takes what one fetch returns.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fenghuo.core.config import Config, Rule
from fenghuo.core.grids import GridTree
from fenghuo.core.settings import Settings
from fenghuo.core.store import Store, open_store
from fenghuo.detectors.open_warnings import OpenWarning, OpenWarnings, stored_warnings
from fenghuo.runtime import topology
from fenghuo.runtime.gc_tuning import tune_gc
from fenghuo.runtime.kafka.batch_drain import BatchDrain
from fenghuo.runtime.kafka.bus import Topics, batch_to_wire, event_from_wire
from fenghuo.runtime.kafka.changelog import OversizedStates, changelog_topic_config, record_limit, write_states
from fenghuo.runtime.kafka.checkpoints import MAX_UNACKED, DirtyStates, Unacked
from fenghuo.runtime.kafka.district_runner import DistrictRunner, forward_records, forwarded_from_wire
from fenghuo.runtime.kafka.grid_runner import DueGrids, GridBatch, GridRunner, GridState
from fenghuo.runtime.kafka.rule_marks import RuleMark, RuleVersions, is_mark, mark_from_wire, split_at_changes

log = logging.getLogger("fenghuo.detectors.worker")
REBUILD_PER_TICK = 256  # grid states read per tick to rebuild the due times after a start or a rebalance


class Rules:
    """The worker's view of the rule table and of the open external warnings (``warnings``: rules' ``while_warning``
    lower their levels under them; docs/warnings-detection.md).

    The store is read (:meth:`read`, I/O: off the event loop) before the first event, at each rule mark that names
    a version not applied yet (:mod:`fenghuo.runtime.kafka.rule_marks`: a change made through the API, ordered with
    the events), and every ``rules_every`` seconds as a safety net; the rules read are swapped into the runner on
    the event loop (:meth:`apply`), between two runs of events. ``versions`` tells which marks are already applied.
    The open warnings are read the same way: into a new list off the loop, swapped into the view the engine reads
    on the loop, in :meth:`apply` (never while a batch reads it).
    """

    def __init__(self, store_url: str, data_dir: Path, tree: GridTree, runner: GridRunner) -> None:
        self.store_url, self.data_dir, self.tree, self.runner = store_url, data_dir, tree, runner
        self.store: Store | None = None
        self.version: tuple[Any, ...] = ()  # (id, version) of the rules in force, sorted
        self.loaded = False  # read from the store at least once (an empty rule table counts)
        self.versions = RuleVersions()
        self.warnings = OpenWarnings(chain=tree.chain_ids)
        self.read_warnings: list[OpenWarning] | None = None  # read off the loop, not applied yet
        runner.engine.use_warnings(self.warnings)

    def read(self) -> list[dict[str, Any]]:
        """The store's current rule rows (and the open warnings, kept for :meth:`apply`). I/O: off the loop."""
        if self.store is None:
            self.store = open_store(self.store_url, self.data_dir)
        try:
            self.read_warnings = stored_warnings(self.store)
        except Exception:  # the store is away: keep the warnings read before (the rules read below fails too)
            log.exception("could not read the open warnings from the store; using those read before")
        return self.store.rules()

    def apply(self, rows: list[dict[str, Any]], mark: RuleMark | None = None) -> bool:
        """Run the rules of ``rows`` (read after ``mark`` was met, if any) from the next event on; whether they
        changed."""
        read, self.read_warnings = self.read_warnings, None
        if read is not None and self.warnings.replace(read):
            log.info("open external warnings: %d", len(self.warnings))
        versions = {str(r["id"]): int(r["version"]) for r in rows}
        self.versions.read(versions, mark)
        first, self.loaded = not self.loaded, True
        version = tuple(sorted(versions.items()))
        if version == self.version and not first:
            return False
        self.runner.set_rules([Rule.model_validate(r["body"]) for r in rows], versions)
        self.version = version
        log.info("detector rules loaded%s: %s", " at a rule mark" if mark is not None else "",
                 ", ".join(f"{i} v{v}" for i, v in version) or "none")
        return True

    def refresh(self) -> bool:
        """Read and apply in one go (in the caller's thread)."""
        return self.apply(self.read())

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
        topic_replication_factor=settings.kafka_replication_factor, web_enabled=False, producer_acks=-1,
        consumer_auto_offset_reset="earliest", datadir=str(datadir), broker_commit_every=1000,
        broker_commit_interval=1.0, broker_session_timeout=10.0, broker_max_poll_records=batch,
        broker_heartbeat_interval=1.0, stream_buffer_maxsize=max(4096, 2 * batch), producer_linger=0.002,
        producer_max_request_size=record_limit(settings),
    )
    raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
    source = app.topic(*topics.events, **raw)
    signals = app.topic(topics.signals, **raw)
    # key_type/value_type bytes: without them faust decodes the changelog as JSON on recovery (and drops
    # every record with a warning), so a replacement worker would start from empty grid states
    table = app.Table("grid-state", default=None, partitions=partitions, use_partitioner=True,
                      key_type=bytes, value_type=bytes, schema=faust.Schema(**raw),
                      extra_topic_configs=changelog_topic_config(settings))
    oversized = OversizedStates(settings.kafka_state_max_bytes)
    rollup = app.topic(topics.complaints_by_district, **raw)
    # when each grid needs a tick (a sensor gone silent), kept in memory: a tick loads only the grids due
    ticks = DueGrids(topics.events, settings.clock == "event", lambda key: key_partition(key, partitions))
    unacked = Unacked()  # sends not awaited per batch: before every state write (DirtyStates.write, persist)
    grids = DirtyStates(table, "grid", lambda key: key_partition(key, partitions), oversized, topics.events, unacked)
    grid_lock = asyncio.Lock()  # a tick and a batch never interleave on the table (each awaits in persist)
    app.fenghuo_runner = runner  # for tests and the benchmark: counts live on the app, not in globals
    app.fenghuo_ticks = ticks
    app.fenghuo_district = district
    app.fenghuo_rules = rules
    app.fenghuo_oversized = oversized
    app.fenghuo_grids = grids

    rules_lock = asyncio.Lock()  # one read of the rules at a time, so a read is never applied over a later one

    async def reload_rules(mark: RuleMark | None = None) -> None:
        """Read the rules from the store off the event loop, then apply them on it (between two runs of events).
        At a mark (or before the first event) the events wait until the store answers: none runs under rules
        older than the mark's."""
        delay = 0.2
        async with rules_lock:
            while True:
                try:
                    rows = await asyncio.get_running_loop().run_in_executor(None, rules.read)
                    break
                except Exception:
                    if mark is None and rules.loaded:
                        raise
                    log.exception("could not read the rules from the store; the events wait (retry in %.1f s)",
                                  delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
            rules.apply(rows, mark)

    @app.task
    async def load_rules() -> None:
        await reload_rules()

    @app.timer(interval=rules_every)
    async def refresh_rules() -> None:
        """The safety net: a change whose marks Kafka did not take (the API answered 503) is applied within
        ``rules_every`` seconds all the same."""
        try:
            await reload_rules()
        except Exception:  # the store is away: the rules in force stay, tried again at the next refresh
            log.exception("periodic rules refresh failed; keeping the rules in force")

    async def ensure_rules() -> None:
        if not rules.loaded:  # never process an event before the rules are known
            await reload_rules()

    def partition_of(key: bytes) -> int:
        return key_partition(key, partitions)

    async def persist(sends: list[tuple[Any, bytes, bytes]], states: Any, writes: list[tuple[bytes, bytes]],
                      what: str = "grid") -> None:
        """Send the records (signal batches, the forwarded complaints: one record per district); before any state
        is written (``writes`` here, or the next checkpoint's) wait until Kafka has them and every earlier send,
        then write the states to the table's changelog and wait again. The batch's offsets are committed only after
        a checkpoint, so no offset is ever committed past a state Kafka has, nor a state past its signals.
        """
        # straight to the producer (faust's Topic.send per record was ~20 % of a worker with the models, one record
        # per forwarded complaint): the topics are raw bytes, partitioned by key as faust would
        send = app.producer.send
        unacked.add([await send(topic.get_topic_name(), k, v, None, None, None) for topic, k, v in sends])
        if writes or len(unacked) >= MAX_UNACKED:
            await unacked.wait()  # the signals are in Kafka before a state says so
        if writes:
            await write_states(states, writes, partition_of, oversized, what)

    def wire(key: bytes, out: GridBatch) -> bytes:
        """A grid's batch (a run's or a tick's) as its record on the signals topic."""
        return batch_to_wire(key.decode(), out.signals, out.clock, out.rx, out.positions)

    async def handle(groups: dict[bytes, list[tuple[Any, Any, Any]]], forwards: list[tuple[bytes, bytes]]) -> None:
        """Run each grid's events; persist their signal batches and the complaints forwarded to the
        district stage, then the grid states."""
        async with grid_lock:
            sends: list[tuple[Any, bytes, bytes]] = [(rollup, k, v) for k, v in forwards]
            for key, items in groups.items():
                gs = grids.get(key)
                out = runner.run(gs, items)
                ticks.ran(key, out)
                if out.clock:
                    sends.append((signals, key, wire(key, out)))
                grids.changed(key, gs)  # written at the next checkpoint (the drain's), before the offsets move
            await persist(sends, table, [])
            # how far each partition is processed: its highest offset and receipt time in this batch
            last: dict[tuple[str, int], int] = {}
            latest: dict[tuple[str, int], float] = {}
            for items in groups.values():
                for _, (topic, part, off), rx in items:
                    tp = (topic, part)
                    if off > last.get(tp, -1):
                        last[tp] = off
                    if rx is not None and rx > latest.get(tp, -math.inf):
                        latest[tp] = rx
            for tp, off in last.items():
                ticks.processed((tp[0], tp[1], off), latest.get(tp))

    def owned_partitions() -> set[int] | None:
        """The event partitions this worker owns now; None while partitions move or tables recover."""
        if app.rebalancing or app.in_recovery:
            return None
        try:
            actives = app.assignor.assigned_actives()
        except Exception:  # no assignment yet
            return None
        events = set(topics.events)
        return {tp.partition for tp in actives if tp.topic in events}

    first_seen: dict[tuple[str, int], tuple[int, float]] = {}  # per event partition: a highwater, when first seen

    def observe(owned: set[int]) -> None:
        """Tell ``ticks`` how far each owned partition is fetched and processed: its highwater and when it was
        fetched (the aiokafka consumer knows that; faust does not pass it on), and the group's committed offset:
        every event before it was processed and its state persisted (faust commits only acked events, acked
        after :func:`persist`), by this worker or its predecessor, so a worker that takes over a partition with
        nothing left to process learns it is caught up without a run (an empty partition too). Without a fetch
        time, a partition fetched up to its highwater counts from when the worker first saw that highwater."""
        from faust.types import TP

        consumer = app.consumer
        try:
            client = consumer._thread._ensure_consumer()
            assignment = client._subscription.subscription.assignment
        except Exception:  # no consumer or no assignment yet
            return
        committed = getattr(consumer, "_committed_offset", None) or {}
        wall = time.time()
        for p in owned:
            seen: list[tuple[str, int | None, float | None]] = []
            for t in topics.events:
                tp = TP(t, p)
                hw: int | None = None
                at: float | None = None
                try:
                    hw = consumer.highwater(tp)
                    ms = client.last_poll_timestamp(tp)
                    at = ms / 1000.0 if ms else None
                    state = assignment.state_value(tp)
                    position = state.position if state is not None and state.has_valid_position else None
                except Exception:  # not assigned or not fetched yet
                    position = None
                if hw is not None:
                    first = first_seen.get((t, p))
                    if first is None or first[0] != hw:
                        first = first_seen[(t, p)] = (hw, wall)
                    if at is None and position == hw:
                        at = first[1]
                offset = committed.get(tp)  # (a defaultdict: get adds nothing)
                if isinstance(offset, int):
                    ticks.committed(t, p, offset)
                seen.append((t, hw, at))
            ticks.observe(p, seen)

    async def tick_grids() -> None:
        """Tick the grids of this worker whose due time has passed (a sensor gone silent raises with no further
        event): each one's state from the table, :meth:`GridRunner.tick`, then its signals and state persisted
        as a batch's are. After a start or a rebalance, the due times are first read again from the table's
        states of the grids owned now (``REBUILD_PER_TICK`` per tick; no grid is ticked meanwhile)."""
        owned = owned_partitions()
        if owned is None:
            return
        async with grid_lock:
            if ticks.generation != app.rebalancing_count:
                keys = [k for k in list(table.keys()) if key_partition(k, partitions) in owned]
                ticks.restart(app.rebalancing_count, keys)
                log.info("reading the due times of %d grid(s) after a rebalance", len(keys))
            for key in ticks.take(REBUILD_PER_TICK):
                peeked = grids.peek(key)
                if peeked is not None:
                    ticks.loaded(key, runner.due(peeked), peeked.offsets)
            observe(owned)
            todo = ticks.ready(time.time(), owned)
            if not todo:
                return
            writes: list[tuple[bytes, bytes]] = []
            sends: list[tuple[Any, bytes, bytes]] = []
            raised = 0
            await grids.write([key for key, _ in todo])  # changed since the last checkpoint: written first
            for key, now in todo:
                gs = GridState.loads(table.get(key))  # (the very object just written: kept beside its bytes)
                out = runner.tick(gs, now)
                ticks.ticked(key, out)
                raised += len(out.signals)
                if out.signals:
                    sends.append((signals, key, wire(key, out)))
                writes.append((key, gs.dumps()))
            await persist(sends, table, writes)
            if raised:
                log.info("tick: %d signal(s) from %d grid(s)", raised, len(sends))

    @app.timer(interval=settings.tick_seconds)
    async def tick_timer() -> None:
        await tick_grids()

    def forwarded(taken: list[tuple[Any, Any, bytes]]) -> list[tuple[bytes, bytes]]:
        """The records forwarding ``taken`` (wanted by the district stage) to it: one per district."""
        return [] if district is None or not taken else forward_records(taken, district.wants, district.top)

    # a record: aiokafka's ConsumerRecord (the batched path) or faust's Message (the per-event agent), both with
    # .topic, .partition, .offset, .key, .value
    def mark_of(record: Any) -> RuleMark | None:
        return mark_from_wire(record.value)

    def marks_done(records: list[Any]) -> None:
        """The rule marks of a batch are processed too (how far each partition is processed counts them)."""
        for r in records:
            if is_mark(r.value):
                ticks.processed((r.topic, r.partition, r.offset), None)

    async def run_events(records: list[Any]) -> None:
        """One run of events (no rule mark among them), grouped by grid."""
        groups: dict[bytes, list[tuple[Any, Any, Any]]] = {}
        taken: list[tuple[Any, Any, bytes]] = []  # the complaints the district stage wants
        feeds = frozenset() if district is None else district.feeds
        for r in records:
            e, rx = event_from_wire(r.value)
            it = (e, (r.topic, r.partition, r.offset), rx)
            key = r.key or e.grid.encode()
            items = groups.get(key)
            if items is None:
                groups[key] = [it]
            else:
                items.append(it)
            if e.feed in feeds:
                taken.append((e, it[1], r.value))
        await handle(groups, forwarded(taken))

    async def run_records(records: list[Any]) -> None:
        """A batch from the event partitions: the events before a rule mark run under the rules before it, those
        behind it under its rules (a batch without marks, the usual one, in one run)."""
        await ensure_rules()
        marks = [r for r in records if is_mark(r.value)]
        if not marks:
            await run_events(records)
            return
        for run, mark in split_at_changes(records, mark_of, rules.versions.needs):
            if run:
                await run_events(run)
            if mark is not None:
                await reload_rules(mark)
        marks_done(marks)

    handlers: dict[str, Any] = {}  # topic -> handler of its records in the batch drain (filled below)

    async def take_events(by_tp: dict[Any, list[Any]]) -> None:
        await run_records([r for recs in by_tp.values() for r in recs])

    if per_event:
        @app.agent(source, name="detect-per-event", supervisor_strategy=CrashingSupervisor)
        async def detect_per_event(stream: Any) -> AsyncIterator[None]:
            await ensure_rules()
            async for ev in stream.events():
                await run_records([ev.message])
                await checkpoint()  # faust acks the event once the agent yields: its state is written first
                yield None
    else:
        for name in topics.events:
            handlers[name] = take_events

        @app.agent(source, name="detect-batches", supervisor_strategy=CrashingSupervisor)
        async def detect_batches(stream: Any) -> AsyncIterator[None]:
            """Subscribes the event topics (faust assigns and recovers by the agents' topics); their records go to
            the batch drain, never through this stream."""
            async for _ in stream:
                yield None

    if district is not None:
        states = app.Table("district-state", default=None, partitions=partitions, use_partitioner=True,
                           key_type=bytes, value_type=bytes, schema=faust.Schema(**raw),
                           extra_topic_configs=changelog_topic_config(settings))
        districts = DirtyStates(states, "district", partition_of, oversized, [topics.complaints_by_district],
                                unacked)
        app.fenghuo_districts = districts

        async def run_districts(groups: dict[bytes, list[tuple[Any, Any, Any, Any]]]) -> None:
            """Run each district's complaints; persist one signal batch per node, then the district states."""
            sends: list[tuple[Any, bytes, bytes]] = []
            for key, items in groups.items():
                ds = districts.get(key)
                for node, out in district.run(ds, items).items():
                    wire = batch_to_wire(node, out.signals, out.clock, out.rx, out.positions)
                    sends.append((signals, node.encode(), wire))
                districts.changed(key, ds)  # written at the next checkpoint
            await persist(sends, states, [], "district")

        def district_groups(records: list[Any]) -> dict[bytes, list[tuple[Any, Any, Any, Any]]]:
            groups: dict[bytes, list[tuple[Any, Any, Any, Any]]] = {}
            for r in records:
                hop = (r.topic, r.partition, r.offset)
                items = groups.get(r.key)
                if items is None:
                    items = groups[r.key] = []
                items.extend((e, source, hop, rx) for e, source, rx in forwarded_from_wire(r.value))
            return groups

        async def take_forwarded(by_tp: dict[Any, list[Any]]) -> None:
            await run_districts(district_groups([r for recs in by_tp.values() for r in recs]))

        if per_event:
            @app.agent(rollup, name="roll-up-districts", supervisor_strategy=CrashingSupervisor)
            async def roll_up_districts(stream: Any) -> AsyncIterator[None]:
                async for ev in stream.events():
                    await run_districts(district_groups([ev.message]))
                    await checkpoint()
                    yield None
        else:
            handlers[topics.complaints_by_district] = take_forwarded

            @app.agent(rollup, name="roll-up-districts", supervisor_strategy=CrashingSupervisor)
            async def roll_up_districts(stream: Any) -> AsyncIterator[None]:
                """Subscribes the roll-up topic; its records go to the batch drain."""
                async for _ in stream:
                    yield None

    async def checkpoint() -> None:
        """The states changed since the last checkpoint to the changelogs (the drain then commits the offsets of
        the batches before it). Under the grid lock: no tick runs meanwhile."""
        async with grid_lock:
            await grids.write()
        if district is not None:
            await app.fenghuo_districts.write()

    def forget(revoked: set[Any] | None) -> None:
        grids.forget(revoked)
        if district is not None:
            app.fenghuo_districts.forget(revoked)

    app.fenghuo_checkpoint = checkpoint
    if not per_event:
        app.fenghuo_drain = BatchDrain(handlers, commit_interval=1.0, checkpoint=checkpoint,
                                       checkpoint_interval=settings.kafka_checkpoint_seconds, forget=forget)
        app.fenghuo_drain.install(app)

    return app


def make_worker(app: Any, settings: Settings) -> Any:
    """faust's Worker for the app, without a terminal spinner: at WARNING and above faust adds one as a DEBUG
    handler and sets the root logger to DEBUG, so every debug call of aiokafka and faust made a record that was
    dropped at once (7.6 % of a worker with the models, docs/benchmarks-kafka.md)."""
    import faust

    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    worker.spinner = None
    return worker


def run_worker(settings: Settings, config: Config, **kw: Any) -> int:
    """Run one detector worker until SIGTERM/SIGINT (``fenghuo worker detectors``)."""
    app = make_app(settings, config, **kw)
    worker = make_worker(app, settings)
    tune_gc()
    try:
        worker.execute_from_commandline()
    finally:
        app.fenghuo_rules.close()
    return 0
