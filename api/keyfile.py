"""The keys file: named API keys with a role, stored hashed (SHA-256 of the key, never the key itself).

Keys are 32 random bytes (``secrets.token_urlsafe``), so a fast hash is enough: nobody can search that
space, and a lookup costs one hash per request. The file is JSON, written atomically with mode 0600::

    {"format": "fenghuo-api-keys/1",
     "keys": [{"name": "ops", "role": "admin", "sha256": "…", "created": "2026-12-05T06:00:00Z",
               "expires": null, "drill": null}]}

``drill`` says whether the key may mark events as a drill (``null``: the role's default — analysts and
admins may, viewers and responders may not). A file in the old one-line ``role:key`` form is converted
(hashed) the first time it is read.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from fenghuo.core.models import iso, parse_ts
from fenghuo.core.privacy import private_dir
from fenghuo.core.settings import NAME, ROLES

FORMAT = "fenghuo-api-keys/1"
DRILL_ROLES = ("analyst", "admin")


def digest(key: str) -> str:
    """SHA-256 of a key, hex.

    >>> digest("abc")[:16]
    'ba7816bf8f01cfea'
    """
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def new_key() -> str:
    return secrets.token_urlsafe(32)


class KeyFileError(ValueError):
    """The keys file cannot be read or a change to it is not valid."""


@dataclass(frozen=True, slots=True)
class KeyEntry:
    name: str
    role: str
    sha256: str
    created: float
    expires: float | None = None
    drill: bool | None = None  # None: the role's default

    @property
    def may_drill(self) -> bool:
        """
        >>> KeyEntry("a", "responder", "", 0.0).may_drill, KeyEntry("b", "admin", "", 0.0).may_drill
        (False, True)
        >>> KeyEntry("c", "responder", "", 0.0, drill=True).may_drill
        True
        """
        return self.drill if self.drill is not None else self.role in DRILL_ROLES

    def expired(self, now: float) -> bool:
        return self.expires is not None and now >= self.expires

    def to_doc(self) -> dict[str, Any]:
        return {**asdict(self), "created": iso(self.created), "expires": iso(self.expires)}

    @staticmethod
    def from_doc(doc: Any) -> KeyEntry:
        if not isinstance(doc, dict):
            raise KeyFileError("each key is an object with name, role, sha256, created")
        try:
            entry = KeyEntry(str(doc["name"]), str(doc["role"]), str(doc["sha256"]), parse_ts(doc["created"]),
                             parse_ts(doc["expires"]) if doc.get("expires") else None,
                             None if doc.get("drill") is None else bool(doc["drill"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise KeyFileError(f"a key entry is malformed ({exc}): {sorted(doc)}") from None
        check_entry(entry)
        return entry


def check_entry(entry: KeyEntry) -> None:
    if not NAME.fullmatch(entry.name):
        raise KeyFileError(f"key name {entry.name!r}: use letters, digits, '.', '_' or '-' (64 at most)")
    if entry.role not in ROLES:
        raise KeyFileError(f"key {entry.name}: role {entry.role!r} is not one of {', '.join(ROLES)}")
    if len(entry.sha256) != 64:
        raise KeyFileError(f"key {entry.name}: sha256 must be 64 hex digits")


class KeyFile:
    """Read and change the keys file. Every change rewrites the file atomically (0600)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.exists()

    def stamp(self) -> tuple[int, int] | None:
        """(mtime_ns, size) to notice changes cheaply; None when there is no file."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size

    def load(self, now: float | None = None) -> list[KeyEntry]:
        if not self.path.exists():
            return []
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyFileError(f"cannot read the keys file {self.path}: {exc}") from None
        if not text.strip():
            return []
        if not text.lstrip().startswith("{"):
            entries = _legacy(text, now if now is not None else _now())
            self.save(entries)
            return entries
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise KeyFileError(f"the keys file {self.path} is not valid JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("keys"), list):
            raise KeyFileError(f"the keys file {self.path} is not a {FORMAT} file")
        entries = [KeyEntry.from_doc(d) for d in doc["keys"]]
        _unique(entries)
        return entries

    def save(self, entries: list[KeyEntry]) -> None:
        _unique(entries)
        if not self.path.parent.exists():  # a directory fenghuo makes is its owner's only (0700)
            private_dir(self.path.parent)
        body = json.dumps({"format": FORMAT, "keys": [e.to_doc() for e in entries]}, indent=1, ensure_ascii=False)
        fd, tmp = tempfile.mkstemp(prefix=".api-keys.", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(body + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # -- changes (each returns what the caller shows) ------------------------------------------------
    def add(self, name: str, role: str, now: float, expires: float | None = None,
            drill: bool | None = None) -> str:
        """A new key (returned once; only its hash is kept)."""
        entries = self.load(now)
        if any(e.name == name for e in entries):
            raise KeyFileError(f"a key named {name} exists: rotate it, or revoke it first")
        if expires is not None and expires <= now:
            raise KeyFileError("the expiry is in the past")
        key = new_key()
        entry = KeyEntry(name, role, digest(key), now, expires, drill)
        check_entry(entry)
        self.save([*entries, entry])
        return key

    def revoke(self, name: str) -> KeyEntry:
        entries = self.load()
        gone = next((e for e in entries if e.name == name), None)
        if gone is None:
            raise KeyFileError(f"no key named {name}")
        self.save([e for e in entries if e.name != name])
        return gone

    def rotate(self, name: str, now: float, expires: float | None = None) -> str:
        """A new secret for the key ``name`` (same role and drill flag); the old one stops working."""
        entries = self.load(now)
        old = next((e for e in entries if e.name == name), None)
        if old is None:
            raise KeyFileError(f"no key named {name}")
        key = new_key()
        new = replace(old, sha256=digest(key), created=now,
                      expires=expires if expires is not None else (None if old.expired(now) else old.expires))
        self.save([new if e.name == name else e for e in entries])
        return key


def _now() -> float:
    import time

    return time.time()


def _legacy(text: str, now: float) -> list[KeyEntry]:
    """``role:key`` lines (the first file format) as named entries: the role, then role-2, role-3…"""
    entries: list[KeyEntry] = []
    for line in text.splitlines():
        role, _, key = line.strip().partition(":")
        if role in ROLES and key:
            n = sum(e.role == role for e in entries)
            entries.append(KeyEntry(role if n == 0 else f"{role}-{n + 1}", role, digest(key), now))
    return entries


def _unique(entries: list[KeyEntry]) -> None:
    seen: set[str] = set()
    for e in entries:
        if e.name in seen:
            raise KeyFileError(f"two keys are named {e.name}")
        seen.add(e.name)
