"""The detector workers' state changelogs: how large one record may be, and writing the states without letting an
oversized one stop the worker.

A grid's (or a district's) state is one record of its table's changelog topic. Three limits apply to it: the
producer's ``max_request_size``, the topic's ``max.message.bytes`` and the state itself. The state bound is
``Settings.kafka_state_max_bytes`` (``FENGHUO_KAFKA_STATE_MAX_BYTES``, default 8 MiB); the producer's and the
changelog topics' limits are set together to that plus ``HEADROOM`` (record framing, the key, a batch header),
so a state within its bound is always accepted by both. A state beyond it is not sent (the producer would refuse
it in the background and faust would stop the agent): :func:`write_states` logs an error naming the grid and its
size, keeps the state in memory (the worker goes on with it) and leaves the changelog at the last state that fit
(a replacement worker restores that one: its detectors have learnt less, the rules' offsets skip nothing wrongly
since the events after it were committed only once processed — they are not run again for that grid).

>>> from fenghuo.core.settings import Settings
>>> record_limit(Settings(kafka_state_max_bytes=2 * 1024 * 1024))
3145728
>>> changelog_topic_config(Settings(kafka_state_max_bytes=2 * 1024 * 1024))
{'max.message.bytes': '3145728'}
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from fenghuo.core.settings import Settings

log = logging.getLogger("fenghuo.detectors.worker")
HEADROOM = 1024 * 1024  # above the state bound: framing, key, batch header (a record is state + ~100 bytes)


def record_limit(settings: Settings) -> int:
    """The producer's ``max_request_size`` and the changelog topics' ``max.message.bytes``."""
    return settings.kafka_state_max_bytes + HEADROOM


def changelog_topic_config(settings: Settings) -> dict[str, str]:
    """The changelog topics' configuration beyond faust's own (it sets ``cleanup.policy=compact``)."""
    return {"max.message.bytes": str(record_limit(settings))}


class OversizedStates:
    """The keys whose state is beyond the bound now: logged once when a state first exceeds it (and when it fits
    again), counted in ``refused`` (records not written)."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.over: set[bytes] = set()
        self.refused = 0

    def fits(self, what: str, key: bytes, size: int) -> bool:
        if size <= self.bound:
            if key in self.over:
                self.over.discard(key)
                log.warning("%s %s: state of %d bytes fits again within %d bytes; written to the changelog",
                            what, key.decode(errors="replace"), size, self.bound)
            return True
        self.refused += 1
        if key not in self.over:
            self.over.add(key)
            log.error("%s %s: state of %d bytes exceeds FENGHUO_KAFKA_STATE_MAX_BYTES=%d; NOT written to the "
                      "changelog (kept in memory; a replacement worker restores its last state that fit). Bound "
                      "the detectors' state or raise the setting (docs/distributed.md)",
                      what, key.decode(errors="replace"), size, self.bound)
        return False


async def write_states(table: Any, writes: list[tuple[bytes, bytes]], partition_of: Callable[[bytes], int],
                       oversized: OversizedStates, what: str) -> None:
    """Write each ``(key, state)`` to the table's changelog and wait until Kafka has them all, then into the
    table's memory. A state beyond the bound is kept in memory only (:class:`OversizedStates` logs it).

    The partition is given: faust would hash the key with the producer's metadata of the changelog topic, which
    a worker that has just created that topic may not have yet (TypeError, worker stops). ``table[key] = value``
    would only queue the record (send_soon) and faust's commit-time flush gives up after 0.1 s, so an offset
    could be committed before the state was written: the sends are awaited here."""
    sent = [table.send_changelog(partition_of(key), key, value)
            for key, value in writes if oversized.fits(what, key, len(value))]
    if sent:
        await asyncio.gather(*sent)
    for key, value in writes:
        table.data[key] = value
