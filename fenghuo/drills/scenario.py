"""The scenario file: what a drill replays, the faults it injects and the alerts it expects (docs/drills.md).

A scenario is YAML (or the same as JSON through the API) with a ``scenario:`` key. :func:`parse_scenario`
checks its fields and bounds; :func:`scenario_errors` checks it against a configuration (grids, nodes,
channels, tiers). Times are ``+36h`` (from the scenario's start), an ISO 8601 time, or seconds from the
start; durations ``90s``, ``30m``, ``2h``, ``1d`` or seconds.

>>> s = parse_scenario({"scenario": "flood", "sources": [{"file": "x.csv"}],
...                     "expect": [{"grid": "g", "level": "red", "by": "+36h"}]})
>>> s.expect[0].by.resolve(1000.0)
130600.0
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BeforeValidator, Field, ValidationError, model_validator

from fenghuo.core.config import Config, Strict
from fenghuo.core.levels import LEVEL_NAMES
from fenghuo.core.models import parse_ts

SCENARIO_ID = r"^[a-z0-9][a-z0-9-]{0,47}$"
MAX_RECORDS = 2_000_000  # records one run may plan (sources and injected ones together)
MAX_SPAN = 366 * 86_400.0
NODE_KINDS = ("grid", "community", "street", "district")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}


class ScenarioError(ValueError):
    """A scenario that cannot be run: ``errors`` lists every problem found, each naming its field."""

    def __init__(self, errors: list[str], source: str = "scenario") -> None:
        self.errors = errors
        super().__init__(f"{source}: " + "; ".join(errors))


def span(value: Any) -> float:
    """Seconds from ``90s``, ``30m``, ``1.5h``, ``2d`` or a number; ValueError otherwise.

    >>> span("1.5h"), span(90), span("2d")
    (5400.0, 90.0, 172800.0)
    """
    if isinstance(value, bool):
        raise ValueError("takes a duration such as 90s, 30m, 2h or 1d")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := re.fullmatch(r"\s*(\d{1,9}(?:\.\d{1,6})?)\s*([smhd]?)\s*", value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    else:
        raise ValueError(f"takes a duration such as 90s, 30m, 2h or 1d, not {str(value)[:40]!r}")
    if not 0.0 <= seconds <= MAX_SPAN:
        raise ValueError("a duration must be between 0 and 366 days")
    return seconds


class Moment(Strict):
    """A scenario time: ``offset`` seconds from the start, or an absolute ``ts``."""

    offset: float | None = None
    ts: float | None = None

    def resolve(self, start: float) -> float:
        return self.ts if self.ts is not None else start + (self.offset or 0.0)


def _moment(value: Any) -> Any:
    if isinstance(value, Moment | dict):
        return value
    if isinstance(value, str) and value.strip().startswith("+"):
        return {"offset": span(value.strip()[1:])}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"offset": span(value)}
    if isinstance(value, str) and len(value) <= 40:
        try:
            return {"ts": parse_ts(value)}
        except ValueError:
            pass
    raise ValueError(f"takes +36h (from the start), an ISO 8601 time or seconds, not {str(value)[:40]!r}")


def _timestamp(value: Any) -> Any:
    if value is None or isinstance(value, float):
        return value
    if isinstance(value, str) and len(value) <= 40:
        try:
            return parse_ts(value)
        except ValueError:
            pass
    raise ValueError(f"takes an ISO 8601 time, not {str(value)[:40]!r}")


Duration = Annotated[float, BeforeValidator(span)]
When = Annotated[Moment, BeforeValidator(_moment)]
Time = Annotated[float | None, BeforeValidator(_timestamp)]
Name = Annotated[str, Field(min_length=1, max_length=256)]
Text = Annotated[str, Field(max_length=2000)]


class StoreSource(Strict):
    """Stored real history: one feed, optionally one grid or source, in a time range."""

    feed: Literal["sensor", "complaint", "opinion"]
    grid: Name | None = None
    source: Name | None = None
    from_: Time = Field(alias="from")
    to: Time


class Synthetic(Strict):
    """A generated sensor baseline (a steady reading with seeded noise), for a drill with no recorded series:
    a gas detector's quiet days before the leak the scenario injects."""

    source: Name
    grid: Name
    metric: Name
    every: Duration = 60.0
    from_: Time = Field(alias="from")
    to: Time
    base: Annotated[float, Field(allow_inf_nan=False)] = 0.0
    noise: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    seed: int = Field(0, ge=0, le=2**31)

    @model_validator(mode="after")
    def _range(self) -> Synthetic:
        if self.from_ is None or self.to is None or self.to <= self.from_:
            raise ValueError("from and to are required, from before to")
        if self.every <= 0 or (self.to - self.from_) / self.every > MAX_RECORDS:
            raise ValueError(f"every must be above 0 and give at most {MAX_RECORDS} readings")
        return self


class Source(Strict):
    """Records from a data file (any format ``fenghuo replay`` reads), from the store, or generated; filtered."""

    file: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    format: Annotated[str, Field(max_length=32)] | None = None
    store: StoreSource | None = None
    synthetic: Synthetic | None = None
    feed: Literal["sensor", "complaint", "opinion"] | None = None
    grids: Annotated[list[Name], Field(max_length=1000)] | None = None
    sources: Annotated[list[Name], Field(max_length=10_000)] | None = None
    from_: Time = Field(None, alias="from")
    to: Time = None

    @model_validator(mode="after")
    def _one(self) -> Source:
        if sum(x is not None for x in (self.file, self.store, self.synthetic)) != 1:
            raise ValueError("a source is one of file:, store: or synthetic:")
        return self


class Responders(Strict):
    """Simulated responders: each tier acknowledges ``ack_after`` after an alert reaches it, and resolves
    ``resolve_after`` after acknowledging (None: leaves it open). ``human``: people take part, nobody is simulated."""

    human: bool = False
    ack_after: Duration = 600.0
    resolve_after: Duration | None = 7200.0


class _Window(Strict):
    at: When = Moment(offset=0.0)
    for_: Duration | None = Field(None, alias="for")  # None: to the end of the run

    def bounds(self, start: float) -> tuple[float, float]:
        lo = self.at.resolve(start)
        return lo, (lo + self.for_ if self.for_ is not None else float("inf"))


class Drop(_Window):
    kind: Literal["drop"]
    source: Name | None = None
    grid: Name | None = None
    metric: Name | None = None


class Stuck(_Window):
    kind: Literal["stuck"]
    source: Name
    metric: Name | None = None


class Spike(_Window):
    kind: Literal["spike"]
    source: Name
    metric: Name | None = None
    value: Annotated[float, Field(allow_inf_nan=False)] | None = None
    factor: Annotated[float, Field(allow_inf_nan=False, gt=0, le=1e6)] | None = None

    @model_validator(mode="after")
    def _how(self) -> Spike:
        if (self.value is None) == (self.factor is None):
            raise ValueError("a spike has either value: or factor:")
        return self


class Delay(_Window):
    kind: Literal["delay"]
    by: Duration
    source: Name | None = None


class Reorder(_Window):
    kind: Literal["reorder"]
    window: Duration = 600.0
    source: Name | None = None
    seed: int = Field(0, ge=0, le=2**31)


class Duplicate(_Window):
    kind: Literal["duplicate"]
    source: Name | None = None


class Complaints(Strict):
    kind: Literal["complaints"]
    grid: Name
    category: Name
    count: int = Field(ge=1, le=100_000)
    at: When
    over: Duration = 3600.0
    text: Text = "演练投诉 drill complaint"
    source: Name = "drill-hotline"


class NoAck(Strict):
    kind: Literal["no_ack"]
    tier: Annotated[str, Field(min_length=1, max_length=256)] | Annotated[int, Field(ge=0, le=16)]


class ChannelFails(_Window):
    kind: Literal["channel_fails"]
    channel: Name


class Kill(Strict):
    kind: Literal["kill"]
    target: Literal["detector-worker", "alert-service", "store-writer"]
    at: When


class PauseBroker(Strict):
    kind: Literal["pause_broker"]
    at: When
    for_: Duration = Field(60.0, alias="for")


Injection = Annotated[Drop | Stuck | Spike | Delay | Reorder | Duplicate | Complaints | NoAck | ChannelFails | Kill
                      | PauseBroker, Field(discriminator="kind")]
RUNTIME_CHAOS = ("kill", "pause_broker")  # faults on the distributed runtime itself (Kafka mode only)


class Expect(Strict):
    """One alert the scenario should raise: matched by risk, rule, feed and grid (or any grid under node)."""

    label: Annotated[str, Field(max_length=200)] | None = None
    risk: Literal["safety", "contradiction", "system"] | None = None
    rule: Name | None = None
    feed: Literal["sensor", "complaint", "opinion"] | None = None
    grid: Name | None = None
    node: Name | None = None
    level: Literal["blue", "yellow", "orange", "red"]
    by: When

    def resolved(self, start: float) -> dict[str, Any]:
        """The form :func:`fenghuo.drills.scorecard.score` takes."""
        out = self.model_dump(exclude={"by"}, exclude_none=True)
        out["by"] = self.by.resolve(start)
        out.setdefault("label", self.describe())
        return out

    def describe(self) -> str:
        where = self.grid or (f"under {self.node}" if self.node else "anywhere")
        what = " ".join(x for x in (self.rule, self.risk, self.feed) if x) or "an alert"
        return f"{what} at {where}, {self.level}"


class Scenario(Strict):
    scenario: Annotated[str, Field(pattern=SCENARIO_ID)]
    title_zh: Annotated[str, Field(max_length=200)] = ""
    title_en: Annotated[str, Field(max_length=200)] = ""
    description: Annotated[str, Field(max_length=4000)] = ""
    speed: Annotated[float, Field(ge=1.0, le=1e7)] | Literal["max"] = 3600.0
    start: Time = None
    duration: Duration | None = None
    settle: Duration = 7200.0
    sources: Annotated[list[Source], Field(max_length=20)] = Field(default_factory=list)
    responders: Responders | None = None
    injections: Annotated[list[Injection], Field(max_length=200)] = Field(default_factory=list)
    expect: Annotated[list[Expect], Field(max_length=200)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> Scenario:
        if not self.sources and not any(isinstance(i, Complaints) for i in self.injections):
            raise ValueError("a scenario needs sources: (or complaints injections) to replay")
        return self

    def pace(self) -> float | None:
        """Scenario seconds per wall second; None: as fast as possible."""
        return None if self.speed == "max" else float(self.speed)

    def summary(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "title_zh": self.title_zh or self.title_en or self.scenario,
                "title_en": self.title_en or self.title_zh or self.scenario, "description": self.description,
                "speed": self.speed, "expect": len(self.expect), "injections": len(self.injections),
                "chaos": any(i.kind in RUNTIME_CHAOS for i in self.injections)}


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in ("Drop", "Stuck", "Spike", "Delay", "Reorder", "Duplicate", "Complaints", "NoAck",
                          "ChannelFails", "Kill", "PauseBroker", "function-after[_one(), Source]",
                          "function-after[_how(), Spike]") \
                and not str(part).startswith(("function-", "tagged-", "constrained-", "literal[")):  # union members
            out += f".{part}" if out else str(part)
    return out or "scenario"


def _message(e: Any) -> str:
    if e.get("type") == "string_pattern_mismatch" and e["loc"] == ("scenario",):
        return "takes 1-48 lowercase letters, digits and dashes, starting with a letter or digit"
    return str(e["msg"]).removeprefix("Value error, ")


def parse_scenario(data: Any, source: str = "scenario") -> Scenario:
    """A checked :class:`Scenario`, or :class:`ScenarioError` listing every field's problem."""
    if not isinstance(data, dict):
        raise ScenarioError(["a scenario is a mapping with a scenario: key"], source)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        errors = [f"{_loc(e['loc'])}: {_message(e)}" for e in exc.errors()[:50]]
        raise ScenarioError(errors, source) from None


def is_scenario(data: Any) -> bool:
    """A YAML document that is a scenario rather than a configuration (its ``scenario:`` key)."""
    return isinstance(data, dict) and "scenario" in data


def load_scenario(path: str | Path) -> tuple[Scenario, dict[str, Any]]:
    """The checked scenario of a YAML file and its document as read (what a run records)."""
    p = Path(path)
    try:
        if p.stat().st_size > 1_000_000:
            raise ScenarioError(["a scenario file is at most 1 MB"], str(p))
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"cannot read it: {exc}"], str(p)) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([f"not YAML: {exc}"], str(p)) from None
    data = _plain(data)
    return parse_scenario(data, str(p)), data


def _plain(data: Any) -> Any:
    """YAML's dates and datetimes as ISO text (a scenario's document is stored and sent as JSON)."""
    import datetime as dt

    if isinstance(data, dict):
        return {str(k): _plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_plain(v) for v in data]
    if isinstance(data, dt.datetime):
        return (data if data.tzinfo else data.replace(tzinfo=dt.UTC)).isoformat()
    if isinstance(data, dt.date):
        return data.isoformat() + "T00:00:00Z"
    return data


def scenario_errors(s: Scenario, config: Config) -> list[str]:
    """What in a well-formed scenario the configuration does not know (grids, nodes, channels, tiers)."""
    nodes = {n.id: n for n in config.nodes}
    grids = {n.id for n in config.nodes if n.kind == "grid"}
    channels = {c.name for c in config.channels}
    errors: list[str] = []

    def grid(value: str | None, where: str) -> None:
        if value is not None and value not in grids:
            errors.append(f"{where}: unknown grid {value!r}")

    for i, src in enumerate(s.sources):
        for g in src.grids or []:
            grid(g, f"sources[{i}].grids")
        if src.synthetic is not None:
            grid(src.synthetic.grid, f"sources[{i}].synthetic.grid")
        if src.store is not None:
            grid(src.store.grid, f"sources[{i}].store.grid")
            if src.store.from_ is None or src.store.to is None or src.store.to <= src.store.from_:
                errors.append(f"sources[{i}].store: from and to are required, from before to")
    for i, inj in enumerate(s.injections):
        where = f"injections[{i}] ({inj.kind})"
        if isinstance(inj, Complaints | Drop):
            grid(inj.grid, f"{where}.grid")
        if isinstance(inj, ChannelFails) and inj.channel not in channels:
            errors.append(f"{where}.channel: unknown channel {inj.channel!r}")
        if isinstance(inj, NoAck) and isinstance(inj.tier, str) and inj.tier not in NODE_KINDS \
                and inj.tier not in nodes:
            errors.append(f"{where}.tier: {inj.tier!r} is neither a node kind ({', '.join(NODE_KINDS)}) nor a node")
    for i, e in enumerate(s.expect):
        grid(e.grid, f"expect[{i}].grid")
        if e.node is not None and e.node not in nodes:
            errors.append(f"expect[{i}].node: unknown node {e.node!r}")
        if e.level not in LEVEL_NAMES:
            errors.append(f"expect[{i}].level: unknown level {e.level!r}")
    return errors
