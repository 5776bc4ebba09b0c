"""The grid registry: the tree grid -> community -> street -> district, and lat/lon lookup.

>>> from fenghuo.core.config import Node
>>> tree = GridTree([
...     Node(id="D", name="区", kind="district"),
...     Node(id="S", name="街道", kind="street", parent="D"),
...     Node(id="C", name="社区", kind="community", parent="S"),
...     Node(id="G1", name="网格1", kind="grid", parent="C",
...          polygon=[(0, 0), (1, 0), (1, 1), (0, 1)]),
... ])
>>> tree.resolve(0.5, 0.5)
'G1'
>>> [n.id for n in tree.chain("G1")]
['G1', 'C', 'S', 'D']
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from fenghuo.core.config import Node


def _inside(lon: float, lat: float, poly: list[tuple[float, float]]) -> bool:
    """Ray casting: is (lon, lat) inside the polygon of (lon, lat) points?"""
    inside = False
    j = len(poly) - 1
    for i in range(len(poly)):
        xi, yi = poly[i]
        xj, yj = poly[j]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6371.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


class GridTree:
    def __init__(self, nodes: Iterable[Node], match_km: float = 5.0) -> None:
        self.nodes: dict[str, Node] = {n.id: n for n in nodes}
        self.match_km = match_km
        self._alias: dict[str, str] = {}
        for n in self.nodes.values():
            for a in n.aliases:
                self._alias[a] = n.id
        self.grids = [n for n in self.nodes.values() if n.kind == "grid"]
        self._centroids = {g.id: self._centroid(g) for g in self.grids}
        self._cache: dict[tuple[float, float], str | None] = {}

    @staticmethod
    def _centroid(g: Node) -> tuple[float, float]:
        if g.centroid is not None:
            return g.centroid
        assert g.polygon
        lon = sum(p[0] for p in g.polygon) / len(g.polygon)
        lat = sum(p[1] for p in g.polygon) / len(g.polygon)
        return (lat, lon)

    def centroid(self, grid: str) -> tuple[float, float] | None:
        return self._centroids.get(grid)

    def known(self, grid: str) -> str | None:
        """The node id for an id or alias, or None."""
        if grid in self.nodes:
            return grid
        return self._alias.get(grid)

    def resolve(self, lat: float, lon: float) -> str | None:
        """The grid containing the point, else the nearest grid centroid within ``match_km``."""
        key = (round(lat, 5), round(lon, 5))
        if key in self._cache:
            return self._cache[key]
        found = None
        for g in self.grids:
            if g.polygon and _inside(lon, lat, g.polygon):
                found = g.id
                break
        if found is None:
            best = self.match_km
            for gid, (clat, clon) in self._centroids.items():
                d = haversine_km(lat, lon, clat, clon)
                if d <= best:
                    best, found = d, gid
        if len(self._cache) < 100_000:
            self._cache[key] = found
        return found

    def chain(self, node_id: str) -> list[Node]:
        """The node and its ancestors, bottom up (grid, community, street, district)."""
        out = []
        seen = set()
        current = self.nodes.get(node_id)
        while current is not None and current.id not in seen:
            out.append(current)
            seen.add(current.id)
            current = self.nodes.get(current.parent) if current.parent else None
        return out

    def chain_ids(self, grid: str) -> list[str]:
        """The ids of the grid's chain, bottom up: what every detector and the router scope by. A grid the
        tree does not know stands alone (its own id), so an event of a new grid still finds its rules.

        >>> GridTree([]).chain_ids("G9")
        ['G9']
        """
        return [n.id for n in self.chain(grid)] or [grid]

    def under(self, grid: str, node_id: str) -> bool:
        """Is ``grid`` the node or below it?"""
        return any(n.id == node_id for n in self.chain(grid))

    def to_json(self) -> list[dict[str, object]]:
        out = []
        for n in self.nodes.values():
            item = n.model_dump()
            if n.kind == "grid":
                item["centroid"] = self._centroids[n.id]
            out.append(item)
        return out
