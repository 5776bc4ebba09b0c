// External warnings (CAP 1.2 taken in: posted, polled from other offices' feeds, or federated from other fenghuo
// instances): the open ones with their sender, event, level, expiry, origin and the grids they cover; their areas
// (polygons and circles) drawn over the grids; and the polled sources with their health.

import { api, ApiError } from "../api.js";
import { gridName, levelBadge } from "../components.js";
import { clear, h, levelClass, s } from "../dom.js";
import { fmtTime, nodeName, t } from "../i18n.js";
import { fitProjection } from "../maplayout.js";
import { districtOf, LEVELS, state } from "../store.js";

const W = 860, H = 460, PAD = 24, REFRESH_MS = 5000;
const KM_PER_DEG = 111.32;

/** Epoch seconds or an ISO text, as the board shows times. */
function when(v) {
  if (v === null || v === undefined || v === "") return "—";
  return fmtTime(typeof v === "number" ? new Date(v * 1000).toISOString() : v);
}

/** The areas of a warning as [{polygons: [[[lat, lon]]], circles: [[lat, lon, km]], desc}] whatever the list gives. */
function areasOf(w) {
  const raw = w.areas ?? w.area ?? [];
  return (Array.isArray(raw) ? raw : [raw]).filter((a) => a && typeof a === "object");
}

function gridsOf(w) {
  return Array.isArray(w.grids) ? w.grids : [];
}

function originText(w) {
  const o = w.origin;
  if (!o) return "—";
  if (o === "http") return t("wrn.origin.http");
  return t("wrn.origin.source", { name: o });
}

function sourceRow(src) {
  const failing = src.status === "failing";
  const health = failing
    ? h("span", { class: "status wrn-failing", "data-health": "failing" }, t("wrn.health.failing"), " · ",
      h("span", { class: "wrn-reason" }, src.error || "—"))
    : h("span", { class: `status wrn-${src.status}`, "data-health": src.status }, t(`wrn.health.${src.status}`));
  return h("tr", { "data-source": src.name },
    h("td", {}, h("strong", {}, src.name), h("div", { class: "hint wrn-url" }, src.url)),
    h("td", {}, health, src.failures > 1 ? h("div", { class: "hint" }, t("wrn.src.failures", { n: src.failures })) : null),
    h("td", { class: "c-time" }, when(src.last_poll)),
    h("td", { class: "c-time" }, when(src.last_ok)),
    h("td", { class: "c-time" }, when(src.next_poll)),
    h("td", {}, String(src.items_taken ?? 0)));
}

function sourcesPanel(sources, failed) {
  let body;
  if (failed) body = h("p", { class: "error", role: "alert" }, failed);
  else if (!sources.length) body = h("p", { class: "empty", id: "wrn-src-empty" }, t("wrn.src.none"));
  else {
    body = h("div", { class: "table-wrap" }, h("table", { class: "plain", id: "wrn-sources" },
      h("caption", { class: "sr-only" }, t("wrn.sources")),
      h("thead", {}, h("tr", {}, ["wrn.src.name", "wrn.src.health", "wrn.src.last", "wrn.src.ok", "wrn.src.next",
        "wrn.src.items"].map((k) => h("th", { scope: "col" }, t(k))))),
      h("tbody", {}, sources.map(sourceRow))));
  }
  return h("section", { class: "panel", "aria-labelledby": "h-wrn-src" }, h("h2", { id: "h-wrn-src" }, t("wrn.sources")), body);
}

function warningRow(w) {
  const grids = gridsOf(w);
  const shown = grids.slice(0, 8).map(gridName).join(t("wrn.sep"));
  return h("tr", { class: `alert-row lv-${w.level}`, "data-warning": w.identifier || w.alert_id || "",
    "data-level": w.level, "data-sender": w.sender },
  h("td", { class: "c-level" }, levelBadge(w.level)),
  h("td", {}, h("strong", {}, w.event || "—"), w.headline ? h("div", { class: "hint" }, w.headline) : null),
  h("td", { class: "wrn-sender" }, w.sender_name ? `${w.sender_name} · ` : "", h("code", {}, w.sender || "—")),
  h("td", { class: "c-time" }, when(w.expires)),
  h("td", {}, originText(w)),
  h("td", { class: "wrn-grids", title: grids.join(", ") },
    grids.length ? `${shown}${grids.length > 8 ? t("wrn.more", { n: grids.length - 8 }) : ""}` : t("wrn.nogrids")));
}

function warningsPanel(warnings, failed) {
  let body;
  if (failed) body = h("p", { class: "error", role: "alert" }, failed);
  else if (!warnings.length) body = h("p", { class: "empty", id: "wrn-empty" }, t("wrn.none"));
  else {
    body = h("div", { class: "table-wrap" }, h("table", { class: "plain", id: "wrn-table" },
      h("caption", { class: "sr-only" }, t("wrn.list")),
      h("thead", {}, h("tr", {}, ["wrn.level", "wrn.event", "wrn.sender", "wrn.expires", "wrn.origin", "wrn.grids"]
        .map((k) => h("th", { scope: "col" }, t(k))))),
      h("tbody", {}, warnings.map(warningRow))));
  }
  return h("section", { class: "panel", "aria-labelledby": "h-wrn-list" }, h("h2", { id: "h-wrn-list" }, t("wrn.list")), body);
}

/** The grids (their polygons, else a dot at the centroid) with every warning's polygons and circles over them. */
function mapSvg(warnings) {
  // the grids of the districts the open warnings cover (two far-apart districts on one map leave both unreadable)
  const districts = new Set(warnings.flatMap((w) => gridsOf(w).map((g) => districtOf(g)?.id)).filter(Boolean));
  const grids = state.nodes.filter((n) => n.kind === "grid" && districts.has(districtOf(n.id)?.id)
    && ((n.polygon && n.polygon.length >= 3) || n.centroid));
  const pts = [];
  for (const n of grids) {
    if (n.polygon && n.polygon.length >= 3) pts.push(...n.polygon);
    else pts.push([n.centroid[1], n.centroid[0]]);
  }
  for (const w of warnings) {
    for (const a of areasOf(w)) {
      for (const poly of a.polygons || []) pts.push(...poly.map(([lat, lon]) => [lon, lat]));
      for (const [lat, lon, km] of a.circles || []) {
        const d = km / KM_PER_DEG;
        pts.push([lon - d, lat - d], [lon + d, lat + d]);
      }
    }
  }
  if (!pts.length) return h("p", { class: "empty" }, t("wrn.map.empty"));
  const { project, scale } = fitProjection(pts, W, H, PAD);
  const ring = (lonlat) => lonlat.map((p) => project(p).map((v) => v.toFixed(1)).join(",")).join(" ");
  const labels = [];
  const cells = grids.map((n) => {
    const name = nodeName(n);
    const shape = n.polygon && n.polygon.length >= 3
      ? s("polygon", { points: ring(n.polygon) })
      : (() => { const [x, y] = project([n.centroid[1], n.centroid[0]]);
        return s("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 5 }); })();
    const at = project(n.polygon && n.polygon.length >= 3
      ? n.polygon.reduce((m, p) => [m[0] + p[0] / n.polygon.length, m[1] + p[1] / n.polygon.length], [0, 0])
      : [n.centroid[1], n.centroid[0]]);
    labels.push(s("text", { x: at[0].toFixed(1), y: (at[1] + (shape.tagName === "circle" ? 16 : 4)).toFixed(1),
      class: "cell-label", "text-anchor": "middle", "aria-hidden": "true" }, name));
    return s("g", { class: "wrn-grid", "data-grid": n.id }, s("title", {}, name), shape);
  });
  const areas = [];
  const order = [...warnings].sort((a, b) => LEVELS.indexOf(a.level) - LEVELS.indexOf(b.level));  // red on top
  for (const w of order) {
    const cls = `wrn-area ${levelClass(w.level)}`;  // coloured by style.css (no inline styles: the CSP forbids them)
    const label = `${w.event || ""} · ${w.sender || ""}`;
    for (const a of areasOf(w)) {
      for (const poly of a.polygons || []) {
        areas.push(s("polygon", { class: cls, "data-shape": "polygon", "data-sender": w.sender,
          "data-level": w.level, points: ring(poly.map(([lat, lon]) => [lon, lat])) }, s("title", {}, label)));
      }
      for (const [lat, lon, km] of a.circles || []) {
        const [x, y] = project([lon, lat]);
        areas.push(s("circle", { class: cls, "data-shape": "circle", "data-sender": w.sender, "data-level": w.level,
          cx: x.toFixed(1), cy: y.toFixed(1), r: Math.max(4, (km / KM_PER_DEG) * scale).toFixed(1) },
        s("title", {}, label)));
      }
    }
  }
  const label = t("wrn.map.label", { n: warnings.length });
  return s("svg", { viewBox: `0 0 ${W} ${H}`, class: "map wrn-map", id: "wrn-map", role: "img", "aria-label": label },
    s("title", {}, label), s("rect", { x: 0, y: 0, width: W, height: H, class: "map-bg" }), cells, areas,
    labels);  // the grids' names above the areas
}

export function render(root) {
  let alive = true;
  let timer = null;

  async function refresh() {
    const [w, src] = await Promise.allSettled([
      api("/v1/warnings", { params: { status: "open", drill: state.mode === "drill" ? "true" : "false" } }),
      api("/v1/warnings/sources"),
    ]);
    if (!alive) return;
    const why = (r) => (r.reason instanceof ApiError && r.reason.status === 403 ? t("wrn.forbidden")
      : t("error.generic", { msg: r.reason?.message || "" }));
    const warnings = w.status === "fulfilled" ? (w.value.warnings || []) : [];
    const sources = src.status === "fulfilled" ? (src.value.sources || []) : [];
    clear(root).append(
      h("h1", { class: "page-title" }, t("wrn.title")),
      h("p", { class: "hint" }, t("wrn.note")),
      warningsPanel(warnings, w.status === "rejected" ? why(w) : null),
      h("section", { class: "panel", "aria-labelledby": "h-wrn-map" }, h("h2", { id: "h-wrn-map" }, t("wrn.map")),
        h("div", { class: "map-wrap" }, mapSvg(warnings))),
      sourcesPanel(sources, src.status === "rejected" ? why(src) : null));
    timer = setTimeout(refresh, REFRESH_MS);
  }

  refresh();
  return () => { alive = false; clearTimeout(timer); };
}
