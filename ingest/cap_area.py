"""CAP areas to grids: the grids a warning's ``<area>`` elements cover, and the node that covers them all.

* ``<polygon>`` (CAP's "lat,lon lat,lon ..." ring): a grid with a polygon is covered when the two overlap (a
  vertex of one inside the other, or two edges crossing); a grid with only a centroid when the centroid is inside;
* ``<circle>`` ("lat,lon radius_km"): a grid is covered when its polygon (or centroid) is within the radius;
* ``<geocode>``: its value looked up in the config's ``warnings.geocodes`` (the value name is not used: one
  table for every scheme, e.g. China's six-digit administrative division codes); a table entry names grids or
  nodes, a node standing for every grid under it.

A warning is rolled up the tree once: :func:`covering_nodes` gives the lowest node above all its grids (one per
district when they lie in several).

>>> from fenghuo.core.config import Node
>>> tree = GridTree([Node(id="D", name="d", kind="district"), Node(id="S", name="s", kind="street", parent="D"),
...     Node(id="C", name="c", kind="community", parent="S"),
...     Node(id="G1", name="g", kind="grid", parent="C", polygon=[(113.0, 23.0), (113.1, 23.0), (113.1, 23.1)]),
...     Node(id="G2", name="g", kind="grid", parent="C", centroid=(23.5, 113.5))])
>>> covered = grids_of([CapArea("x", circles=[(23.05, 113.05, 1.0)])], tree, {})
>>> covered.grids, covering_nodes(tree, ["G1", "G2"])
(['G1'], [('C', ['G1', 'G2'])])
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from fenghuo.core.grids import GridTree, _inside, haversine_km
from fenghuo.ingest.cap_in import CapArea

Ring = list[tuple[float, float]]  # (lon, lat), as the grid polygons are written


@dataclass
class Covered:
    grids: list[str] = field(default_factory=list)
    unknown_geocodes: list[str] = field(default_factory=list)  # values the table does not list


def grids_of(areas: list[CapArea], tree: GridTree, geocodes: Mapping[str, list[str]]) -> Covered:
    """The grids (sorted ids) the areas cover, and the geocode values the table does not know."""
    found: set[str] = set()
    unknown: list[str] = []
    for area in areas:
        for poly in area.polygons:
            ring = [(lon, lat) for lat, lon in poly]
            found.update(g.id for g in tree.grids if _grid_in_polygon(tree, g.id, g.polygon, ring))
        for lat, lon, radius in area.circles:
            found.update(g.id for g in tree.grids if _grid_in_circle(tree, g.id, g.polygon, lat, lon, radius))
        for _name, value in area.geocodes:
            targets = geocodes.get(value)
            if targets is None:
                unknown.append(value)
                continue
            for t in targets:
                found.update(_grids_under(tree, t))
    return Covered(sorted(found), unknown)


def _grids_under(tree: GridTree, node_id: str) -> list[str]:
    known = tree.known(node_id)
    if known is None:
        return []
    return [g.id for g in tree.grids if tree.under(g.id, known)]


def covering_nodes(tree: GridTree, grids: list[str]) -> list[tuple[str, list[str]]]:
    """The lowest node above all of ``grids`` with them; one such node per top node (district) when the grids
    lie under several."""
    by_top: dict[str, list[str]] = {}
    for g in grids:
        by_top.setdefault(tree.chain_ids(g)[-1], []).append(g)
    out = []
    for members in by_top.values():
        chains = [tree.chain_ids(g) for g in members]
        common = set(chains[0]).intersection(*map(set, chains[1:]))
        lowest = next(n for n in chains[0] if n in common)  # bottom up: the first shared one is the lowest
        out.append((lowest, sorted(members)))
    return sorted(out)


def _grid_in_polygon(tree: GridTree, gid: str, grid_poly: list[tuple[float, float]] | None, ring: Ring) -> bool:
    if not grid_poly:
        c = tree.centroid(gid)
        return c is not None and _inside(c[1], c[0], ring)
    if not _boxes_meet(grid_poly, ring):
        return False
    if any(_inside(x, y, ring) for x, y in grid_poly) or any(_inside(x, y, grid_poly) for x, y in ring):
        return True
    return any(_cross(a, b, c, d) for a, b in _edges(grid_poly) for c, d in _edges(ring))


def _grid_in_circle(tree: GridTree, gid: str, grid_poly: list[tuple[float, float]] | None, lat: float, lon: float,
                    radius: float) -> bool:
    if not grid_poly:
        c = tree.centroid(gid)
        return c is not None and haversine_km(lat, lon, c[0], c[1]) <= radius
    if _inside(lon, lat, grid_poly):
        return True
    # distances in a plane tangent at the centre (km): exact enough for district-sized circles
    kx, ky = 111.32 * math.cos(math.radians(lat)), 110.57
    pts = [((x - lon) * kx, (y - lat) * ky) for x, y in grid_poly]
    return any(_to_segment(p, q) <= radius for p, q in _edges(pts))


def _edges(poly: list[tuple[float, float]]) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    return [(poly[i], poly[(i + 1) % len(poly)]) for i in range(len(poly))]


def _to_segment(p: tuple[float, float], q: tuple[float, float]) -> float:
    """Distance from the origin to the segment pq."""
    (x1, y1), (x2, y2) = p, q
    dx, dy = x2 - x1, y2 - y1
    span = dx * dx + dy * dy
    t = 0.0 if span == 0 else max(0.0, min(1.0, -(x1 * dx + y1 * dy) / span))
    return math.hypot(x1 + t * dx, y1 + t * dy)


def _cross(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float], d: tuple[float, float]) -> bool:
    def side(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    return side(a, b, c) * side(a, b, d) < 0 and side(c, d, a) * side(c, d, b) < 0


def _boxes_meet(p: list[tuple[float, float]], q: list[tuple[float, float]]) -> bool:
    return not (max(x for x, _ in p) < min(x for x, _ in q) or max(x for x, _ in q) < min(x for x, _ in p)
                or max(y for _, y in p) < min(y for _, y in q) or max(y for _, y in q) < min(y for _, y in p))
