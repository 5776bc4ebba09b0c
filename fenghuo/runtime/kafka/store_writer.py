"""The store writer: events and dead letters from Kafka into the store, offsets committed after.

A kafka-python group consumer (group ``<prefix>-store``) polls the event topics and the
dead-letter topic, writes each poll's events in one ``add_events`` call (ids, unique per source,
make a redelivery harmless) and commits the offsets only once the store has them. When the store fails (a
database restart) the same batch is retried until it lands: nothing Kafka accepted is skipped.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from fenghuo.core.models import Event
from fenghuo.core.store import Store
from fenghuo.runtime.kafka.bus import REBALANCE_STALL_S, Topics, event_from_wire, rebalance_watch, wait_for_topics
from fenghuo.runtime.kafka.rule_marks import is_mark

log = logging.getLogger("fenghuo.store_writer")


class StoreWriter:
    def __init__(self, bootstrap: str, store: Store, topics: Topics, group: str | None = None,
                 max_records: int = 5000) -> None:
        self.bootstrap = bootstrap
        self.store = store
        self.topics = topics
        self.group = group or topics.group("store")
        self.max_records = max_records
        self.stopping = threading.Event()
        self.written = 0
        self.dead = 0
        self.watch: Any = None  # the consumer's rebalance listener (tells a stalled rebalance)

    def _consumer(self) -> Any:
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.group,
                                 client_id="fenghuo-store-writer", enable_auto_commit=False,
                                 auto_offset_reset="earliest", max_poll_records=self.max_records)
        topics = [*self.topics.events, self.topics.deadletter]
        wait_for_topics(consumer, topics)
        self.watch = rebalance_watch()
        consumer.subscribe(topics, listener=self.watch)
        return consumer

    def write(self, records: list[Any]) -> None:
        """Decode one poll's records and write them, retrying the store until it takes them."""
        events: list[Event] = []
        dead: list[tuple[int, str, Any]] = []
        for r in records:
            if r.topic == self.topics.deadletter:
                d = json.loads(r.value)
                dead.append((int(d.get("index", 0)), str(d.get("error", "")), d.get("record")))
            elif not is_mark(r.value):  # a rule mark (fenghuo/runtime/kafka/rule_marks.py) is for the detectors
                events.append(event_from_wire(r.value)[0])
        delay = 0.2
        while True:
            try:
                self.store.add_events(events, time.time())
                self.store.add_dead_letters(dead, time.time())
                break
            except Exception:  # the store is down: keep the batch, try again (it is never skipped)
                if self.stopping.is_set():
                    raise
                log.exception("store write failed; retrying in %.1f s", delay)
                self.stopping.wait(delay)
                delay = min(delay * 2, 5.0)
        self.written += len(events)
        self.dead += len(dead)

    def run(self) -> None:
        from kafka.errors import CommitFailedError

        consumer = self._consumer()
        log.info("store writer consuming %s as group %s", ", ".join(self.topics.events), self.group)
        try:
            while not self.stopping.is_set():
                polled = consumer.poll(timeout_ms=500, max_records=self.max_records)
                records = [r for batch in polled.values() for r in batch]
                if self.watch.stalled():
                    log.warning("group rebalance stalled for %.0f s: rejoining with a new consumer",
                                REBALANCE_STALL_S)
                    consumer.close()
                    consumer = self._consumer()
                    continue  # what it polled is uncommitted: the new member reads it again
                if not records:
                    continue
                self.write(records)
                try:
                    consumer.commit()
                except CommitFailedError:  # a rebalance: the next owner re-reads them; ids make that harmless
                    log.warning("offset commit failed after a rebalance; the batch will be written again")
        finally:
            consumer.close()

    def stop(self) -> None:
        self.stopping.set()
