"""Rules at runtime: validated, versioned in the store, audited, swapped into the engine."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from fenghuo.core.config import Config, Rule
from fenghuo.core.grids import GridTree
from fenghuo.core.store import Store


class RuleError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


def validate_rule(body: Any, tree: GridTree) -> Rule:
    """A rule body (the v1 rule JSON) to a Rule, or RuleError listing every problem."""
    try:
        rule = Rule.model_validate(body)
    except ValidationError as exc:
        raise RuleError([f"{'.'.join(str(p) for p in e['loc']) or '(rule)'}: {e['msg']}"
                         for e in exc.errors()]) from None
    errors = rule.check()
    if tree.nodes:
        if rule.grid != "*" and tree.known(rule.grid) is None:
            errors.append(f"grid: unknown node {rule.grid!r}")
        errors += [f"overrides: unknown node {g!r}" for g in rule.overrides if tree.known(g) is None]
    if errors:
        raise RuleError(errors)
    return rule


class RuleBook:
    def __init__(self, store: Store, tree: GridTree) -> None:
        self.store = store
        self.tree = tree

    def seed(self, config: Config, ts: float) -> None:
        """Config rules never seen by the store are added (API edits are kept across restarts)."""
        for rule in config.rules:
            if not self.store.rule_history(rule.id):
                self.store.put_rule(rule.id, rule.model_dump(exclude_defaults=True), "config", ts)

    def current(self) -> list[Rule]:
        return [Rule.model_validate(r["body"]) for r in self.store.rules()]

    def current_versions(self) -> tuple[list[Rule], dict[str, int]]:
        """The current rules and each one's version, from one read of the store (for
        :meth:`fenghuo.detectors.engine.DetectorEngine.set_rules`, which writes the version into the evidence)."""
        rows = self.store.rules()
        return [Rule.model_validate(r["body"]) for r in rows], {r["id"]: int(r["version"]) for r in rows}

    def listing(self) -> list[dict[str, Any]]:
        out = []
        for r in self.store.rules():
            body = Rule.model_validate(r["body"]).model_dump()
            out.append({**body, "version": r["version"], "changed_by": r["actor"], "changed_at": r["changed_at"]})
        return out

    def put(self, rule_id: str, body: Any, actor: str, ts: float) -> tuple[Rule, int]:
        if isinstance(body, dict):
            body = {**body, "id": body.get("id", rule_id)}
            if body["id"] != rule_id:
                raise RuleError([f"id: the body says {body['id']!r} but the path says {rule_id!r}"])
        rule = validate_rule(body, self.tree)
        version = self.store.put_rule(rule_id, rule.model_dump(exclude_defaults=True), actor, ts)
        self.store.audit(ts, actor, "rule.put", rule_id,
                         json.dumps({"version": version, "rule": rule.model_dump(exclude_defaults=True)},
                                    ensure_ascii=False))
        return rule, version

    def delete(self, rule_id: str, actor: str, ts: float) -> int:
        if not any(r["id"] == rule_id for r in self.store.rules()):
            raise KeyError(rule_id)
        version = self.store.put_rule(rule_id, None, actor, ts)
        self.store.audit(ts, actor, "rule.delete", rule_id, json.dumps({"version": version}))
        return version
