"""The one YAML configuration file, parsed strictly into typed models.

Every error is reported with where it is (``rules[2].levels.red``), all at once, so
``fenghuo check-config FILE`` can list them. Semantic checks (parents that exist, responders on
known nodes, channels that exist, levels in order) run after the schema.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fenghuo.core.levels import LEVEL_NAMES, Level
from fenghuo.core.oncall_config import MAX_ROTATIONS, Rotation, oncall_errors

NODE_KINDS = ("grid", "community", "street", "district")
_ENV_REF = re.compile(r"\$\{([A-Z0-9_]+)\}")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Node(Strict):
    """A node of the grid tree: grid -> community -> street -> district."""

    id: str
    name: str
    name_en: str | None = None
    kind: Literal["grid", "community", "street", "district"]
    parent: str | None = None
    centroid: tuple[float, float] | None = None  # (lat, lon)
    polygon: list[tuple[float, float]] | None = None  # [(lon, lat), ...] as in GeoJSON
    aliases: list[str] = Field(default_factory=list)


class Responder(Strict):
    id: str
    name: str
    node: str
    channels: list[str]
    drill: bool = False  # a drill participant: receives drill notifications at its tier


class Channel(Strict):
    """A notification channel. ``type`` names a registered channel type (webhook, email, sms, log or one
    added to :mod:`fenghuo.alerts.notifiers`), which checks the other fields (``fenghuo check-config`` and
    ``run`` alike)."""

    name: str
    type: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    url: str | None = None
    secret: str | None = None
    to: list[str] = Field(default_factory=list)
    template: str | None = None
    timeout_seconds: float = 5.0
    max_attempts: int = Field(default=8, ge=1, le=100)


class Escalation(Strict):
    deadlines: dict[str, float] = Field(
        default_factory=lambda: {"red": 300.0, "orange": 900.0, "yellow": 1800.0, "blue": 3600.0}
    )
    auto_resolve_after: float | None = None  # seconds after clearing; None = a responder resolves

    @field_validator("deadlines")
    @classmethod
    def _levels(cls, value: dict[str, float]) -> dict[str, float]:
        for name, seconds in value.items():
            if name not in LEVEL_NAMES:
                raise ValueError(f"unknown level {name!r}: use {', '.join(LEVEL_NAMES)}")
            if seconds <= 0:
                raise ValueError(f"deadline for {name} must be positive")
        return {**{"red": 300.0, "orange": 900.0, "yellow": 1800.0, "blue": 3600.0}, **value}

    def deadline(self, level: Level) -> float:
        return self.deadlines[level.name_en]


class RuleOverride(Strict):
    levels: dict[str, float] | None = None
    for_seconds: float | None = None
    hysteresis: float | None = None
    enabled: bool | None = None


class WhileWarning(Strict):
    """While an external (CAP) warning of this kind is open for the rule's grid, its levels come earlier
    (docs/warnings-detection.md): each threshold moves ``lower`` of the way toward the level below it (the
    lowest level: by ``lower`` of its distance to the level above). ``event`` is a case-insensitive substring of
    the warning's CAP ``<event>`` or of one of its ``<eventCode>`` values; only warnings of ``min_level`` or
    higher count."""

    event: Annotated[str, Field(min_length=1, max_length=100, pattern=r"\S")]
    lower: float = Field(gt=0, lt=1)
    min_level: Literal["blue", "yellow", "orange", "red"] = "blue"


class Rule(Strict):
    """A threshold, rate-of-change or complaint-count rule (the v1 rule shape, extended)."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
    kind: Literal["threshold", "rate", "count"] = "threshold"
    feed: Literal["sensor", "complaint", "opinion"] = "sensor"
    metric: str | None = None
    category: str | None = None  # count rules: "*" or one category
    grid: str = "*"
    direction: Literal["above", "below"] = "above"
    levels: dict[str, float]
    for_seconds: float = Field(default=0.0, ge=0)
    hysteresis: float = Field(default=0.0, ge=0)
    window_seconds: float = Field(default=3600.0, gt=0)
    risk: Literal["safety", "contradiction"] | None = None
    title_zh: str | None = None
    title_en: str | None = None
    enabled: bool = True
    overrides: dict[str, RuleOverride] = Field(default_factory=dict)  # per node of the grid tree
    sources: dict[str, RuleOverride] = Field(default_factory=dict)  # per sensor (its own gauge datum)
    while_warning: list[WhileWarning] = Field(default_factory=list, max_length=8)  # earlier levels under a warning

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            raise ValueError("at least one level is needed")
        for name in value:
            if name not in LEVEL_NAMES:
                raise ValueError(f"unknown level {name!r}: use {', '.join(LEVEL_NAMES)}")
        return value

    def check(self) -> list[str]:
        """Errors a schema cannot see: missing fields per kind, levels out of order."""
        errors = []
        if self.kind in ("threshold", "rate") and self.feed == "sensor" and not self.metric:
            errors.append("metric: a sensor rule needs a metric")
        if self.kind == "count" and self.feed == "sensor":
            errors.append("feed: a count rule counts complaint or opinion events")
        errors += _order_errors("levels", self.levels, self.direction)
        for where, table in (("overrides", self.overrides), ("sources", self.sources)):
            for key, ov in table.items():
                if ov.levels:
                    errors += _order_errors(f"{where}.{key}.levels", ov.levels, self.direction)
        if self.while_warning:
            level_sets = [("levels", self.levels)] + [(f"{w}.{k}.levels", ov.levels) for w, t in
                                                       (("overrides", self.overrides), ("sources", self.sources))
                                                       for k, ov in t.items() if ov.levels]
            errors += [f"{where}: while_warning moves each level a fraction of the way toward the next one, so it "
                       "needs two levels or more" for where, levels in level_sets if len(levels) < 2]
        return errors

    @property
    def risk_type(self) -> str:
        if self.risk:
            return self.risk
        return "safety" if self.feed == "sensor" else "contradiction"


def _order_errors(where: str, levels: dict[str, float], direction: str) -> list[str]:
    ordered = [(Level.parse(k), v) for k, v in levels.items()]
    ordered.sort()
    values = [v for _, v in ordered]
    ok = values == sorted(values) if direction == "above" else values == sorted(values, reverse=True)
    if ok and len(set(values)) == len(values):
        return []
    want = "rise" if direction == "above" else "fall"
    return [f"{where}: for direction {direction!r} thresholds must {want} from blue to red, got {levels}"]


class Detectors(BaseModel):
    """Model detectors beside the rules, by the name they are registered under in
    :mod:`fenghuo.detectors.registry`; each is off unless given, and its mapping holds the detector's
    parameters. The registry checks names and parameters against each detector's parameter schema, for
    ``fenghuo check-config`` and ``run`` alike. The built-in detectors have fields (so ``cfg.bursts`` reads
    None when off); a detector added later is just another key.

    >>> sorted(Detectors(fusion={}, toy={"k": 2}).configured().items())
    [('fusion', {}), ('toy', {'k': 2})]
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    bursts: dict[str, Any] | None = None  # complaint bursts: fenghuo.detectors.bursts.BurstParams
    fusion: dict[str, Any] | None = None  # corroboration across feeds: fenghuo.detectors.fusion.FusionParams
    forecast: dict[str, Any] | None = None  # forecast early warning: fenghuo.detectors.forecast_model.ForecastParams
    text: dict[str, Any] | None = None  # text risk for complaints and opinion: fenghuo.detectors.text.detector
    anomaly: dict[str, Any] | None = None  # streaming anomaly models on sensor series: fenghuo.detectors.anomaly

    @model_validator(mode="after")
    def _mappings(self) -> Detectors:
        for name, value in (self.model_extra or {}).items():
            if value is not None and not isinstance(value, dict):
                raise ValueError(f"{name}: a detector's parameters are a mapping (or null), got {type(value).__name__}")
        return self

    def configured(self) -> dict[str, dict[str, Any]]:
        """The detectors switched on: name -> parameters as given (built-in fields first, then the others)."""
        out = {name: getattr(self, name) for name in type(self).model_fields}
        out.update(self.model_extra or {})
        return {name: values for name, values in out.items() if values is not None}

    def only(self, names: set[str] | frozenset[str]) -> Detectors:
        """The same section with only these detectors (the others off)."""
        return Detectors(**{name: values for name, values in self.configured().items() if name in names})


class Drills(Strict):
    channels: list[str] = Field(default_factory=list)
    data_dir: str | None = None  # data files a scenario sent through the API may name (besides the bundled ones)
    # Kafka mode: the operator's commands a scenario's kill / pause_broker runs (docs/drills.md, "Chaos in Kafka
    # mode"); from this file only, never from a request
    chaos: dict[Literal["detector-worker", "alert-service", "store-writer", "pause-broker", "resume-broker"],
                Annotated[str, Field(min_length=1, max_length=1000)]] = Field(default_factory=dict)


class Privacy(Strict):
    """Personal data: how long complaint and opinion texts are kept (see docs/privacy.md)."""

    # days after receipt; 0 or null: kept forever. A whole number, not a string or a fraction.
    text_retention_days: Annotated[int, Field(strict=True, ge=0, le=36500)] | None = 365

    @property
    def retention_seconds(self) -> float | None:
        """The retention period in seconds, or None to keep texts forever."""
        return self.text_retention_days * 86400.0 if self.text_retention_days else None


# metrics with a known plausible range (a reading outside is a sensor fault, never an alert); limits.metrics adds more
DEFAULT_METRIC_RANGES: dict[str, tuple[float, float]] = {
    "water_level_m": (-20.0, 60.0),  # a river or tide gauge's level against its own datum, metres
    "gas_ppm": (0.0, 1_000_000.0),  # parts per million cannot exceed a million
    "pm25": (0.0, 2_000.0),  # µg/m³; the worst haze on record is under 2,000
    "temperature_c": (-90.0, 70.0),  # air temperature records: -89 °C .. 57 °C
}
_Finite = Annotated[float, Field(allow_inf_nan=False)]


class Limits(Strict):
    """Bounds on every field of an ingested event (docs/limits.md has the table)."""

    max_id_chars: int = Field(default=128, ge=16, le=1024)
    max_name_chars: int = Field(default=256, ge=16, le=4096)  # source, grid, metric, category, drill
    max_text_chars: int = Field(default=20_000, ge=1, le=1_000_000)
    max_attrs_keys: int = Field(default=64, ge=0, le=10_000)  # per object in attrs
    max_attrs_depth: int = Field(default=8, ge=1, le=64)  # attrs itself is depth 1
    max_attrs_bytes: int = Field(default=16_384, ge=2, le=1_048_576)  # attrs encoded as JSON (UTF-8)
    max_future_seconds: float = Field(default=86_400.0, ge=0, le=365 * 86_400.0, allow_inf_nan=False)
    max_age_days: float = Field(default=7_305.0, gt=0, le=36_500.0, allow_inf_nan=False)  # real events; drills: 1970
    max_abs_value: float = Field(default=1e9, gt=0, le=1e300, allow_inf_nan=False)  # metrics without a range
    metrics: dict[str, tuple[_Finite, _Finite]] = Field(default_factory=lambda: dict(DEFAULT_METRIC_RANGES))

    @field_validator("metrics")
    @classmethod
    def _ranges(cls, value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for name, (lo, hi) in value.items():
            if not name:
                raise ValueError("a metric name cannot be empty")
            if not lo < hi:
                raise ValueError(f"the range of {name!r} must be [low, high] with low < high, got [{lo}, {hi}]")
        return {**DEFAULT_METRIC_RANGES, **value}


# -- muting: maintenance windows and inhibition rules (fenghuo.alerts.mute, fenghuo.alerts.inhibit) ----------
_MatchText = Annotated[str, Field(min_length=1, max_length=128)]
_HHMM = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MATCH_LABELS = ("grid", "source", "series", "rule", "risk", "feed", "drill")  # what inhibit_rules' `equal` may name


class AlertMatch(Strict):
    """Which alerts a silence, a maintenance window or one side of an inhibition rule applies to: every given
    field must match (none given: every alert). ``grid`` is any node of the tree, with its subtree; ``rule`` and
    ``source`` may be shell-style patterns (``anomaly:*``); ``drill`` true matches drills only, false real alerts
    only."""

    grid: _MatchText | None = None
    node_kind: Literal["grid", "community", "street", "district"] | None = None  # the kind of the alert's own node
    rule: _MatchText | None = None
    risk: Literal["safety", "contradiction", "system"] | None = None
    feed: Literal["sensor", "complaint", "opinion", "system"] | None = None
    source: _MatchText | None = None
    level_at_most: Literal["blue", "yellow", "orange", "red"] | None = None
    level_at_least: Literal["blue", "yellow", "orange", "red"] | None = None
    drill: bool | None = None

    @model_validator(mode="after")
    def _levels(self) -> AlertMatch:
        lo, hi = self.level_at_least, self.level_at_most
        if lo is not None and hi is not None and Level.parse(lo) > Level.parse(hi):
            raise ValueError(f"level_at_least {lo} is above level_at_most {hi}: nothing would match")
        return self


class WeeklyTimes(Strict):
    """Every week on ``days`` from ``start`` to ``end`` local time (an ``end`` at or before ``start`` runs past
    midnight into the next day; ``24:00`` is the end of the day)."""

    days: Annotated[list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]], Field(min_length=1, max_length=7)]
    start: _HHMM
    end: _HHMM


class DatedTimes(Strict):
    """From the start of ``start`` to the end of ``end`` (dates, both included), local time."""

    start: date
    end: date


class MaintenanceWindow(Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
    match: AlertMatch = Field(default_factory=AlertMatch)
    weekly: WeeklyTimes | None = None
    dates: DatedTimes | None = None
    timezone: Annotated[str, Field(min_length=1, max_length=64)] | None = None  # default: maintenance.timezone
    comment: Annotated[str, Field(max_length=500)] = ""


class Maintenance(Strict):
    timezone: Annotated[str, Field(min_length=1, max_length=64)] | None = None  # default: the config's timezone
    windows: Annotated[list[MaintenanceWindow], Field(max_length=1000)] = Field(default_factory=list)


class InhibitRule(Strict):
    """As Alertmanager's: while an open, not cleared alert matches ``source``, the notifications of alerts that
    match ``target`` and share the ``equal`` labels with it are held back; ``under_source`` also requires the
    target's grid to be the source's node or under it (a district's red over its grids)."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
    source: AlertMatch
    target: AlertMatch
    equal: Annotated[list[Literal["grid", "source", "series", "rule", "risk", "feed", "drill"]],
                     Field(max_length=7)] = Field(default_factory=list)
    under_source: bool = False


def _mute_errors(config: Config, ids: set[str]) -> list[str]:
    """Semantic checks of ``maintenance`` and ``inhibit_rules``: known nodes and timezones, one kind of times per
    window, dates in order, unique names."""
    from zoneinfo import ZoneInfo

    def zone_error(name: str) -> str | None:
        try:
            ZoneInfo(name)
        except (ValueError, KeyError, OSError):
            return f"unknown timezone {name!r} (an IANA name such as 'Asia/Shanghai' or 'UTC')"
        return None

    def match_errors(where: str, m: AlertMatch) -> list[str]:
        return [f"{where}.grid: unknown node {m.grid!r}"] if m.grid is not None and m.grid not in ids else []

    errors: list[str] = []
    m = config.maintenance
    if m.timezone is not None and (e := zone_error(m.timezone)) is not None:
        errors.append(f"maintenance.timezone: {e}")
    names: set[str] = set()
    for i, w in enumerate(m.windows):
        where = f"maintenance.windows[{i}]"
        if w.name in names:
            errors.append(f"{where}.name: duplicate window {w.name!r}")
        names.add(w.name)
        if (w.weekly is None) == (w.dates is None):
            errors.append(f"{where}: give exactly one of weekly (days, start, end) or dates (start, end)")
        if w.weekly is not None and w.weekly.start == w.weekly.end:
            errors.append(f"{where}.weekly: start and end are both {w.weekly.start}: an empty window")
        if w.dates is not None and w.dates.end < w.dates.start:
            errors.append(f"{where}.dates: end {w.dates.end} is before start {w.dates.start}")
        if w.timezone is not None and (e := zone_error(w.timezone)) is not None:
            errors.append(f"{where}.timezone: {e}")
        errors += match_errors(f"{where}.match", w.match)
    names = set()
    for i, r in enumerate(config.inhibit_rules):
        where = f"inhibit_rules[{i}]"
        if r.name in names:
            errors.append(f"{where}.name: duplicate inhibit rule {r.name!r}")
        names.add(r.name)
        errors += match_errors(f"{where}.source", r.source) + match_errors(f"{where}.target", r.target)
    return errors


class Incidents(Strict):
    """Grouping of alerts into incidents (docs/incidents.md): alerts of one risk under one node of kind
    ``group_by_kind`` (and both real, or of one drill) are notified together, as Alertmanager's groups."""

    enabled: bool = False  # off: every alert is notified on its own, as before
    group_by_kind: Literal["community", "street", "district"] = "street"  # the ancestor whose subtree groups
    group_wait: float = Field(30.0, ge=0, le=3600)  # seconds from opening to the first notification
    group_interval: float = Field(300.0, gt=0, le=86_400)  # at most one update per interval (members added/upgraded)
    repeat_interval: float = Field(14_400.0, gt=0, le=7 * 86_400)  # a reminder while not acknowledged
    min_alerts: int = Field(2, ge=2, le=1000)  # fewer open alerts under the node: each is notified as before
    window: float = Field(86_400.0, gt=0, le=30 * 86_400)  # a new incident gathers the open alerts raised this recently
    max_members: int = Field(1000, ge=2, le=5000)  # a full incident takes no more; the next opens a new one


CAP_CATEGORIES = ("Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra",
                  "CBRNE", "Other")
_CAP_SOURCE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class WarningSource(Strict):
    """A CAP feed (Atom/RSS) polled for warnings (docs/federation.md): its name is the warnings' origin."""

    name: Annotated[str, Field(pattern=_CAP_SOURCE_NAME)]
    url: Annotated[str, Field(min_length=1, max_length=2000)]
    every: float = Field(60.0, ge=1, le=86_400)  # seconds between polls
    key_env: Annotated[str, Field(max_length=128)] | None = None  # environment variable holding its API key
    # the poller's bounds (ingest/cap_poll.py): seconds per request, bytes per answer, linked messages fetched per
    # poll, other hosts linked CAP messages may come from (by default only the feed's own host and port)
    timeout: float = Field(10.0, ge=1, le=120)
    max_bytes: int = Field(2_000_000, ge=10_000, le=20_000_000)
    max_links: int = Field(50, ge=1, le=1000)
    hosts: Annotated[list[Annotated[str, Field(min_length=1, max_length=255)]], Field(max_length=50)] = Field(
        default_factory=list)

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, v: Any) -> Any:
        if isinstance(v, str) and (m := re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", v)):
            return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
        return v


class Warnings(Strict):
    """CAP warnings taken in (docs/warnings.md): this instance's sender, the geocode table (a ``<geocode>`` value,
    e.g. a six-digit administrative division code, -> grid or node ids), the risk of each CAP category, the feeds
    polled."""

    sender: Annotated[str, Field(min_length=1, max_length=200)] = "fenghuo@localhost"
    geocodes: Annotated[dict[Annotated[str, Field(min_length=1, max_length=64)],
                             Annotated[list[Annotated[str, Field(min_length=1, max_length=128)]],
                                       Field(min_length=1, max_length=5000)]],
                        Field(max_length=20_000)] = Field(default_factory=dict)
    risk_by_category: dict[Literal[CAP_CATEGORIES], Literal["safety", "contradiction"]] = Field(  # type: ignore[valid-type]
        default_factory=dict)
    exercise_drill: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")] = "cap-exercise"
    max_body_bytes: int = Field(1_000_000, ge=10_000, le=1_000_000)  # a POST /v1/warnings body
    sources: Annotated[list[WarningSource], Field(max_length=100)] = Field(default_factory=list)


class Config(Strict):
    nodes: list[Node] = Field(default_factory=list)
    responders: list[Responder] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)
    escalation: Escalation = Field(default_factory=Escalation)
    rules: list[Rule] = Field(default_factory=list)
    drills: Drills = Field(default_factory=Drills)
    detectors: Detectors = Field(default_factory=Detectors)
    limits: Limits = Field(default_factory=Limits)
    privacy: Privacy = Field(default_factory=Privacy)
    grid_match_km: float = Field(default=5.0, gt=0)
    timezone: str = "UTC"  # the local time of on-call rotations (and other local schedules) unless they give theirs
    oncall: list[Rotation] = Field(default_factory=list, max_length=MAX_ROTATIONS)  # duty rotations: docs/oncall.md
    maintenance: Maintenance = Field(default_factory=Maintenance)  # recurring and dated maintenance windows
    inhibit_rules: Annotated[list[InhibitRule], Field(max_length=200)] = Field(default_factory=list)
    incidents: Incidents = Field(default_factory=Incidents)  # grouping alerts into incidents: docs/incidents.md
    # the per-grid risk forecast (docs/risk-forecast.md): the fields of fenghuo.detectors.risk.RiskForecastParams,
    # checked by fenghuo.runtime.risk_job.risk_params (the kernel does not import a stage: tests/contracts/test_layers)
    risk_forecast: dict[str, Any] = Field(default_factory=dict)
    warnings: Warnings = Field(default_factory=Warnings)  # CAP warnings taken in: docs/warnings.md


class ConfigError(Exception):
    """A configuration with errors; ``errors`` lists each as ``where: what``."""

    def __init__(self, errors: list[str], source: str = "config") -> None:
        self.errors = errors
        super().__init__(f"{source}: {len(errors)} error(s)\n" + "\n".join(f"  - {e}" for e in errors))


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def _expand_env(value: Any, errors: list[str], where: str = "") -> Any:
    if isinstance(value, str):
        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in os.environ:
                errors.append(f"{where}: environment variable {name} is not set")
                return ""
            return os.environ[name]

        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand_env(v, errors, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, errors, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def parse_config(data: Any, source: str = "config") -> Config:
    """Validate a parsed YAML document; raise :class:`ConfigError` listing every error."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(["(top): the configuration must be a mapping"], source)
    errors: list[str] = []
    data = _expand_env(data, errors)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        errors += [f"{_loc(e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(errors, source) from None
    errors += semantic_errors(config)
    if errors:
        raise ConfigError(errors, source)
    return config


def semantic_errors(config: Config) -> list[str]:
    errors: list[str] = []
    ids: dict[str, Node] = {}
    for i, node in enumerate(config.nodes):
        if node.id in ids:
            errors.append(f"nodes[{i}].id: duplicate node id {node.id!r}")
        ids[node.id] = node
    rank = {k: i for i, k in enumerate(NODE_KINDS)}
    for i, node in enumerate(config.nodes):
        if node.parent is None:
            if node.kind != "district":
                errors.append(f"nodes[{i}].parent: a {node.kind} needs a parent")
            continue
        parent = ids.get(node.parent)
        if parent is None:
            errors.append(f"nodes[{i}].parent: unknown node {node.parent!r}")
        elif rank[parent.kind] <= rank[node.kind]:
            errors.append(f"nodes[{i}].parent: a {node.kind} cannot sit under a {parent.kind}")
        if node.kind == "grid" and node.centroid is None and not node.polygon:
            errors.append(f"nodes[{i}]: a grid needs a centroid or a polygon")
        if node.polygon is not None and len(node.polygon) < 3:
            errors.append(f"nodes[{i}].polygon: a polygon needs at least 3 points")
    channels = {c.name for c in config.channels}
    seen_channels: set[str] = set()
    for i, ch in enumerate(config.channels):
        if ch.name in seen_channels:
            errors.append(f"channels[{i}].name: duplicate channel {ch.name!r}")
        seen_channels.add(ch.name)  # the type and its fields: fenghuo.alerts.notifiers.channel_errors
    for i, r in enumerate(config.responders):
        if r.node not in ids:
            errors.append(f"responders[{i}].node: unknown node {r.node!r}")
        for ch in r.channels:
            if ch not in channels:
                errors.append(f"responders[{i}].channels: unknown channel {ch!r}")
    for ch in config.drills.channels:
        if ch not in channels:
            errors.append(f"drills.channels: unknown channel {ch!r}")
    rule_ids: set[str] = set()
    for i, rule in enumerate(config.rules):
        if rule.id in rule_ids:
            errors.append(f"rules[{i}].id: duplicate rule id {rule.id!r}")
        rule_ids.add(rule.id)
        errors += [f"rules[{i}].{e}" for e in rule.check()]
        if rule.grid != "*" and rule.grid not in ids:
            errors.append(f"rules[{i}].grid: unknown node {rule.grid!r}")
        for g in rule.overrides:
            if g not in ids:
                errors.append(f"rules[{i}].overrides: unknown node {g!r}")
    errors += _mute_errors(config, set(ids))
    errors += oncall_errors(config.oncall, config.timezone, ids, {r.id: r.node for r in config.responders})
    for code, targets in config.warnings.geocodes.items():
        errors += [f"warnings.geocodes.{code}: unknown node {t!r}" for t in targets if t not in ids]
    names = [src.name for src in config.warnings.sources]
    errors += [f"warnings.sources: duplicate source name {n!r}" for n in sorted(set(names)) if names.count(n) > 1]
    return errors


def load_config(path: str | Path | None) -> Config:
    """Read and validate a YAML file; no path gives the empty configuration."""
    if path is None:
        return Config()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot read {p}: {exc.strerror}"], str(p)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        raise ConfigError([f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})"], str(p)) from None
    return parse_config(data, str(p))
