"""Which alerts a silence, a maintenance window or one side of an inhibition rule applies to.

An :class:`~fenghuo.core.config.AlertMatch` names labels of an alert; every label it gives must match:
``grid`` is a node of the tree with its subtree, ``node_kind`` the kind of the alert's own node, ``rule`` and
``source`` shell-style patterns, ``level_at_most``/``level_at_least`` bounds on the alert's level, ``drill``
true for drills only and false for real alerts only.

>>> from fenghuo.core.config import AlertMatch
>>> describe(AlertMatch(grid="S", rule="river*", level_at_most="yellow"))
'grid S (and below), rule river*, level at most yellow'
>>> describe(AlertMatch())
'every alert'
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from fenghuo.core.config import AlertMatch
from fenghuo.core.grids import GridTree
from fenghuo.core.levels import Level
from fenghuo.core.models import Alert


def matches(m: AlertMatch, alert: Alert, tree: GridTree) -> bool:
    """Does ``alert`` have every label ``m`` gives?"""
    if m.risk is not None and str(alert.risk) != m.risk:
        return False
    if m.feed is not None and alert.feed != m.feed:
        return False
    if m.drill is not None and bool(alert.drill) != m.drill:
        return False
    if m.level_at_most is not None and alert.level > Level.parse(m.level_at_most):
        return False
    if m.level_at_least is not None and alert.level < Level.parse(m.level_at_least):
        return False
    if m.rule is not None and not fnmatchcase(alert.rule, m.rule):
        return False
    if m.source is not None and not fnmatchcase(alert.source, m.source):
        return False
    if m.node_kind is not None:
        node = tree.nodes.get(alert.grid)
        if node is None or node.kind != m.node_kind:
            return False
    return m.grid is None or m.grid in tree.chain_ids(alert.grid)


def describe(m: AlertMatch) -> str:
    """The matcher in words (for timelines and the audit log)."""
    parts = []
    if m.grid is not None:
        parts.append(f"grid {m.grid} (and below)")
    if m.node_kind is not None:
        parts.append(f"{m.node_kind}-level")
    for name in ("rule", "risk", "feed", "source"):
        value = getattr(m, name)
        if value is not None:
            parts.append(f"{name} {value}")
    if m.level_at_least is not None:
        parts.append(f"level at least {m.level_at_least}")
    if m.level_at_most is not None:
        parts.append(f"level at most {m.level_at_most}")
    if m.drill is not None:
        parts.append("drills only" if m.drill else "real alerts only")
    return ", ".join(parts) or "every alert"
