"""One typed settings object, made by :func:`make_settings` (never at import time).

Environment variables ``FENGHUO_*`` set every field; CLI flags override them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROLES = ("viewer", "responder", "analyst", "admin")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FENGHUO_", extra="ignore")

    data_dir: Path = Path(".data")
    host: str = "127.0.0.1"
    port: int = 8000
    config: Path | None = None
    api_keys: str = ""  # comma-separated role:key
    clock: Literal["wall", "event"] = "wall"
    store_url: str = ""  # empty: SQLite in data_dir; postgresql://... for PostgreSQL
    bus: Literal["memory", "kafka"] = "memory"
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = "fenghuo"
    tick_seconds: float = Field(default=1.0, gt=0)
    delivery_workers: int = Field(default=8, ge=1)
    demo: bool = False
    log_level: str = "INFO"

    def parsed_keys(self) -> dict[str, str]:
        """key -> role, from ``api_keys``; raises ValueError on a malformed entry."""
        keys: dict[str, str] = {}
        for item in filter(None, (p.strip() for p in self.api_keys.split(","))):
            role, sep, key = item.partition(":")
            if not sep or role not in ROLES or len(key) < 16:
                raise ValueError(
                    "FENGHUO_API_KEYS entries are role:key with a role of "
                    f"{', '.join(ROLES)} and a key of 16+ characters"
                )
            keys[key] = role
        return keys


def make_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (CLI flags) on top."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)  # type: ignore[arg-type]
