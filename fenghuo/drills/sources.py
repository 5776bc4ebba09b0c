"""The records a scenario replays: from data files, from the store's real history, or generated.

A scenario read from a file on this machine (``fenghuo drill run FILE``) may name any data file, relative to
its own folder. A scenario sent through the API may name only the data files the service ships with (the
demo's real slices) and those in ``drills.data_dir``: a client never picks a path on the server.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fenghuo.core.models import Event, iso, parse_ts
from fenghuo.drills.scenario import MAX_RECORDS, Scenario, ScenarioError, Source, Synthetic

BUNDLED_DATA = Path(__file__).resolve().parent.parent / "demo"  # the demo's real data slices
BUNDLED_SCENARIOS = Path(__file__).resolve().parent / "scenarios"
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

History = Callable[..., list[Event]]  # store.series(feed=, grid=, source=, metric=, category=, start=, end=, limit=)


def data_file(name: str, base_dir: Path | None, data_dirs: list[Path]) -> Path:
    """The file a source names: relative to the scenario's folder when it was read from a file, else only a
    plain file name among the bundled data and ``data_dirs``."""
    if base_dir is not None:
        path = (base_dir / name) if not Path(name).is_absolute() else Path(name)
        if path.is_file():
            return path
    if _PLAIN_NAME.match(name):
        for folder in [*data_dirs, BUNDLED_DATA]:
            path = folder / name
            if path.is_file():
                return path
    where = "next to the scenario, " if base_dir is not None else ""
    raise ScenarioError([f"sources: no data file {name[:200]!r} {where}among the bundled data "
                         f"({', '.join(sorted(p.name for p in BUNDLED_DATA.glob('*.csv.gz')))})"
                         + (" or in drills.data_dir" if data_dirs else "")])


def _event_record(e: Event) -> dict[str, Any]:
    out: dict[str, Any] = {"feed": e.feed, "source": e.source, "ts": iso(e.ts), "grid": e.grid, "id": e.id}
    for key in ("lat", "lon", "metric", "value", "category", "text"):
        value = getattr(e, key)
        if value is not None:
            out[key] = value
    if e.attrs:
        out["attrs"] = e.attrs
    return out


def synthetic(s: Synthetic) -> Iterator[dict[str, Any]]:
    """Readings every ``s.every`` seconds from ``from`` to ``to``: ``base`` plus seeded uniform noise."""
    rng = random.Random(s.seed)
    assert s.from_ is not None and s.to is not None
    n = int((s.to - s.from_) // s.every) + 1
    for i in range(n):
        value = s.base + (rng.uniform(-s.noise, s.noise) if s.noise else 0.0)
        yield {"feed": "sensor", "source": s.source, "grid": s.grid, "metric": s.metric,
               "value": round(value, 6), "ts": iso(s.from_ + i * s.every)}


def _ts(record: Any) -> float | None:
    try:
        return parse_ts(record.get("ts"))
    except (ValueError, TypeError, OverflowError, AttributeError):
        return None


def _kept(record: Any, src: Source) -> bool:
    if not isinstance(record, dict):
        return True  # the service rejects it, and the drill shows it
    if src.feed is not None and record.get("feed") != src.feed:
        return False
    if src.grids is not None and record.get("grid") not in src.grids:
        return False
    if src.sources is not None and record.get("source") not in src.sources:
        return False
    if src.from_ is not None or src.to is not None:
        ts = _ts(record)
        if ts is not None and ((src.from_ is not None and ts < src.from_) or (src.to is not None and ts >= src.to)):
            return False
    return True


def _source_records(src: Source, base_dir: Path | None, data_dirs: list[Path], history: History | None
                    ) -> Iterator[Any]:
    if src.synthetic is not None:
        yield from synthetic(src.synthetic)
    elif src.store is not None:
        if history is None:
            raise ScenarioError(["sources: store: needs the service's store (run it through a service or a data "
                                 "directory)"])
        st = src.store
        assert st.from_ is not None and st.to is not None
        for e in history(feed=st.feed, grid=st.grid, source=st.source, metric=None, category=None,
                         start=st.from_, end=st.to, limit=MAX_RECORDS + 1):
            if e.drill is None:  # real history only, never another drill's events
                yield _event_record(e)
    else:
        from fenghuo.ingest.adapters import read_records

        assert src.file is not None
        path = data_file(src.file, base_dir, data_dirs)
        if src.format == "cap":  # CAP 1.2 warnings (docs/warnings.md): replayed at their <sent> times
            yield from cap_records(path)
            return
        try:
            yield from read_records(path, feed=src.feed, fmt=src.format)
        except (OSError, ValueError) as exc:
            raise ScenarioError([f"sources: cannot read {src.file}: {exc}"]) from None


def cap_records(path: Path) -> Iterator[dict[str, Any]]:
    """A CAP file's warnings (one ``<alert>`` or a batch) as drill records ``{"feed": "warning", "ts": <sent>,
    "source": <sender>, "cap": <the alert's XML>}``: the run hands them to the service's warning intake (as a
    drill) at their time. A file that is not valid CAP is refused with the reason."""
    from fenghuo.ingest.cap_in import CapError, parse_cap_each

    try:
        items = parse_cap_each(path.read_bytes())
    except (OSError, CapError) as exc:
        raise ScenarioError([f"sources: cannot read the CAP file {path.name}: {exc}"]) from None
    for a in items:
        if isinstance(a, CapError):
            raise ScenarioError([f"sources: {path.name}: {a}"])
        yield {"feed": "warning", "ts": iso(a.sent), "source": a.sender, "cap": a.raw.decode("utf-8")}


def load_records(scenario: Scenario, base_dir: Path | None = None, data_dirs: list[Path] | None = None,
                 history: History | None = None) -> list[Any]:
    """Every source's records, filtered; at most :data:`MAX_RECORDS` (ScenarioError beyond)."""
    out: list[Any] = []
    for src in scenario.sources:
        for record in _source_records(src, base_dir, data_dirs or [], history):
            if _kept(record, src):
                out.append(record)
                if len(out) > MAX_RECORDS:
                    raise ScenarioError([f"sources: more than {MAX_RECORDS} records: narrow them with from/to, "
                                         "grids or sources"])
    return out


def first_time(records: list[Any]) -> float | None:
    times = [t for t in (_ts(r) for r in records) if t is not None]
    return min(times) if times else None
