"""One typed settings object, made by :func:`make_settings` (never at import time).

Environment variables ``FENGHUO_*`` set every field; CLI flags override them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROLES = ("viewer", "responder", "analyst", "admin")
NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")  # a key's name: the actor of what it changes


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FENGHUO_", extra="ignore")

    data_dir: Path = Path(".data")
    host: str = "127.0.0.1"
    port: int = 8000
    config: Path | None = None
    api_keys: str = ""  # comma-separated role:key or role:name:key
    keys_file: Path | None = None  # hashed named keys (fenghuo keys ...); default <data_dir>/api-keys
    metrics_public: bool = False  # /metrics without a key (e.g. a scraper on a private network)
    auth_fail_limit: int = Field(default=20, ge=1)  # failed sign-ins per address (or key prefix) ...
    auth_fail_window_seconds: float = Field(default=60.0, gt=0)  # ... within this window, then 429
    tls_cert: Path | None = None  # serve HTTPS with this certificate chain (PEM) ...
    tls_key: Path | None = None  # ... and this private key
    forwarded_allow_ips: str = ""  # a reverse proxy's address(es): trust its X-Forwarded-For/-Proto
    clock: Literal["wall", "event"] = "wall"
    store_url: str = ""  # empty: SQLite in data_dir; postgresql://... for PostgreSQL
    bus: Literal["memory", "kafka"] = "memory"
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = "fenghuo"  # Kafka topics <prefix>.events.<feed>, ... and consumer groups <prefix>-<name>
    # Kafka topics created by `fenghuo kafka create-topics` and the workers' changelog topics: replicas of each
    # partition (1 on a one-broker development setup; 3 in production, docs/distributed.md)
    kafka_replication_factor: int = Field(default=1, ge=1, le=7)
    # the largest detector state (one grid's or district's) written as one changelog record; the producer's
    # max_request_size and the changelog topics' max.message.bytes are this plus 1 MiB (docs/distributed.md)
    kafka_state_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024 * 1024, le=64 * 1024 * 1024)
    # detector workers: the grid and district states changed are written to their changelogs at most this often (the
    # batches' offsets are committed up to the last checkpoint; 0: after every batch). docs/distributed.md
    kafka_checkpoint_seconds: float = Field(default=1.0, ge=0.0, le=60.0)
    # Kafka mode: a system alert when a stage's oldest unfinished record waited longer (fenghuo/runtime/kafka/lag.py)
    lag_alert_seconds: float = Field(default=300.0, ge=10.0, le=86_400.0)
    probe_port: int = Field(default=0, ge=0, le=65_535)  # a worker's /livez and /readyz on this port (0: none)
    probe_host: str = "0.0.0.0"  # noqa: S104 - probes answer the orchestrator, which is not on the loopback
    public_url: str = ""  # the board's address, for links in notifications and CAP messages
    cap_sender: str = ""  # the CAP sender; empty: the config's warnings.sender
    tick_seconds: float = Field(default=1.0, gt=0)
    risk_poll_seconds: float = Field(default=60.0, gt=0)  # how often the risk forecast job looks at its schedule
    delivery_workers: int = Field(default=8, ge=1)
    demo: bool = False
    log_level: str = "INFO"

    @property
    def key_file_path(self) -> Path:
        return self.keys_file or self.data_dir / "api-keys"

    def named_keys(self) -> list[tuple[str, str | None, str]]:
        """``(role, name or None, key)`` from ``api_keys`` (``role:key`` or ``role:name:key``);
        raises ValueError on a malformed entry.

        >>> Settings(api_keys="viewer:abcdefghijklmnop, admin:ops:0123456789abcdef").named_keys()
        [('viewer', None, 'abcdefghijklmnop'), ('admin', 'ops', '0123456789abcdef')]
        """
        out: list[tuple[str, str | None, str]] = []
        for item in filter(None, (p.strip() for p in self.api_keys.split(","))):
            parts = item.split(":", 2)
            role, name, key = (parts[0], None, parts[1]) if len(parts) == 2 else (parts + ["", ""])[:3]
            if len(parts) < 2 or role not in ROLES or len(key) < 16 or (name is not None and not NAME.fullmatch(name)):
                raise ValueError(
                    "FENGHUO_API_KEYS entries are role:key or role:name:key with a role of "
                    f"{', '.join(ROLES)}, a name of letters, digits, '.', '_' or '-' (64 at most) "
                    "and a key of 16+ characters"
                )
            out.append((role, name, key))
        return out

    def parsed_keys(self) -> dict[str, str]:
        """key -> role, from ``api_keys``; raises ValueError on a malformed entry."""
        return {key: role for role, _, key in self.named_keys()}


def make_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (CLI flags) on top."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)  # type: ignore[arg-type]
