"""Bearer keys with roles: viewer < responder < analyst < admin.

Keys come from settings (``FENGHUO_API_KEYS`` = ``role:key,...``). With none configured,
:func:`ensure_keys` creates an admin key in the data directory (mode 0600) and says so once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from fenghuo.settings import ROLES, Settings

RANK = {role: i for i, role in enumerate(ROLES)}
KEY_FILE = "api-keys"


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: str

    def can(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]


class KeyRing:
    """Keys and their roles. A caller is named by role and a digest of its key (never part of the key),
    for the audit log and timelines."""

    def __init__(self, keys: dict[str, str]) -> None:
        self.keys = keys  # key -> role

    def find(self, presented: str) -> Principal | None:
        for key, role in self.keys.items():
            if hmac.compare_digest(key.encode(), presented.encode()):
                return Principal(f"{role}:{hashlib.sha256(key.encode()).hexdigest()[:8]}", role)
        return None


def ensure_keys(settings: Settings) -> tuple[KeyRing, str | None]:
    """The key ring; and a newly created admin key (to print once), or None."""
    keys = settings.parsed_keys()
    if keys:
        return KeyRing(keys), None
    path = Path(settings.data_dir) / KEY_FILE
    created = None
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        created = secrets.token_urlsafe(24)
        path.write_text(f"admin:{created}\n", encoding="utf-8")
        path.chmod(0o600)
    for line in path.read_text(encoding="utf-8").splitlines():
        role, _, key = line.strip().partition(":")
        if role in RANK and key:
            keys[key] = role
    return KeyRing(keys), created
