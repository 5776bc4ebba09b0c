"""JSON event files: one JSON array of objects, or NDJSON (one object a line); gzip allowed.

Both are streamed: an array is decoded element by element from chunks, so a large file never
sits in memory whole. Records are passed on as they are (the service validates them); ``feed``
fills in records that lack one.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "a.json")
>>> _ = open(path, "w").write('[{"feed": "sensor", "value": 1},\\n {"value": 2}]')
>>> [(r["feed"], r["value"]) for r in read_json(path, feed="opinion")]
[('sensor', 1), ('opinion', 2)]
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from fenghuo.ingest.adapters import ReadStats, open_text

CHUNK = 1 << 16
_WS = " \t\r\n"


def _array_items(fh: TextIO, path: str | Path) -> Iterator[Any]:
    decoder = json.JSONDecoder()
    buf = fh.read(CHUNK).lstrip(_WS)
    if not buf.startswith("["):
        raise ValueError(f"{path}: a JSON event file is an array or one object a line")
    buf, pos, eof, expect_item = buf[1:], 0, False, True
    while True:
        while pos < len(buf) and buf[pos] in _WS:
            pos += 1
        if pos >= len(buf):
            if eof:
                raise ValueError(f"{path}: the JSON array is not closed")
            more = fh.read(CHUNK)
            eof = not more
            buf, pos = buf[pos:] + more, 0
            continue
        ch = buf[pos]
        if ch == "]":
            return
        if ch == ",":
            if expect_item:
                raise ValueError(f"{path}: unexpected ',' in the JSON array")
            expect_item = True
            pos += 1
            continue
        try:
            item, end = decoder.raw_decode(buf, pos)
        except json.JSONDecodeError as exc:
            if eof:
                raise ValueError(f"{path}: not valid JSON ({exc.msg})") from None
            more = fh.read(CHUNK)
            eof = not more
            buf, pos = buf[pos:] + more, 0
            continue
        if end >= len(buf) and not eof:  # a scalar may continue in the next chunk
            more = fh.read(CHUNK)
            eof = not more
            if more:
                buf, pos = buf[pos:] + more, 0
                continue
        expect_item = False
        pos = end
        yield item


def _lines(fh: TextIO, path: str | Path) -> Iterator[Any]:
    for lineno, line in enumerate(fh, 1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None


def read_json(path: str | Path, feed: str | None = None,
              stats: ReadStats | None = None) -> Iterator[dict[str, Any]]:
    """Stream the records of a JSON array or NDJSON file."""
    stats = stats if stats is not None else ReadStats()
    with open_text(path) as fh:
        first = ""
        while not first:
            ch = fh.read(1)
            if not ch:
                return
            if ch not in _WS:
                first = ch
        fh.seek(0)
        items = _array_items(fh, path) if first == "[" else _lines(fh, path)
        for item in items:
            stats.rows += 1
            if feed is not None and isinstance(item, dict) and not item.get("feed"):
                item["feed"] = feed
            stats.yielded += 1
            yield item
