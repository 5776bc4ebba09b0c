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


def dumps(kind: str, version: int, data: Any, *, objects: bool = False) -> bytes:
    """One versioned state as bytes. ``data`` must be plain values (tuples are written as lists); with
    ``objects``, it may also hold what :func:`to_plain` writes (registered classes, tuples, deques, sets,
    numpy arrays), written as :func:`to_plain` would, but by msgpack's packer itself (no copy in Python
    first): the fast way for a state written often. Read either with :func:`loads`."""
    doc = {"kind": kind, "v": version, "data": data}
    if objects:
        return msgpack.packb(doc, use_bin_type=True, strict_types=True, default=_default)  # type: ignore[no-any-return]
    return msgpack.packb(doc, use_bin_type=True)  # type: ignore[no-any-return]


def unpack(raw: bytes, *, objects: bool = False) -> Any:
    """The plain values of a msgpack payload (maps may have int or tuple keys; arrays come back as lists).
    With ``objects``, what :func:`to_plain` or ``dumps(..., objects=True)`` wrote as a registered class, tuple,
    deque, set or array comes back as that object (and maps keyed by such values can be read)."""
    if objects:
        return msgpack.unpackb(raw, raw=False, strict_map_key=False, use_list=True, object_pairs_hook=_pairs)
    return msgpack.unpackb(raw, raw=False, strict_map_key=False, use_list=True)


def is_state(raw: bytes) -> bool:
    """Whether ``raw`` looks like a state written by :func:`dumps` (not, say, a pickle of an older release)."""
    return bool(raw) and raw[:1] != b"\x80"


def loads(raw: bytes, kind: str, readers: Mapping[int, Callable[[Any], Any]], *, objects: bool = False) -> Any:
    """Read a state written by :func:`dumps`: the reader for its version turns its data into the current form
    (``objects``: see :func:`unpack`; a state written with ``objects=True`` is read so)."""
    try:
        doc = unpack(raw, objects=objects)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise StateVersionError(f"saved {kind} state is not readable ({type(exc).__name__}: {exc})") from None
    if not isinstance(doc, dict) or "kind" not in doc or "v" not in doc:
        raise StateVersionError(f"saved {kind} state has no kind and version: not written by this program")
    if doc["kind"] != kind:
        raise StateVersionError(f"saved state is of kind {doc['kind']!r}, not {kind!r}")
    return unversioned(doc, kind, readers)


# -- plain data for object graphs --------------------------------------------------------------------------
# A detector's live state is a graph of small classes (a burst key, a level state, a forecast series...).
# ``to_plain`` writes it as plain values, each registered class as ``{"@o": tag, "f": {field: value}}``
# under a stable tag chosen at registration (never the module path), so moving or renaming a class keeps
# its saved state readable; ``from_plain`` rebuilds it. Tuples, sets, deques and dicts with keys other than
# strings are written as one-key maps (``@t``, ``@s``, ``@q``, ``@m``); numpy arrays as bytes + dtype.
# An unregistered class fails loudly on write (TypeError) and an unknown tag on read (StateVersionError).

Encode = Callable[[Any], dict[str, Any]]
Decode = Callable[[dict[str, Any]], Any]
_BY_TYPE: dict[type, tuple[str, Encode]] = {}
_BY_TAG: dict[str, Decode] = {}


def register(tag: str, cls: type, encode: Encode | None = None, decode: Decode | None = None) -> None:
    """Make ``cls`` writable by :func:`to_plain` under ``tag``.

    By default a dataclass is written field by field (a field missing on read takes its default, an unknown
    one is dropped); an enum by value; any other class through its ``__getstate__`` (or ``__dict__``) and
    read back through ``__setstate__`` (or ``__dict__``), the hooks it already has for copies.
    """
    import dataclasses
    import enum

    if tag in _BY_TAG and _BY_TYPE.get(cls, (None,))[0] != tag:
        raise ValueError(f"state tag {tag!r} is already registered for another class")
    if encode is None or decode is None:
        if issubclass(cls, enum.Enum):
            def encode(obj: Any) -> dict[str, Any]:
                return {"v": obj.value}

            def decode(f: dict[str, Any]) -> Any:
                return cls(f["v"])
        elif dataclasses.is_dataclass(cls):
            known = {f.name: f for f in dataclasses.fields(cls)}
            names = list(known)

            def encode(obj: Any) -> dict[str, Any]:
                return {n: getattr(obj, n) for n in names}

            def decode(f: dict[str, Any]) -> Any:
                obj = cls.__new__(cls)
                for n, fd in known.items():
                    if n in f:
                        v = f[n]
                    elif fd.default is not dataclasses.MISSING:
                        v = fd.default
                    elif fd.default_factory is not dataclasses.MISSING:
                        v = fd.default_factory()
                    else:
                        raise StateVersionError(f"saved {tag} state lacks {n!r}")
                    object.__setattr__(obj, n, v)
                return obj
        else:
            custom_get = getattr(cls, "__getstate__", object.__getstate__) is not object.__getstate__
            slots = [n for c in cls.__mro__ for n in c.__dict__.get("__slots__", ())]
            custom_set = hasattr(cls, "__setstate__")

            def encode(obj: Any) -> dict[str, Any]:
                if custom_get:
                    return dict(obj.__getstate__())
                out = dict(getattr(obj, "__dict__", {}))
                out.update((n, getattr(obj, n)) for n in slots if hasattr(obj, n))
                return out

            def decode(f: dict[str, Any]) -> Any:
                obj = cls.__new__(cls)
                if custom_set:
                    obj.__setstate__(f)
                else:
                    for k, v in f.items():
                        object.__setattr__(obj, k, v)
                return obj
    _BY_TYPE[cls] = (tag, encode)
    _BY_TAG[tag] = decode


_SCALARS = (str, int, float, bool, bytes, type(None))


def _counter() -> None:
    from collections import Counter

    register("counter", Counter, lambda c: {"items": list(c.items())}, lambda f: Counter(dict(f["items"])))


def _ordered(items: set[Any] | frozenset[Any]) -> list[Any]:
    """A set's members in a stable order (sorted when they compare), so equal states write equal bytes
    whatever order the members were added in."""
    try:
        return sorted(items)
    except TypeError:
        return list(items)


def to_plain(obj: Any) -> Any:
    """``obj`` as plain values (see above); TypeError for a class nobody registered."""
    t = type(obj)
    if t in _SCALARS:
        return obj
    if t is list:
        return [to_plain(x) for x in obj]
    if t is dict:
        if all(type(k) is str and k[:1] != "@" for k in obj):
            return {k: to_plain(v) for k, v in obj.items()}
        return {"@m": [[to_plain(k), to_plain(v)] for k, v in obj.items()]}
    if t is tuple:
        return {"@t": [to_plain(x) for x in obj]}
    reg = _BY_TYPE.get(t)
    if reg is not None:
        return {"@o": reg[0], "f": {k: to_plain(v) for k, v in reg[1](obj).items()}}
    from collections import deque

    if t is deque:
        return {"@q": [to_plain(x) for x in obj], "n": obj.maxlen}
    if t is set or t is frozenset:
        return {"@s" if t is set else "@f": [to_plain(x) for x in _ordered(obj)]}
    import numpy as np

    if isinstance(obj, np.ndarray):
        arr = np.ascontiguousarray(obj)
        return {"@a": arr.tobytes(), "dt": arr.dtype.str, "sh": list(arr.shape)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, tuple):  # a NamedTuple nobody registered: its values
        return {"@t": [to_plain(x) for x in obj]}
    raise TypeError(f"{t.__module__}.{t.__qualname__} is not registered as state (fenghuo.core.state.register)")


def from_plain(doc: Any) -> Any:
    """The objects :func:`to_plain` wrote; StateVersionError for a tag this release does not know (or data
    nested deeper than any state is: a crafted one)."""
    try:
        return _from_plain(doc)
    except RecursionError:
        raise StateVersionError("saved state is nested too deeply: not written by this program") from None


def _from_plain(doc: Any) -> Any:
    t = type(doc)
    if t is list:
        return [_from_plain(x) for x in doc]
    if t is not dict:
        return doc
    if len(doc) <= 3 and doc:
        if "@o" in doc:
            decode = _BY_TAG.get(doc["@o"])
            if decode is None:
                raise StateVersionError(f"saved state holds a {doc['@o']!r}, which this release does not know")
            return decode({k: _from_plain(v) for k, v in doc["f"].items()})
        if "@t" in doc:
            return tuple(_from_plain(x) for x in doc["@t"])
        if "@m" in doc:
            return {_key(_from_plain(k)): _from_plain(v) for k, v in doc["@m"]}
        if "@q" in doc:
            from collections import deque

            return deque((_from_plain(x) for x in doc["@q"]), doc.get("n"))
        if "@s" in doc:
            return {_from_plain(x) for x in doc["@s"]}
        if "@f" in doc:
            return frozenset(_from_plain(x) for x in doc["@f"])
        if "@a" in doc:
            import numpy as np

            return np.frombuffer(doc["@a"], dtype=np.dtype(doc["dt"])).reshape(doc["sh"]).copy()
    return {k: _from_plain(v) for k, v in doc.items()}


def _key(k: Any) -> Any:
    return tuple(_key(x) for x in k) if type(k) is list else k


def _default(obj: Any) -> Any:
    """msgpack's packer on anything but plain values (``strict_types``: tuples and subclasses come here)."""
    t = type(obj)
    reg = _BY_TYPE.get(t)
    if reg is not None:
        return {"@o": reg[0], "f": reg[1](obj)}
    if t is tuple:
        return {"@t": list(obj)}
    from collections import deque

    if t is deque:
        return {"@q": list(obj), "n": obj.maxlen}
    if t is set or t is frozenset:
        return {"@s" if t is set else "@f": _ordered(obj)}
    import numpy as np

    if isinstance(obj, np.ndarray):
        arr = np.ascontiguousarray(obj)
        return {"@a": arr.tobytes(), "dt": arr.dtype.str, "sh": list(arr.shape)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, tuple):  # a NamedTuple nobody registered: its values
        return {"@t": list(obj)}
    if t is not dict and isinstance(obj, dict):  # a dict subclass nobody registered
        return dict(obj)
    if t is not list and isinstance(obj, list):
        return list(obj)
    if isinstance(obj, (int, float, str, bytes)):  # an int or str enum nobody registered, a bool... as its value
        return (int if isinstance(obj, int) else float if isinstance(obj, float) else
                str if isinstance(obj, str) else bytes)(obj)
    raise TypeError(f"{t.__module__}.{t.__qualname__} is not registered as state (fenghuo.core.state.register)")


_MARKERS = {"@o", "@t", "@m", "@q", "@s", "@f", "@a"}


def _pairs(pairs: list[tuple[Any, Any]]) -> Any:
    """msgpack's unpacker on each map (inner maps first): the objects :func:`to_plain` and :func:`_default` wrote."""
    if 0 < len(pairs) <= 3 and pairs[0][0] in _MARKERS:
        doc = dict(pairs)
        if "@o" in doc and len(doc) == 2 and "f" in doc:
            decode = _BY_TAG.get(doc["@o"])
            if decode is None:
                raise StateVersionError(f"saved state holds a {doc['@o']!r}, which this release does not know")
            return decode(doc["f"])
        if len(doc) == 1:
            if "@t" in doc:
                return tuple(doc["@t"])
            if "@m" in doc:
                return {_key(k): v for k, v in doc["@m"]}
            if "@s" in doc:
                return set(doc["@s"])
            if "@f" in doc:
                return frozenset(doc["@f"])
        if "@q" in doc and len(doc) == 2 and "n" in doc:
            from collections import deque

            return deque(doc["@q"], doc["n"])
        if "@a" in doc and len(doc) == 3:
            import numpy as np

            return np.frombuffer(doc["@a"], dtype=np.dtype(doc["dt"])).reshape(doc["sh"]).copy()
    return dict(pairs)


def read_versioned(snap: Any, name: str, version: int) -> Any:
    """The objects of a detector's :func:`versioned` plain state written at ``version`` (``{}`` for an empty
    or missing state: start afresh); StateVersionError for any other version."""
    if not snap:
        return {}
    return unversioned(snap, name, {version: from_plain})


def versioned(version: int, data: Any) -> dict[str, Any]:
    """One detector's state inside a larger one: ``{"v": version, "data": data}``."""
    return {"v": version, "data": data}


def unversioned(doc: Any, name: str, readers: Mapping[int, Callable[[Any], Any]]) -> Any:
    """The data of a :func:`versioned` state through the reader of its version; StateVersionError otherwise."""
    if not isinstance(doc, dict) or "v" not in doc:
        raise StateVersionError(f"saved {name} state has no version: not written by this program")
    reader = readers.get(doc["v"])
    if reader is None:
        known = ", ".join(str(v) for v in sorted(readers))
        raise StateVersionError(f"saved {name} state has version {doc['v']}; this release reads versions {known}")
    return reader(doc.get("data"))


# -- the previous release's pickles --------------------------------------------------------------------------
# 0.1.0 pickled its internal classes under the module names it had before the code moved into ``fenghuo``.
# Such a state is read once, with those names mapped to today's modules, and written back as data.
LEGACY_MODULES = {
    "detectors.level_state": "fenghuo.detectors.hysteresis",
    "detectors.anomaly_extra": "fenghuo.detectors.anomaly.detector",
    "detectors.grid_runner": "fenghuo.runtime.kafka.grid_runner",
    "detectors.district_runner": "fenghuo.runtime.kafka.district_runner",
    "detectors.models": "fenghuo.detectors.registry",
    "detectors.level_vector": "fenghuo.detectors.hysteresis_vector",
    "fenghuo.models": "fenghuo.core.models",
    "fenghuo.levels": "fenghuo.core.levels",
    "fenghuo.config": "fenghuo.core.config",
    "fenghuo.clock": "fenghuo.core.clock",
    "fenghuo.clocks": "fenghuo.core.clock",
}
LEGACY_PREFIXES = (("detectors.", "fenghuo.detectors."), ("alerts.", "fenghuo.alerts."),
                   ("ingest.", "fenghuo.ingest."))
# The functions (not classes) the previous release's pickles call to rebuild a value.
LEGACY_READERS = frozenset({"fenghuo.detectors.bursts._burst_params"})
# What a pickle of plain containers and numpy values names outside fenghuo: exactly these (module, name) pairs.
# Anything else from outside fenghuo (builtins.eval, os.system, numpy.load, ...) is refused.
_PICKLE_GLOBALS = frozenset(
    [("builtins", n) for n in ("set", "frozenset", "bytearray", "complex", "slice", "range", "object", "int",
                               "float", "str", "bytes", "bool", "dict", "list", "tuple")]
    + [("collections", n) for n in ("deque", "OrderedDict", "Counter", "defaultdict")]
    + [("copyreg", "_reconstructor"), ("_codecs", "encode"), ("decimal", "Decimal")]
    + [("datetime", n) for n in ("date", "time", "datetime", "timedelta", "timezone")]
    + [("numpy", "dtype"), ("numpy", "ndarray")]
    + [(f"numpy.{core}.{mod}", n) for core in ("core", "_core")
       for mod, n in (("multiarray", "_reconstruct"), ("multiarray", "scalar"), ("numeric", "_frombuffer"))])


def legacy_module(module: str) -> str:
    """Today's module for a module name of the previous release.

    >>> legacy_module("detectors.level_state"), legacy_module("detectors.bursts"), legacy_module("fenghuo.models")
    ('fenghuo.detectors.hysteresis', 'fenghuo.detectors.bursts', 'fenghuo.core.models')
    """
    if module in LEGACY_MODULES:
        return LEGACY_MODULES[module]
    for old, new in LEGACY_PREFIXES:
        if module.startswith(old):
            return new + module[len(old):]
    return module


def _legacy_allowed(module: str, obj: Any) -> bool:
    """Whether a previous release's pickle may name ``obj`` (found in ``module``): a class of fenghuo's state
    (registered, or a dataclass or enum defined in fenghuo), one of :data:`LEGACY_READERS`, or a numpy dtype
    class; never another function, a module, or a class imported from elsewhere."""
    import dataclasses
    import enum

    if module == "numpy.dtypes":
        import numpy as np

        return isinstance(obj, type) and issubclass(obj, np.dtype)
    if not str(getattr(obj, "__module__", "")).startswith("fenghuo."):
        return False
    if isinstance(obj, type):
        return obj in _BY_TYPE or dataclasses.is_dataclass(obj) or issubclass(obj, enum.Enum)
    return f"{obj.__module__}.{getattr(obj, '__qualname__', '')}" in LEGACY_READERS


def legacy_unpickle(raw: bytes) -> Any:
    """A pickle written by the previous release, its classes found under today's module names. Only fenghuo's
    own state classes (:func:`_legacy_allowed`), numpy values and a few builtin containers are named
    (:data:`_PICKLE_GLOBALS`; a pickle naming anything else, say ``builtins.eval``, is refused): this reads
    the state a previous release wrote, nothing more."""
    import importlib
    import io
    import pickle

    class _Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            mod = legacy_module(module)
            if (mod, name) in _PICKLE_GLOBALS:
                return getattr(importlib.import_module(mod), name)
            if mod.startswith("fenghuo.") or mod == "numpy.dtypes":
                obj: Any = importlib.import_module(mod)
                for i, part in enumerate(name.split(".")):
                    if i and not isinstance(obj, type):  # a dotted name goes through nested classes only
                        break
                    obj = getattr(obj, part)
                else:
                    if _legacy_allowed(mod, obj):
                        return obj
            raise StateVersionError(f"the saved pickle names {module}.{name}, which is no state of fenghuo")

    try:
        return _Unpickler(io.BytesIO(raw)).load()
    except StateVersionError:
        raise
    except Exception as exc:
        raise StateVersionError(f"a saved state of the previous release does not load "
                                f"({type(exc).__name__}: {exc})") from None


_counter()
