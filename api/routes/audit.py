"""Tamper evidence (admin): verify the hash chains, read their heads (see fenghuo/core/chain.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fenghuo.api.deps import Admin, PipelineDep

from fenghuo.core import chain

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("/verify", summary="Walk the hash chains; name the first broken link")
def verify(pipeline: PipelineDep, who: Admin) -> dict[str, Any]:
    """The same report as ``fenghuo audit verify --json``: ``ok`` false and ``first_break`` (chain, table,
    row, problem, detail) when a row of the audit log, the rule versions or the alert journal was changed,
    removed or inserted around fenghuo. The heads exported to the data directory are checked too."""
    exported = chain.checkpoints(chain.read_exported(Path(pipeline.settings.data_dir) / chain.HEADS_FILE))
    return chain.verify(pipeline.store, exported).to_json()


@router.get("/head", summary="The chain heads: last seq and hash of each chain")
def head(pipeline: PipelineDep, who: Admin) -> dict[str, Any]:
    """Keep a copy outside this machine: a later verify can check the chains still pass through it."""
    return chain.heads_record(pipeline.store.chain_heads(), time.time())
