"""Threshold rules: list, read with history, create or replace, delete. Changes take effect at once."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, HTTPException

from api.deps import Analyst, PipelineDep, Viewer
from fenghuo.rulebook import RuleError

router = APIRouter(prefix="/v1/rules/thresholds", tags=["rules"])


@router.get("", summary="Current rules")
def list_rules(pipeline: PipelineDep, who: Viewer) -> dict[str, Any]:
    return {"rules": pipeline.rulebook.listing()}


@router.get("/{rule_id}", summary="One rule with its version history")
def get_rule(rule_id: str, pipeline: PipelineDep, who: Viewer) -> dict[str, Any]:
    current = next((r for r in pipeline.rulebook.listing() if r["id"] == rule_id), None)
    if current is None:
        raise HTTPException(404, f"no rule {rule_id}")
    return {**current, "history": pipeline.store.rule_history(rule_id)}


@router.put("/{rule_id}", summary="Create or replace a rule (versioned, audited)")
def put_rule(rule_id: str, pipeline: PipelineDep, who: Analyst, body: Any = Body(...)) -> dict[str, Any]:
    try:
        rule, version = pipeline.put_rule(rule_id, body, who.name)
    except RuleError as exc:
        raise HTTPException(422, {"message": "the rule is not valid", "errors": exc.errors}) from None
    return {**rule, "version": version, "changed_by": who.name}


@router.delete("/{rule_id}", summary="Delete a rule (its history is kept)")
def delete_rule(rule_id: str, pipeline: PipelineDep, who: Analyst) -> dict[str, Any]:
    try:
        version = pipeline.delete_rule(rule_id, who.name)
    except KeyError:
        raise HTTPException(404, f"no rule {rule_id}") from None
    return {"id": rule_id, "deleted": True, "version": version}
