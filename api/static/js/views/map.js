// The grid map: one district at a time, cells drawn from their polygons (or circles at centroids),
// projected equirectangularly onto the district's bounding box, coloured by their worst open alert.

import { alertTable, gridName, levelBadge, modeToggle } from "../components.js";
import { clear, h, levelClass, s } from "../dom.js";
import { levelName, nodeName, t } from "../i18n.js";
import { alertsFor, districtOf, gridsUnder, LEVELS, RANK, state, subscribe } from "../store.js";

const W = 860, H = 520, PAD = 28, RADIUS = 14;
let chosenDistrict = null;
let chosenGrid = null;

function districts() {
  const tops = state.nodes.filter((n) => !n.parent || !state.byId.has(n.parent));
  return tops.filter((n) => gridsUnder(n.id).length);
}

/** [lon, lat] rings of a grid cell; a cell without a polygon is its centroid only. */
function shapeOf(node) {
  if (node.polygon && node.polygon.length >= 3) return { ring: node.polygon };
  if (node.centroid) return { point: [node.centroid[1], node.centroid[0]] };
  return null;
}

/** Equirectangular projection (longitudes shrunk by cos of the mean latitude) fitted to the cells. */
function projection(shapes) {
  const pts = shapes.flatMap((sh) => sh.ring || [sh.point]);
  const lons = pts.map((p) => p[0]), lats = pts.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)];
  const k = Math.cos((((y0 + y1) / 2) * Math.PI) / 180);
  const spanX = Math.max((x1 - x0) * k, 1e-6), spanY = Math.max(y1 - y0, 1e-6);
  const pad = PAD + RADIUS;
  const scale = Math.min((W - 2 * pad) / spanX, (H - 2 * pad) / spanY);
  const ox = (W - spanX * scale) / 2, oy = (H - spanY * scale) / 2;
  return ([lon, lat]) => [ox + (lon - x0) * k * scale, H - oy - (lat - y0) * scale];
}

function worstOpen(gridId) {
  let worst = null;
  for (const a of alertsFor({ status: "active", grid: gridId })) if (!worst || RANK[a.level] > RANK[worst]) worst = a.level;
  return worst;
}

function cell(node, shape, project) {
  const worst = worstOpen(node.id);
  const label = `${nodeName(node)}: ${levelName(worst)}`;
  const select = () => { chosenGrid = node.id; draw(); };
  const attrs = { class: `cell ${levelClass(worst)} ${chosenGrid === node.id ? "chosen" : ""}`, "data-grid": node.id,
    "data-level": worst || "none", tabindex: 0, role: "button", "aria-label": label,
    onclick: select, onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(); } } };
  let shapeEl, at;
  if (shape.ring) {
    const pts = shape.ring.map(project);
    shapeEl = s("polygon", { points: pts.map((p) => p.map((v) => v.toFixed(1)).join(",")).join(" ") });
    at = pts.reduce((acc, p) => [acc[0] + p[0] / pts.length, acc[1] + p[1] / pts.length], [0, 0]);
  } else {
    at = project(shape.point);
    shapeEl = s("circle", { cx: at[0].toFixed(1), cy: at[1].toFixed(1), r: RADIUS });
  }
  const text = s("text", { x: at[0], y: shape.ring ? at[1] + 4 : at[1] + RADIUS + 14, class: "cell-label",
    "text-anchor": "middle" }, nodeName(node));
  return s("g", attrs, s("title", {}, label), shapeEl, text);
}

function mapSvg(district) {
  const grids = gridsUnder(district.id).map((n) => ({ n, sh: shapeOf(n) })).filter((x) => x.sh);
  if (!grids.length) return h("p", { class: "empty" }, t("map.nogrids"));
  const project = projection(grids.map((x) => x.sh));
  const label = t("map.label", { name: nodeName(district) });
  // polygons first, circles on top
  grids.sort((a, b) => Number(Boolean(a.sh.point)) - Number(Boolean(b.sh.point)));
  return s("svg", { viewBox: `0 0 ${W} ${H}`, class: "map", role: "group", "aria-label": label },
    s("title", {}, label),
    s("rect", { x: 0, y: 0, width: W, height: H, class: "map-bg" }),
    grids.map(({ n, sh }) => cell(n, sh, project)));
}

function legend() {
  return h("ul", { class: "legend", "aria-label": t("map.legend") },
    [null, ...LEVELS].map((lv) => h("li", {}, h("span", { class: `swatch ${levelClass(lv)}` }), levelName(lv))));
}

function defaultDistrict(list) {
  const worst = alertsFor({ status: "active" }).find((a) => districtOf(a.grid));
  return (worst && districtOf(worst.grid)?.id) || list[0]?.id;
}

let root = null;

function draw() {
  const list = districts();
  if (!list.length) { clear(root).append(h("p", { class: "empty" }, t("map.nogrids"))); return; }
  if (!list.some((d) => d.id === chosenDistrict)) chosenDistrict = defaultDistrict(list);
  const district = state.byId.get(chosenDistrict);
  const select = h("select", { id: "district", onchange: (e) => { chosenDistrict = e.target.value; chosenGrid = null; draw(); } },
    list.map((d) => h("option", { value: d.id, selected: d.id === chosenDistrict }, nodeName(d))));
  const gridAlerts = chosenGrid ? alertsFor({ grid: chosenGrid, status: "all" }) : [];
  clear(root).append(
    h("h1", { class: "page-title" }, t("nav.map")),
    h("div", { class: "filters" },
      h("label", { for: "district", class: "filter-label" }, t("map.district")), select,
      h("span", { class: "filter-label" }, t("filter.mode")), modeToggle(), legend()),
    h("div", { class: "map-wrap" }, mapSvg(district)),
    h("section", { class: "panel" },
      chosenGrid
        ? [h("h2", {}, t("map.alerts_in", { grid: gridName(chosenGrid) }), " ", levelBadge(worstOpen(chosenGrid))),
          alertTable(gridAlerts)]
        : h("p", { class: "hint" }, t("map.select"))),
  );
}

export function render(container) {
  root = container;
  draw();
  return subscribe(draw);
}
