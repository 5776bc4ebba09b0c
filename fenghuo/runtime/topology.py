"""The topology, declared once: which stages exist, what runs per grid, per district and in the alert
service, and where each runtime places them.

::

    events ─► ingest (validate, store) ─► detectors ──────────────────────────────► alerts ─► notifiers
                                          scope "grid":     rules, forecast,        scope "alerts":
                                                            anomaly, text           fusion (corroboration)
                                          scope "district": bursts

Every model detector registers a *scope* (:mod:`fenghuo.detectors.registry`): ``grid`` runs with one
grid's events, ``district`` needs all the events of a district (complaint bursts roll up the grid
tree), ``alerts`` needs every signal of a grid, from every detector stage (corroboration). The rules
run in the grid stage. :data:`PLACEMENTS` says, per runtime, which process runs which scopes:

* embedded: one engine in one process runs all three scopes, in registry order;
* Kafka: the detector worker's grid stage (keyed by grid) runs ``grid``, its district stage (keyed by
  the top of the grid's chain) runs ``district``, and the alert service (keyed by grid) runs ``alerts``.

A runtime asks :func:`engine_for` for the engine of the scopes it places (or :func:`corroboration_for`
for the alert service's corroboration), so a new detector lands in the right process in both runtimes
by its registration alone.

>>> from fenghuo.core.config import Detectors
>>> models = Detectors(bursts={}, fusion={}, anomaly={})
>>> placed(models, "kafka")
{'grid': ['anomaly'], 'district': ['bursts'], 'alerts': ['fusion']}
>>> placed(models, "embedded")
{'pipeline': ['bursts', 'anomaly', 'fusion']}
>>> [d.name for d in engine_for(models, ALL).detectors]
['bursts', 'anomaly', 'fusion']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fenghuo.core.config import Config, Detectors, Rule
from fenghuo.detectors.engine import ChainFn, DetectorEngine, _no_chain
from fenghuo.detectors.fusion import Corroboration, CorroborationStage
from fenghuo.detectors.registry import SCOPES, BuildContext, Scope, add_models, selected

GRID: tuple[Scope, ...] = ("grid",)
DISTRICT: tuple[Scope, ...] = ("district",)
ALERTS: tuple[Scope, ...] = ("alerts",)
ALL: tuple[Scope, ...] = SCOPES


@dataclass(frozen=True, slots=True)
class Stage:
    """A stage of the pipeline: its name, the detector scopes it runs (none: not a detector stage) and what
    it is keyed by."""

    name: str
    scopes: tuple[Scope, ...]
    keyed_by: str
    doc: str


STAGES: tuple[Stage, ...] = (
    Stage("ingest", (), "event", "validate (limits, grid resolution), store, dead-letter the rejected"),
    Stage("grid", GRID, "grid", "the rules and the grid-scope model detectors over one grid's events"),
    Stage("district", DISTRICT, "top node of the grid's chain", "district-scope detectors over a district's events"),
    Stage("alerts", ALERTS, "grid", "alert-scope detectors over every signal of a grid; alerts, escalation, outbox"),
)

# runtime -> process (or stage of a process) -> the detector scopes it runs
PLACEMENTS: dict[str, dict[str, tuple[Scope, ...]]] = {
    "embedded": {"pipeline": ALL},
    "kafka": {"grid": GRID, "district": DISTRICT, "alerts": ALERTS},
}


def _models(config: Config | Detectors) -> Detectors:
    return config.detectors if isinstance(config, Config) else config


def detectors_in(config: Config | Detectors, scopes: Iterable[str]) -> list[str]:
    """The configured detectors of these scopes, in the order they run."""
    return [reg.name for reg, _ in selected(_models(config), scopes)]


def placed(config: Config | Detectors, runtime: str) -> dict[str, list[str]]:
    """Per process of a runtime (see :data:`PLACEMENTS`), the configured detectors it runs."""
    return {where: detectors_in(config, scopes) for where, scopes in PLACEMENTS[runtime].items()}


def runs(config: Config | Detectors, scopes: Iterable[str]) -> bool:
    """Whether any configured detector has one of these scopes (a Kafka stage without any is not started)."""
    return bool(detectors_in(config, scopes))


def models_in(config: Config | Detectors, scopes: Iterable[str]) -> Detectors:
    """The ``detectors:`` section with only the detectors of these scopes.

    >>> models_in(Detectors(bursts={}, anomaly={"warmup": 3}), GRID).configured()
    {'anomaly': {'warmup': 3}}
    """
    return _models(config).only(set(detectors_in(config, scopes)))


def add_detectors(engine: DetectorEngine, config: Config | Detectors, scopes: Iterable[str] | None,
                  cache_dir: Path | None = None) -> None:
    """Add the configured model detectors of these scopes (None: all) to an engine."""
    add_models(engine, _models(config), cache_dir, scopes)


def engine_for(config: Config | Detectors, scopes: Iterable[str], cache_dir: Path | None = None,
               chain: ChainFn = _no_chain, rules: Iterable[Rule] = ()) -> DetectorEngine:
    """A DetectorEngine running ``rules`` and the configured model detectors of these scopes
    (embedded: :data:`ALL`; Kafka grid stage: :data:`GRID`; district stage: :data:`DISTRICT`)."""
    engine = DetectorEngine(rules, chain)
    add_detectors(engine, config, scopes, cache_dir)
    return engine


def corroboration_for(config: Config | Detectors) -> Corroboration | None:
    """The alert service's corroboration (``detectors.fusion``; None when not configured).

    >>> corroboration_for(Detectors(fusion={"window_hours": 1.5})).p.window_hours
    1.5
    >>> corroboration_for(Detectors(bursts={})) is None
    True
    """
    for reg, values in selected(_models(config), ALERTS):
        stage: Any = reg.build(values, BuildContext())
        if isinstance(stage, CorroborationStage):
            return stage.fusion
    return None


__all__ = ["ALERTS", "ALL", "DISTRICT", "GRID", "PLACEMENTS", "STAGES", "Stage", "add_detectors",
           "corroboration_for", "detectors_in", "engine_for", "models_in", "placed", "runs"]
