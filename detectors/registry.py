"""Model detectors from the ``detectors:`` section of the config, plugged into the engine.

>>> from fenghuo.core.config import Detectors
>>> engine = DetectorEngine()
>>> add_models(engine, Detectors(bursts={"tz": "America/New_York"}, fusion={}), cache_dir=None)
>>> len(engine.extras), len(engine.post)
(1, 1)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fenghuo.detectors.engine import DetectorEngine

from fenghuo.core.config import ConfigError, Detectors


def _params(cls: Any, name: str, values: dict[str, Any]) -> Any:
    fields = set(getattr(cls, "__dataclass_fields__", {}))
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ConfigError([f"detectors.{name}: unknown parameter(s) {', '.join(unknown)}; "
                           f"known: {', '.join(sorted(fields))}"])
    clean = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**clean)


PARAMS = {  # detectors.<name> -> (module, parameter class): what run builds, and check-config checks
    "bursts": ("fenghuo.detectors.bursts", "BurstParams"),
    "forecast": ("fenghuo.detectors.forecast_model", "ForecastParams"),
    "anomaly": ("fenghuo.detectors.anomaly.detector", "AnomalyParams"),
    "text": ("fenghuo.detectors.text.detector", "TextParams"),
    "fusion": ("fenghuo.detectors.fusion", "FusionParams"),
}


def check_models(cfg: Detectors) -> list[str]:
    """Every error in the model detectors' parameters, checked by the same classes ``add_models`` builds
    (without training or loading anything), so ``fenghuo check-config`` refuses what ``run`` would.

    >>> check_models(Detectors(forecast={"wrong_param": 3}))  # doctest: +ELLIPSIS
    ['detectors.forecast: unknown parameter(s) wrong_param; known: ...']
    >>> check_models(Detectors(fusion={}))
    []
    """
    import importlib

    errors: list[str] = []
    for name, (module, cls_name) in PARAMS.items():
        values = getattr(cfg, name)
        if values is None:
            continue
        try:
            _params(getattr(importlib.import_module(module), cls_name), name, values)
        except ConfigError as exc:
            errors += exc.errors
        except (TypeError, ValueError) as exc:
            errors.append(f"detectors.{name}: {exc}")
    return errors


def add_models(engine: DetectorEngine, cfg: Detectors, cache_dir: Path | None) -> None:
    """Add the configured model detectors to the engine (the rules are already there)."""
    if cfg.bursts is not None:
        from fenghuo.detectors.bursts import BurstParams, make_burst_extra

        engine.extras.append(make_burst_extra(_params(BurstParams, "bursts", cfg.bursts), chain=engine.chain))
    if cfg.forecast is not None:
        from fenghuo.detectors.forecast import make_forecast_extra
        from fenghuo.detectors.forecast_model import ForecastParams

        params = _params(ForecastParams, "forecast", cfg.forecast)
        engine.extras.append(make_forecast_extra(engine.current_rules, params, chain=engine.chain))
    if cfg.anomaly is not None:
        from fenghuo.detectors.anomaly.detector import AnomalyExtra, AnomalyParams

        engine.extras.append(AnomalyExtra(_params(AnomalyParams, "anomaly", cfg.anomaly)))
    if cfg.text is not None:
        from fenghuo.detectors.text.detector import TextParams, make_text_extra

        extra = make_text_extra(_params(TextParams, "text", cfg.text), cache_dir)
        _ = extra.models  # train or load the models now, not on the first event
        engine.extras.append(extra)
    if cfg.fusion is not None:
        from fenghuo.detectors.fusion import Corroboration, FusionParams

        fusion = Corroboration(_params(FusionParams, "fusion", cfg.fusion))
        engine.post.append(_FusionStage(fusion))


class _FusionStage:
    """Corroboration as an engine post stage, with its state in the engine's snapshot."""

    def __init__(self, fusion: Any) -> None:
        self.fusion = fusion

    def __call__(self, signals: list[Any]) -> list[Any]:
        return self.fusion.process(signals) if signals else signals

    def snapshot(self) -> dict[str, Any]:
        return self.fusion.snapshot()  # type: ignore[no-any-return]

    def restore(self, snap: dict[str, Any]) -> None:
        self.fusion.restore(snap)
