"""Build fenghuo/demo/fenghuo.example.yaml from the real data in ../shared/data.

Run: ``.venv/bin/python deploy/make_example_config.py [--check-only]``. Grids, their polygons and
the data-derived rule levels all come from the Boston 311 and Hub'Eau files through the same
adapters the service ingests them with; the result is validated with ``fenghuo.core.config``.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import re
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from fenghuo.core.config import load_config  # noqa: E402
from fenghuo.core.grids import GridTree  # noqa: E402
from fenghuo.ingest.adapters.boston311 import PLACEHOLDER, TZ, grid_id, read_boston311, slug  # noqa: E402
from fenghuo.ingest.adapters.hubeau import read_hubeau  # noqa: E402
from fenghuo.ingest.events import make_resolver  # noqa: E402

OUT = ROOT / "fenghuo" / "demo" / "fenghuo.example.yaml"
BOS_ZH = {
    "Dorchester": "多切斯特", "Roxbury": "罗克斯伯里", "Allston / Brighton": "奥尔斯顿/布莱顿",
    "Jamaica Plain": "牙买加平原", "Downtown / Financial District": "市中心/金融区", "East Boston": "东波士顿",
    "South Boston / South Boston Waterfront": "南波士顿/滨水区", "West Roxbury": "西罗克斯伯里",
    "Back Bay": "后湾", "South End": "南端", "Greater Mattapan": "大马塔潘", "Hyde Park": "海德公园",
    "Roslindale": "罗斯林代尔", "Beacon Hill": "灯塔山", "Charlestown": "查尔斯敦",
    "Fenway / Kenmore / Audubon Circle / Longwood": "芬威/肯莫尔/奥杜邦圈/朗伍德", "Boston": "波士顿（未细分）",
    "Mission Hill": "米申山", "Brighton": "布莱顿", "South Boston": "南波士顿", "Mattapan": "马塔潘",
    "Allston": "奥尔斯顿", "Chestnut Hill": "栗树山",
}
RIVER_ZH = {"L'Aude": "奥德河", "L'Agly": "阿格利河", "L'Orb": "奥尔布河", "L'Orbieu": "奥尔比厄河",
            "Le Tech": "泰克河", "Le Grand Hers": "大埃尔河"}
DEPT_ZH = {"09": "阿列日省", "11": "奥德省", "31": "上加龙省", "34": "埃罗省", "66": "东比利牛斯省"}
DEPT_EN = {"09": "Ariège", "11": "Aude", "31": "Haute-Garonne", "34": "Hérault", "66": "Pyrénées-Orientales"}
ZONE = {"O": ("加龙河流域街道", "Garonne basin street office"),
        "Y": ("地中海沿岸河流街道", "Mediterranean rivers street office")}
QUADRANT = {"NW": ("西北", "north-west"), "NE": ("东北", "north-east"),
            "SW": ("西南", "south-west"), "SE": ("东南", "south-east")}


def shared_data() -> Path:
    """The shared real-data folder: ``$FENGHUO_SHARED/data`` or ``../shared/data`` beside the repo."""
    base = os.environ.get("FENGHUO_SHARED")
    return (Path(base) if base else ROOT.parent / "shared") / "data"


def hubeau_files(data: Path) -> tuple[Path, Path]:
    folder = data / "hubeau-river-levels-2020"
    return next(folder.glob("hubeau_water_level_*.csv.gz")), folder / "hubeau_all_sites.csv"


Point = tuple[float, float]


def convex_hull(points: list[Point]) -> list[list[float]]:
    """Andrew's monotone chain on points rounded to 5 decimals; counter-clockwise, no repeat."""
    pts = sorted({(round(x, 5), round(y, 5)) for x, y in points})
    if len(pts) < 3:
        return [list(p) for p in pts]

    def half(seq: list[Point]) -> list[Point]:
        out: list[Point] = []
        for p in seq:
            while len(out) >= 2 and ((out[-1][0] - out[-2][0]) * (p[1] - out[-2][1])
                                     - (out[-1][1] - out[-2][1]) * (p[0] - out[-2][0])) <= 0:
                out.pop()
            out.append(p)
        return out[:-1]

    return [list(p) for p in half(pts) + half(pts[::-1])]


def _quantile(values: list[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default)."""
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    return s[lo] + (s[min(lo + 1, len(s) - 1)] - s[lo]) * (pos - lo)


def trimmed(points: list[Point], lo: float, hi: float) -> list[Point]:
    """Points whose lon and lat both lie between the ``lo`` and ``hi`` quantiles."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = _quantile(xs, lo), _quantile(xs, hi), _quantile(ys, lo), _quantile(ys, hi)
    return [p for p in points if x0 <= p[0] <= x1 and y0 <= p[1] <= y1]


def buffered_hull(points: list[Point], d: float) -> list[list[float]]:
    """The convex hull of the points grown by ``d`` degrees (each point as a 16-gon around it)."""
    ring = [(d * math.cos(k * math.pi / 8), d * math.sin(k * math.pi / 8)) for k in range(16)]
    return convex_hull([(x + dx, y + dy) for x, y in points for dx, dy in ring])


def square(points: list[Point], d: float) -> list[list[float]]:
    """The bounding box of the points grown by ``d`` degrees."""
    x0, x1 = min(p[0] for p in points) - d, max(p[0] for p in points) + d
    y0, y1 = min(p[1] for p in points) - d, max(p[1] for p in points) + d
    return [[round(x, 5), round(y, 5)] for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]


def boston_nodes(data: Path) -> list[dict[str, Any]]:
    """District BOS, 2 streets (north/south of the median grid latitude), 4 communities, grids."""
    points: dict[str, list[tuple[float, float]]] = {}
    for rec in read_boston311(data / "boston311-2015" / "boston_311_2015.csv.gz"):
        hood = rec["attrs"]["neighborhood"]
        if hood and "lat" in rec and (rec["lat"], rec["lon"]) != PLACEHOLDER:
            points.setdefault(hood, []).append((rec["lon"], rec["lat"]))
    grids = []
    for hood, pts in points.items():
        kept = trimmed(pts, 0.02, 0.98)
        hull = convex_hull(kept)
        lon = sum(p[0] for p in kept) / len(kept)
        lat = sum(p[1] for p in kept) / len(kept)
        polygon = hull if len(hull) >= 3 else square(kept, 0.005)
        grids.append({"id": grid_id(hood), "name": BOS_ZH.get(hood, hood) + "网格", "name_en": hood, "kind": "grid",
                      "parent": None, "centroid": [round(lat, 5), round(lon, 5)], "polygon": polygon,
                      "aliases": [hood]})
    lat_mid = _median([g["centroid"][0] for g in grids])
    nodes: list[dict[str, Any]] = [{"id": "BOS", "name": "波士顿区", "name_en": "Boston district emergency office",
                                    "kind": "district"}]
    for ns, zh, en in (("N", "北", "North"), ("S", "南", "South")):
        nodes.append({"id": f"BOS-{ns}", "name": f"波士顿{zh}部街道", "name_en": f"Boston {en} street office",
                      "kind": "street", "parent": "BOS"})
        half = [g for g in grids if (g["centroid"][0] >= lat_mid) == (ns == "N")]
        lon_mid = _median([g["centroid"][1] for g in half])
        for ew in ("W", "E"):
            cid = f"BOS-{ns}{ew}"
            zh_q, en_q = QUADRANT[ns + ew]
            nodes.append({"id": cid, "name": f"波士顿{zh_q}社区", "name_en": f"Boston {en_q} community",
                          "kind": "community", "parent": f"BOS-{ns}"})
            for g in half:
                if (g["centroid"][1] >= lon_mid) == (ew == "E"):
                    g["parent"] = cid
    return nodes + sorted(grids, key=lambda g: _area(g["polygon"]))


def station_register(data: Path) -> dict[str, dict[str, Any]]:
    """code_station -> river, position, département and hydro zone (joined on code_site)."""
    obs, sites_csv = hubeau_files(data)
    with sites_csv.open(encoding="utf-8") as fh:
        sites = {r["code_site"]: r for r in csv.DictReader(fh, delimiter=";")}
    stations: dict[str, dict[str, Any]] = {}
    for rec in read_hubeau(obs):
        code = rec["source"].split(":", 1)[1]
        if code not in stations:
            site = sites.get(rec["attrs"]["site"])
            if site is None:
                raise SystemExit(f"station {code}: site {rec['attrs']['site']} is not in the register")
            stations[code] = {"river": rec["attrs"]["river"], "lat": rec["lat"], "lon": rec["lon"],
                              "dept": site["code_departement"].split(",")[0],
                              "dept_name": site["libelle_departement"].split(",")[0].title(),
                              "zone": site["code_zone_hydro_site"][:1]}
    return stations


def hubeau_nodes(stations: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """District OCC, a street per hydro zone letter, a community per département, a grid per river."""
    rivers: dict[str, list[dict[str, Any]]] = {}
    for st in stations.values():
        rivers.setdefault(st["river"], []).append(st)
    grids, communities = [], {}
    for river, sts in rivers.items():
        depts = [s["dept"] for s in sts]
        dept = max(sorted(set(depts)), key=depts.count)  # the river's majority département
        home = next(s for s in sts if s["dept"] == dept)
        communities[dept] = (home["dept_name"], home["zone"])
        pts = [(s["lon"], s["lat"]) for s in sts]
        polygon = buffered_hull(pts, 0.02) if len(set(pts)) >= 3 else square(pts, 0.02)
        grids.append({"id": f"FR-{slug(river)}", "name": RIVER_ZH.get(river, river) + "网格",
                      "name_en": f"{river} river", "kind": "grid", "parent": f"OCC-{dept}",
                      "centroid": [round(sum(s["lat"] for s in sts) / len(sts), 5),
                                   round(sum(s["lon"] for s in sts) / len(sts), 5)],
                      "polygon": polygon})
    nodes: list[dict[str, Any]] = [{"id": "OCC", "name": "奥克西塔尼区", "name_en": "Occitanie emergency office",
                                    "kind": "district"}]
    for zone in sorted({z for _, z in communities.values()}):
        zh, en = ZONE.get(zone, (f"{zone}流域街道", f"Hydro zone {zone} street office"))
        nodes.append({"id": f"OCC-{zone}", "name": zh, "name_en": en, "kind": "street", "parent": "OCC"})
    for dept, (name, zone) in sorted(communities.items()):
        nodes.append({"id": f"OCC-{dept}", "name": DEPT_ZH.get(dept, name) + "社区",
                      "name_en": f"{DEPT_EN.get(dept, name)} community (département {dept})", "kind": "community",
                      "parent": f"OCC-{zone}"})
    return nodes + sorted(grids, key=lambda g: _area(g["polygon"]))  # smaller grids are matched first


def _median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def _area(poly: list[list[float]]) -> float:
    return abs(sum(poly[i - 1][0] * p[1] - p[0] * poly[i - 1][1] for i, p in enumerate(poly))) / 2


CHANNELS = [
    {"name": "ops-webhook", "type": "webhook", "url": "http://127.0.0.1:9009/hook",
     "secret": "${FENGHUO_WEBHOOK_SECRET}"},
    {"name": "duty-log", "type": "log"},
    {"name": "drill-webhook", "type": "webhook", "url": "http://127.0.0.1:9009/drill",
     "secret": "${FENGHUO_WEBHOOK_SECRET}"},
]
PEOPLE = {
    "BOS": ["王建国 (Wang Jianguo)", "Maureen Sullivan"], "BOS-N": ["李秀英 (Li Xiuying)"],
    "BOS-S": ["Darnell Washington"], "BOS-NW": ["陈志强 (Chen Zhiqiang)"], "BOS-NE": ["Kathleen Murphy"],
    "BOS-SW": ["刘丽 (Liu Li)"], "BOS-SE": ["José Rodrigues"], "OCC": ["张伟 (Zhang Wei)", "Camille Durand"],
    "OCC-O": ["Jean-Pierre Fabre"], "OCC-Y": ["赵敏 (Zhao Min)"], "OCC-09": ["Marie Soulé"],
    "OCC-11": ["黄磊 (Huang Lei)", "Nathalie Roques"], "OCC-34": ["Laurent Vidal"], "OCC-66": ["Jordi Puig"],
}
DRILL_PEOPLE = {"BOS": "演练观察员 孙涛 (Sun Tao)", "OCC": "Exercise controller Élodie Martin"}


def responders(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for node in nodes:
        if node["kind"] == "grid":
            continue
        for i, person in enumerate(PEOPLE.get(node["id"], [f"{node['name_en']} duty officer"])):
            out.append({"id": f"{node['id'].lower()}-duty-{i + 1}", "name": person, "node": node["id"],
                        "channels": ["ops-webhook", "duty-log"]})
        # drill participants at every tier, so a drill exercises the whole escalation chain
        person = DRILL_PEOPLE.get(node["id"], f"演练联络员 {node['name']} (drill liaison, {node['name_en']})")
        out.append({"id": f"{node['id'].lower()}-drill", "name": person, "node": node["id"],
                    "channels": ["drill-webhook"], "drill": True})
    return out


# The gas-leak drill (fenghuo/drills/scenarios/gas-leak-corroborated.yaml): a methane detector in ppm (the lower
# explosive limit is 50,000 ppm: orange at 10% of it, red at 20%) and a one-hour count of gas complaints. No
# real gas readings are in ../shared/data: these rules are set from the explosive limit, not learned from data.
GAS_RULES = [
    {"id": "gas-ch4", "kind": "threshold", "feed": "sensor", "metric": "ch4_ppm", "grid": "*", "direction": "above",
     "levels": {"blue": 500, "yellow": 1000, "orange": 5000, "red": 10000}, "hysteresis": 100, "risk": "safety",
     "title_zh": "燃气浓度超限", "title_en": "Gas (methane) concentration above limit"},
    {"id": "gas-complaints", "kind": "count", "feed": "complaint", "category": "Gas Leak", "grid": "*",
     "direction": "above", "levels": {"blue": 2, "yellow": 4, "orange": 8, "red": 15}, "window_seconds": 3600,
     "risk": "safety", "title_zh": "燃气泄漏投诉激增", "title_en": "Burst of gas leak complaints"},
]
GLORIA = ("2020-01-20T00:00:00Z", "2020-01-27T00:00:00Z")
MARGINS = {"blue": 0.5, "yellow": 1.0, "orange": 2.0, "red": 3.0}  # metres above the quiet-week p99
SNOW_WORDS = re.compile(r"snow|\bice\b|\bicy\b|plow|shovel", re.IGNORECASE)
SNOW_NAMES = {"Misc. Snow Complaint": ("snow-misc", "冰雪综合投诉激增", "Burst of miscellaneous snow complaints"),
              "Request for Snow Plowing (Emergency Responder)": (
                  "snow-plowing", "紧急扫雪请求激增", "Burst of emergency snow-plowing requests")}
SNOW_SEASON = ("2015-01-24", "2015-03-31")  # local dates; outside it a day is "ordinary"
STORMS = (("2015-01-27", "2015-01-28"), ("2015-02-02", "2015-02-04"), ("2015-02-09", "2015-02-11"))


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def river_rules(obs: Path, station_grid: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """The river-level threshold rule (per-river overrides) and the river-rise rate rule."""
    series: dict[str, dict[float, float]] = defaultdict(dict)
    for rec in read_hubeau(obs):
        series[rec["source"].split(":", 1)[1]][_epoch(rec["ts"])] = rec["value"]
    t0 = min(min(s) for s in series.values())
    quiet_end, g0, g1 = t0 + 7 * 86400, _epoch(GLORIA[0]), _epoch(GLORIA[1])
    quiet: dict[str, list[float]] = defaultdict(list)
    peaks: dict[str, tuple[float, str]] = {}
    quiet_rise, storm_rise = 0.0, 0.0
    for code, values in series.items():
        grid = station_grid[code]
        quiet[grid] += [v for t, v in values.items() if t < quiet_end]
        peak = max((v for t, v in values.items() if g0 <= t < g1), default=-math.inf)
        if peak > peaks.get(grid, (-math.inf, ""))[0]:
            peaks[grid] = (peak, code)
        for t, v in values.items():
            if t - 3600 in values:
                if t < quiet_end:
                    quiet_rise = max(quiet_rise, v - values[t - 3600])
                elif g0 <= t < g1:
                    storm_rise = max(storm_rise, v - values[t - 3600])
    sources: dict[str, Any] = {}
    notes = [
        "river-level: per station (each gauge has its own datum), levels = the p99 of that station's readings",
        f"in the quiet first week of the file (before {datetime.fromtimestamp(quiet_end, UTC):%Y-%m-%d %H:%M} UTC)",
        "plus fixed margins of " + ", ".join(f"{k} +{v} m" for k, v in MARGINS.items())
        + " (a station silent that week: its readings before Gloria); '*' applies to stations without an entry.",
        "While a CAP warning whose event names rain/pluie (any level) or flood/crue (orange or red) is open for a",
        "river's grid, its levels come 20% (rain) or 30% (flood) of the distance between levels earlier.",
    ]
    for code in sorted(series):
        values = [v for t, v in series[code].items() if t < quiet_end]
        if not values:  # a station silent in the quiet week: its readings before Storm Gloria
            values = [v for t, v in series[code].items() if t < g0]
        if not values:  # no baseline at all (Y123201002 has one reading, during the flood): '*' applies
            continue
        p99 = _quantile(values, 0.99)
        sources[f"hubeau:{code}"] = {"levels": {name: round(p99 + m, 2) for name, m in MARGINS.items()}}
    for grid in sorted(peaks):
        peak, code = peaks[grid]
        red = sources[f"hubeau:{code}"]["levels"]["red"]
        notes.append(f"  {grid}: highest Gloria peak {peak:.2f} m at {code} (its red: {red} m)")
    level = {"id": "river-level", "kind": "threshold", "feed": "sensor", "metric": "water_level_m", "grid": "*",
             "direction": "above", "levels": {"blue": 3.0, "yellow": 3.5, "orange": 4.0, "red": 4.5},
             "for_seconds": 600, "hysteresis": 0.1, "risk": "safety", "title_zh": "河道水位超警戒",
             "title_en": "River level above warning", "sources": sources,
             # an upstream warning of rain, or of flood at orange or above, for the river's grid (or its department)
             # brings the levels earlier (docs/warnings-detection.md); Meteo-France names them in French too
             "while_warning": [{"event": "rain", "lower": 0.2}, {"event": "pluie", "lower": 0.2},
                               {"event": "flood", "lower": 0.3, "min_level": "orange"},
                               {"event": "crue", "lower": 0.3, "min_level": "orange"}]}
    blue = math.ceil(quiet_rise * 10) / 10
    rates = {"blue": blue, "yellow": round(blue * 1.5, 2), "orange": round(blue * 2, 2), "red": round(blue * 3, 2)}
    notes += [f"river-rise: blue = the largest 1-hour rise of any station in the quiet week ({quiet_rise:.3f} m),",
              "rounded up to 0.1 m/h; yellow, orange, red = 1.5x, 2x, 3x that.",
              f"Largest 1-hour rise in Gloria: {storm_rise:.2f} m/h."]
    rise = {"id": "river-rise", "kind": "rate", "feed": "sensor", "metric": "water_level_m", "grid": "*",
            "direction": "above", "levels": rates, "window_seconds": 3600, "risk": "safety",
            "title_zh": "河道水位快速上涨", "title_en": "River rising fast"}
    return level, rise, notes


def _level_of(value: float, levels: dict[str, float]) -> str:
    reached = [name for name, v in levels.items() if value >= v]
    return reached[-1] if reached else "none"


def snow_rules(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """One 24-hour count rule per snow/ice complaint TYPE with enough cases to size it."""
    times: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for rec in read_boston311(path):
        if SNOW_WORDS.search(rec["category"]):
            times[rec["category"]][rec.get("grid") or "(lat/lon)"].append(_epoch(rec["ts"]))
    rules, notes = [], [
        "snow: the snow/ice TYPEs of the Boston file (found by the words snow/ice/plow/shovel):",
        *(f"  {cat}: {sum(map(len, g.values()))} cases" for cat, g in sorted(times.items())),
        "Per TYPE with 500+ cases: count per grid in a sliding 24 h window; blue = 2 x the highest count on",
        f"ordinary days (outside {SNOW_SEASON[0]}..{SNOW_SEASON[1]}) + 2, red = the median of the three blizzards'",
        "peaks, yellow and orange geometric between them.",
    ]
    for cat, grids in sorted(times.items()):
        if sum(map(len, grids.values())) < 500:
            continue
        day_peak: dict[str, int] = defaultdict(int)
        for ts in grids.values():
            ts.sort()
            start = 0
            for end, t in enumerate(ts):
                while ts[start] <= t - 86400:
                    start += 1
                day = datetime.fromtimestamp(t, TZ).strftime("%Y-%m-%d")
                day_peak[day] = max(day_peak[day], end - start + 1)
        ordinary = max((n for d, n in day_peak.items() if not SNOW_SEASON[0] <= d <= SNOW_SEASON[1]), default=0)
        storm = [max((n for d, n in day_peak.items() if a <= d <= b), default=0) for a, b in STORMS]
        blue, red = 2 * ordinary + 2, max(sorted(storm)[1], 2 * ordinary + 5)
        levels = {"blue": blue, "yellow": round(blue * (red / blue) ** (1 / 3)),
                  "orange": round(blue * (red / blue) ** (2 / 3)), "red": red}
        for a, b in (("blue", "yellow"), ("yellow", "orange"), ("orange", "red")):
            levels[b] = max(levels[b], levels[a] + 1)
        quiet_days = sum(1 for d, n in day_peak.items() if not SNOW_SEASON[0] <= d <= SNOW_SEASON[1] and n >= blue)
        notes += [f"  {cat}:", f"    ordinary max {ordinary}, blizzard peaks {storm} reach "
                  f"{[_level_of(n, levels) for n in storm]}; ordinary days at blue or above: {quiet_days}"]
        rid, zh, en = SNOW_NAMES.get(cat, (f"snow-{slug(cat)}"[:64], f"冰雪投诉激增（{cat}）", f"Burst of {cat}"))
        rules.append({"id": rid, "kind": "count", "feed": "complaint", "category": cat, "grid": "*",
                      "direction": "above", "levels": levels, "window_seconds": 86400, "risk": "safety",
                      "title_zh": zh, "title_en": en})
    return rules, notes


class _Dumper(yaml.SafeDumper):
    """Block style, but short lists of scalars (points, aliases, channels) on one line."""


def _list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(isinstance(x, str | int | float) for x in data) and len(data) <= 8
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _list)


def dump(key: str, value: Any) -> str:
    return yaml.dump({key: value}, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=120)


def build(data: Path) -> tuple[str, dict[str, Any]]:
    """The YAML text and the facts it was derived from."""
    obs, _ = hubeau_files(data)
    stations = station_register(data)
    nodes = hubeau_nodes(stations) + boston_nodes(data)
    for n in nodes:
        if n.get("parent") is None:
            n.pop("parent", None)
    level, rise, river_notes = river_rules(obs, {s: f"FR-{slug(v['river'])}" for s, v in stations.items()})
    snow, snow_notes = snow_rules(data / "boston311-2015" / "boston_311_2015.csv.gz")
    head = [
        "# fenghuo example configuration: GENERATED by deploy/make_example_config.py from the real data in",
        "# ../shared/data (see its SOURCES.md); do not edit by hand, change the script and run it again:",
        "#   .venv/bin/python deploy/make_example_config.py",
        "# Grids: the 23 neighbourhoods of the Boston 311 file of 2015 (polygon = convex hull of the cases'",
        "# coordinates between the 2nd and 98th percentiles of lon and lat, City Hall placeholder points",
        "# dropped) and the 6 rivers of the 47 Hub'Eau stations in Occitanie (polygon = convex hull of the",
        "# river's stations buffered by 0.02 degrees; smaller grids first, as the first polygon that",
        "# contains a point wins). Hub'Eau events carry lat/lon and are resolved by these polygons.",
        "# Set FENGHUO_WEBHOOK_SECRET in the environment: the file holds no secret.",
        "",
        "grid_match_km: 5.0",
        "",
        "# The grid tree: district -> street -> community -> grid.",
        dump("nodes", nodes),
        dump("channels", CHANNELS),
        "# Drill notifications go only to drill participants (drill: true) and these channels.",
        dump("drills", {"channels": ["drill-webhook"]}),
        dump("responders", responders(nodes)),
        "# Seconds a responder has to acknowledge an alert before it escalates one tier up.",
        dump("escalation", {"deadlines": {"red": 300, "orange": 900, "yellow": 1800, "blue": 3600}}),
        ONCALL,
        MUTING,
        INCIDENTS,
        WARNINGS,
        *("# " + line for line in river_notes + snow_notes),
        dump("rules", [level, rise, *snow, *GAS_RULES]),
        DETECTORS,
    ]
    return "\n".join(head), {"stations": stations, "nodes": nodes}


# Text blocks kept as written (with their comments): on-call duty, muting, and the model detectors.
ONCALL = """# The configuration's timezone: local schedules (on-call rotations) use it unless they give their own.
timezone: Europe/Paris

# On-call duty (docs/oncall.md): the district offices' duty officers take turns; responders in no rotation
# (the drill controllers, the street and community offices) stay reachable at all times.
oncall:
- node: OCC
  name: duty officer
  responders: [occ-duty-1, occ-duty-2]
  rotation: weekly
  handover: "09:00"
  handover_day: monday
  start: 2026-01-05
  overrides:
  - from: 2026-08-10
    to: 2026-08-21
    responder: occ-duty-2
    note: Zhang Wei on leave
  - from: 2026-12-25
    to: 2026-12-25
    responder: occ-duty-1
    note: Christmas Day cover
- node: BOS
  name: duty officer
  timezone: America/New_York
  responders: [bos-duty-1, bos-duty-2]
  rotation: daily
  handover: "08:00"
  start: 2026-01-01
  overrides:
  - from: "2026-07-03 18:00"
    to: "2026-07-05 08:00"
    responder: bos-duty-1
    note: Independence Day weekend
"""

MUTING = """# Maintenance windows (docs/silences.md): matching alert changes are recorded, not sent.
maintenance:
  timezone: Europe/Paris            # the Hub'Eau gauges' local time; Boston's windows give their own
  windows:
  - name: gauge-O143291001-calibration  # a gauge's maintenance every Tuesday 02:00-04:00 local time
    match: {source: "hubeau:O143291001", feed: sensor}
    weekly: {days: [tue], start: "02:00", end: "04:00"}
    comment: monthly calibration visit; readings may jump
  - name: back-bay-street-works     # a street's works for two weeks: its complaints are recorded, not sent
    match: {grid: BOS-back-bay, feed: complaint}
    dates: {start: 2015-03-02, end: 2015-03-15}
    timezone: America/New_York
    comment: Boylston Street resurfacing

# Inhibition (as Alertmanager's): an open source alert holds back the notifications of matching targets.
inhibit_rules:
- name: district-red-holds-grid-river   # an open red at a district holds back its grids' river alerts
  source: {node_kind: district, level_at_least: red}
  target: {node_kind: grid, rule: river-level}
  under_source: true
- name: silent-sensor-holds-its-anomalies   # an open sensor-silent alert holds back that sensor's anomaly alerts
  source: {rule: sensor-silent}
  target: {rule: "anomaly:*"}
  equal: [source]
"""

INCIDENTS = """# Incidents (docs/incidents.md): the alerts of one risk under one street are grouped, notified together.
incidents:
  enabled: true
  group_by_kind: street      # the ancestor whose subtree groups: community, street or district
  group_wait: 30             # seconds from the incident's opening to its first summary
  group_interval: 300        # at most one update per 5 minutes (new members, a higher level, all cleared)
  repeat_interval: 14400     # a reminder every 4 hours while unacknowledged and still firing
  min_alerts: 2              # a lone alert is notified on its own, as without incidents
  window: 86400              # a new incident gathers the open alerts of its key raised in the last day
  max_members: 1000
"""

WARNINGS = """# CAP 1.2 warnings taken in (docs/warnings.md): POST /v1/warnings, or polled from the feeds in `sources`.
# A <geocode> value maps to grids or nodes through this table (a node: every grid under it); polygons and
# circles are matched against the grids' polygons. ISO 3166-2 codes of the departments (Meteo-France's
# vigilance warnings name them) and the SAME code of Suffolk County (the US NWS and Boston's public health
# notices name it).
warnings:
  sender: fenghuo@occitanie-boston.example   # this instance's CAP sender: messages from it are echoes, refused
  geocodes:
    FR-09: [OCC-09]      # Ariege
    FR-11: [OCC-11]      # Aude
    FR-34: [OCC-34]      # Herault
    FR-66: [OCC-66]      # Pyrenees-Orientales
    "025025": [BOS]      # Suffolk County, Massachusetts (SAME): all of Boston
  exercise_drill: cap-exercise   # status Exercise: taken as a drill of this name (unless posted with ?drill=)
  # sources:                     # CAP feeds polled (docs/federation.md)
  # - {name: neighbour-district, url: "https://neighbour.example/v1/cap/feed.atom", every: 60s}
"""

DETECTORS = """# Model detectors beside the rules: Prophet forecasts that raise a rule's alert before its level is
# crossed ("red expected in 40 min"), an anomaly model on every river gauge (certainty Possible),
# and corroboration across feeds in one grid.
detectors:
  forecast:
    model: prophet
  anomaly:
    detector: cusum              # the defaults' choice over NAB, SKAB and Gloria (docs/benchmarks-defaults.md)
    metrics: [water_level_m]
  asset: {}                    # an asset's sensors judged together (events with attrs.asset, or assets: {source: id})
  health:                      # dead and stuck sensors, silent sources and feeds (docs/sensors.md)
    silent_after: 5            # intervals of the series' own learned interval without a reading
    silent_min_s: 60
    silent_level: yellow
    silent_high_level: orange  # went silent at or beyond a threshold rule's blue
    stuck_after: 3             # times the longest run of one value seen before
    stuck_level: blue
    feed_silent_after: 10      # a whole source or feed: times its usual gap
    feed_level: orange
  fusion: {}
  bursts:                      # complaint bursts against a seasonal baseline (docs/benchmarks-bursts.md); it
    tz: America/New_York       # learns for a week (warmup_hours: 168) before it judges, so the 4-day demo is quiet
    ignore_channels: [Employee Generated, City Worker App, Maximo Integration]  # crew work orders, not complaints
    holidays: [2015-01-01, 2015-01-19, 2015-02-16, 2015-03-17, 2015-04-20, 2015-05-25, 2015-06-17, 2015-07-03,
               2015-09-07, 2015-10-12, 2015-11-11, 2015-11-26, 2015-12-25]  # Boston's: they take Sunday's profile
    # yearly: true             # (the default) a yearly profile by month, learned once a past year has been seen
    # date_only: null          # (the default) a source whose times are all 00:00 is counted by day, found by itself
    # campaigns:               # scheduled campaigns lift a category's expected count instead of alerting:
    #   - {category: "Tax*", from: "02-01", to: "04-15", lift: learn}    # every year; lift learned from past years
    #   - {category: "Street Resurfacing", from: "2015-05-01", to: "2015-06-15", grids: [BOS-dorchester], lift: 3}
"""


def check(path: Path, stations: dict[str, dict[str, Any]]) -> None:
    os.environ.setdefault("FENGHUO_WEBHOOK_SECRET", "check-only-not-a-secret")
    config = load_config(path)
    resolve = make_resolver(GridTree(config.nodes, config.grid_match_km))
    wrong = [(code, st["river"], resolve(None, st["lat"], st["lon"])) for code, st in stations.items()
             if resolve(None, st["lat"], st["lon"]) != f"FR-{slug(st['river'])}"]
    if wrong:
        raise SystemExit(f"stations resolved to the wrong grid: {wrong}")
    print(f"{path}: valid; {len(config.nodes)} nodes, {len(config.responders)} responders, "
          f"{len(config.rules)} rules; all {len(stations)} stations resolve to their river's grid")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=shared_data())
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    text, facts = build(args.data)
    args.out.write_text(text, encoding="utf-8")
    check(args.out, facts["stations"])


if __name__ == "__main__":
    main()
