"""Threshold rules: list, read with history, create or replace, delete. Changes take effect at once.

A change is made as the key's name (the actor of the version and of the audit row). A rule body is a
JSON object of at most 1 MiB (:class:`fenghuo.api.guard.Guard`) whose strings are valid Unicode (:func:`check_json`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path

from fenghuo.api.bounds import check_json
from fenghuo.api.deps import Analyst, ServiceDep, Viewer
from fenghuo.api.errors import NOT_FOUND
from fenghuo.core.rulebook import RuleError

router = APIRouter(prefix="/v1/rules/thresholds", tags=["rules"])
RuleId = Annotated[str, Path(min_length=1, max_length=100)]


@router.get("", summary="Current rules")
def list_rules(service: ServiceDep, who: Viewer) -> dict[str, Any]:
    return {"rules": service.list_rules()}


@router.get("/{rule_id}", summary="One rule with its version history", responses=NOT_FOUND)
def get_rule(service: ServiceDep, who: Viewer, rule_id: RuleId) -> dict[str, Any]:
    current = next((r for r in service.list_rules() if r["id"] == rule_id), None)
    if current is None:
        raise HTTPException(404, f"no rule {rule_id}")
    return {**current, "history": service.rule_history(rule_id)}


@router.put("/{rule_id}", summary="Create or replace a rule (versioned, audited)")
def put_rule(service: ServiceDep, who: Analyst, rule_id: RuleId,
             body: dict[str, Any] = Body(..., description="the rule: feed, metric or category, levels, ...")
             ) -> dict[str, Any]:
    check_json(body)
    try:
        rule, version = service.put_rule(rule_id, body, who.name)
    except RuleError as exc:
        raise HTTPException(422, {"message": "the rule is not valid", "errors": exc.errors}) from None
    return {**rule, "version": version, "changed_by": who.name}


@router.delete("/{rule_id}", summary="Delete a rule (its history is kept)", responses=NOT_FOUND)
def delete_rule(service: ServiceDep, who: Analyst, rule_id: RuleId) -> dict[str, Any]:
    try:
        version = service.delete_rule(rule_id, who.name)
    except KeyError:
        raise HTTPException(404, f"no rule {rule_id}") from None
    return {"id": rule_id, "deleted": True, "version": version}
