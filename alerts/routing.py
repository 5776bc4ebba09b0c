"""Who hears about an alert at each tier of the grid tree.

Tier 0 is the alert's grid, then its community, street and district. Real alerts reach the
responders attached to the tier's node; drill alerts reach only drill participants there and
the drill channels, never the real responders. A system alert about a failing channel goes to
the district's responders on their other channels.

Where a node has duty rotations (the ``oncall`` configuration, :mod:`fenghuo.alerts.oncall`), its rostered
responders are reached only while on duty at the time given (the alert's clock); the others always.
"""

from __future__ import annotations

from collections.abc import Callable

from fenghuo.alerts.oncall import Roster
from fenghuo.core.config import Config
from fenghuo.core.models import Alert

Recipient = tuple[str | None, str]  # (responder id, channel name)


class Router:
    def __init__(self, config: Config, chain: Callable[[str], list[str]]) -> None:
        self.chain = chain
        self.by_node: dict[str, list[tuple[str, list[str], bool]]] = {}
        for r in config.responders:
            self.by_node.setdefault(r.node, []).append((r.id, list(r.channels), r.drill))
        self.drill_channels = list(config.drills.channels)
        self.roots = [n.id for n in config.nodes if n.parent is None]
        self.roster = Roster(config)

    def system_node(self) -> str:
        """Where system alerts live: the first district (the top of the tree)."""
        return self.roots[0] if self.roots else "system"

    def tiers(self, alert: Alert) -> list[str]:
        return self.chain(alert.grid)

    def recipients(self, alert: Alert, tier: int, at: float) -> list[Recipient]:
        """Who hears about the alert at ``tier`` at time ``at`` (the alert's clock), on which channels."""
        tiers = self.tiers(alert)
        if tier >= len(tiers):
            return []
        node = tiers[tier]
        out: list[Recipient] = []
        for rid, channels, drill in self.by_node.get(node, []):
            if alert.drill and not drill:
                continue
            if not self.roster.may_reach(node, rid, at):
                continue
            out += [(rid, ch) for ch in channels if not (alert.feed == "system" and ch == alert.series)]
        if alert.drill and out:
            out += [(None, ch) for ch in self.drill_channels]
        return out

    def first_tier(self, alert: Alert, start: int, at: float) -> int | None:
        """The first tier at or above ``start`` with somebody to tell at ``at``."""
        for tier in range(start, len(self.tiers(alert))):
            if self.recipients(alert, tier, at):
                return tier
        return None

    def rotations_from(self, alert: Alert, start: int) -> bool:
        """Whether a tier at or above ``start`` has duty rotations (somebody may be on duty there later)."""
        return any(self.roster.has_rotation(node) for node in self.tiers(alert)[start:])

    def unstaffed(self, alert: Alert, start: int, stop: int | None, at: float) -> list[str]:
        """The nodes of tiers ``start`` up to ``stop`` (excluded; None: the top) that have duty rotations but
        nobody on duty at ``at`` (and no responder outside the rotations): skipped, and said so in the timeline."""
        tiers = self.tiers(alert)
        return [node for node in tiers[start:len(tiers) if stop is None else stop]
                if self.roster.has_rotation(node) and not self.roster.reachable(node, at)]
