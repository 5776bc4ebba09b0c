"""What the risk forecast reads: complaints as :class:`Case` and raised alerts as :class:`AlertMark`.

A case is one complaint as the store holds it (an :class:`~fenghuo.core.models.Event` of feed "complaint"):
when it was opened, its grid and category, when it was closed and its service-level deadline (``attrs["closed"]``
and ``attrs["target"]``, Boston's CLOSED_DT and TARGET_DT), the place it was reported from (repeat reports) and
whether its text is risk-flagged. Flagged text: the text-risk lexicon (:mod:`fenghuo.detectors.text.lexicon`, the
same weighted Chinese and English terms the text detector uses) scores at least ``FLAG_SCORE`` in any risk type.
The lexicon is a compiled regex per language, cheap enough for a year of complaints (a few seconds for 100,000).

>>> from fenghuo.core.models import Event
>>> e = Event(feed="complaint", source="x", ts=100.0, grid="G1", id="1", category="噪音",
...           text="楼下工地夜间施工扰民，多次投诉无果，居民准备集体上访", attrs={"closed": "1970-01-01T00:10:00Z"})
>>> c = cases_from_events([e])[0]
>>> c.grid, c.closed, c.target, c.flagged
('G1', 600.0, None, True)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fenghuo.core.grids import GridTree
from fenghuo.core.models import Event, Signal, parse_ts

FLAG_SCORE = 0.3  # a lexicon score at least this (one clear risk term) flags a complaint's text
PLACE_DECIMALS = 4  # lat/lon rounded to about 10 m when a complaint has no location text


@dataclass(frozen=True)
class Case:
    """One complaint, as the store holds it."""

    ts: float  # opened (epoch s)
    grid: str
    category: str | None
    closed: float | None  # attrs["closed"], None while open
    target: float | None  # attrs["target"], the service-level deadline
    place: str | None  # attrs["location"] or lat/lon rounded
    flagged: bool  # risk-flagged text (text-risk lexicon)


@dataclass(frozen=True)
class AlertMark:
    """One alert raised in a grid (any feed), for "recent alerts and their levels"."""

    ts: float
    grid: str
    level: int  # 1 blue .. 4 red
    risk: str  # safety | contradiction | system
    burst: bool  # raised by the complaint burst detector (its episodes are the label's first half)
    category: str | None = None  # the burst's complaint category, when known (the label of a category group)


@lru_cache(maxsize=1)
def _lexicon() -> Any:
    from fenghuo.detectors.text.lexicon import Lexicon

    return Lexicon.default()


def flagged_text(text: str | None) -> bool:
    """Risk-flagged text: the text-risk lexicon scores at least ``FLAG_SCORE``.

    >>> flagged_text("Street light out on Main St"), flagged_text("gas leak, strong smell of gas")
    (False, True)
    """
    if not text:
        return False
    if len(text) <= 120:  # category-like texts repeat (Boston's "Dept / Category"): score each once
        return _flag_short(text)
    return bool(_lexicon().match(text[:2000]).score >= FLAG_SCORE)


@lru_cache(maxsize=20_000)
def _flag_short(text: str) -> bool:
    return bool(_lexicon().match(text).score >= FLAG_SCORE)


def _time(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return parse_ts(value)
    except (ValueError, TypeError, OverflowError):
        return None


def _place(e: Event) -> str | None:
    loc = e.attrs.get("location")
    if loc:
        return str(loc)[:200]
    if e.lat is None or e.lon is None or e.attrs.get("placeholder_location"):
        return None
    return f"{round(e.lat, PLACE_DECIMALS)},{round(e.lon, PLACE_DECIMALS)}"


def cases_from_events(events: Iterable[Event], tree: GridTree | None = None) -> list[Case]:
    """Complaint events as cases, in time order. With ``tree``, an alias grid id becomes its node id."""
    out = []
    for e in events:
        if e.feed != "complaint":
            continue
        grid = (tree.known(e.grid) if tree is not None else None) or e.grid
        out.append(Case(ts=float(e.ts), grid=grid, category=e.category, closed=_time(e.attrs.get("closed")),
                        target=_time(e.attrs.get("target")), place=_place(e), flagged=flagged_text(e.text)))
    out.sort(key=lambda c: c.ts)
    return out


def marks_from_signals(signals: Sequence[Signal], grids: set[str] | None = None) -> list[AlertMark]:
    """The raised episodes in a detector's signals as marks: one per (series) each time a level is raised from
    clear (the burst detector's episodes), at that first level. ``grids`` keeps only those nodes."""
    open_: set[str] = set()
    out = []
    for s in signals:
        if s.level is None:
            open_.discard(s.series)
            continue
        if s.series in open_:
            continue
        open_.add(s.series)
        if grids is not None and s.grid not in grids:
            continue
        out.append(AlertMark(ts=s.ts, grid=s.grid, level=int(s.level), risk=str(s.risk),
                             burst=s.detector == "burst", category=s.evidence.get("category")))
    return out
