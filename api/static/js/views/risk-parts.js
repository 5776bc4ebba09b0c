// Pieces of the risk forecast page (views/risk.js): the colour scale of probabilities, number formats, the bars of
// a probability and of a factor's signed contribution, the legend and the grid map coloured by risk.
//
// The scale is one hue (purple) from pale to dark, so that it reads by lightness alone (for every kind of colour
// vision, and in grey) and is never mistaken for the four alert levels (blue, yellow, orange, red): a forecast is
// not an alert. Grids over the watch level carry a mark that is a shape, not a colour.

import { gridName } from "../components.js";
import { h, s } from "../dom.js";
import { lang, nodeName, t } from "../i18n.js";
import { layoutCells } from "../maplayout.js";
import { gridsUnder, state } from "../store.js";
import { backdrop, H, PAD, RADIUS, W } from "./map.js";

/** Lower edges of the seven classes of the scale (probabilities): finer where most grids are (a week's base rate is
 * some 10 to 25 %), one class from 50 % up (the default watch level; those grids carry the watch mark too). */
export const BINS = [0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5];

/** The class (0..6) of a probability; null without one. */
export function binOf(p) {
  if (p === null || p === undefined || !Number.isFinite(p)) return null;
  let k = 0;
  for (let i = 0; i < BINS.length; i++) if (p >= BINS[i]) k = i;
  return k;
}

/** A probability as a percentage: "62%", "<1%", "—". */
export function pct(p) {
  if (p === null || p === undefined || !Number.isFinite(p)) return "—";
  if (p > 0 && p < 0.005) return "<1%";
  return `${Math.round(p * 100)}%`;
}

/** A count or feature value: whole numbers as they are, else up to two decimals. */
export function num(v, digits = 2) {
  if (v === null || v === undefined || !Number.isFinite(Number(v))) return "—";
  const x = Number(v);
  if (Number.isInteger(x)) return String(x);
  return String(Number(x.toFixed(Math.abs(x) >= 10 ? 1 : digits)));
}

const CJK = /[\u2e80-\u9fff]/;

/** The service's English wordings of "no forecast yet" (fenghuo/runtime/risk_job.py), as keys of i18n.js. */
const REASONS = [
  [/^no (\d+)-day forecast of the real data yet: one is made every ([\d.]+) h$/, (m) => t("rf.why.every", { n: m[1], h: m[2] })],
  [/^no (\d+)-day forecast of drill run (\S+) yet: one is made when the run ends, or on request$/,
    (m) => t("rf.why.drill", { n: m[1], run: m[2] })],
  [/^no (\d+)-day forecast of the real data yet: one is made on request\b.*$/, (m) => t("rf.why.request", { n: m[1] })],
  [/^no (\d+)-day forecast of drill run (\S+) yet: one is made on request\b.*$/,
    (m) => t("rf.why.request.drill", { n: m[1], run: m[2] })],
  [/^no complaints in the store yet: nothing to forecast from$/, () => t("rf.why.nocomplaints")],
];

/**
 * A reason the service gives, in the board's language: "中文 (English)" and "中文 / English" are cut to one half,
 * the service's known English wordings are said from i18n.js, any other text is shown as it came.
 */
export function reasonText(text) {
  if (text === null || text === undefined) return "";
  const str = String(text).trim();
  for (const [re, say] of REASONS) {
    const m = str.match(re);
    if (m) return say(m);
  }
  const paren = str.match(/^(.*[\u2e80-\u9fff].*?)\s*[（(]([^（）()]+)[)）]$/);
  if (paren && !CJK.test(paren[2])) return lang() === "en" ? paren[2] : paren[1];
  const cut = str.indexOf(" / ");
  if (cut > 0 && CJK.test(str.slice(0, cut)) && !CJK.test(str.slice(cut + 3))) {
    return lang() === "en" ? str.slice(cut + 3) : str.slice(0, cut);
  }
  return str;
}

/** A number of days: "1 天" / "1 day", "7 天" / "7 days". */
export function daysText(n) { return n === 1 ? t("rf.day") : t("rf.days", { n }); }

/** A factor's name in the board's language (the API sends both). */
export function factorLabel(f) {
  return (lang() === "en" ? f.label_en || f.label_zh : f.label_zh || f.label_en) || f.name;
}

/** A signed contribution in its unit: "+0.84 对数几率", "−3.1 个百分点" (probability points). */
export function contributionText(f) {
  const c = Number(f.contribution) || 0;
  const sign = c > 0 ? "+" : c < 0 ? "−" : "±";
  if (f.unit === "probability") return `${sign}${Math.abs(c * 100).toFixed(1)} ${t("rf.unit.pp")}`;
  return `${sign}${Math.abs(c).toFixed(2)} ${f.unit === "log-odds" ? t("rf.unit.logodds") : f.unit || ""}`.trim();
}

/**
 * A small bar of a signed contribution around a centre line: to the right (dark) raises the risk, to the left
 * (hatched, light) lowers it. ``scale`` is the largest |contribution| drawn with the same unit.
 */
export function contributionBar(c, scale) {
  const W = 64, HB = 10, mid = W / 2;
  const w = scale > 0 ? Math.min(1, Math.abs(c) / scale) * (mid - 1) : 0;
  const up = c >= 0;
  return s("svg", { class: "f-bar", viewBox: `0 0 ${W} ${HB}`, width: W, height: HB, "aria-hidden": "true" },
    s("rect", { x: 0, y: 4, width: W, height: 2, class: "f-track" }),
    s("rect", { x: up ? mid : mid - w, y: 0, width: Math.max(w, 0.5), height: HB, class: up ? "f-up" : "f-down" }),
    s("line", { x1: mid, y1: 0, x2: mid, y2: HB, class: "f-mid" }));
}

/** A horizontal bar of a probability with the watch level marked on it. */
export function probabilityBar(p, watch) {
  const W = 120, HB = 12;
  const bin = binOf(p);
  return s("svg", { class: "p-bar", viewBox: `0 0 ${W} ${HB}`, width: W, height: HB, "aria-hidden": "true" },
    s("rect", { x: 0, y: 0, width: W, height: HB, class: "p-track" }),
    s("rect", { x: 0, y: 0, width: Math.max(0, Math.min(1, p || 0)) * W, height: HB, class: `p-fill rb-${bin ?? "none"}` }),
    Number.isFinite(watch) ? s("line", { x1: watch * W, y1: -1, x2: watch * W, y2: HB + 1, class: "p-watch" }) : null);
}

/** Whether a row is over the watch level: the API's ``watch`` (grids only: their community office is told), else
 * a grid at or over the level. */
export function isWatch(row, watchLevel) {
  if (typeof row.watch === "boolean") return row.watch;
  return row.kind === "grid" && row.probability >= watchLevel;
}

/** The watch mark (a grid or node over the watch level): a shape and a word, never a colour alone. */
export function watchMark(watchLevel) {
  return h("span", { class: "rf-watch", title: t("rf.watch.title", { level: pct(watchLevel) }) }, "◉ ", t("rf.watch"));
}

/** The legend: the classes as one ramp with their ranges, no forecast, the watch mark, and what the numbers are. */
export function legend(horizon, watchLevel) {
  const edges = [...BINS, 1];
  return h("div", { class: "rf-legend", id: "rf-legend" },
    h("p", { class: "rf-legend-what" }, t("rf.legend.what", { days: daysText(horizon) })),
    h("div", { class: "rf-legend-row" },
      h("ol", { class: "rf-ramp", "aria-label": t("map.legend") },
        BINS.map((lo, i) => h("li", { "data-bin": i },
          h("span", { class: `rf-swatch rb-${i}` }),
          h("span", { class: "rf-range" }, `${Math.round(lo * 100)}–${Math.round(edges[i + 1] * 100)}%`)))),
      h("ul", { class: "legend rf-keys" },
        h("li", {}, h("span", { class: "swatch rf-swatch rb-none" }), t("rf.legend.none")),
        h("li", {}, h("span", { class: "swatch rf-swatch rf-swatch-watch" }), `◉ ${t("rf.legend.watch", { level: pct(watchLevel) })}`))));
}

function cellLabel(node, row, watchLevel) {
  if (!row) return t("rf.cell.none", { name: nodeName(node) });
  return t(isWatch(row, watchLevel) ? "rf.cell.watch" : "rf.cell", { name: nodeName(node), p: pct(row.probability) });
}

/**
 * The district's grids coloured by their forecast probability. ``rows``: grid id -> row of the chosen group;
 * ``inside``: the grid ids under the chosen node (the others are drawn faded); ``onPick(gridId)``.
 */
export function riskMap(district, rows, { inside, chosen, watchLevel, onPick }) {
  const nodes = gridsUnder(district.id);
  const cells = nodes.map((n) => {
    const row = rows.get(n.id);
    const mark = row && isWatch(row, watchLevel) ? "◉ " : "";
    return { id: n.id, name: row ? `${mark}${pct(row.probability)} ${nodeName(n)}` : nodeName(n),
      ring: n.polygon && n.polygon.length >= 3 ? n.polygon : null,
      site: n.centroid ? [n.centroid[1], n.centroid[0]] : null };
  }).filter((c) => c.ring || c.site);
  if (!cells.length) return h("p", { class: "empty" }, t("map.nogrids"));
  const lay = layoutCells(cells, { W, H, pad: PAD, radius: RADIUS, size: 12 });
  const label = t("rf.map.label", { name: nodeName(district) });
  const drawn = lay.cells.map((c) => {
    const node = state.byId.get(c.id);
    const row = rows.get(c.id);
    const bin = row ? binOf(row.probability) : null;
    const watch = Boolean(row && isWatch(row, watchLevel));
    const text = cellLabel(node, row, watchLevel);
    const pick = () => onPick(c.id);
    const shape = c.circle
      ? s("circle", { cx: c.circle.x.toFixed(1), cy: c.circle.y.toFixed(1), r: c.circle.r })
      : s("polygon", { points: c.ring.map((p) => p.map((v) => v.toFixed(1)).join(",")).join(" ") });
    return s("g", {
      class: `cell rf-cell rb-${bin ?? "none"} ${watch ? "watch" : ""} ${inside.has(c.id) ? "" : "outside"} ${chosen === c.id ? "chosen" : ""}`,
      "data-grid": c.id, "data-bin": bin ?? "none", "data-probability": row ? row.probability : "",
      "data-hit": c.hit.map((v) => v.toFixed(1)).join(","), tabindex: 0, role: "button", "aria-label": text,
      onclick: pick, onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(); } },
    }, s("title", {}, text), shape);
  });
  // labels above every cell (a later cell never covers the start of an earlier cell's label)
  const labels = lay.cells.filter((c) => c.label).map((c) => s("text", { x: c.labelAt[0].toFixed(1), y: c.labelAt[1].toFixed(1),
    class: `cell-label ${inside.has(c.id) ? "" : "outside"}`, "text-anchor": "middle", "data-grid": c.id, "aria-hidden": "true" },
    c.label));
  return [s("svg", { viewBox: `0 0 ${W} ${H}`, class: `map rf-map map-${lay.mode}`, role: "group", "aria-label": label,
    "data-layout": lay.mode }, s("title", {}, label), backdrop(lay.grid), drawn, s("g", { class: "rf-labels" }, labels)),
  h("p", { class: "hint map-note" }, t(lay.mode === "tiles" ? "map.tiles" : "map.polygons"))];
}

/** A node's name for the lists: its name, else its id. */
export function nameOf(id) { return gridName(id); }
