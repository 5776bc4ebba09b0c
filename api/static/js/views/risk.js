// The risk forecast (issue 17, docs/risk-forecast.md): where complaints are likely to break out in the next days.
// A grid map coloured by the forecast probability, the grids ranked with the factors behind each, the roll-up of
// the tree (community, street, district) to narrow the page to one area, and the forecast's track record (how past
// top grids turned out). A forecast never raises an alert: the page says so. Analysts and admins may ask for a
// forecast now; the service refuses others (403) and the button is hidden for them.
//
// GET /v1/risk/forecast?horizon=<n>d[&drill=<run>] and GET /v1/risk/track-record?weeks=12[&drill=<run>] (viewer);
// POST /v1/risk/forecast (analyst). The page filters group and area itself, from the one answer.

import { api, ApiError, getKey } from "../api.js";
import { errorBox } from "../components.js";
import { clear, h, s } from "../dom.js";
import { fmtTime, nodeName, t, tOr } from "../i18n.js";
import { districtOf, gridsUnder, state, subscribe } from "../store.js";
import {
  binOf, contributionBar, contributionText, daysText, factorLabel, isWatch, legend, nameOf, num, pct, probabilityBar,
  reasonText, riskMap, watchMark,
} from "./risk-parts.js";

const HORIZONS = Array.from({ length: 28 }, (_, i) => i + 1);
const TOP = 20;            // grids listed before "show all"
const WEEKS = 12;          // weeks of track record asked for

const ui = { horizon: 7, group: "all", node: "", district: "", chosen: null, all: false };
let root = null;
let drill = "";            // the drill run whose forecast is shown ("" for real history)
let data = null;           // the forecast body
let track = null;          // the track-record body (null: not loaded or failed)
let runs = null;           // drill runs for the selector (null: none or not offered here)
let failure = null;        // the error of the last load
let note = null;           // {cls, text} of the last "forecast now"
let generation = 0;        // answers of an older load are dropped
let refusedKey = null;     // a key the API refused to forecast for (403): the button stays hidden for it

/** Whether this key may ask for a forecast now: the API says so (can_forecast); a 403 settles it for the key. */
function mayForecast() {
  if (refusedKey && refusedKey === getKey()) return false;
  return Boolean(data && data.can_forecast === true);
}

function groupsOf(rows) {
  const seen = [...new Set(rows.map((r) => r.group))];
  return seen.sort((a, b) => (a === "all" ? -1 : b === "all" ? 1 : a.localeCompare(b)));
}

function groupName(g) { return tOr(`rf.group.${g}`, g); }

/** Non-grid nodes in tree order (depth first, as the configuration lists them), each with its depth. */
function areaNodes() {
  const children = new Map();
  for (const n of state.nodes) {
    const p = n.parent && state.byId.has(n.parent) ? n.parent : "";
    if (!children.has(p)) children.set(p, []);
    children.get(p).push(n);
  }
  const out = [];
  const walk = (id, depth) => {
    for (const n of children.get(id) || []) {
      if (n.kind === "grid") continue;
      out.push({ node: n, depth });
      walk(n.id, depth + 1);
    }
  };
  walk("", 0);
  return out;
}

function under(nodeId, id) {
  for (let p = state.byId.get(id); p; p = state.byId.get(p.parent)) if (p.id === nodeId) return true;
  return false;
}

function districts() {
  const tops = state.nodes.filter((n) => !n.parent || !state.byId.has(n.parent));
  return tops.filter((n) => gridsUnder(n.id).length);
}

// ---- loading -------------------------------------------------------------------------------------------------

async function load(focus = null) {
  const mine = ++generation;
  data = null;
  failure = null;
  draw();
  const params = { horizon: `${ui.horizon}d`, drill: drill || null };
  const [fc, tr, dr] = await Promise.allSettled([
    api("/v1/risk/forecast", { params }),
    api("/v1/risk/track-record", { params: { weeks: WEEKS, drill: drill || null } }),
    runs === null ? api("/v1/drills", { params: { limit: 50 } }) : Promise.resolve({ runs }),
  ]);
  if (mine !== generation) return;
  if (fc.status === "fulfilled") data = fc.value; else failure = fc.reason;
  track = tr.status === "fulfilled" ? tr.value : null;
  runs = dr.status === "fulfilled" ? (dr.value.runs || []) : [];
  draw(focus);
}

async function forecastNow(button) {
  button.disabled = true;
  note = { cls: "", text: t("rf.now.running") };
  drawNote();
  try {
    const made = await api("/v1/risk/forecast", { method: "POST", params: { horizon: `${ui.horizon}d`, drill: drill || null } });
    note = { cls: "ok", text: t("rf.now.done") };
    if (made && Array.isArray(made.rows) && made.horizon_days === ui.horizon) {
      data = { ...made, can_forecast: made.can_forecast ?? true };
      draw();
    } else await load();
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) {
      refusedKey = getKey();
      note = { cls: "bad", text: t("rf.now.forbidden") };
      draw();
      return;
    }
    note = { cls: "bad", text: err instanceof ApiError && err.status === 429
      ? t("rf.now.limited") : t("error.generic", { msg: err.message }) };
    button.disabled = false;
    drawNote();
  }
}

function drawNote() {
  const el = root?.querySelector("#rf-now-msg");
  if (!el) return;
  el.className = `action-msg ${note?.cls || ""}`;
  el.textContent = note?.text || "";
}

// ---- the parts -----------------------------------------------------------------------------------------------

function selectBox(id, label, options, value, onChange) {
  return h("span", { class: "rf-field" }, h("label", { for: id, class: "filter-label" }, label),
    h("select", { id, name: id, onchange: (e) => onChange(e.target.value) },
      options.map(([v, text, depth]) => h("option", { value: v, selected: String(v) === String(value) },
        `${"\u2003".repeat(depth || 0)}${text}`))));
}

function filters(groups) {
  const areas = areaNodes();
  const out = [
    selectBox("rf-horizon", t("rf.horizon"), HORIZONS.map((n) => [n, daysText(n)]),
      ui.horizon, (v) => { ui.horizon = Number(v); load("#rf-horizon"); }),
    selectBox("rf-group", t("rf.group"), groups.map((g) => [g, groupName(g)]), ui.group,
      (v) => { ui.group = v; draw("#rf-group"); }),
    selectBox("rf-node", t("rf.node"), [["", t("rf.node.all")], ...areas.map((a) => [a.node.id, nodeName(a.node), a.depth])],
      ui.node, (v) => chooseNode(v, "#rf-node")),
  ];
  if (runs && (runs.length || drill)) {
    const known = runs.some((r) => r.run === drill);
    const options = [["", t("rf.drill.real")], ...(drill && !known ? [[drill, t("rf.drill.run", { run: drill })]] : []),
      ...runs.map((r) => [r.run, t("rf.drill.run", { run: r.run })])];
    out.push(selectBox("rf-drill", t("rf.drill"), options, drill,
      (v) => { location.hash = v ? `#/risk?drill=${encodeURIComponent(v)}` : "#/risk"; }));
  }
  const can = mayForecast();
  out.push(h("span", { class: "rf-now" },
    can ? h("button", { type: "button", class: "btn primary", id: "rf-now", onclick: (e) => forecastNow(e.currentTarget) },
      t("rf.now")) : null,
    h("span", { class: `action-msg ${note?.cls || ""}`, id: "rf-now-msg", role: "status", "aria-live": "polite" }, note?.text || "")));
  return h("div", { class: "filters rf-filters" }, out);
}

function chooseNode(id, focus) {
  ui.node = id || "";
  ui.chosen = null;
  ui.all = false;
  if (id) ui.district = districtOf(id)?.id || ui.district;
  draw(focus);
}

function meta() {
  const parts = [t("rf.made", { time: fmtTime(data.made_at) })];
  if (data.model_version) parts.push(t("rf.model", { v: data.model_version }));
  if (data.window?.from && data.window?.to) {
    parts.push(t("rf.window", { from: fmtTime(data.window.from).slice(0, 10), to: fmtTime(data.window.to).slice(0, 10) }));
  }
  return h("p", { class: "rf-meta", id: "rf-meta" }, parts.join(" · "));
}

function emptyState() {
  const reason = reasonText(data.reason);
  return h("section", { class: "panel rf-empty", id: "rf-empty" },
    h("h2", {}, t("rf.empty")),
    h("p", { class: "rf-reason", id: "rf-reason" }, reason ? t("rf.reason", { reason }) : t("rf.noreason")));
}

function factorList(row, scales) {
  const factors = row.factors || [];
  if (!factors.length) return h("p", { class: "hint rf-nofactors" }, t("rf.nofactors"));
  return h("ol", { class: "rf-factors", title: t("rf.factor.title") }, factors.map((f) => {
    const c = Number(f.contribution) || 0;
    return h("li", { class: `rf-factor ${c >= 0 ? "up" : "down"}`, "data-factor": f.name },
      h("span", { class: "f-label" }, factorLabel(f)),
      h("span", { class: "f-value" }, num(f.value)),
      contributionBar(c, scales.get(f.unit) || 0),
      h("span", { class: "f-contrib" }, contributionText(f)));
  }));
}

function rankedList(ranked, watchLevel) {
  const scales = new Map();
  for (const r of ranked) for (const f of r.factors || []) {
    scales.set(f.unit, Math.max(scales.get(f.unit) || 0, Math.abs(Number(f.contribution) || 0)));
  }
  const shown = ui.all ? ranked : ranked.slice(0, TOP);
  const list = h("ol", { class: "rf-list", id: "rf-list", "aria-label": t("rf.ranked") },
    h("li", { class: "rf-head", "aria-hidden": "true" },
      ["rf.col.rank", "rf.col.grid", "rf.col.prob", "rf.col.counts", "rf.col.factors"].map((k) => h("span", {}, t(k)))),
    shown.map((r, i) => {
      const watch = isWatch(r, watchLevel);
      const parent = state.byId.get(state.byId.get(r.node)?.parent);
      return h("li", { class: `rf-row ${watch ? "watch" : ""} ${ui.chosen === r.node ? "chosen" : ""}`, "data-node": r.node,
        "data-probability": r.probability, "data-watch": watch ? "1" : "0" },
      h("span", { class: "rf-rank" }, String(i + 1)),
      h("div", { class: "rf-name" },
        h("button", { type: "button", class: "linkish", "aria-pressed": String(ui.chosen === r.node),
          onclick: () => pickGrid(r.node, false) }, nameOf(r.node)),
        watch ? watchMark(watchLevel) : null,
        parent ? h("span", { class: "rf-parent" }, nodeName(parent)) : null),
      h("div", { class: "rf-prob" }, probabilityBar(r.probability, watchLevel),
        h("span", { class: `rf-pct rb-text-${binOf(r.probability)}` }, pct(r.probability))),
      h("div", { class: "rf-counts" },
        h("span", {}, t("rf.expected", { e: num(r.expected, 1), days: daysText(data.horizon_days) })),
        h("span", {}, t("rf.recent", { n: num(r.recent) }))),
      factorList(r, scales));
    }));
  const more = ranked.length > TOP
    ? h("button", { type: "button", class: "btn", id: "rf-more", onclick: () => { ui.all = !ui.all; draw("#rf-more"); } },
      ui.all ? t("rf.less", { n: TOP }) : t("rf.more", { n: ranked.length }))
    : null;
  return h("section", { class: "panel", "aria-labelledby": "h-rf-ranked" },
    h("h2", { id: "h-rf-ranked" }, t("rf.ranked"), h("span", { class: "sub" }, groupName(ui.group))),
    ranked.length ? list : h("p", { class: "empty" }, t("rf.nogroup")), more);
}

function rollup(rows, watchLevel) {
  const byNode = new Map(rows.filter((r) => r.kind !== "grid").map((r) => [r.node, r]));
  const areas = areaNodes().filter((a) => byNode.has(a.node.id) && (!ui.node || a.node.id === ui.node || under(ui.node, a.node.id)));
  const base = areas.length ? Math.min(...areas.map((a) => a.depth)) : 0;
  return h("section", { class: "panel rf-rollup", "aria-labelledby": "h-rf-rollup" },
    h("h2", { id: "h-rf-rollup" }, t("rf.rollup")),
    h("p", { class: "hint rf-small" }, t("rf.rollup.note")),
    ui.node ? h("button", { type: "button", class: "btn", id: "rf-node-all", onclick: () => chooseNode("", "#rf-node") },
      t("rf.node.all")) : null,
    areas.length
      ? h("ul", { class: "rf-areas", id: "rf-areas" }, areas.map((a) => {
        const r = byNode.get(a.node.id);
        const watch = isWatch(r, watchLevel);
        return h("li", { class: `rf-area depth-${Math.min(a.depth - base, 3)} ${ui.node === a.node.id ? "chosen" : ""}`,
          "data-node": a.node.id, "data-kind": r.kind },
        h("button", { type: "button", class: "rf-area-pick", "aria-pressed": String(ui.node === a.node.id),
          onclick: () => chooseNode(ui.node === a.node.id ? "" : a.node.id, `#rf-areas li[data-node="${CSS.escape(a.node.id)}"] button`) },
        h("span", { class: "rf-area-name" }, nodeName(a.node), h("span", { class: "rf-kind" }, tOr(`rf.kind.${r.kind}`, r.kind))),
        probabilityBar(r.probability, watchLevel),
        h("span", { class: "rf-pct" }, pct(r.probability)),
        watch ? watchMark(watchLevel) : null));
      }))
      : h("p", { class: "hint" }, t("rf.rollup.none")));
}

function pickGrid(id, fromMap) {
  ui.chosen = ui.chosen === id && !fromMap ? null : id;
  const node = state.byId.get(id);
  if (node && !fromMap) ui.district = districtOf(id)?.id || ui.district;
  if (!ui.all && ui.chosen) {
    const pos = rankedRows().findIndex((r) => r.node === id);
    if (pos >= TOP) ui.all = true;
  }
  const sel = CSS.escape(id);
  draw(fromMap ? `g.rf-cell[data-grid="${sel}"]` : `.rf-row[data-node="${sel}"] .linkish`);
  const row = ui.chosen && root.querySelector(`.rf-row[data-node="${CSS.escape(ui.chosen)}"]`);
  if (row && fromMap) row.scrollIntoView({ block: "nearest", behavior: "smooth" });
}

function groupRows() { return (data?.rows || []).filter((r) => r.group === ui.group); }

function rankedRows() {
  const inside = ui.node ? new Set(gridsUnder(ui.node).map((n) => n.id)) : null;
  return groupRows().filter((r) => r.kind === "grid" && (!inside || inside.has(r.node)))
    .sort((a, b) => b.probability - a.probability || String(a.node).localeCompare(String(b.node)));
}

function mapPanel(ranked, watchLevel) {
  const list = districts();
  if (!list.length) return h("section", { class: "panel" }, h("p", { class: "empty" }, t("map.nogrids")));
  if (ui.node) ui.district = districtOf(ui.node)?.id || ui.district;
  if (!list.some((d) => d.id === ui.district)) ui.district = (ranked[0] && districtOf(ranked[0].node)?.id) || list[0].id;
  const district = state.byId.get(ui.district);
  const rows = new Map(groupRows().filter((r) => r.kind === "grid").map((r) => [r.node, r]));
  const inside = new Set(gridsUnder(ui.node || district.id).map((n) => n.id));
  const pick = list.length > 1
    ? h("div", { class: "filters" }, selectBox("rf-district", t("map.district"), list.map((d) => [d.id, nodeName(d)]), ui.district,
      (v) => { ui.district = v; if (ui.node && !under(v, ui.node)) ui.node = ""; ui.chosen = null; draw("#rf-district"); }))
    : null;
  return h("section", { class: "panel rf-mappanel", "aria-labelledby": "h-rf-map" },
    h("h2", { id: "h-rf-map" }, t("rf.map"), h("span", { class: "sub" }, nodeName(district))),
    pick,
    legend(data.horizon_days, watchLevel),
    h("div", { class: "map-wrap rf-mapwrap" },
      riskMap(district, rows, { inside, chosen: ui.chosen, watchLevel, onPick: (id) => pickGrid(id, true) })),
    h("p", { class: "hint rf-small" }, t("rf.map.pick"), ui.node ? ` ${t("rf.map.outside", { name: nodeName(state.byId.get(ui.node)) })}` : ""));
}

function precisionBar(p, base) {
  const W = 100, HB = 10;
  return s("svg", { class: "tr-bar", viewBox: `0 0 ${W} ${HB}`, width: W, height: HB, "aria-hidden": "true" },
    s("rect", { x: 0, y: 0, width: W, height: HB, class: "p-track" }),
    s("rect", { x: 0, y: 0, width: Math.max(0, Math.min(1, p || 0)) * W, height: HB, class: "tr-fill" }),
    Number.isFinite(base) ? s("line", { x1: base * W, y1: -1, x2: base * W, y2: HB + 1, class: "tr-base" }) : null);
}

function trackWeek(w) {
  const when = h("td", { class: "c-time tr-when" }, fmtTime(w.made_at).slice(0, 10),
    h("span", { class: "rf-kind" }, daysText(w.horizon_days)));
  if (!(w.top || []).length) {
    return h("tr", { "data-made": w.made_at, class: "tr-nomodel" }, when, h("td", { colspan: 3, class: "hint" }, t("rf.track.nomodel")));
  }
  return h("tr", { "data-made": w.made_at, class: "tr-scored" }, when,
    h("td", { class: "tr-topcell" }, h("ul", { class: "tr-top" }, w.top.map((g) => h("li", {
      class: `tr-hit ${g.happened ? "yes" : "no"}`, "data-node": g.node, "data-happened": g.happened ? "1" : "0",
      title: g.happened ? t("rf.track.hit") : t("rf.track.miss") },
    h("span", { class: "tr-sym", "aria-hidden": "true" }, g.happened ? "✓" : "✗"),
    h("span", { class: "sr-only" }, g.happened ? t("rf.track.hit") : t("rf.track.miss")),
    ` ${nameOf(g.node)} `, h("span", { class: "tr-p" }, pct(g.probability)))))),
    h("td", { class: "tr-p5", "data-label": t("rf.track.p5") }, precisionBar(w.precision_at_5, w.base_rate),
      h("span", {}, pct(w.precision_at_5))),
    h("td", { class: "tr-base", "data-label": t("rf.track.base") }, pct(w.base_rate)));
}

function trackRecord() {
  const weeks = [...(track?.weeks || [])].sort((a, b) => String(b.made_at).localeCompare(String(a.made_at)));
  const scored = weeks.filter((w) => (w.top || []).length);
  const body = [];
  if (track === null) body.push(h("p", { class: "hint", id: "rf-track-none" }, t("rf.track.unavailable")));
  else if (!scored.length) body.push(h("p", { class: "empty", id: "rf-track-none" }, t("rf.track.none")));
  else {
    body.push(h("p", { class: "rf-track-summary", id: "rf-track-summary" },
      t("rf.track.summary", { weeks: scored.length, p: pct(track.precision_at_5), b: pct(track.base_rate) })));
    body.push(h("div", { class: "table-wrap" }, h("table", { class: "plain rf-track-table", id: "rf-track" },
      h("caption", { class: "sr-only" }, t("rf.track")),
      h("thead", {}, h("tr", {}, ["rf.track.week", "rf.track.top", "rf.track.p5", "rf.track.base"]
        .map((k) => h("th", { scope: "col" }, t(k))))),
      h("tbody", {}, weeks.map(trackWeek)))));
  }
  return h("section", { class: "panel rf-trackpanel", "aria-labelledby": "h-rf-track" },
    h("h2", { id: "h-rf-track" }, t("rf.track")),
    h("p", { class: "hint rf-small" }, t("rf.track.what")),
    body);
}

// ---- the page ------------------------------------------------------------------------------------------------

/** Draw the page from the state; ``focus``: a selector of the control to give the focus back to (a choice redraws
 * the page, the keyboard stays where it was). */
function draw(focus = null) {
  if (!root) return;
  const horizon = data?.horizon_days ?? ui.horizon;
  const parts = [
    h("h1", { class: "page-title" }, t("rf.title"), h("span", { class: "sub" }, t("rf.sub", { days: daysText(horizon) }))),
    h("p", { class: "note rf-note", role: "note", id: "rf-note" },
      t("rf.note", { level: pct(data?.watch_level ?? 0.5) })),
  ];
  const rows = data?.rows || [];
  const groups = groupsOf(rows);
  if (groups.length && !groups.includes(ui.group)) ui.group = groups.includes("all") ? "all" : groups[0];
  if (failure) {
    parts.push(filters(["all"]), failureBox(failure));
  } else if (!data) {
    parts.push(h("p", { class: "hint" }, t("loading")));
  } else {
    const watchLevel = Number.isFinite(data.watch_level) ? data.watch_level : 0.5;
    parts.push(filters(groups.length ? groups : ["all"]));
    if (data.drill) parts.push(h("p", { class: "note drill-note", id: "rf-drillnote" }, t("rf.drillnote", { run: data.drill })));
    if (data.made_at) parts.push(meta());
    if (!rows.length) parts.push(emptyState());
    else {
      const ranked = rankedRows();
      parts.push(h("div", { class: "rf-top" }, mapPanel(ranked, watchLevel), rollup(groupRows(), watchLevel)),
        rankedList(ranked, watchLevel));
    }
    parts.push(trackRecord());
  }
  const y = window.scrollY;
  clear(root).append(...parts);
  window.scrollTo(0, y);
  if (focus) root.querySelector(focus)?.focus({ preventScroll: true });
}

/** An error of the forecast's answer in plain words: an unknown drill run, a refused choice, else the message. */
function failureBox(err) {
  if (err instanceof ApiError && err.status === 404 && drill) {
    return h("p", { class: "error", role: "alert", id: "rf-error" }, t("rf.nodrill", { run: drill }));
  }
  if (err instanceof ApiError && err.status === 422) {
    return h("p", { class: "error", role: "alert", id: "rf-error" }, t("rf.bad", { msg: err.message }));
  }
  return errorBox(err);
}

export function render(container, run) {
  root = container;
  const next = run ? decodeURIComponent(run) : "";
  if (next !== drill) { ui.chosen = null; }
  drill = next;
  note = null;
  runs = null;  // the drill runs are asked again on each visit
  load();
  const off = subscribe((change) => { if (change?.type === "lang") draw(); });
  const unmount = () => { off(); root = null; generation++; };
  unmount.keepsOnLang = true;  // a language switch redraws in place: the choices and the answer stay
  return unmount;
}
