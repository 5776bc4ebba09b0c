"""What the distributed alert service saves in the store, and how it is read back.

Three pieces of state, each a versioned envelope of plain values (:mod:`fenghuo.core.state`, msgpack):

* the event clocks of every grid (``CLOCKS_KEY``), written after each polled batch of records;
* per grid, the highest source offset applied per (topic, partition) (``GRID_POSITIONS_KEY + grid``);
* per grid, its corroboration groups (``FUSION_KEY + grid``): per drill, the latest raised signal of
  each fingerprint and the last proposal emitted for it.

The last two are written in the transaction of the batch's alert changes. A release before this one
pickled all three (and, earlier still, the positions of every grid in one pickle under
``POSITIONS_KEY``): those bytes are still read, through :func:`fenghuo.core.state.legacy_unpickle` (the
previous release's module names mapped to today's, anything but fenghuo's own state refused). A state
this release cannot read raises :class:`~fenghuo.core.state.StateVersionError`; it never silently starts
from nothing.

>>> raw = dump_positions({("x.events.sensor", 0): 7})
>>> is_state(raw), load_positions(raw)
(True, {('x.events.sensor', 0): 7})
>>> load_clocks(dump_clocks({"grids": {"G1": {"": 5.0, "flood": 2.0}}}))
{'grids': {'G1': {'': 5.0, 'flood': 2.0}}}
>>> load_clocks(dumps(CLOCKS_KIND, 99, {}))
Traceback (most recent call last):
...
fenghuo.core.state.StateVersionError: saved alert-service.clocks state has version 99; this release reads versions 1
"""

from __future__ import annotations

from typing import Any

from fenghuo.core.state import StateVersionError, dumps, is_state, legacy_unpickle, loads
from fenghuo.detectors.fusion import Group

CLOCKS_KEY = "kafka-alerts-clocks"
POSITIONS_KEY = "kafka-alerts-positions"  # before per-grid keys: one dict for every grid (read as a fallback)
GRID_POSITIONS_KEY = "kafka-alerts-positions/"  # + grid: {(topic, partition): highest applied offset}
FUSION_KEY = "kafka-alerts-fusion/"  # + grid: that grid's corroboration groups (one per drill)

CLOCKS_KIND = "alert-service.clocks"
POSITIONS_KIND = "alert-service.positions"
GROUPS_KIND = "alert-service.corroboration"
VERSION = 1  # of each of the three kinds

Offsets = dict[tuple[str, int], int]  # (topic, partition) -> highest applied offset, of one grid
GroupKey = tuple[str | None, str]  # (drill, grid)


# -- the previous release's pickles -------------------------------------------------------------------
def legacy_dict(raw: bytes, what: str) -> dict[Any, Any]:
    """A dict the previous release pickled, its classes under today's module names (anything else is refused;
    ``what`` names the state in the error)."""
    try:
        found = legacy_unpickle(raw)
    except StateVersionError as exc:
        raise StateVersionError(f"saved {what} state is neither versioned data nor a readable pickle of the "
                                f"previous release: {exc}") from None
    if not isinstance(found, dict):
        raise StateVersionError(f"saved {what} state is a pickle of {type(found).__name__}, not of its dict")
    return found


# -- clocks ---------------------------------------------------------------------------------------------
def dump_clocks(snapshot: dict[str, Any]) -> bytes:
    """:meth:`GridClocks.snapshot` (``{"grids": {grid: {domain: ts}}}``, ``""`` the real domain) as a state."""
    grids = {str(g): {str(d): float(ts) for d, ts in c.items()} for g, c in (snapshot.get("grids") or {}).items()}
    return dumps(CLOCKS_KIND, VERSION, {"grids": grids})


def _clocks_v1(data: Any) -> dict[str, Any]:
    return {"grids": {g: {d: float(ts) for d, ts in c.items()} for g, c in (data.get("grids") or {}).items()}}


def load_clocks(raw: bytes) -> dict[str, Any]:
    """What :meth:`GridClocks.restore` takes, from a state (or the previous release's pickle)."""
    if not is_state(raw):
        return _clocks_v1(legacy_dict(raw, CLOCKS_KIND))
    return loads(raw, CLOCKS_KIND, {1: _clocks_v1})  # type: ignore[no-any-return]


# -- applied positions ------------------------------------------------------------------------------------
def dump_positions(offsets: Offsets) -> bytes:
    """One grid's applied offsets, as ``[[topic, partition, offset], ...]``."""
    return dumps(POSITIONS_KIND, VERSION, [[t, p, off] for (t, p), off in offsets.items()])


def _positions_v1(data: Any) -> Offsets:
    return {(str(t), int(p)): int(off) for t, p, off in data}


def load_positions(raw: bytes) -> Offsets:
    """One grid's applied offsets, from a state (or the previous release's pickle of the same dict)."""
    if not is_state(raw):
        return {(str(t), int(p)): int(off) for (t, p), off in legacy_dict(raw, POSITIONS_KIND).items()}
    return loads(raw, POSITIONS_KIND, {1: _positions_v1})  # type: ignore[no-any-return]


def load_legacy_positions(raw: bytes) -> dict[tuple[str, str, int], int]:
    """The positions of every grid in one pickle (``POSITIONS_KEY``), as written before the per-grid keys."""
    return {(str(g), str(t), int(p)): int(off) for (g, t, p), off in legacy_dict(raw, POSITIONS_KEY).items()}


# -- corroboration groups ---------------------------------------------------------------------------------
def dump_groups(groups: dict[GroupKey, Group]) -> bytes:
    """One grid's corroboration groups as a state.

    >>> from fenghuo.core.levels import Level
    >>> from fenghuo.core.models import Certainty, Risk, Signal
    >>> s = Signal("burst", "r", Risk.SAFETY, "complaint", "G1", "G1/c", "src", 5.0, Level.YELLOW, 1.0, "")
    >>> groups = {(None, "G1"): Group({s.fingerprint: s}, {s.fingerprint: (Certainty.LIKELY, 3)})}
    >>> load_groups(dump_groups(groups)) == groups
    True
    """
    return dumps(GROUPS_KIND, VERSION, [[drill, grid, g] for (drill, grid), g in groups.items()], objects=True)


def _groups(groups: dict[Any, Any]) -> dict[GroupKey, Group]:
    if not all(isinstance(g, Group) for g in groups.values()):
        raise StateVersionError(f"saved {GROUPS_KIND} state holds no corroboration groups")
    return groups


def _groups_v1(data: Any) -> dict[GroupKey, Group]:
    """``[[drill, grid, group], ...]``, each group and its signals written as registered state
    (:func:`fenghuo.core.state.register`: ``fusion.group``, ``signal``)."""
    return _groups({(drill, grid): g for drill, grid, g in data})


def load_groups(raw: bytes) -> dict[GroupKey, Group]:
    """One grid's corroboration groups, from a state (or the previous release's pickle)."""
    if not is_state(raw):
        return _groups(dict(legacy_dict(raw, GROUPS_KIND)))
    return loads(raw, GROUPS_KIND, {1: _groups_v1}, objects=True)  # type: ignore[no-any-return]
