"""CAP warnings in the Kafka runtime: the :class:`~fenghuo.alerts.external.AlertPort` of the API process.

The front judges each message (:class:`fenghuo.alerts.external.WarningBook` over the shared store) and hands the
alert changes to the alert service the way the feed watch does: its signals go to the signals topic as a batch
keyed by the covering node (no source positions: the alert service applies them as fresh), so one warning is
one alert wherever the alert service runs. A Cancel or an expiry sends the clear the same way and, when the store
already holds the alert, a ``resolve`` command (:class:`~fenghuo.runtime.kafka.front.AlertCommands`) by the sender:
resolved in its timeline. A Cancel that arrives before the alert service stored the alert leaves it cleared
(the clear follows the raise on the node's partition), and ``escalation.auto_resolve_after`` resolves it.
Dead letters go to the dead-letter topic, which the store writer keeps.
"""

from __future__ import annotations

import logging
from typing import Any

from fenghuo.core.models import Signal, Status
from fenghuo.core.store import AlertQuery
from fenghuo.runtime.kafka.bus import batch_to_wire
from fenghuo.runtime.service import CommandTimeout

log = logging.getLogger("fenghuo.runtime.kafka.warnings")
MAX_LOOKUP = 1000  # open warning alerts read to find one by fingerprint


class KafkaWarningPort:
    def __init__(self, front: Any) -> None:
        self.front = front  # a KafkaFront

    def apply(self, signals: list[Signal]) -> dict[str, str]:
        """The signals to the signals topic, one batch per covering node; the ids of the alerts the store already
        holds for them (an Update's)."""
        by_grid: dict[str, list[Signal]] = {}
        for s in signals:
            by_grid.setdefault(s.grid, []).append(s)
        for grid, batch in by_grid.items():
            self.front.kafka.produce(self.front.topics.signals, grid.encode(),
                                     batch_to_wire(grid, batch, {}, [None] * len(batch), [[] for _ in batch]))
        self.front.stats.signals += len(signals)
        held = self._held({s.fingerprint for s in signals})
        return {fp: a.id for fp, a in held.items()}

    def resolve(self, fingerprint: str, actor: str, comment: str) -> str | None:
        alert = self._held({fingerprint}).get(fingerprint)
        if alert is None:
            return None
        try:
            self.front.alerts.resolve(alert.id, actor, comment)
        except CommandTimeout:  # queued: the alert service applies it when it gets there
            log.warning("the resolve of warning alert %s is queued; the alert service has not confirmed it", alert.id)
        except Exception as exc:  # already resolved by a responder (AlertConflict): the warning closes anyway
            log.info("warning alert %s not resolved: %s", alert.id, exc)
        return str(alert.id)

    def dead_letters(self, items: list[tuple[int, str, Any]], now: float) -> None:
        self.front.kafka.send([], items)

    def _held(self, fingerprints: set[str]) -> dict[str, Any]:
        out = {}
        for a in self.front.store.list_alerts(AlertQuery(feed="warning", limit=MAX_LOOKUP)):
            if a.fingerprint in fingerprints and a.status != Status.RESOLVED and a.fingerprint not in out:
                out[a.fingerprint] = a
        return out
