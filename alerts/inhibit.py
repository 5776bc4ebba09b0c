"""Inhibition, as Alertmanager's ``inhibit_rules``: while a *source* alert is open (not resolved, not cleared),
the notifications of *target* alerts are held back, when the target matches the rule's ``target``, the source its
``source``, both share the labels named in ``equal`` (grid, source, series, rule, risk, feed, drill), and, with
``under_source``, the target's grid is the source's node or under it. An alert never inhibits itself, and a
drill's alerts inhibit only alerts of the same drill (real ones only real ones).

An inhibited change is recorded in the target's timeline as ``inhibited``, the inhibiting alert's id as its
actor; it sends nothing.

>>> from fenghuo.core.config import InhibitRule, Node
>>> from fenghuo.core.levels import Level
>>> from fenghuo.core.models import Alert, Risk, Status
>>> tree = GridTree([Node(id="D", name="d", kind="district"),
...                  Node(id="G", name="g", kind="grid", parent="D", centroid=(0.0, 0.0))])
>>> rule = InhibitRule.model_validate({"name": "district-red", "under_source": True,
...     "source": {"node_kind": "district", "level_at_least": "red"}, "target": {"node_kind": "grid"}})
>>> def alert(id, grid, level):
...     return Alert(id=id, fingerprint=id, risk=Risk.SAFETY, feed="complaint", grid=grid, source="s",
...                  series=grid, rule="flood", level=level, status=Status.OPEN, drill=None, created_at=0.0,
...                  updated_at=0.0)
>>> district, grid = alert("A1", "D", Level.RED), alert("A2", "G", Level.YELLOW)
>>> Inhibitor([rule], tree).inhibiting(grid, [district, grid])[0].id
'A1'
>>> Inhibitor([rule], tree).inhibiting(grid, [alert("A3", "D", Level.ORANGE)]) is None
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from fenghuo.alerts.matchers import matches
from fenghuo.alerts.stages import Change, Context
from fenghuo.core.config import InhibitRule
from fenghuo.core.grids import GridTree
from fenghuo.core.models import Alert, TimelineEntry


def label(alert: Alert, name: str) -> object:
    return alert.drill if name == "drill" else getattr(alert, name)


class Inhibitor:
    def __init__(self, rules: Sequence[InhibitRule], tree: GridTree) -> None:
        self.rules = list(rules)
        self.tree = tree

    def inhibiting(self, target: Alert, alerts: Iterable[Alert]) -> tuple[Alert, InhibitRule] | None:
        """The first open source alert (and its rule) that holds ``target`` back, else None."""
        rules = [r for r in self.rules if matches(r.target, target, self.tree)]
        if not rules:
            return None
        for source in alerts:
            if source.id == target.id or not source.is_open or source.cleared or source.drill != target.drill:
                continue
            for r in rules:
                if not matches(r.source, source, self.tree):
                    continue
                if any(label(source, name) != label(target, name) for name in r.equal):
                    continue
                if r.under_source and source.grid not in self.tree.chain_ids(target.grid):
                    continue
                return source, r
        return None


class InhibitStage:
    """Changes that would notify and that an open source alert inhibits notify nothing; the timeline says
    ``inhibited`` with the inhibiting alert's id. ``open_alerts`` gives the open alerts as the step sees them."""

    def __init__(self, inhibitor: Inhibitor | None, open_alerts: Callable[[], Iterable[Alert]]) -> None:
        self.inhibitor = inhibitor
        self.open_alerts = open_alerts

    def exec(self, ctx: Context, changes: list[Change]) -> list[Change]:
        if self.inhibitor is None or not self.inhibitor.rules:
            return changes
        for ch in changes:
            if not ch.notify:
                continue
            found = self.inhibitor.inhibiting(ch.alert, self.open_alerts())
            if found is not None:
                source, rule = found
                ch.notify = False
                ch.alert.add(TimelineEntry(
                    ctx.now, "inhibited", ch.alert.level.name_en, source.id, None,
                    f"{ch.kind}: held back by alert {source.id} ({source.level.name_en} {source.rule} at "
                    f"{source.grid}; inhibit rule {rule.name})"))
        return changes
