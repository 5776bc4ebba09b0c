"""Saved state as versioned data (msgpack), never pickles of internal classes.

Every piece of state a runtime saves (the embedded snapshot, a grid's state in a faust table, the
distributed alert service's groups, clocks and positions) is written as an envelope
``{"kind": str, "v": int, "data": ...}`` where ``data`` holds only plain values: None, bool, int,
float (NaN and infinities survive), str, bytes, lists and dicts. Renaming a class therefore never
empties a worker's learned state after an upgrade, and a state of a version this release does not
know fails loudly (:class:`StateVersionError`) instead of starting from nothing.

>>> raw = dumps("demo", 2, {"n": 3, "xs": [1.5, float("inf")], "k": {1: "a"}})
>>> loads(raw, "demo", {2: lambda d: d})
{'n': 3, 'xs': [1.5, inf], 'k': {1: 'a'}}
>>> loads(raw, "demo", {1: lambda d: d})
Traceback (most recent call last):
...
fenghuo.core.state.StateVersionError: saved demo state has version 2; this release reads versions 1
>>> loads(raw, "other", {2: lambda d: d})
Traceback (most recent call last):
...
fenghuo.core.state.StateVersionError: saved state is of kind 'demo', not 'other'

Upgrading a format: bump the version the writer passes to :func:`dumps` and keep a reader for each
older version in the ``readers`` mapping given to :func:`loads` (each turns that version's ``data``
into what the current code restores from).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgpack


class StateVersionError(ValueError):
    """A saved state this release cannot read: another kind, an unknown version, or not a state at all."""


def dumps(kind: str, version: int, data: Any) -> bytes:
    """One versioned state as bytes. ``data`` must be plain values (tuples are written as lists)."""
    return msgpack.packb({"kind": kind, "v": version, "data": data}, use_bin_type=True)  # type: ignore[no-any-return]


def unpack(raw: bytes) -> Any:
    """The plain values of a msgpack payload (maps may have int or tuple keys; arrays come back as lists)."""
    return msgpack.unpackb(raw, raw=False, strict_map_key=False, use_list=True)


def is_state(raw: bytes) -> bool:
    """Whether ``raw`` looks like a state written by :func:`dumps` (not, say, a pickle of an older release)."""
    return bool(raw) and raw[:1] != b"\x80"


def loads(raw: bytes, kind: str, readers: Mapping[int, Callable[[Any], Any]]) -> Any:
    """Read a state written by :func:`dumps`: the reader for its version turns its data into the current form."""
    try:
        doc = unpack(raw)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise StateVersionError(f"saved {kind} state is not readable ({type(exc).__name__}: {exc})") from None
    if not isinstance(doc, dict) or "kind" not in doc or "v" not in doc:
        raise StateVersionError(f"saved {kind} state has no kind and version: not written by this program")
    if doc["kind"] != kind:
        raise StateVersionError(f"saved state is of kind {doc['kind']!r}, not {kind!r}")
    reader = readers.get(doc["v"])
    if reader is None:
        known = ", ".join(str(v) for v in sorted(readers))
        raise StateVersionError(f"saved {kind} state has version {doc['v']}; this release reads versions {known}")
    return reader(doc.get("data"))
