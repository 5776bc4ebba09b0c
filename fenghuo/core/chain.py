"""Hash chains over the history fenghuo keeps: the audit log, rule versions and alert changes.

Three chains, each a sequence of links numbered 1, 2, 3, ... with no gap:

* ``audit``: the ``audit`` table itself (``id`` is the link's number);
* ``rules``: every row of the ``rules`` table (a rule version; ``seq`` column);
* ``alerts``: the journal ``alert_log``, one link per alert saved (the alert row's digest).

A link's hash is ``sha256(prev_hash + canonical(content))`` where the content carries the link's
number, so a row changed, removed, inserted or moved breaks the chain at that row. The store also
keeps each chain's head (last number and hash) in ``chain_heads``, updated in the same transaction,
so rows deleted at the end show too. Someone who can write the database can recompute every hash
(there is no secret); the heads exported outside the database (:func:`export_heads`, daily) catch
that: a later verify checks the chain still passes through each exported head.

Pure logic: no SQL (the stores read the rows), no clock (timestamps are passed in).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson

from fenghuo.core.privacy import private_dir

GENESIS = "0" * 64
PURGED = "purged"  # the digest of a tombstone link: the alert was removed on purpose (a drill run purged)
CHAINS = ("audit", "rules", "alerts")
TABLES = {"audit": "audit", "rules": "rules", "alerts": "alert_log"}
HEADS_FILE = "chain-heads.jsonl"  # in the data directory: one exported head set per line
PAGE = 5000


def canonical(obj: Any) -> bytes:
    r"""The one encoding hashed: compact JSON with sorted keys, UTF-8 (orjson: fast, on the hot path). What
    orjson refuses (a lone surrogate, a huge integer) is encoded by ``json`` with ASCII escapes instead: the
    same input always takes the same path, so writer and verifier agree.

    >>> canonical({"b": 1, "a": [1.5, None, "烽"]}).decode()
    '{"a":[1.5,null,"烽"],"b":1}'
    >>> canonical({"a": "\ud800"})
    b'{"a":"\\ud800"}'
    """
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(obj, sort_keys=True, ensure_ascii=True, separators=(",", ":")).encode()


def link(prev_hash: str, content: dict[str, Any]) -> str:
    """A link's hash: over the previous link's hash and this link's content.

    >>> link(GENESIS, {"seq": 1}) == link(GENESIS, {"seq": 1}) != link(GENESIS, {"seq": 2})
    True
    """
    return hashlib.sha256(prev_hash.encode() + canonical(content)).hexdigest()


def audit_content(seq: int, ts: float, actor: str, action: str, target: str, detail: str) -> dict[str, Any]:
    return {"seq": seq, "ts": ts, "actor": actor, "action": action, "target": target, "detail": detail}


def rule_content(seq: int, rule_id: str, version: int, body: str | None, actor: str,
                 changed_at: float) -> dict[str, Any]:
    """``body`` as stored (JSON text or None), so the digest is of the bytes kept."""
    return {"seq": seq, "id": rule_id, "version": version, "body": body, "actor": actor, "changed_at": changed_at}


def alert_entry_content(seq: int, alert_id: str, ts: float, digest: str) -> dict[str, Any]:
    return {"seq": seq, "alert": alert_id, "ts": ts, "digest": digest}


def alert_digest(row: tuple[Any, ...]) -> str:
    """Digest of an ``alerts`` row ``(id, fingerprint, status, level, risk, feed, grid, drill, created_at,
    updated_at, doc)``: the document (timeline included) and the columns the listings filter on.

    >>> row = ("a1", "f", "open", 3, "flood", "sensor", "G", None, 1.0, 2.0, '{"timeline":[]}')
    >>> alert_digest(row) == alert_digest(row) != alert_digest(row[:2] + ("resolved",) + row[3:])
    True
    """
    *cols, doc = row
    doc_hash = hashlib.sha256(doc.encode("utf-8", "surrogatepass")).hexdigest()
    return hashlib.sha256(canonical([*cols, doc_hash])).hexdigest()


def append(prev: tuple[int, str], contents: Iterable[Callable[[int], dict[str, Any]]]
           ) -> tuple[list[tuple[int, str, str]], tuple[int, str]]:
    """Number and hash new links after head ``prev`` = (seq, hash): ``[(seq, prev_hash, hash)]`` and the new head.
    Each item makes the link's content from its number.

    >>> links, head = append((0, GENESIS), [lambda n: {"seq": n}, lambda n: {"seq": n}])
    >>> [s for s, _, _ in links], head[0], links[1][1] == links[0][2]
    ([1, 2], 2, True)
    """
    seq, prev_hash = prev
    out = []
    for make in contents:
        seq += 1
        h = link(prev_hash, make(seq))
        out.append((seq, prev_hash, h))
        prev_hash = h
    return out, (seq, prev_hash)


# -- verification --------------------------------------------------------------------------------

@dataclass(slots=True)
class Break:
    """The first broken link of a chain: where (table, row) and what is wrong."""

    chain: str
    table: str
    row: str  # "seq 12", "alert a1b2", ...
    problem: str  # content changed | row missing | row inserted | link broken | head mismatch
    detail: str

    def __str__(self) -> str:
        return f"{self.table} {self.row}: {self.problem} — {self.detail}"


@dataclass(slots=True)
class ChainReport:
    chain: str
    table: str
    links: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    chained_at_migration: int = 0  # links 1..N were existing rows chained when the chain was created
    broken: Break | None = None
    checkpoints: int = 0  # exported heads checked

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["broken"] = asdict(self.broken) if self.broken else None
        return out


@dataclass(slots=True)
class Checkpoint:
    """A head exported earlier: the chain must still pass through ``hash`` at ``seq``."""

    seq: int
    hash: str
    exported_at: float


@dataclass(slots=True)
class Verification:
    chains: list[ChainReport] = field(default_factory=list)
    checked_at: float = 0.0

    @property
    def ok(self) -> bool:
        return all(c.broken is None for c in self.chains)

    def first_break(self) -> Break | None:
        return next((c.broken for c in self.chains if c.broken), None)

    def to_json(self) -> dict[str, Any]:
        br = self.first_break()
        return {"ok": self.ok, "checked_at": self.checked_at, "first_break": asdict(br) if br else None,
                "chains": [c.to_json() for c in self.chains]}

    def summary(self) -> str:
        lines = []
        for c in self.chains:
            state = f"BROKEN at {c.broken}" if c.broken else "intact"
            extra = f"; {c.checkpoints} exported head(s) checked" if c.checkpoints else ""
            mig = (f"; links 1..{c.chained_at_migration} were rows already there when the chain was created"
                   if c.chained_at_migration else "")
            lines.append(f"{c.chain} ({c.table}): {c.links} links, head seq {c.head_seq} "
                         f"{c.head_hash[:16]}…: {state}{extra}{mig}")
        return "\n".join(lines)


Link = tuple[int, dict[str, Any], str | None, str | None]  # (seq, content, prev_hash, hash)


def walk(chain: str, links: Iterable[Link], stored_head: tuple[int, str] | None,
         checkpoints: Iterable[Checkpoint] = (), chained_at_migration: int = 0) -> ChainReport:
    """Walk one chain's links in seq order; the report names the first broken link.

    >>> links, head = append((0, GENESIS), [lambda n: {"seq": n, "x": n}] * 3)
    >>> rows = [(s, {"seq": s, "x": s}, p, h) for s, p, h in links]
    >>> walk("audit", rows, head).broken is None
    True
    >>> print(walk("audit", [rows[0], (2, {"seq": 2, "x": 9}, *rows[1][2:]), rows[2]], head).broken)
    audit seq 2: content changed — its hash does not match its content (the row was edited)
    >>> print(walk("audit", [rows[0], rows[2]], head).broken)
    audit seq 2: row missing — seq 2 is missing between seq 1 and seq 3 (deleted)
    >>> print(walk("audit", rows[:2], head).broken)
    audit seq 3: row missing — the chain ends at seq 2 but its head says seq 3 (rows deleted at the end)
    """
    table = TABLES[chain]
    report = ChainReport(chain, table, chained_at_migration=chained_at_migration)
    marks: dict[int, list[Checkpoint]] = {}
    for cp in checkpoints:
        marks.setdefault(cp.seq, []).append(cp)
        report.checkpoints += 1

    def broken(row: str, problem: str, detail: str) -> ChainReport:
        report.broken = Break(chain, table, row, problem, detail)
        return report

    expected, prev = 1, GENESIS
    for seq, content, prev_hash, h in links:
        if h is None or prev_hash is None:
            return broken(f"seq {seq}", "row inserted", "it has no hash: written around fenghuo")
        if seq < expected:
            return broken(f"seq {seq}", "row inserted", f"seq {seq} comes before seq {expected}: not a link")
        if seq > expected:
            gap = f"seq {expected}" if seq == expected + 1 else f"seq {expected}..{seq - 1}"
            was = f"between seq {expected - 1} and seq {seq}" if expected > 1 else f"before seq {seq}"
            return broken(gap, "row missing", f"{gap} {'is' if seq == expected + 1 else 'are'} missing {was} "
                                              "(deleted)")
        if link(prev_hash, content) != h:
            return broken(f"seq {seq}", "content changed", "its hash does not match its content (the row was edited)")
        if prev_hash != prev:
            return broken(f"seq {seq}", "link broken",
                          f"it does not follow seq {seq - 1}: seq {seq - 1} was rewritten with a new hash, "
                          f"or seq {seq} was inserted")
        for cp in marks.pop(seq, []):
            if cp.hash != h:
                return broken(f"seq {seq}", "head mismatch",
                              f"the head exported at {_when(cp.exported_at)} had another hash here: "
                              "the chain was rewritten since")
        prev, expected = h, seq + 1
    last = expected - 1
    report.links, report.head_seq, report.head_hash = last, last, prev
    if marks:
        seq = max(marks)
        cp = marks[seq][0]
        return broken(f"seq {last + 1}", "row missing",
                      f"the chain ends at seq {last} but the head exported at {_when(cp.exported_at)} "
                      f"had seq {seq} (rows deleted, or restored from an older backup)")
    if stored_head is not None:
        head_seq, head_hash = stored_head
        if head_seq > last:
            return broken(f"seq {last + 1}", "row missing",
                          f"the chain ends at seq {last} but its head says seq {head_seq} (rows deleted at the end)")
        if head_seq < last:
            return broken(f"seq {head_seq + 1}", "row inserted",
                          f"rows after seq {head_seq}, the head the store recorded, were added around fenghuo")
        if head_hash != prev:
            return broken(f"seq {last}", "head mismatch", "the recorded head has another hash: the chain was rewritten")
    return report


def check_alerts(report: ChainReport, latest: dict[str, tuple[int, str]],
                 current: Iterable[tuple[str, str]]) -> ChainReport:
    """Each alert row must match the digest of its last journal link; each journaled alert must exist.

    >>> r = check_alerts(ChainReport("alerts", "alert_log"), {"a": (1, "d")}, [("a", "x")])
    >>> print(r.broken)
    alerts alert a: content changed — the alert row does not match its last journal link (seq 1): it was edited
    """
    if report.broken:
        return report
    seen = set()
    for alert_id, digest in current:
        seen.add(alert_id)
        entry = latest.get(alert_id)
        if entry is None:
            report.broken = Break("alerts", "alerts", f"alert {alert_id}", "row inserted",
                                  "no journal link records this alert: it was written around fenghuo")
            return report
        if entry[1] == PURGED:
            report.broken = Break("alerts", "alerts", f"alert {alert_id}", "row inserted",
                                  f"journal link seq {entry[0]} records it as purged, yet the row is there")
            return report
        if entry[1] != digest:
            report.broken = Break("alerts", "alerts", f"alert {alert_id}", "content changed",
                                  f"the alert row does not match its last journal link (seq {entry[0]}): it was edited")
            return report
    missing = sorted((a for a in set(latest) - seen if latest[a][1] != PURGED), key=lambda a: latest[a][0])
    if missing:
        report.broken = Break("alerts", "alerts", f"alert {missing[0]}", "row missing",
                              f"journal link seq {latest[missing[0]][0]} records it but the alert row is gone "
                              f"(deleted; {len(missing)} alert(s) missing)")
    return report


class ChainReader(Protocol):
    """What :func:`verify` reads, inside one snapshot of the store."""

    def chain_heads(self) -> dict[str, dict[str, Any]]: ...
    def chain_links(self, chain: str, after: int, limit: int) -> list[Link]:
        """``(seq, content, prev_hash, hash)`` of the links of ``chain`` with seq > ``after``, by seq."""
        ...
    def alert_digests(self, after: str, limit: int) -> list[tuple[str, str]]:
        """``(alert id, digest of its row)`` for ids > ``after``, by id."""
        ...
    def unchained_rows(self) -> list[tuple[str, str]]:
        """``(table, row)`` of rows that cannot be links (a rule version without a seq, a number below 1)."""
        ...


class ChainStore(Protocol):
    def chain_heads(self) -> dict[str, dict[str, Any]]: ...
    def chain_snapshot(self) -> AbstractContextManager[ChainReader]: ...


def _seq(link: Link) -> int:
    return link[0]


def _pages(fetch: Callable[[Any, int], list[Any]], key: Callable[[Any], Any], start: Any) -> Iterator[Any]:
    after = start
    while True:
        page = fetch(after, PAGE)
        yield from page
        if len(page) < PAGE:
            return
        after = key(page[-1])


def verify(store: ChainStore, exported: dict[str, list[Checkpoint]] | None = None,
           now: float | None = None) -> Verification:
    """Walk every chain (page by page, in one snapshot of the store) and cross-check alert rows against
    their journal; ``exported``: heads exported earlier that the chains must still pass through."""
    with store.chain_snapshot() as reader:
        return _verify(reader, exported, time.time() if now is None else now)


def _verify(store: ChainReader, exported: dict[str, list[Checkpoint]] | None, now: float) -> Verification:
    heads = store.chain_heads()
    result = Verification(checked_at=now)
    stray = store.unchained_rows()
    for chain in CHAINS:
        head = heads.get(chain)
        stored = (int(head["seq"]), str(head["hash"])) if head else None
        mig = int(head.get("chained_at_migration") or 0) if head else 0
        latest: dict[str, tuple[int, str]] = {}

        def links(chain: str = chain, latest: dict[str, tuple[int, str]] = latest) -> Iterator[Link]:
            for row in _pages(lambda a, n: store.chain_links(chain, a, n), _seq, 0):
                if chain == "alerts":
                    latest[row[1]["alert"]] = (row[0], row[1]["digest"])
                yield row

        report = walk(chain, links(), stored, (exported or {}).get(chain, []), mig)
        if head is None and report.broken is None:
            report.broken = Break(chain, "chain_heads", f"head {chain}", "row missing",
                                  "the chain's recorded head row was deleted")
        if report.broken is None:
            table_stray = [r for t, r in stray if t == TABLES[chain]]
            if table_stray:
                report.broken = Break(chain, TABLES[chain], table_stray[0], "row inserted",
                                      "it has no place in the chain: written around fenghuo")
        if chain == "alerts":
            check_alerts(report, latest, _pages(store.alert_digests, lambda r: r[0], ""))
        result.chains.append(report)
    return result


# -- exported heads ------------------------------------------------------------------------------

def heads_record(heads: dict[str, dict[str, Any]], now: float) -> dict[str, Any]:
    """The exported form of the chain heads: ``{"exported_at", "chains": {name: {"seq", "hash"}}}``."""
    return {"exported_at": now, "chains": {name: {"seq": int(h["seq"]), "hash": str(h["hash"])}
                                           for name, h in sorted(heads.items())}}


def export_heads(heads: dict[str, dict[str, Any]], data_dir: Path, now: float) -> dict[str, Any]:
    """Append the heads to ``DATA_DIR/chain-heads.jsonl`` (0600); copy that file off the machine too."""
    record = heads_record(heads, now)
    path = Path(data_dir) / HEADS_FILE
    if not path.parent.exists():  # a directory fenghuo makes is its owner's only (0700)
        private_dir(path.parent)
    with open(path, "a", encoding="utf-8", opener=lambda p, f: _open_private(p, f)) as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")
    return record


def _open_private(path: str, flags: int) -> int:
    import os

    return os.open(path, flags, 0o600)


def export_due(data_dir: Path, now: float, every: float = 86400.0) -> bool:
    """True when the last exported head in the data directory is ``every`` seconds old or more (or absent)."""
    recs = read_exported(Path(data_dir) / HEADS_FILE)
    return not recs or now - max(r["exported_at"] for r in recs) >= every


class DailyHeadExport:
    """For a service's periodic loop: ``maybe(store, now)`` exports the heads once a day.

    Reads the file only at the first call; afterwards one comparison per call.
    """

    def __init__(self, data_dir: Path, every: float = 86400.0) -> None:
        self.data_dir, self.every = Path(data_dir), every
        self._last: float | None = None

    def maybe(self, store: ChainStore, now: float) -> bool:
        if self._last is None:
            recs = read_exported(self.data_dir / HEADS_FILE)
            self._last = max((r["exported_at"] for r in recs), default=float("-inf"))
        if now - self._last < self.every:
            return False
        export_heads(store.chain_heads(), self.data_dir, now)
        self._last = now
        return True


def read_exported(path: Path) -> list[dict[str, Any]]:
    """The head records of a ``chain-heads.jsonl`` file (none when it does not exist)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def checkpoints(records: Iterable[dict[str, Any]]) -> dict[str, list[Checkpoint]]:
    """Exported head records -> the checkpoints of each chain."""
    out: dict[str, list[Checkpoint]] = {}
    for rec in records:
        for name, h in rec.get("chains", {}).items():
            if int(h["seq"]) > 0:
                out.setdefault(name, []).append(Checkpoint(int(h["seq"]), str(h["hash"]), float(rec["exported_at"])))
    return out


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))
