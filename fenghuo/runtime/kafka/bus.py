"""The Kafka bus of the distributed runtime: topic names, the wire codecs, topic creation.

Every stage talks to Kafka through these names and codecs (kernel, so stages do not depend on
each other). Topic names share one prefix (``Settings.topic_prefix``, from ``FENGHUO_TOPIC_PREFIX``, default
``fenghuo``: :meth:`Topics.of`) so
several deployments or test runs share a broker without meeting.

>>> t = Topics("x")
>>> t.event("sensor"), t.signals, t.deadletter, t.commands, t.complaints_by_district
('x.events.sensor', 'x.signals', 'x.deadletter', 'x.commands', 'x.complaints.by-district')
>>> e = Event(feed="sensor", source="s", ts=1.5, grid="G1", id="e1", metric="m", value=2.0)
>>> back, rx = event_from_wire(event_to_wire(e, rx=9.0))
>>> back == e, rx
(True, 9.0)
>>> from fenghuo.core.levels import Level
>>> s = Signal("threshold", "r", Risk.SAFETY, "sensor", "G1", "s/m", "s", 1.5, Level.RED, 5.0, "why")
>>> signal_from_dict(signal_to_dict(s)) == s
True
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from fenghuo.core.levels import Level
from fenghuo.core.models import FEEDS, Certainty, Event, Risk, Signal
from fenghuo.core.settings import Settings
from fenghuo.runtime.service import BusUnavailable

DEFAULT_PREFIX = "fenghuo"


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str = DEFAULT_PREFIX

    def event(self, feed: str) -> str:
        return f"{self.prefix}.events.{feed}"

    @property
    def events(self) -> list[str]:
        return [self.event(f) for f in FEEDS]

    @property
    def signals(self) -> str:
        return f"{self.prefix}.signals"

    @property
    def alerts(self) -> str:
        return f"{self.prefix}.alerts"

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}.deadletter"

    @property
    def commands(self) -> str:
        """ack/resolve from the API to the alert service (keyed by grid, like the signals)."""
        return f"{self.prefix}.commands"

    @property
    def complaints_by_district(self) -> str:
        """Complaint events re-keyed by the top node of their grid (the district) for the roll-up stage."""
        return f"{self.prefix}.complaints.by-district"

    def all(self) -> list[str]:
        return [*self.events, self.signals, self.alerts, self.deadletter, self.commands, self.complaints_by_district]

    def group(self, name: str) -> str:
        """A consumer group id under this prefix (``fenghuo-alerts`` for the default prefix)."""
        return f"{self.prefix}-{name}"

    @classmethod
    def of(cls, settings: Settings) -> Topics:
        """The topics of ``settings.topic_prefix`` (an empty prefix is the default one).

        >>> Topics.of(Settings(topic_prefix="t1")).alerts, Topics.of(Settings(topic_prefix="")).alerts
        ('t1.alerts', 'fenghuo.alerts')
        """
        return cls(settings.topic_prefix or DEFAULT_PREFIX)


def create_topics(bootstrap: str, partitions: int = 8, topics: Topics | None = None,
                  replication: int = 1, timeout_s: float = 30.0) -> list[str]:
    """Create the event, signal, alert, dead-letter, command and roll-up topics; return those that were new.

    Events and signals get ``partitions`` partitions (the most detector workers that help);
    the others as many (the roll-up topic must match the event topics: faust co-partitions them).
    Existing topics are left as they are.
    """
    from kafka.admin import KafkaAdminClient

    topics = topics or Topics()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="fenghuo-admin",
                             request_timeout_ms=int(timeout_s * 1000))
    try:
        existing = set(admin.list_topics())
        wanted = {name: {"num_partitions": partitions, "replication_factor": replication}
                  for name in topics.all() if name not in existing}
        if wanted:
            admin.create_topics(wanted, timeout_ms=int(timeout_s * 1000), raise_errors=False,
                                wait_for_metadata=True)
        return sorted(wanted)
    finally:
        admin.close()


REBALANCE_STALL_S = 30.0  # a group rebalance not finished after this long is taken as stalled


def rebalance_watch(on_assigned: Callable[[], None] | None = None) -> Any:
    """A kafka-python rebalance listener that notes when a rebalance began (``stalled()`` tells whether it has
    run for more than ``REBALANCE_STALL_S`` without an assignment) and calls ``on_assigned`` after each one.

    kafka-python 3 was seen to hang in a rebalance (joined, the assignment never set): a consumer loop that
    sees ``stalled()`` closes its consumer and subscribes a new one. Offsets are committed only after the
    work is stored, so the new member repeats nothing that was lost and loses nothing.
    """
    import time

    from kafka.consumer.subscription_state import ConsumerRebalanceListener

    class Watch(ConsumerRebalanceListener):  # type: ignore[misc]
        def __init__(self) -> None:
            self.revoked_at: float | None = None
            self.assigned: frozenset[Any] | None = None  # the partitions of the last assignment (None: none yet)

        def on_partitions_revoked(self, revoked: Any) -> None:
            self.revoked_at = time.monotonic()

        def on_partitions_assigned(self, assigned: Any) -> None:
            self.revoked_at = None
            self.assigned = frozenset(assigned)
            if on_assigned is not None:
                on_assigned()

        def stalled(self) -> bool:
            return self.revoked_at is not None and time.monotonic() - self.revoked_at > REBALANCE_STALL_S

    return Watch()


def wait_for_topics(consumer: Any, topics: list[str], timeout_s: float = 60.0) -> None:
    """Block until the consumer's metadata knows every topic, so its first group assignment is not
    empty (kafka-python 3 was seen to stall in the rebalance that follows an empty one)."""
    import time

    deadline = time.monotonic() + timeout_s
    while any(not consumer.partitions_for_topic(t) for t in topics):
        if time.monotonic() > deadline:
            raise BusUnavailable(f"topics not found: {', '.join(topics)} (run fenghuo kafka create-topics)")
        time.sleep(0.2)


# -- wire codecs ---------------------------------------------------------------------------------------
def event_to_wire(e: Event, rx: float | None = None) -> bytes:
    """The v1 event JSON with the resolved grid and id, ``ts`` as epoch seconds, ``rx`` the receipt time."""
    out: dict[str, Any] = {"feed": e.feed, "source": e.source, "ts": e.ts, "grid": e.grid, "id": e.id}
    for k in ("lat", "lon", "metric", "value", "category", "text", "drill"):
        v = getattr(e, k)
        if v is not None:
            out[k] = v
    if e.attrs:
        out["attrs"] = e.attrs
    if rx is not None:
        out["rx"] = rx
    return json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode()


def event_from_wire(raw: bytes | str) -> tuple[Event, float | None]:
    """An event record's Event and receipt time (orjson: the decode is half of a worker's batch path; what orjson
    refuses, a number beyond 64 bits, is read by ``json``)."""
    try:
        d = orjson.loads(raw)
    except orjson.JSONDecodeError:
        d = json.loads(raw)
    rx = d.pop("rx", None)
    d.setdefault("attrs", {})
    return Event(**d), rx


def signal_to_dict(s: Signal) -> dict[str, Any]:
    return {"detector": s.detector, "rule": s.rule, "risk": str(s.risk), "feed": s.feed, "grid": s.grid,
            "series": s.series, "source": s.source, "ts": s.ts, "level": int(s.level) if s.level else None,
            "score": s.score, "reason": s.reason, "evidence": s.evidence, "drill": s.drill, "kind": s.kind,
            "certainty": str(s.certainty)}


def signal_from_dict(d: dict[str, Any]) -> Signal:
    d = dict(d)
    d["risk"] = Risk(d["risk"])
    d["level"] = Level(d["level"]) if d.get("level") else None
    d["certainty"] = Certainty(d.get("certainty", "Observed"))
    return Signal(**d)


Position = tuple[str, int, int]  # (topic, partition, offset) of a source event


@dataclass(slots=True)
class SignalBatch:
    grid: str
    signals: list[Signal]
    clock: dict[str | None, float]
    rx: list[float | None]
    positions: list[list[Position]]  # per signal: the source event(s) it came from


def batch_to_wire(grid: str, signals: list[Signal], clock: dict[str, float], rx: list[float | None],
                  positions: list[list[Position]] | None = None) -> bytes:
    """One detector batch for one grid: its signals in event order, the event-time watermark per
    clock domain ("" = the real one, else a drill name) and each signal's source positions. Keyed by
    grid on the signals topic, so the alert service sees a grid's signals and watermarks in the order
    the detector produced them.

    >>> b = batch_from_wire(batch_to_wire("G", [], {"": 5.0}, [], []))
    >>> b.grid, b.clock, b.positions
    ('G', {None: 5.0}, [])
    """
    doc = {"grid": grid, "signals": [signal_to_dict(s) for s in signals], "clock": clock, "rx": rx,
           "pos": positions or [[] for _ in signals]}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def batch_from_wire(raw: bytes) -> SignalBatch:
    d = json.loads(raw)
    clock = {(k or None): float(v) for k, v in d.get("clock", {}).items()}
    signals = [signal_from_dict(s) for s in d.get("signals", [])]
    pos = [[(str(t), int(p), int(o)) for t, p, o in ps] for ps in d.get("pos", [])] or [[] for _ in signals]
    return SignalBatch(str(d.get("grid", "")), signals, clock, list(d.get("rx", [])), pos)
