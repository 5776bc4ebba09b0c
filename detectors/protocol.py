"""The one interface of every model the detector engine runs (bursts, forecasts, anomaly, text risk,
corroboration and any new one), and a base class with the do-nothing defaults.

A detector watches the events of its ``feeds`` (``process(event)``, in time order, a list of the
level changes it causes) and, once per batch, may add to or rewrite the batch's signals
(``process_signals``: corroboration watches signals, not events, so its ``feeds`` are empty). Its
learned state is plain data out (``state()``) and in (``restore(state)``; an empty dict starts
afresh); ``refresh()`` is called when the rules change, ``close()`` when the runtime stops.

Time passing without events can matter too (a sensor that stops reporting): ``tick(now)`` gives the
signals the passing of time causes, ``now`` mapping each clock domain to its current time (``""`` the
real domain, a drill's name that drill's event clock), and ``next_due()`` says, per domain, the earliest
time at which ``tick`` could raise something (empty: nothing pending), so a runtime ticks only what is due.

A new detector subclasses :class:`DetectorBase` (or implements every method of :class:`Detector`) and
registers itself in :mod:`fenghuo.detectors.registry`; ``tests/contracts/test_detector_protocol.py``
then checks it with the others.

>>> class Echo(DetectorBase):
...     name, feeds = "echo", frozenset({"sensor"})
>>> isinstance(Echo(), Detector), Echo().process_signals([]), Echo().state(), Echo().tick({"": 0.0})
(True, [], {}, [])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from fenghuo.core import state as saved
from fenghuo.core.models import Event, Signal


@runtime_checkable
class Detector(Protocol):
    """What the engine calls: events of ``feeds`` to ``process``, each batch's signals to ``process_signals``."""

    name: str  # the ``detectors.<name>`` key of the configuration
    feeds: frozenset[str]  # the event feeds it watches (empty: a stage over signals only)
    # the version of what live_state() holds, which the engine saves as {"v": STATE_VERSION, "data": ...};
    # None: state() is the detector's whole saved form, kept as it is
    STATE_VERSION: int | None

    def process(self, event: Event) -> list[Signal]:
        """One event of a watched feed (events come in time order); the signals it causes."""
        ...

    def process_signals(self, signals: list[Signal]) -> list[Signal]:
        """The batch's signals (rules' and detectors'), possibly with more: return them unchanged if not a stage."""
        ...

    def tick(self, now: Mapping[str, float]) -> list[Signal]:
        """The signals the passing of time causes: ``now`` maps each clock domain (``""`` the real one, a
        drill's name that drill's event clock) to its current time."""
        ...

    def next_due(self) -> dict[str, float]:
        """Per clock domain, the earliest time at which :meth:`tick` could raise something (empty: nothing)."""
        ...

    def state(self) -> dict[str, Any]:
        """The learned state, to be given back to :meth:`restore` (after a restart, or in another process)."""
        ...

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state` (an empty dict: start afresh)."""
        ...

    def live_state(self) -> Any:
        """The state as the live objects, not copied (the Kafka grid runner swaps each grid's state in and
        out of one engine without encoding it): give it back to :meth:`use_live_state`."""
        ...

    def use_live_state(self, live: Any) -> None:
        """Continue from a :meth:`live_state`."""
        ...

    def resume(self) -> None:
        """The runtime is back after being down (the embedded service restarting from its snapshot): a detector that
        counts the wall clock's time may grant a grace (a Kafka worker decoding a grid's state is no restart)."""
        ...

    def refresh(self) -> None:
        """The rules changed (detectors that follow rule levels reload them)."""
        ...

    def close(self) -> None:
        """The runtime stops: release threads or processes."""
        ...


class DetectorBase:
    """Defaults for :class:`Detector`: no events, signals unchanged, nothing on a tick, no state, nothing to
    refresh or close."""

    name: str = ""
    feeds: frozenset[str] = frozenset()
    STATE_VERSION: int | None = None

    def process(self, event: Event) -> list[Signal]:
        return []

    def process_signals(self, signals: list[Signal]) -> list[Signal]:
        return signals

    def tick(self, now: Mapping[str, float]) -> list[Signal]:
        return []

    def next_due(self) -> dict[str, float]:
        return {}

    def state(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        return None

    def live_state(self) -> Any:
        return self.state()

    def use_live_state(self, live: Any) -> None:
        self.restore(live)

    def resume(self) -> None:
        return None

    def refresh(self) -> None:
        return None

    def close(self) -> None:
        return None


class VersionedDetector(DetectorBase):
    """:class:`DetectorBase` for a detector whose :meth:`live_state` is a graph of classes registered as state
    (:func:`fenghuo.core.state.register`): :meth:`snapshot` (its :meth:`state`) writes it as versioned plain
    data, :meth:`restore` reads it back. Bump ``STATE_VERSION`` on a change of that state (and read the old)."""

    STATE_VERSION: int | None = 1

    def state(self) -> dict[str, Any]:
        return self.snapshot()

    def snapshot(self) -> dict[str, Any]:
        """The learned state as versioned plain data (:mod:`fenghuo.core.state`)."""
        assert self.STATE_VERSION is not None
        return saved.versioned(self.STATE_VERSION, saved.to_plain(self.live_state()))

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`snapshot` (an empty dict: start afresh); a version this release does not
        read raises :class:`fenghuo.core.state.StateVersionError`."""
        assert self.STATE_VERSION is not None
        self.use_live_state(saved.read_versioned(state, self.name, self.STATE_VERSION))


__all__ = ["Detector", "DetectorBase", "VersionedDetector"]
