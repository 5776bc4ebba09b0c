// The grid map: one district at a time, coloured by their worst open alert. Cells are drawn from their polygons
// (smaller on top) when none then hides another, else tiled from their centroids (maplayout.js), over a graticule.

import { alertTable, gridName, levelBadge, modeToggle } from "../components.js";
import { clear, h, levelClass, s } from "../dom.js";
import { levelName, nodeName, t } from "../i18n.js";
import { alertsFor, districtOf, gridsUnder, LEVELS, RANK, state, subscribe } from "../store.js";
import { layoutCells } from "../maplayout.js";
import { oncallPanel } from "./oncall.js";

export const W = 860, H = 520, PAD = 24, RADIUS = 14;
let chosenDistrict = null;
let chosenGrid = null;

function districts() {
  const tops = state.nodes.filter((n) => !n.parent || !state.byId.has(n.parent));
  return tops.filter((n) => gridsUnder(n.id).length);
}

function worstOpen(gridId) {
  let worst = null;
  for (const a of alertsFor({ status: "active", grid: gridId })) if (!worst || RANK[a.level] > RANK[worst]) worst = a.level;
  return worst;
}

function cell(node, c) {
  const worst = worstOpen(node.id);
  const label = `${nodeName(node)}: ${levelName(worst)}`;
  const select = () => { chosenGrid = node.id; draw(); };
  const attrs = { class: `cell ${levelClass(worst)} ${chosenGrid === node.id ? "chosen" : ""}`, "data-grid": node.id,
    "data-level": worst || "none", "data-hit": c.hit.map((v) => v.toFixed(1)).join(","), tabindex: 0, role: "button",
    "aria-label": label, onclick: select,
    onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(); } } };
  const shapeEl = c.circle
    ? s("circle", { cx: c.circle.x.toFixed(1), cy: c.circle.y.toFixed(1), r: c.circle.r })
    : s("polygon", { points: c.ring.map((p) => p.map((v) => v.toFixed(1)).join(",")).join(" ") });
  const text = c.label ? s("text", { x: c.labelAt[0].toFixed(1), y: c.labelAt[1].toFixed(1), class: "cell-label",
    "text-anchor": "middle" }, c.label) : null;
  return s("g", attrs, s("title", {}, label), shapeEl, text);
}

/** The offline background: graticule lines with their degrees, and a scale bar (also the risk map's). */
export function backdrop(grid) {
  const out = [s("rect", { x: 0, y: 0, width: W, height: H, class: "map-bg" })];
  for (const ln of grid.lines) {
    out.push(s("line", { x1: ln.x1.toFixed(1), y1: ln.y1.toFixed(1), x2: ln.x2.toFixed(1), y2: ln.y2.toFixed(1), class: "graticule" }));
    out.push(ln.axis === "lon"
      ? s("text", { x: (ln.x1 + 3).toFixed(1), y: H - 4, class: "graticule-label" }, ln.label)
      : s("text", { x: 3, y: (ln.y1 - 3).toFixed(1), class: "graticule-label" }, ln.label));
  }
  if (grid.scale) {
    const x0 = W - 16 - grid.scale.px, y0 = 18;
    out.push(s("g", { class: "scale-bar" },
      s("rect", { x: x0 - 6, y: y0 - 13, width: grid.scale.px + 12, height: 24, class: "scale-bg" }),
      s("line", { x1: x0, y1: y0 + 5, x2: x0 + grid.scale.px, y2: y0 + 5 }),
      s("line", { x1: x0, y1: y0 + 1, x2: x0, y2: y0 + 9 }), s("line", { x1: x0 + grid.scale.px, y1: y0 + 1, x2: x0 + grid.scale.px, y2: y0 + 9 }),
      s("text", { x: x0 + grid.scale.px / 2, y: y0, "text-anchor": "middle" }, `${grid.scale.km} km`)));
  }
  return out;
}

function mapSvg(district) {
  const nodes = gridsUnder(district.id);
  const cells = nodes.map((n) => ({ id: n.id, name: nodeName(n),
    ring: n.polygon && n.polygon.length >= 3 ? n.polygon : null,
    site: n.centroid ? [n.centroid[1], n.centroid[0]] : null })).filter((c) => c.ring || c.site);
  if (!cells.length) return h("p", { class: "empty" }, t("map.nogrids"));
  const lay = layoutCells(cells, { W, H, pad: PAD, radius: RADIUS, size: 12 });
  const label = t("map.label", { name: nodeName(district) });
  return [s("svg", { viewBox: `0 0 ${W} ${H}`, class: `map map-${lay.mode}`, role: "group", "aria-label": label, "data-layout": lay.mode },
    s("title", {}, label),
    backdrop(lay.grid),
    lay.cells.map((c) => cell(state.byId.get(c.id), c))),
  h("p", { class: "hint map-note" }, t(lay.mode === "tiles" ? "map.tiles" : "map.polygons"))];
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
    oncallPanel(chosenDistrict),
  );
}

export function render(container) {
  root = container;
  draw();
  return subscribe(draw);
}
