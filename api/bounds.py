"""Bounds on what a request may carry: JSON shape, strings, times. Each failure is a 422 that says why.

>>> check_json({"title": "ok", "levels": {"red": 5}})
>>> try:
...     check_json({"title": "bad \\ud800"})
... except HTTPException as exc:
...     print(exc.status_code, exc.detail)
422 body.title: not valid Unicode (a lone surrogate)
>>> when("2020-01-22T10:00:00Z", "start")
1579687200.0
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import HTTPException
from pydantic import AfterValidator

from fenghuo.core.models import parse_ts

MAX_DEPTH = 32
MAX_STRING = 10_000
MAX_NODES = 100_000
# times accepted in queries: 1970-01-01 .. 2100-01-01 (epoch seconds)
EARLIEST, LATEST = 0.0, 4102444800.0
MAX_INT_OFFSET = 10**9  # any offset beyond this is beyond every table (and SQLite's integers)


def valid_unicode(text: str) -> bool:
    """False for a string holding a lone UTF-16 surrogate (JSON allows "\\ud800"; no store can keep it).

    >>> valid_unicode("烽火"), valid_unicode("\\ud800")
    (True, False)
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unicode(text: str) -> str:
    if not valid_unicode(text):
        raise ValueError("not valid Unicode (a lone surrogate)")
    return text


Clean = AfterValidator(_unicode)
CleanStr = Annotated[str, Clean]


def check_json(value: Any, where: str = "body", max_depth: int = MAX_DEPTH, max_string: int = MAX_STRING,
               max_nodes: int = MAX_NODES) -> None:
    """Raise 422 naming the first place where ``value`` nests too deep, holds too long or broken strings,
    or has too many parts."""
    count = 0
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        v, at, depth = stack.pop()
        count += 1
        if count > max_nodes:
            raise HTTPException(422, f"{where}: more than {max_nodes} values")
        if depth > max_depth:
            raise HTTPException(422, f"{at}: nested deeper than {max_depth} levels")
        if isinstance(v, str):
            if len(v) > max_string:
                raise HTTPException(422, f"{at}: a string longer than {max_string} characters")
            if not valid_unicode(v):
                raise HTTPException(422, f"{at}: not valid Unicode (a lone surrogate)")
        elif isinstance(v, float) and not math.isfinite(v):
            raise HTTPException(422, f"{at}: not a finite number")
        elif isinstance(v, dict):
            for k, x in v.items():
                key = str(k)
                if len(key) > 200 or not valid_unicode(key):
                    raise HTTPException(422, f"{at}: a key that is too long or not valid Unicode")
                stack.append((x, f"{at}.{key}", depth + 1))
        elif isinstance(v, list):
            stack.extend((x, f"{at}[{i}]", depth + 1) for i, x in enumerate(v))


def when(value: str | float, name: str) -> float:
    """An ISO 8601 time or epoch seconds between 1970 and 2100, else 422."""
    if isinstance(value, str) and value.strip().replace(".", "", 1).lstrip("-").isdigit():
        value = float(value)
    try:
        t = parse_ts(value)
    except (ValueError, OverflowError):
        raise HTTPException(422, f"{name} must be an ISO 8601 time or epoch seconds, got {str(value)[:64]!r}") \
            from None
    if not math.isfinite(t) or not EARLIEST <= t <= LATEST:
        raise HTTPException(422, f"{name} must lie between 1970-01-01 and 2100-01-01")
    return t
