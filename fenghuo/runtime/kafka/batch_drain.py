"""Batches taken straight from faust's consumer: the detector worker's hot path without faust's per-message stream.

faust's fetcher loop (``Consumer._drain_messages``) turns every record into a ``Message``, awaits the conductor's
``on_message`` for it inside ``wait_first`` (two tasks), queues it into the agent's stream, which takes it out again
(``take_events``), and acks it: about 12 event-loop callbacks and 4 tasks per event, 79 % of a batched worker's time
(docs/benchmarks-kafka.md, "Where the time goes"). :class:`BatchDrain` replaces that loop on the app's consumer
and keeps everything else of faust: the app, the group and its rebalances, the tables and their recovery from the
changelogs, the producer, the timers. Per fetch (aiokafka's ``getmany`` through faust, up to
``broker_max_poll_records`` records of the partitions faust has active: none of a partition whose table is still
recovering):

* the records of a topic with a handler (the event topics, the roll-up topic) go to it as one batch, ``{tp:
  [ConsumerRecord, ...]}``; the handler returns once their signals are in Kafka (and, without a ``checkpoint``,
  their states);
* with a ``checkpoint`` (the worker's: the states changed since the last one to the changelog, as
  :meth:`fenghuo.runtime.kafka.checkpoints.DirtyStates.write`), the states are written every
  ``checkpoint_interval`` seconds (0: after every batch), whenever a fetch comes back empty, before partitions are
  revoked and when the fetcher stops; a batch's offsets become committable only once a checkpoint after it is done
  (``handled`` -> ``pending``);
* then their offsets are committed (at most every ``commit_interval`` seconds and whenever the fetch comes back
  empty, and for the partitions being revoked before a rebalance goes on): an offset is committed only after
  the states of the events before it are in the changelog, so a replacement worker restores the last checkpoint,
  runs the events after it again (their signals are sent again; the alert service drops those at or below the
  positions it applied) and skips the events a restored state says were applied, and loses none;
* the records of any other topic (the changelogs while a table recovers, or another agent's topic) go through
  faust's own per-message path, as before.

Records fetched before a rebalance whose partition is no longer active, or of an older consumer generation, are
dropped: faust seeks to the committed offsets on assignment and they are fetched again by whoever owns them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from types import MethodType
from typing import Any

log = logging.getLogger("fenghuo.detectors.worker")
Handler = Callable[[dict[Any, list[Any]]], Awaitable[None]]
Checkpoint = Callable[[], Awaitable[None]]  # write the states changed since the last checkpoint (raises on failure)
Forget = Callable[[set[Any] | None], None]  # partitions revoked (None: all): drop their states kept in memory
REVOKE_WAIT_S = 30.0  # how long a rebalance waits for the batch in flight before committing what is done
# How long the broker may hold a fetch that finds no record (faust sets 1,500 ms, not configurable). aiokafka
# fetches only the partitions with nothing buffered, one fetch per broker at a time: once the event partitions were
# buffered, the fetch in flight asked for the empty ones (the district stage's topic, drained partitions) and held
# the next fetch of the event partitions for up to 1.5 s. The worker with the models then waited half the time:
# 8,600 events/s at 1,500 ms, 17,169 at 20 ms (docs/benchmarks-kafka.md, step 6). An idle worker fetches about
# 1,000 / FETCH_MAX_WAIT_MS times a second.
FETCH_MAX_WAIT_MS = 50
STOP_COMMIT_S = 5.0  # how long a stopping fetcher tries to commit the offsets of the batches done


class BatchDrain:
    """The fetcher loop of one faust app's consumer. ``handlers``: topic name -> handler of that topic's records.
    Counts on the object (``batches``, ``records``, ``commits``) for the tests and the benchmark."""

    def __init__(self, handlers: Mapping[str, Handler], commit_interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, checkpoint: Checkpoint | None = None,
                 checkpoint_interval: float = 0.0, forget: Forget | None = None) -> None:
        self.handlers = dict(handlers)
        self.commit_interval = commit_interval
        self.clock = clock
        self.checkpoint = checkpoint
        self.checkpoint_interval = checkpoint_interval
        self.forget = forget
        self.handled: dict[Any, int] = {}  # per partition: the next offset after the batches handled, not checkpointed
        self.pending: dict[Any, int] = {}  # per partition: the next offset to commit (all before it persisted)
        self.last_commit = self.last_checkpoint = clock()
        self.batches = self.records = self.commits = self.checkpoints = 0
        self._busy: asyncio.Lock | None = None  # held while a batch is handled (made on the running loop)

    @property
    def busy(self) -> asyncio.Lock:
        if self._busy is None:
            self._busy = asyncio.Lock()
        return self._busy

    def install(self, app: Any) -> None:
        """Use this loop for the app's consumer (made lazily by faust) and commit before partitions are revoked."""
        plain = app._new_consumer
        drain = self

        def new_consumer() -> Any:
            consumer = plain()
            thread = consumer._thread  # faust's consumer thread: it makes aiokafka's consumer when it starts
            make = thread._create_consumer

            def create_consumer(loop: Any) -> Any:
                client = make(loop=loop)
                client._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read by its start(), for its fetcher
                return client

            thread._create_consumer = create_consumer

            async def drain_messages(consumer: Any, fetcher: Any) -> None:
                await drain.run(app, consumer, fetcher)

            consumer._drain_messages = MethodType(drain_messages, consumer)
            return consumer

        app._new_consumer = new_consumer

        @app.on_partitions_revoked.connect
        async def commit_before_revoke(sender: Any, revoked: Any, **_: Any) -> None:
            await self.on_revoked(app, revoked)

    async def run(self, app: Any, consumer: Any, fetcher: Any) -> None:
        """The loop (in place of ``Consumer._drain_messages``) until the consumer or the fetcher stops."""
        try:
            while not (consumer._stopped.is_set() or fetcher._stopped.is_set()):
                await consumer.sleep(0)
                if consumer.should_stop:
                    break
                records, active = await consumer._wait_next_records(1.0)
                generation = app.consumer_generation_id
                if records is None or consumer.should_stop:
                    continue
                if not consumer.flow_active:
                    await self._seek_back(consumer)
                    continue
                if not records:
                    await self.checkpoint_now()  # idle: checkpoint and commit what is done now
                    await self.commit(consumer)
                    continue
                await self.dispatch(app, consumer, records, active, generation)
                if self.clock() - self.last_checkpoint >= self.checkpoint_interval:
                    await self.checkpoint_now()
                if self.clock() - self.last_commit >= self.commit_interval:
                    await self.commit(consumer)
        except consumer.consumer_stopped_errors:
            if app.should_stop:
                log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:  # the fetcher stops (the worker stops, or a rebalance): commit what is done
            try:
                await asyncio.wait_for(self.checkpoint_then_commit(consumer), STOP_COMMIT_S)
            except (Exception, asyncio.CancelledError):
                log.info("offsets not committed at stop; the next owner skips their events by the states")
            if app.should_stop:
                return
            raise
        except Exception as exc:
            log.exception("Drain messages raised: %r", exc)
            raise

    async def dispatch(self, app: Any, consumer: Any, records: Mapping[Any, list[Any]], active: Any,
                       generation: int) -> None:
        """One fetch: the records of handled topics in one batch per handler, the others through faust."""
        batches: dict[Handler, dict[Any, list[Any]]] = {}
        others: list[tuple[Any, list[Any]]] = []
        for tp, recs in records.items():
            if not recs or (active is not None and tp not in active and tp not in consumer._buffered_partitions):
                continue
            handler = self.handlers.get(tp.topic)
            if handler is None:
                others.append((tp, recs))
            else:
                batches.setdefault(handler, {})[tp] = recs
        for tp, recs in others:
            await self._per_message(app, consumer, tp, recs, generation)
        for handler, by_tp in batches.items():
            if not consumer.flow_active or app.consumer_generation_id != generation:
                return  # a rebalance began: these are fetched again after it, by their owner
            async with self.busy:
                try:
                    await handler(by_tp)
                except BaseException:
                    self.tear()
                    raise
                for tp, recs in by_tp.items():
                    last = recs[-1].offset
                    (self.pending if self.checkpoint is None else self.handled)[tp] = last + 1
                    consumer._read_offset[tp] = last
                    self.records += len(recs)
                self.batches += 1

    async def checkpoint_now(self) -> None:
        """Write the states changed by the batches handled since the last checkpoint; their offsets become
        committable. A failed checkpoint raises and leaves them uncommitted."""
        self.last_checkpoint = self.clock()
        if self.checkpoint is None or not self.handled:
            return
        async with self.busy:
            await self._checkpoint()

    async def _checkpoint(self) -> None:
        """(with ``busy`` held: no batch runs meanwhile)"""
        if self.checkpoint is None or not self.handled:
            return
        done = dict(self.handled)
        await self.checkpoint()
        self.handled.clear()
        self.pending.update(done)
        self.checkpoints += 1

    def tear(self) -> None:
        """A batch did not finish (cancelled: the worker stops or a rebalance; or failed): the states in memory may
        be ahead of the signals in Kafka, so none is ever checkpointed: they are all forgotten with the offsets handled
        since the last checkpoint (the fetch goes back to the committed offsets after a rebalance; a stop or a
        crash leaves them to the next owner, which restores the last checkpoint)."""
        self.handled.clear()
        if self.forget is not None:
            self.forget(None)

    async def checkpoint_then_commit(self, consumer: Any) -> None:
        await self.checkpoint_now()
        await self.commit(consumer)

    async def commit(self, consumer: Any, only: Any = None) -> None:
        """Commit the offsets of the batches handled (those of the partitions ``only``, if given)."""
        self.last_commit = self.clock()
        offsets = {tp: o for tp, o in self.pending.items() if only is None or tp in only}
        if not offsets:
            return
        for tp in offsets:
            del self.pending[tp]
        try:
            await consumer._commit_offsets(offsets)
            self.commits += 1
        except Exception:  # a rebalance: the new owner skips what the states say was applied
            log.warning("could not commit offsets %s; their events are skipped by the restored states",
                        {f"{tp.topic}[{tp.partition}]": o for tp, o in offsets.items()}, exc_info=True)

    async def on_revoked(self, app: Any, revoked: Any) -> None:
        """Before partitions move: let the batch in flight finish (bounded), checkpoint the states, commit what is
        checkpointed, then forget the revoked partitions' states kept in memory and their uncommitted offsets
        (their next owner, or this worker if they come back, restores them from the changelog and runs the events
        after the committed offsets again)."""
        moving = set(revoked)
        try:
            await asyncio.wait_for(self.busy.acquire(), REVOKE_WAIT_S)
        except TimeoutError:
            log.warning("a batch still runs %.0f s into a rebalance; committing what was done before it",
                        REVOKE_WAIT_S)
            await self.commit(app.consumer, moving)
            return
        try:
            try:
                self.last_checkpoint = self.clock()
                await self._checkpoint()
            except Exception:
                log.warning("could not checkpoint the states before a rebalance; the next owner runs the events "
                            "after the last checkpoint again", exc_info=True)
            await self.commit(app.consumer, moving)
            for tp in moving:
                self.handled.pop(tp, None)
            if self.forget is not None:
                self.forget(moving)
        finally:
            self.busy.release()

    @staticmethod
    async def _per_message(app: Any, consumer: Any, tp: Any, recs: list[Any], generation: int) -> None:
        """faust's own path for one partition's records (as ``Consumer._drain_messages`` does it)."""
        read = consumer._read_offset
        for record in recs:
            if not consumer.flow_active or app.consumer_generation_id != generation:
                return
            offset = record.offset
            r_offset = read[tp]
            if r_offset is None or offset >= r_offset:
                if r_offset and offset - r_offset > 1 and app.topics.acks_enabled_for(record.topic):
                    await consumer._add_gap(tp, r_offset + 1, offset)
                await consumer.wait_first(consumer.callback(consumer._to_message(tp, record)),
                                          consumer.suspend_flow.wait())
                read[tp] = offset

    @staticmethod
    async def _seek_back(consumer: Any) -> None:
        try:
            await consumer.perform_seek()
        except Exception as exc:
            log.warning("exception performing seek when flow not active %s", exc)
