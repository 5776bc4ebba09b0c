"""Tamper evidence (admin): verify the hash chains, read their heads (see fenghuo/core/chain.py)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter

from fenghuo.api.deps import Admin, ServiceDep
from fenghuo.core import chain

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("/verify", summary="Walk the hash chains; name the first broken link")
def verify(service: ServiceDep, who: Admin) -> dict[str, Any]:
    """The same report as ``fenghuo audit verify --json``: ``ok`` false and ``first_break`` (chain, table,
    row, problem, detail) when a row of the audit log, the rule versions or the alert journal was changed,
    removed or inserted around fenghuo. The heads exported to the data directory are checked too."""
    return service.verify_chains()


@router.get("/head", summary="The chain heads: last seq and hash of each chain")
def head(service: ServiceDep, who: Admin) -> dict[str, Any]:
    """Keep a copy outside this machine: a later verify can check the chains still pass through it."""
    return chain.heads_record(service.chain_heads(), time.time())
