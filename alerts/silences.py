"""Silences made through the API: checked, kept in the store (with the audit row, in one transaction), and
applied as a :class:`~fenghuo.alerts.mute.Muter`.

:class:`SilenceBook` holds the silences in memory, changed only after the store has the change. Every change
gets the store's next revision, so :meth:`SilenceBook.refresh` reads only what changed since it last looked:
the distributed alert service calls it before each batch and command (a silence the API has answered for
applies to every signal batch taken after that), the embedded pipeline changes its own book.

Bounds: a comment of at most :data:`MAX_COMMENT` characters, matcher texts of at most 128, at most
:data:`MAX_OPEN` silences pending or active at once, an end after the start and at most :data:`MAX_DURATION_S`
after it, a start at most :data:`MAX_START_AHEAD_S` ahead.

>>> from fenghuo.core.grids import GridTree
>>> spec = SilenceSpec.model_validate({"match": {"grid": "G1"}, "duration_s": 3600, "comment": "pump works"})
>>> s = make_silence(spec, "s1", "alice", now=1000.0)
>>> (s.start, s.end, s.state(999.0), s.state(1000.0), s.state(4600.0))
(1000.0, 4600.0, 'pending', 'active', 'expired')
>>> make_silence(SilenceSpec.model_validate({"duration_s": 60, "starts_at": 50}), "s2", "a", now=1000.0)
Traceback (most recent call last):
...
fenghuo.alerts.silences.SilenceInvalid: the end (1970-01-01T00:01:50Z) is already past
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fenghuo.alerts.mute import SILENCE_STATES, Muted, Silence
from fenghuo.core.config import AlertMatch
from fenghuo.core.grids import GridTree
from fenghuo.core.models import Alert, iso, parse_ts
from fenghuo.core.store import Store

log = logging.getLogger("fenghuo.alerts.silences")
MAX_COMMENT = 1000
MAX_OPEN = 1000  # silences pending or active at once
MAX_DURATION_S = 90 * 86_400.0
MAX_START_AHEAD_S = 366 * 86_400.0
LOAD_LIMIT = 10_000  # silences read at start (the most recently changed)
LIST_LIMIT = 500


class SilenceInvalid(ValueError):
    """A silence the service does not take (422); ``errors`` lists why."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


class SilenceNotFound(LookupError):
    pass


class SilenceConflict(ValueError):
    """The silence has expired already (409)."""


class SilenceSpec(BaseModel):
    """The body of ``POST /v1/silences``: the matcher, when (``starts_at`` default now; ``ends_at`` or
    ``duration_s``) and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    match: AlertMatch = Field(default_factory=AlertMatch)
    starts_at: Annotated[Annotated[float, Field(strict=True)] | Annotated[str, Field(max_length=64)],
                         Field(union_mode="left_to_right")] | None = None
    ends_at: Annotated[Annotated[float, Field(strict=True)] | Annotated[str, Field(max_length=64)],
                       Field(union_mode="left_to_right")] | None = None
    duration_s: Annotated[float, Field(strict=True, gt=0, le=MAX_DURATION_S, allow_inf_nan=False)] | None = None
    comment: Annotated[str, Field(max_length=MAX_COMMENT)] = ""

    @model_validator(mode="after")
    def _one_end(self) -> SilenceSpec:
        if (self.ends_at is None) == (self.duration_s is None):
            raise ValueError("give exactly one of ends_at or duration_s")
        return self


def parse_spec(body: Any) -> SilenceSpec:
    """The body as a :class:`SilenceSpec`, or :class:`SilenceInvalid` listing every error."""
    try:
        return SilenceSpec.model_validate(body)
    except ValidationError as exc:
        errors = [f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}"[:300] for e in exc.errors()]
        raise SilenceInvalid(errors) from None


def _time(value: float | str, name: str) -> float:
    try:
        t = parse_ts(value)
    except (ValueError, OverflowError):
        raise SilenceInvalid([f"{name}: not an ISO 8601 time or epoch seconds"]) from None
    if not -1e12 < t < 1e12:
        raise SilenceInvalid([f"{name}: out of range"])
    return t


def make_silence(spec: SilenceSpec, silence_id: str, actor: str, now: float, tree: GridTree | None = None
                 ) -> Silence:
    """A new silence from ``spec`` made by ``actor`` at ``now``; :class:`SilenceInvalid` when out of bounds."""
    start = now if spec.starts_at is None else _time(spec.starts_at, "starts_at")
    end = start + spec.duration_s if spec.duration_s is not None else _time(spec.ends_at or 0.0, "ends_at")
    errors = []
    if end <= start:
        errors.append(f"the end ({iso(end)}) must be after the start ({iso(start)})")
    elif end <= now:
        errors.append(f"the end ({iso(end)}) is already past")
    if end - start > MAX_DURATION_S:
        errors.append(f"a silence lasts at most {MAX_DURATION_S / 86_400:g} days")
    if start > now + MAX_START_AHEAD_S:
        errors.append(f"a silence starts at most {MAX_START_AHEAD_S / 86_400:g} days ahead")
    m = spec.match
    if tree is not None and m.grid is not None and tree.known(m.grid) is None:
        errors.append(f"match.grid: unknown node {m.grid!r}")
    if errors:
        raise SilenceInvalid(errors)
    if tree is not None and m.grid is not None:
        m = m.model_copy(update={"grid": tree.known(m.grid)})  # an alias names its node
    return Silence(id=silence_id, start=start, end=end, match=m, created_by=actor, created_at=now,
                   comment=spec.comment.strip(), updated_at=now)


class SilenceBook:
    """The silences, as the store has them; a :class:`~fenghuo.alerts.mute.Muter` of the active ones."""

    def __init__(self, store: Store, tree: GridTree, now: Callable[[], float],
                 new_id: Callable[[], str] | None = None) -> None:
        self.store, self.tree, self.now = store, tree, now
        self.new_id = new_id or (lambda: uuid.uuid4().hex[:16])
        self.lock = threading.RLock()
        self.by_id: dict[str, Silence] = {}
        self.rev = 0
        self.refresh()

    def refresh(self) -> int:
        """Read the silences changed in the store since the last look; how many."""
        with self.lock:
            rows = self.store.silences(after_rev=self.rev, limit=LOAD_LIMIT, newest_first=self.rev == 0)
            for row in sorted(rows, key=lambda r: int(r["rev"])):
                try:
                    s = Silence.from_doc(row["doc"])
                except (KeyError, TypeError, ValueError, ValidationError):
                    log.exception("silence row %s could not be read; ignored", row.get("rev"))
                    continue
                self.by_id[s.id] = s
                self.rev = max(self.rev, int(row["rev"]))
            if rows:
                self._prune(self.now())
            return len(rows)

    # -- the Muter ---------------------------------------------------------------------------------
    def mutes(self, alert: Alert, now: float) -> Muted | None:
        for s in list(self.by_id.values()):
            muted = s.mutes(alert, now, self.tree)
            if muted is not None:
                return muted
        return None

    # -- changes -----------------------------------------------------------------------------------
    def create(self, body: Any, actor: str) -> Silence:
        spec = parse_spec(body)
        with self.lock:
            now = self.now()
            self.refresh()
            s = make_silence(spec, self.new_id(), actor, now, self.tree)
            live = sum(1 for x in self.by_id.values() if x.state(now) != "expired")
            if live >= MAX_OPEN:
                raise SilenceInvalid([f"{live} silences are pending or active already (at most {MAX_OPEN}): "
                                      "expire some first"])
            self._keep(s, actor, "silence.create", now)
            return s

    def expire(self, silence_id: str, actor: str) -> Silence:
        with self.lock:
            now = self.now()
            self.refresh()
            s = self.by_id.get(silence_id)
            if s is None:
                raise SilenceNotFound(silence_id)
            if s.state(now) == "expired":
                raise SilenceConflict(f"silence {silence_id} has expired already")
            done = replace(s, start=min(s.start, now), end=now, expired_by=actor, updated_at=now)
            self._keep(done, actor, "silence.expire", now)
            return done

    def _keep(self, s: Silence, actor: str, action: str, now: float) -> None:
        """Into the store with its audit row, then into memory."""
        detail = {"match": s.match.model_dump(exclude_none=True), "starts_at": iso(s.start), "ends_at": iso(s.end),
                  "comment": s.comment}
        rev = self.store.put_silence(s.to_doc(), actor, action, now, json.dumps(detail, ensure_ascii=False))
        self.by_id[s.id] = s
        if rev == self.rev + 1:  # nobody else changed one meanwhile (else the next refresh reads those, and this)
            self.rev = rev
        self._prune(now)

    def _prune(self, now: float) -> None:
        """Keep the :data:`LIST_LIMIT` most recently ended expired silences in memory (all are in the store)."""
        expired = sorted((s for s in self.by_id.values() if s.state(now) == "expired"), key=lambda s: -s.end)
        for s in expired[LIST_LIMIT:]:
            del self.by_id[s.id]

    # -- reads -------------------------------------------------------------------------------------
    def listing(self, state: str | None = None, limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
        """The silences in ``state`` (all when None), from the store: pending and active by start, expired the
        most recently ended first."""
        if state is not None and state not in SILENCE_STATES:
            raise SilenceInvalid([f"state: one of {', '.join(SILENCE_STATES)}"])
        with self.lock:
            self.refresh()
            now = self.now()
            items = [s for s in self.by_id.values() if state is None or s.state(now) == state]
        rank = {name: i for i, name in enumerate(("active", "pending", "expired"))}
        items.sort(key=lambda s: (rank[s.state(now)], -s.end if s.state(now) == "expired" else s.start))
        return [s.to_json(now) for s in items[:limit]]
