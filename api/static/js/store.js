// Board state: alerts by id (kept current by the stream), the grid tree, and the list filters.

import { api } from "./api.js";

export const LEVELS = ["blue", "yellow", "orange", "red"];
export const RANK = { blue: 1, yellow: 2, orange: 3, red: 4 };

export const state = {
  alerts: new Map(),   // id -> alert (list form, no timeline)
  nodes: [],           // grid tree nodes
  byId: new Map(),     // node id -> node
  rules: new Map(),    // rule id -> threshold/rate/count rule (for its title_zh / title_en)
  status: "active",    // active (open + acknowledged) | open | acknowledged | resolved | all
  mode: "real",        // real | drill
  modeAuto: true,      // the user has not chosen: drills are shown when there are drill alerts and no real ones
  fresh: new Set(),    // ids that arrived live since the list was drawn (highlighted once)
};

const listeners = new Set();
export function subscribe(fn) { listeners.add(fn); return () => listeners.delete(fn); }
function emit(change) { for (const fn of [...listeners]) fn(change); }

/** Tell the views the language changed: the views that keep state (a rule being edited, a backtest) redraw in place. */
export function languageChanged() { emit({ type: "lang" }); }

export async function loadGrids() {
  const { nodes } = await api("/v1/grids");
  state.nodes = nodes;
  state.byId = new Map(nodes.map((n) => [n.id, n]));
  // the rules' own titles (title_zh / title_en) name the rule of each alert row; the board works without them
  const rules = await api("/v1/rules/thresholds").catch(() => ({ rules: [] }));
  state.rules = new Map((rules.rules || []).map((r) => [r.id, r]));
}

/** Reload every alert, real and drill (the board is small: most recent thousands). */
export async function loadAlerts() {
  const [real, drill] = await Promise.all([
    api("/v1/alerts", { params: { drill: "false", limit: 2000 } }),
    api("/v1/alerts", { params: { drill: "true", limit: 2000 } }),
  ]);
  state.alerts = new Map([...real.alerts, ...drill.alerts].map((a) => [a.id, a]));
  if (state.modeAuto) state.mode = !real.alerts.length && drill.alerts.length ? "drill" : "real";
  emit({ type: "reload" });
}

/** A stream message: {type, alert} or {type: "overflow"} (we fell behind: reload). */
export function applyMessage(msg) {
  if (msg.type === "overflow" || !msg.alert) { loadAlerts(); return; }
  const isNew = !state.alerts.has(msg.alert.id);
  state.alerts.set(msg.alert.id, msg.alert);
  if (state.modeAuto && !msg.alert.drill && state.mode === "drill") state.mode = "real";  // a real alert: back to real
  if (isNew) {
    state.fresh.add(msg.alert.id);
    setTimeout(() => { state.fresh.delete(msg.alert.id); emit({ type: "fade" }); }, 20000);
  }
  emit({ type: msg.type, alert: msg.alert });
}

export function setFilter(name, value) {
  state[name] = value;
  if (name === "mode") state.modeAuto = false;
  emit({ type: "filter" });
}

/** Open and most severe first, then newest. */
export function compareAlerts(a, b) {
  const resolved = (x) => (x.status === "resolved" ? 1 : 0);
  return resolved(a) - resolved(b)
    || RANK[b.level] - RANK[a.level]
    || String(b.created_at).localeCompare(String(a.created_at))
    || String(b.updated_at).localeCompare(String(a.updated_at));
}

export function matchesStatus(a, status) {
  if (status === "all") return true;
  if (status === "active") return a.status !== "resolved";
  return a.status === status;
}

export function alertsFor({ mode = state.mode, status = state.status, grid = null } = {}) {
  return [...state.alerts.values()]
    .filter((a) => (mode === "drill" ? Boolean(a.drill) : !a.drill))
    .filter((a) => matchesStatus(a, status))
    .filter((a) => !grid || a.grid === grid)
    .sort(compareAlerts);
}

/** The grid ids under a node (itself included). */
export function gridsUnder(nodeId) {
  const out = [];
  for (const n of state.nodes) {
    if (n.kind !== "grid") continue;
    for (let p = n; p; p = state.byId.get(p.parent)) {
      if (p.id === nodeId) { out.push(n); break; }
    }
  }
  return out;
}

/** The district above a node (or the top of its chain). */
export function districtOf(nodeId) {
  let n = state.byId.get(nodeId);
  while (n && n.parent && state.byId.get(n.parent)) n = state.byId.get(n.parent);
  return n;
}
