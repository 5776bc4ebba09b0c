"""The detector registry: every model detector the ``detectors:`` section can switch on, in one place.

Each detector module registers itself once, at import, with the ``@register`` decorator on its
factory: its name (the ``detectors.<name>`` key of the config), its parameter class (a dataclass:
the schema of ``detectors.<name>``), the feeds it watches, its *scope* (where it runs: ``grid``
per grid, ``district`` over a whole district's events, ``alerts`` over all signals of a grid) and
the factory that builds it (a :class:`fenghuo.detectors.protocol.Detector`). :data:`MODULES` maps
each built-in detector to the module that registers it; only the modules of the detectors a config
names are imported (the anomaly models' scikit-learn and pandas stay unloaded unless ``anomaly`` is
configured). Adding a detector is one new module with one ``@register`` and one line in
:data:`MODULES` (or, for a plug-in or a test, ``with REGISTRY.registered(...)``).

``check-config`` (:func:`check_models`) and ``run`` (:func:`add_models`) read parameters through the
same :meth:`Registration.parse`, so the first refuses what the second would. Where each scope runs in
each runtime is declared in :mod:`fenghuo.runtime.topology`.

>>> from fenghuo.core.config import Detectors
>>> engine = DetectorEngine()
>>> add_models(engine, Detectors(bursts={"tz": "America/New_York"}, fusion={}), cache_dir=None)
>>> [d.name for d in engine.detectors]
['bursts', 'fusion']
>>> {scope: [r.name for r in REGISTRY if r.scope == scope] for scope in SCOPES}
{'grid': ['forecast', 'anomaly', 'health', 'asset', 'text'], 'district': ['bursts'], 'alerts': ['fusion']}
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fenghuo.core.config import ConfigError, Detectors, Rule
from fenghuo.detectors.engine import ChainFn, DetectorEngine, _no_chain
from fenghuo.detectors.protocol import Detector

Scope = Literal["grid", "district", "alerts"]
SCOPES: tuple[Scope, ...] = ("grid", "district", "alerts")

# built-in detector -> the module that registers it, in the order the detectors run (and are saved)
MODULES: dict[str, str] = {
    "bursts": "fenghuo.detectors.bursts",
    "forecast": "fenghuo.detectors.forecast",
    "anomaly": "fenghuo.detectors.anomaly.detector",
    "health": "fenghuo.detectors.health",
    "asset": "fenghuo.detectors.asset",
    "text": "fenghuo.detectors.text.detector",
    "fusion": "fenghuo.detectors.fusion",
}


def _no_rules() -> list[Rule]:
    return []


@dataclass(frozen=True, slots=True)
class BuildContext:
    """What a factory may use besides its parameters: the grid tree's chain (a grid's node ids, the grid
    first), the rules in force (a callable: they change at runtime) and a cache directory for trained
    models (None: train in memory)."""

    chain: ChainFn = _no_chain
    rules: Callable[[], list[Rule]] = _no_rules
    cache_dir: Path | None = None


Factory = Callable[[Any, BuildContext], Detector]


def _params(cls: Any, name: str, values: dict[str, Any]) -> Any:
    """The parameter object of ``detectors.<name>``: unknown keys refused, lists read as tuples."""
    fields = set(getattr(cls, "__dataclass_fields__", {}))
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ConfigError([f"detectors.{name}: unknown parameter(s) {', '.join(unknown)}; "
                           f"known: {', '.join(sorted(fields))}"])
    clean = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**clean)


@dataclass(frozen=True, slots=True)
class Registration:
    """One registered detector (see the module's doc)."""

    name: str
    params: type
    feeds: tuple[str, ...]
    scope: Scope
    factory: Factory
    check: Callable[[Any], None] | None = None  # extra checks of a parameter object: raise ValueError
    module: str = ""

    def parse(self, values: dict[str, Any] | None) -> Any:
        """The parameter object of ``detectors.<name>`` (None or {}: the defaults); raises
        :class:`ConfigError` naming ``detectors.<name>`` for unknown parameters or bad values."""
        try:
            p = _params(self.params, self.name, dict(values or {}))
            if self.check is not None:
                self.check(p)
        except ConfigError:
            raise
        except (TypeError, ValueError, KeyError) as exc:
            what = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            raise ConfigError([f"detectors.{self.name}: {what}"]) from None
        return p

    def build(self, values: dict[str, Any] | None, ctx: BuildContext | None = None) -> Detector:
        """The detector, its parameters read by :meth:`parse`."""
        return self.factory(self.parse(values), ctx or BuildContext())

    @property
    def defaults(self) -> dict[str, Any]:
        """The default parameters as plain values (what ``detectors.<name>: {}`` means)."""
        return {f.name: getattr(self.params(), f.name) for f in dataclasses.fields(self.params)}


class Registry:
    """Name -> :class:`Registration`, built-in detectors first (their modules load on first use: one
    detector's alone when it is asked for by name, all of them when the whole registry is)."""

    def __init__(self, modules: dict[str, str] | None = None) -> None:
        self._modules = dict(modules or {})
        self._loaded = False
        self._items: dict[str, Registration] = {}

    def _load(self, name: str | None = None) -> None:
        if name is not None and (name in self._items or name in self._modules):
            if name not in self._items:
                importlib.import_module(self._modules[name])
            return
        if not self._loaded:
            self._loaded = True
            for module in self._modules.values():
                importlib.import_module(module)

    def add(self, name: str, params: type, feeds: Iterable[str], scope: Scope, factory: Factory,
            check: Callable[[Any], None] | None = None) -> Registration:
        """Register a detector (a module registering itself again, as on a reload, replaces its entry)."""
        if not dataclasses.is_dataclass(params):
            raise TypeError(f"detector {name!r}: the parameter class must be a dataclass, not {params!r}")
        if scope not in SCOPES:
            raise ValueError(f"detector {name!r}: scope must be one of {', '.join(SCOPES)}, not {scope!r}")
        module = getattr(factory, "__module__", "") or ""
        old = self._items.get(name)
        if old is not None and old.module != module:
            raise ValueError(f"detector {name!r} is registered already (by {old.module})")
        reg = Registration(name, params, tuple(feeds), scope, factory, check, module)
        self._items[name] = reg
        return reg

    @contextmanager
    def registered(self, name: str, params: type, feeds: Iterable[str], scope: Scope, factory: Factory,
                   check: Callable[[Any], None] | None = None) -> Iterator[Registration]:
        """A registration for the time of a ``with`` block (tests, plug-ins tried out): undone on exit."""
        self._load()
        if name in self._items:
            raise ValueError(f"detector {name!r} is registered already (by {self._items[name].module})")
        reg = self.add(name, params, feeds, scope, factory, check)
        try:
            yield reg
        finally:
            if self._items.get(name) is reg:
                del self._items[name]

    def get(self, name: str) -> Registration:
        self._load(name)
        reg = self._items.get(name)
        if reg is None:
            raise ConfigError([f"detectors.{name}: unknown detector; registered: {', '.join(self.names())}"])
        return reg

    def ordered(self, regs: Iterable[Registration]) -> list[Registration]:
        """Built-in detectors in the order of :data:`MODULES` (whatever imported them first), then the others
        in the order they registered: the order detectors run in."""
        rank = {m: i for i, m in enumerate(self._modules.values())}
        items = list(self._items.values())
        return sorted(regs, key=lambda r: (rank.get(r.module, len(rank)), items.index(r)))

    def _ordered(self) -> list[Registration]:
        self._load()
        return self.ordered(self._items.values())

    def names(self) -> list[str]:
        return [r.name for r in self._ordered()]

    def __iter__(self) -> Iterator[Registration]:
        return iter(self._ordered())

    def __contains__(self, name: object) -> bool:
        self._load(name if isinstance(name, str) else None)
        return name in self._items


REGISTRY = Registry(MODULES)


def register(name: str, params: type, *, feeds: Iterable[str], scope: Scope,
             check: Callable[[Any], None] | None = None) -> Callable[[Factory], Factory]:
    """Decorate a detector module's factory ``(params, BuildContext) -> Detector`` to register it."""

    def deco(factory: Factory) -> Factory:
        REGISTRY.add(name, params, feeds, scope, factory, check)
        return factory

    return deco


def selected(cfg: Detectors, scopes: Iterable[str] | None = None) -> list[tuple[Registration, dict[str, Any]]]:
    """The configured detectors (of these scopes; None: all), in registry order, with their parameters;
    raises :class:`ConfigError` for a name nobody registered."""
    wanted = cfg.configured()
    if not wanted:  # nothing to build: the detector modules (numpy, the text models' code) stay unimported
        return []
    unknown = [n for n in wanted if n not in REGISTRY]
    if unknown:
        raise ConfigError([f"detectors.{n}: unknown detector; registered: {', '.join(REGISTRY.names())}"
                           for n in unknown])
    keep = None if scopes is None else set(scopes)
    chosen = REGISTRY.ordered(REGISTRY.get(n) for n in wanted)
    return [(reg, wanted[reg.name]) for reg in chosen if keep is None or reg.scope in keep]


def check_models(cfg: Detectors) -> list[str]:
    """Every error in the model detectors' names and parameters, checked by the same
    :meth:`Registration.parse` ``add_models`` builds with (without training or loading anything), so
    ``fenghuo check-config`` refuses what ``run`` would.

    >>> check_models(Detectors(forecast={"wrong_param": 3}))  # doctest: +ELLIPSIS
    ['detectors.forecast: unknown parameter(s) wrong_param; known: ...']
    >>> check_models(Detectors(fusion={}))
    []
    >>> check_models(Detectors(nope={}))  # doctest: +ELLIPSIS
    ['detectors.nope: unknown detector; registered: bursts, forecast, anomaly, health, asset, text, fusion...']
    """
    try:
        chosen = selected(cfg)
    except ConfigError as exc:
        return exc.errors
    errors: list[str] = []
    for reg, values in chosen:
        try:
            reg.parse(values)
        except ConfigError as exc:
            errors += exc.errors
    return errors


def build_models(cfg: Detectors, ctx: BuildContext, scopes: Iterable[str] | None = None) -> list[Detector]:
    """The configured detectors of these scopes (None: all), built, in registry order."""
    return [reg.build(values, ctx) for reg, values in selected(cfg, scopes)]


def add_models(engine: DetectorEngine, cfg: Detectors, cache_dir: Path | None,
               scopes: Iterable[str] | None = None) -> None:
    """Add the configured model detectors (of these scopes; None: all) to the engine (the rules are there)."""
    ctx = BuildContext(engine.chain, engine.current_rules, cache_dir)
    for detector in build_models(cfg, ctx, scopes):
        engine.add(detector)


__all__ = ["MODULES", "REGISTRY", "SCOPES", "BuildContext", "Registration", "Registry", "Scope", "add_models",
           "build_models", "check_models", "register", "selected"]
