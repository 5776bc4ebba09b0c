"""Who hears about an alert at each tier of the grid tree.

Tier 0 is the alert's grid, then its community, street and district. Real alerts reach the
responders attached to the tier's node; drill alerts reach only drill participants there and
the drill channels, never the real responders. A system alert about a failing channel goes to
the district's responders on their other channels.
"""

from __future__ import annotations

from collections.abc import Callable

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

    def system_node(self) -> str:
        """Where system alerts live: the first district (the top of the tree)."""
        return self.roots[0] if self.roots else "system"

    def tiers(self, alert: Alert) -> list[str]:
        return self.chain(alert.grid)

    def recipients(self, alert: Alert, tier: int) -> list[Recipient]:
        tiers = self.tiers(alert)
        if tier >= len(tiers):
            return []
        out: list[Recipient] = []
        for rid, channels, drill in self.by_node.get(tiers[tier], []):
            if alert.drill and not drill:
                continue
            out += [(rid, ch) for ch in channels if not (alert.feed == "system" and ch == alert.series)]
        if alert.drill and out:
            out += [(None, ch) for ch in self.drill_channels]
        return out

    def first_tier(self, alert: Alert, start: int = 0) -> int | None:
        """The first tier at or above ``start`` with somebody to tell."""
        for tier in range(start, len(self.tiers(alert))):
            if self.recipients(alert, tier):
                return tier
        return None
