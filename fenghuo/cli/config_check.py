"""Every error of a configuration file in one round, for ``fenghuo check-config`` and ``fenghuo run``.

:func:`fenghuo.core.config.load_config` stops at the first layer that fails (the YAML, then the fields, then
the cross references), and the channel and detector registries are only asked about a configuration that
passed all of them. :func:`config_errors` asks every layer it can on every section that can be read, so one
run of ``check-config`` lists everything to fix; it also refuses an empty file and coordinates out of range
(latitude -90..90, longitude -180..180), naming the field.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from fenghuo.core.config import Config, ConfigError, load_config


def _dedupe(errors: list[str]) -> list[str]:
    seen: set[str] = set()
    return [e for e in errors if not (e in seen or seen.add(e))]  # type: ignore[func-returns-value]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _out_of(value: Any, bound: float) -> bool:
    x = _number(value)
    return x is not None and (not math.isfinite(x) or abs(x) > bound)


def coordinate_errors(data: Any, where: str = "") -> list[str]:
    """Latitudes and longitudes out of range anywhere in the document, with the path of the field.

    >>> coordinate_errors({"nodes": [{"id": "g", "centroid": [999, 2.0]}]})
    ['nodes[0].centroid[0]: latitude 999 is out of range (-90 to 90)']
    >>> coordinate_errors({"nodes": [{"polygon": [[2.0, 43.0], [200, 43.1], [2.1, 43.2]]}]})
    ['nodes[0].polygon[1][0]: longitude 200 is out of range (-180 to 180)']
    >>> coordinate_errors({"sources": {"s1": {"lat": 43.0, "lon": -181}}})
    ['sources.s1.lon: longitude -181 is out of range (-180 to 180)']
    """
    errors: list[str] = []

    def lat(value: Any, path: str) -> None:
        if _out_of(value, 90):
            errors.append(f"{path}: latitude {value} is out of range (-90 to 90)")

    def lon(value: Any, path: str) -> None:
        if _out_of(value, 180):
            errors.append(f"{path}: longitude {value} is out of range (-180 to 180)")

    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{where}.{key}" if where else str(key)
            if key in ("lat", "latitude"):
                lat(value, path)
            elif key in ("lon", "lng", "longitude"):
                lon(value, path)
            elif key == "centroid" and isinstance(value, list | tuple) and len(value) == 2:  # (lat, lon)
                lat(value[0], f"{path}[0]")
                lon(value[1], f"{path}[1]")
            elif key == "polygon" and isinstance(value, list):  # [(lon, lat), ...] as in GeoJSON
                for i, point in enumerate(value):
                    if isinstance(point, list | tuple) and len(point) == 2:
                        lon(point[0], f"{path}[{i}][0]")
                        lat(point[1], f"{path}[{i}][1]")
            else:
                errors += coordinate_errors(value, path)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            errors += coordinate_errors(value, f"{where}[{i}]")
    return errors


def _registry_errors(config: Config) -> list[str]:
    from fenghuo.alerts.notifiers import channel_errors
    from fenghuo.detectors.registry import check_models

    return channel_errors(config) + check_models(config.detectors)


def _section_errors(data: dict[str, Any]) -> list[str]:
    """The registries' errors of the sections that validate on their own (the whole document did not)."""
    errors: list[str] = []
    for section in ("channels", "detectors"):
        if section not in data:
            continue
        try:
            part = Config.model_validate({section: data[section]})
        except (ValidationError, ValueError, TypeError):
            continue  # its field errors are in load_config's list already
        errors += _registry_errors(part) if section == "channels" else _registry_errors(
            part.model_copy(update={"channels": []}))
    return errors


def config_errors(path: Path) -> tuple[Config | None, list[str]]:
    """The configuration (None when it has errors) and every error found in one round."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}"]
    if not text.strip() or all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()):
        return None, ["(top): the file is empty: a configuration names at least its grids (nodes), responders "
                      "and channels (see fenghuo/demo/fenghuo.example.yaml)"]
    errors: list[str] = []
    config: Config | None = None
    try:
        config = load_config(path)
    except ConfigError as exc:
        errors += exc.errors
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None, errors  # load_config said where
    if config is not None:
        errors += _registry_errors(config)
        errors += _risk_errors(config)
    elif isinstance(data, dict):
        try:  # only the cross references failed: the registries can judge the whole document
            whole = Config.model_validate(_expanded(data))
        except (ValidationError, ValueError, TypeError):
            errors += _section_errors(_expanded(data))
        else:
            errors += _registry_errors(whole)
            errors += _risk_errors(whole)
    errors += coordinate_errors(_expanded(data) if isinstance(data, dict) else data)
    errors = _dedupe(errors)
    return (config if not errors else None), errors


def _risk_errors(config: Config) -> list[str]:
    """The risk_forecast section against fenghuo.detectors.risk.RiskForecastParams (docs/risk-forecast.md)."""
    from fenghuo.runtime.risk_job import risk_params

    try:
        risk_params(config)
    except ConfigError as exc:
        return list(exc.errors)
    return []


def _expanded(data: dict[str, Any]) -> dict[str, Any]:
    """``${VAR}`` references replaced as load_config does (unset ones left as they are: load_config reports them,
    and a registry would only repeat that the field is empty)."""
    import re

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return re.sub(r"\$\{([A-Z0-9_]+)\}", lambda m: os.environ.get(m.group(1), m.group(0)), value)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(data)  # type: ignore[no-any-return]


def load_checked(path: Path | None) -> Config:
    """:func:`load_config` with every error of :func:`config_errors` (raised as one :class:`ConfigError`)."""
    if path is None:
        return load_config(None)
    config, errors = config_errors(Path(path))
    if errors or config is None:
        raise ConfigError(errors or ["(top): not a configuration"], str(path))
    return config



def scenario_file_errors(path: Path, config_path: Path | None) -> tuple[str, list[str]] | None:
    """For a drill scenario file (its ``scenario:`` key): a one-line summary and every error (its fields and
    bounds; its grids, nodes, channels and tiers against the configuration; its data files); None for a file
    that is not a scenario (a configuration)."""
    from fenghuo.drills.scenario import ScenarioError, is_scenario, load_scenario, scenario_errors
    from fenghuo.drills.sources import data_file

    try:
        head = yaml.safe_load(path.read_text(encoding="utf-8")) if path.stat().st_size <= 1_000_000 else None
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None  # not readable as a scenario: the configuration check says what is wrong
    if not is_scenario(head):
        return None
    try:
        scenario, _ = load_scenario(path)
    except ScenarioError as exc:
        return "", exc.errors
    errors: list[str] = []
    for i, src in enumerate(scenario.sources):
        if src.file is not None:
            try:
                data_file(src.file, path.resolve().parent, [])
            except ScenarioError as exc:
                errors += [e.replace("sources:", f"sources[{i}].file:", 1) for e in exc.errors]
    where = config_path or os.environ.get("FENGHUO_CONFIG") or None
    config_file = Path(where) if where else Path(__file__).resolve().parents[1] / "demo" / "fenghuo.example.yaml"
    config = _config_for_scenarios(config_file)
    if config is None:
        errors.append(f"the configuration {config_file} has errors (fenghuo check-config {config_file})")
    else:
        errors += scenario_errors(scenario, config)
    summary = (f"scenario {scenario.scenario}: {len(scenario.sources)} source(s), {len(scenario.injections)} "
               f"injection(s), {len(scenario.expect)} expectation(s), checked against {config_file}")
    return summary, errors


def _config_for_scenarios(path: Path) -> Config | None:
    """The configuration a scenario is checked against; its secrets need not be set for that (a variable
    it names that is not set stands in as a placeholder while it is read)."""
    import re

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    missing = {m for m in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text) if m not in os.environ}
    saved = dict(os.environ)
    try:
        os.environ.update({name: "placeholder-for-a-scenario-check" for name in missing})
        config, _ = config_errors(path)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return config
