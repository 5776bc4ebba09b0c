"""The ``oncall`` section of the configuration: duty rotations of a node's responders (see docs/oncall.md).

A rotation hands the duty from one responder to the next every week (or day) at a local hand-over time, in
the rotation's timezone (the configuration's ``timezone`` unless given); overrides put another responder (or
nobody) on duty for a span of local dates or times, for leave and holidays. Responders of a node that are in
no rotation stay reachable at all times, as without this section. The arithmetic is in
:mod:`fenghuo.alerts.oncall`; :func:`oncall_errors` is what ``fenghuo check-config`` adds to the schema.

>>> o = Override.model_validate({"from": "2026-10-01", "to": "2026-10-07 18:00", "responder": "li"})
>>> o.from_, o.to
(datetime.date(2026, 10, 1), datetime.datetime(2026, 10, 7, 18, 0))
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

MAX_ROTATIONS = 500
MAX_MEMBERS = 100
MAX_OVERRIDES = 500
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _local_time(value: Any) -> date | datetime:
    """A local date (a whole day) or a local date and time, without an offset."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a date (2026-10-01) or a local time (2026-10-01 08:00)") from None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise ValueError("give a local time without an offset: the rotation's timezone applies")
        return value
    if isinstance(value, date):
        return value
    raise ValueError("a date (2026-10-01) or a local time (2026-10-01 08:00) is needed")


LocalTime = Annotated[date | datetime, BeforeValidator(_local_time)]


def parse_hhmm(value: str) -> time:
    """``"09:00"`` -> 09:00.

    >>> parse_hhmm("07:30"), parse_hhmm("24:00")
    Traceback (most recent call last):
    ...
    ValueError: '24:00' is not a time of day HH:MM (00:00 .. 23:59)
    """
    try:
        hh, mm = value.split(":")
        if len(hh) != 2 or len(mm) != 2:
            raise ValueError
        return time(int(hh), int(mm))
    except ValueError:
        raise ValueError(f"{value!r} is not a time of day HH:MM (00:00 .. 23:59)") from None


class Override(BaseModel):
    """From ``from`` to ``to`` (local; a date alone means the whole day, ``to`` included), ``responder`` is on duty
    instead of the rotation's; none: nobody is on duty (the tier is skipped)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: LocalTime = Field(alias="from")
    to: LocalTime
    responder: str | None = None
    note: str = Field(default="", max_length=200)

    def span(self) -> tuple[datetime, datetime]:
        """[start, end) as local wall times."""
        start = self.from_ if isinstance(self.from_, datetime) else datetime.combine(self.from_, time())
        end = self.to if isinstance(self.to, datetime) else datetime.combine(self.to + timedelta(days=1), time())
        return start, end


class Rotation(BaseModel):
    """One duty rotation at a node: ``responders`` take turns, ``responders[0]`` from the first hand-over on or
    after ``start`` (the pattern extends before it too, so drills replaying old times find someone)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    node: str
    name: str = Field(default="", max_length=100)  # default: "duty"
    timezone: str | None = None  # default: the configuration's timezone
    responders: list[str] = Field(min_length=1, max_length=MAX_MEMBERS)
    rotation: Literal["weekly", "daily"] = "weekly"
    handover: str = "09:00"  # local time of day, "HH:MM"
    handover_day: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = "monday"
    start: date
    overrides: list[Override] = Field(default_factory=list, max_length=MAX_OVERRIDES)

    @field_validator("handover", mode="before")
    @classmethod
    def _handover(cls, value: Any) -> Any:
        if isinstance(value, int):  # YAML 1.1 reads an unquoted 9:00 as 540
            raise ValueError('write the time of day in quotes, as "09:00" (YAML reads 9:00 as a number)')
        if isinstance(value, str):
            parse_hhmm(value)
        return value

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, value: Any) -> Any:
        if isinstance(value, datetime):
            raise ValueError("a date (2026-01-05): the shift begins at the hand-over time")
        return value

    @property
    def label(self) -> str:
        return self.name or "duty"

    def handover_time(self) -> time:
        return parse_hhmm(self.handover)


def zone(name: str) -> ZoneInfo | None:
    """The IANA timezone, or None when there is no such zone.

    >>> zone("Asia/Shanghai").key, zone("Mars/Olympus")
    ('Asia/Shanghai', None)
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def oncall_errors(rotations: list[Rotation], timezone: str, nodes: Collection[str],
                  node_of: Mapping[str, str]) -> list[str]:
    """What the schema cannot see: unknown nodes, responders and timezones, responders of another node,
    repeated members, overrides that end before they start or overlap. ``node_of``: responder id -> its node."""
    errors: list[str] = []
    if zone(timezone) is None:
        errors.append(f"timezone: unknown timezone {timezone!r} (an IANA name such as Asia/Shanghai)")
    names: set[tuple[str, str]] = set()
    for i, r in enumerate(rotations):
        where = f"oncall[{i}]"
        if r.node not in nodes:
            errors.append(f"{where}.node: unknown node {r.node!r}")
        if (r.node, r.label) in names:
            errors.append(f"{where}.name: a second rotation {r.label!r} at {r.node!r}: give each a name")
        names.add((r.node, r.label))
        if r.timezone is not None and zone(r.timezone) is None:
            errors.append(f"{where}.timezone: unknown timezone {r.timezone!r} (an IANA name such as Asia/Shanghai)")
        seen: set[str] = set()
        for j, rid in enumerate(r.responders):
            errors += _responder_error(f"{where}.responders[{j}]", rid, r.node, node_of)
            if rid in seen:
                errors.append(f"{where}.responders[{j}]: {rid!r} is twice in the rotation")
            seen.add(rid)
        spans: list[tuple[datetime, datetime, int]] = []
        for k, o in enumerate(r.overrides):
            at = f"{where}.overrides[{k}]"
            if o.responder is not None:
                errors += _responder_error(f"{at}.responder", o.responder, r.node, node_of)
            start, end = o.span()
            if end <= start:
                errors.append(f"{at}: 'to' ({o.to}) must be after 'from' ({o.from_})")
                continue
            spans.append((start, end, k))
        spans.sort()
        for (_, end0, k0), (start1, _, k1) in zip(spans, spans[1:], strict=False):
            if start1 < end0:
                errors.append(f"{where}.overrides[{k1}]: overlaps overrides[{k0}] (one override at a time)")
    return errors


def _responder_error(where: str, rid: str, node: str, node_of: Mapping[str, str]) -> list[str]:
    if rid not in node_of:
        return [f"{where}: unknown responder {rid!r}"]
    if node_of[rid] != node:
        return [f"{where}: responder {rid!r} is at node {node_of[rid]!r}, not at the rotation's node {node!r}"]
    return []
