"""Bearer keys with names and roles: viewer < responder < analyst < admin.

Keys come from settings (``FENGHUO_API_KEYS`` = ``role:name:key`` or ``role:key``, whose name is then
``role-<8 hex digits of its hash>``) and from the keys file (:mod:`fenghuo.api.keyfile`, managed by
``fenghuo keys``), which the key ring re-reads when it changes, so a revoked or rotated key stops working
within a second. With no key anywhere, :func:`ensure_keys` creates an admin key in the keys file and
returns it once to print. The caller's name is the actor of every change it makes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from fenghuo.api.keyfile import KeyEntry, KeyFile, KeyFileError, digest, new_key
from fenghuo.core.settings import ROLES, Settings

RANK = {role: i for i, role in enumerate(ROLES)}
KEY_FILE = "api-keys"
RELOAD_EVERY = 1.0  # seconds between checks of the keys file
log = logging.getLogger("fenghuo.auth")


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: str
    can_drill: bool = False

    def can(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]


class KeyRefused(Exception):
    """A presented key is not accepted; ``str()`` says why (sent to the client)."""


def env_entries(named: list[tuple[str, str | None, str]], now: float) -> list[KeyEntry]:
    """Entries for ``FENGHUO_API_KEYS`` (role, name or None, key).

    >>> [e.name for e in env_entries([("viewer", None, "k" * 16), ("admin", "ops", "a" * 16)], 0.0)]
    ['viewer-ee6321d7', 'ops']
    """
    return [KeyEntry(name or f"{role}-{digest(key)[:8]}", role, digest(key), now) for role, name, key in named]


class KeyRing:
    """The accepted keys, looked up by hash. ``KeyRing({key: role})`` makes one from plain keys (tests)."""

    def __init__(self, keys: dict[str, str] | None = None, *, entries: list[KeyEntry] | None = None,
                 file: KeyFile | None = None, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.static = env_entries([(role, None, key) for key, role in (keys or {}).items()], clock())
        self.static += entries or []
        self.file = file
        self._stamp: tuple[int, int] | None = None
        self._checked = float("-inf")
        self._by_hash: dict[str, KeyEntry] = {}
        self._build(file.load(clock()) if file else [])
        self._stamp = file.stamp() if file else None

    def _build(self, from_file: list[KeyEntry]) -> None:
        names = {e.name for e in self.static}
        clash = sorted(names & {e.name for e in from_file})
        if clash:
            raise KeyFileError(f"key name(s) {', '.join(clash)} are both in FENGHUO_API_KEYS and the keys file")
        self._by_hash = {e.sha256: e for e in [*self.static, *from_file]}

    @property
    def entries(self) -> list[KeyEntry]:
        return list(self._by_hash.values())

    def _reload(self) -> None:
        now = time.monotonic()
        if self.file is None or now - self._checked < RELOAD_EVERY:
            return
        self._checked = now
        stamp = self.file.stamp()
        if stamp == self._stamp:
            return
        try:
            self._build(self.file.load(self.clock()))
        except (KeyFileError, OSError) as exc:  # keep the keys we have; say why once per change
            log.warning("keys file not reloaded: %s", exc)
        self._stamp = stamp

    def check(self, presented: str) -> Principal:
        """The principal of a presented key; raises :class:`KeyRefused` (invalid, expired)."""
        self._reload()
        entry = self._by_hash.get(digest(presented))
        if entry is None:
            raise KeyRefused("invalid API key")
        if entry.expired(self.clock()):
            raise KeyRefused("key expired")
        return Principal(entry.name, entry.role, entry.may_drill)

    def find(self, presented: str) -> Principal | None:
        try:
            return self.check(presented)
        except KeyRefused:
            return None


def ensure_keys(settings: Settings, clock: Callable[[], float] = time.time) -> tuple[KeyRing, str | None]:
    """The key ring; and a newly created admin key (to print once), or None.

    Raises ValueError (a malformed ``FENGHUO_API_KEYS`` or keys file)."""
    static = env_entries(settings.named_keys(), clock())
    file = KeyFile(settings.key_file_path)
    created = None
    if not static and not file.load(clock()):
        created = new_key()
        file.save([KeyEntry("admin", "admin", digest(created), clock())])
    return KeyRing(entries=static, file=file, clock=clock), created


def issue_demo_key(settings: Settings, clock: Callable[[], float] = time.time) -> str:
    """A fresh admin key named ``demo`` in the keys file (the demo prints it at every start)."""
    file = KeyFile(settings.key_file_path)
    if any(e.name == "demo" for e in file.load(clock())):
        return file.rotate("demo", clock())
    return file.add("demo", "admin", clock())
