"""Ingest in Kafka mode: validate like the embedded pipeline, then hand the events to Kafka.

``KafkaIngest.ingest`` returns only once Kafka has every accepted event (``acks=all``, idempotent
producer, every future checked after a flush). If Kafka is unreachable, refuses or times out it
raises :class:`~fenghuo.runtime.kafka.bus.BusUnavailable` and reports nothing as accepted: the HTTP route
answers 503 with Retry-After, the client sends the batch again, and ids make the repeat harmless.
Rejected records go to the dead-letter topic with their reason (the store writer keeps them).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from fenghuo.core.clock import Clock, WallClock
from fenghuo.core.config import Config, Limits
from fenghuo.core.grids import GridTree
from fenghuo.core.models import Event
from fenghuo.core.settings import Settings
from fenghuo.ingest.events import GridResolver, Rejected, make_resolver, parse_records
from fenghuo.runtime.kafka.bus import Topics, event_to_wire
from fenghuo.runtime.service import BusUnavailable, IngestResult

log = logging.getLogger("fenghuo.ingest.kafka")


class KafkaIngest:
    def __init__(self, bootstrap: str, resolve: GridResolver, topics: Topics | None = None,
                 timeout_s: float = 10.0, linger_ms: int = 5, limits: Limits | None = None,
                 clock: Clock | None = None) -> None:
        self.bootstrap = bootstrap
        self.resolve = resolve
        self.limits = limits  # None: the defaults
        self.clock = clock or WallClock()  # places the window of accepted event times
        self.topics = topics or Topics()
        self.timeout_s = timeout_s
        self.linger_ms = linger_ms
        self._producer: Any = None
        self._lock = threading.Lock()  # one batch at a time: a failure must not blame another's batch

    # -- the producer ----------------------------------------------------------------------------
    def _get_producer(self) -> Any:
        if self._producer is None:
            from kafka import KafkaProducer
            from kafka.errors import KafkaError

            ms = int(self.timeout_s * 1000)
            try:
                self._producer = KafkaProducer(
                    bootstrap_servers=self.bootstrap, client_id="fenghuo-ingest", acks="all", retries=5,
                    enable_idempotence=True, linger_ms=self.linger_ms, max_block_ms=ms,
                    request_timeout_ms=max(1000, ms // 2), delivery_timeout_ms=ms + self.linger_ms,
                    compression_type=None, reconnect_backoff_max_ms=1000,
                    bootstrap_timeout_ms=ms)  # the broker away: said within the timeout (kafka-python waits 30 s)
            except KafkaError as exc:
                raise BusUnavailable(f"Kafka at {self.bootstrap} is unreachable: {exc}") from exc
        return self._producer

    def _reset(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=0)
            except Exception:  # closing a broken producer: its own error is already reported
                log.debug("closing the producer failed", exc_info=True)
            self._producer = None

    # -- ingest ----------------------------------------------------------------------------------
    def parse(self, records: list[Any], drill: str | None = None, *, may_drill: bool = True
              ) -> tuple[list[Event], list[Rejected]]:
        return parse_records(records, self.resolve, drill, now=self.clock.now(), limits=self.limits,
                             may_drill=may_drill)

    def ingest(self, records: list[Any], drill: str | None = None, *, may_drill: bool = True) -> IngestResult:
        events, bad = self.parse(records, drill, may_drill=may_drill)
        seen: set[tuple[str, str]] = set()  # ids are unique per source
        unique = []
        for e in events:
            key = (e.source, e.id)
            if key not in seen:
                seen.add(key)
                unique.append(e)
        self.send(unique, bad)
        return IngestResult(len(unique), len(events) - len(unique), [{"index": i, "error": e} for i, e, _ in bad])

    def send(self, events: list[Event], bad: list[tuple[int, str, Any]] | None = None) -> None:
        """Produce events keyed by grid (and dead letters); raise BusUnavailable unless all are acked."""
        from kafka.errors import KafkaError

        bad = bad or []
        if not events and not bad:
            return
        rx = time.time()
        with self._lock:
            producer = self._get_producer()
            try:
                futures = [producer.send(self.topics.event(e.feed), key=e.grid.encode(), value=event_to_wire(e, rx))
                           for e in events]
                futures += [producer.send(self.topics.deadletter, value=_dead_letter(i, err, rec, rx))
                            for i, err, rec in bad]
                producer.flush(timeout=self.timeout_s)
                for f in futures:
                    f.get(timeout=0)
            except (KafkaError, AssertionError) as exc:
                self._reset()  # a fresh producer next time: the old one may hold a broken sequence
                raise BusUnavailable(f"Kafka did not take the events: {type(exc).__name__}: {exc}") from exc

    def produce(self, topic: str, key: bytes, value: bytes, partition: int | None = None) -> None:
        """One record (a command; ``partition``: that one, else the key's), returned once Kafka has it;
        BusUnavailable otherwise."""
        from kafka.errors import KafkaError

        with self._lock:
            producer = self._get_producer()
            try:
                future = producer.send(topic, key=key, value=value, partition=partition)
                producer.flush(timeout=self.timeout_s)
                future.get(timeout=0)
            except (KafkaError, AssertionError) as exc:
                self._reset()
                raise BusUnavailable(f"Kafka did not take the command: {type(exc).__name__}: {exc}") from exc

    def produce_to_partitions(self, records: list[tuple[str, int, bytes, bytes]]) -> None:
        """Records ``(topic, partition, key, value)`` (a rule change's marks, one per event partition), returned
        once Kafka has every one; BusUnavailable otherwise."""
        from kafka.errors import KafkaError

        with self._lock:
            producer = self._get_producer()
            try:
                futures = [producer.send(t, key=k, value=v, partition=p) for t, p, k, v in records]
                producer.flush(timeout=self.timeout_s)
                for f in futures:
                    f.get(timeout=0)
            except (KafkaError, AssertionError) as exc:
                self._reset()
                raise BusUnavailable(f"Kafka did not take the records: {type(exc).__name__}: {exc}") from exc

    def partitions(self, topic: str) -> list[int]:
        """The partitions of ``topic`` (from the producer's metadata); BusUnavailable when Kafka does not say."""
        from kafka.errors import KafkaError

        with self._lock:
            producer = self._get_producer()
            try:
                found = producer.partitions_for(topic)
            except (KafkaError, AssertionError) as exc:
                raise BusUnavailable(f"Kafka did not say the partitions of {topic}: {exc}") from exc
        if not found:
            raise BusUnavailable(f"topic {topic} not found (fenghuo kafka create-topics)")
        return sorted(found)

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=self.timeout_s)
                self._producer = None


def _dead_letter(index: int, error: str, record: Any, rx: float) -> bytes:
    return json.dumps({"index": index, "error": error, "record": record, "received_at": rx},
                      ensure_ascii=False, default=str).encode()


def make_kafka_ingest(settings: Settings, config: Config, timeout_s: float = 5.0) -> KafkaIngest:
    """The ingest the API uses when ``FENGHUO_BUS=kafka``: same grid resolver as the embedded pipeline."""
    tree = GridTree(config.nodes, config.grid_match_km)
    return KafkaIngest(settings.kafka_bootstrap, make_resolver(tree), Topics.of(settings),
                       timeout_s=timeout_s, limits=config.limits)
