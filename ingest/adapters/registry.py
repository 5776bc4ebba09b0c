"""The feed adapter registry: format name -> the feed its records hold, how to recognise its files, its reader.

An adapter is registered once with :func:`register_adapter` (a decorator on its reader
``(path, feed, stats, options) -> Iterator[dict]``): ``feed`` is the feed its records always hold
(None: the records say, as in JSON files); ``name_sniff`` recognises a file by its lower-case name
(``.gz`` stripped) and ``header_sniff`` by its first line. :func:`detect_format` tries every adapter's
name sniff in registration order, then every header sniff. The built-in adapters (json, hubeau,
boston311, nab) are registered at the end of this module; :data:`ADAPTER_MODULES` lists modules
registering more.

>>> ADAPTERS.names()
['json', 'hubeau', 'boston311', 'nab']
>>> ADAPTERS.get("boston311").feed
'complaint'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fenghuo.ingest.adapters import ReadStats, open_text

ADAPTER_MODULES: tuple[str, ...] = ()  # modules registering adapters beyond the built-in ones

Reader = Callable[..., Iterator[dict[str, Any]]]  # (path, feed, stats, options) -> v1 event dicts
Sniff = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class Adapter:
    name: str
    feed: str | None
    reader: Reader
    name_sniff: Sniff | None = None
    header_sniff: Sniff | None = None
    module: str = ""


class AdapterRegistry:
    def __init__(self) -> None:
        self._items: dict[str, Adapter] = {}
        self._loaded = False

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in ADAPTER_MODULES:
                importlib.import_module(module)

    def add(self, name: str, feed: str | None, reader: Reader, name_sniff: Sniff | None = None,
            header_sniff: Sniff | None = None) -> Adapter:
        module = getattr(reader, "__module__", "") or ""
        old = self._items.get(name)
        if old is not None and old.module != module:
            raise ValueError(f"feed adapter {name!r} is registered already (by {old.module})")
        adapter = self._items[name] = Adapter(name, feed, reader, name_sniff, header_sniff, module)
        return adapter

    @contextmanager
    def registered(self, name: str, feed: str | None, reader: Reader, name_sniff: Sniff | None = None,
                   header_sniff: Sniff | None = None) -> Iterator[Adapter]:
        """An adapter for the time of a ``with`` block: undone on exit."""
        self._load()
        if name in self._items:
            raise ValueError(f"feed adapter {name!r} is registered already (by {self._items[name].module})")
        adapter = self.add(name, feed, reader, name_sniff, header_sniff)
        try:
            yield adapter
        finally:
            if self._items.get(name) is adapter:
                del self._items[name]

    def get(self, name: str) -> Adapter | None:
        self._load()
        return self._items.get(name)

    def names(self) -> list[str]:
        self._load()
        return list(self._items)

    def __iter__(self) -> Iterator[Adapter]:
        self._load()
        return iter(list(self._items.values()))


ADAPTERS = AdapterRegistry()


def register_adapter(name: str, feed: str | None, *, name_sniff: Sniff | None = None,
                     header_sniff: Sniff | None = None) -> Callable[[Reader], Reader]:
    """Decorate an adapter's reader ``(path, feed, stats, options) -> Iterator[dict]`` to register it."""

    def deco(reader: Reader) -> Reader:
        ADAPTERS.add(name, feed, reader, name_sniff, header_sniff)
        return reader

    return deco


def _strip_gz(name: str) -> str:
    return name.lower().removesuffix(".gz")


def detect_format(path: str | Path) -> str:
    """The adapter for a file: by its name, else by its first line (a CSV header or JSON)."""
    name = _strip_gz(Path(path).name)
    for a in ADAPTERS:
        if a.name_sniff is not None and a.name_sniff(name):
            return a.name
    with open_text(path) as fh:
        head = fh.readline()
    for a in ADAPTERS:
        if a.header_sniff is not None and a.header_sniff(head):
            return a.name
    raise ValueError(
        f"cannot tell the format of {path}: pass fmt= one of {', '.join(ADAPTERS.names())} "
        "(or --format on the command line)"
    )


def read_records(path: str | Path, feed: str | None = None, fmt: str | None = None,
                 stats: ReadStats | None = None, **options: Any) -> Iterator[dict[str, Any]]:
    """Stream v1 event dicts from a file.

    ``fmt`` is a registered adapter's name (default: detected). ``feed`` is the feed records of a JSON
    file get when they lack one; for the formats whose feed is fixed, it must agree. ``options`` go to
    the adapter (``grid=`` for NAB, ``known_grids=`` for Boston). ``stats``, when given, is filled in as
    the file is read.
    """
    fmt = fmt or detect_format(path)
    adapter = ADAPTERS.get(fmt)
    if adapter is None:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(ADAPTERS.names())}")
    if adapter.feed is not None and feed is not None and feed != adapter.feed:
        raise ValueError(f"{fmt} files hold {adapter.feed} events, not {feed}")
    return adapter.reader(path, feed, stats, options)


# -- the built-in adapters ------------------------------------------------------------------------------
def _columns(head: str) -> set[str]:
    return {c.strip().strip('"') for c in head.lstrip().rstrip("\r\n").split(",")}


@register_adapter("json", None, name_sniff=lambda n: n.endswith((".json", ".jsonl", ".ndjson")),
                  header_sniff=lambda head: head.lstrip().startswith(("[", "{")))
def _json(path: Path | str, feed: str | None, stats: ReadStats | None, options: dict[str, Any]
          ) -> Iterator[dict[str, Any]]:
    from fenghuo.ingest.adapters.jsonl import read_json

    return read_json(path, feed=feed, stats=stats)


@register_adapter("hubeau", "sensor", name_sniff=lambda n: "hubeau" in n,
                  header_sniff=lambda head: {"code_station", "date_obs", "resultat_obs"} <= _columns(head))
def _hubeau(path: Path | str, feed: str | None, stats: ReadStats | None, options: dict[str, Any]
            ) -> Iterator[dict[str, Any]]:
    from fenghuo.ingest.adapters.hubeau import read_hubeau

    return read_hubeau(path, stats=stats)


@register_adapter("boston311", "complaint", name_sniff=lambda n: "311" in n,
                  header_sniff=lambda head: {"CASE_ENQUIRY_ID", "OPEN_DT", "TYPE"} <= _columns(head))
def _boston311(path: Path | str, feed: str | None, stats: ReadStats | None, options: dict[str, Any]
               ) -> Iterator[dict[str, Any]]:
    from fenghuo.ingest.adapters.boston311 import read_boston311

    return read_boston311(path, stats=stats, **options)


@register_adapter("nab", "sensor", header_sniff=lambda head: _columns(head) == {"timestamp", "value"})
def _nab(path: Path | str, feed: str | None, stats: ReadStats | None, options: dict[str, Any]
         ) -> Iterator[dict[str, Any]]:
    from fenghuo.ingest.adapters.nab import read_nab

    return read_nab(path, stats=stats, **options)


__all__ = ["ADAPTERS", "ADAPTER_MODULES", "Adapter", "AdapterRegistry", "detect_format", "read_records",
           "register_adapter"]
