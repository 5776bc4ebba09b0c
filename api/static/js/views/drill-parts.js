// Pieces of the drill pages (docs/drills.md): a run's status and verdict badges, an expectation said in words, the
// checklist of expectations, the event counts, the scorecard's tables, and the comparison of a scenario's runs with
// its trend chart. Shared by the run page (drill-run.js) and the printable report (drill-report.js).

import { api } from "../api.js";
import { gridName, levelBadge, ruleName } from "../components.js";
import { h, s } from "../dom.js";
import { fmtDuration, fmtRate, fmtTime, lang, levelName, nodeName, t, tOr } from "../i18n.js";
import { state } from "../store.js";

/** The drill API's paths. */
export const runPath = (run) => `/v1/drills/${encodeURIComponent(run)}`;
export const comparePath = (scenario) => `/v1/drills/scenarios/${encodeURIComponent(scenario)}/runs`;
export const runHash = (run) => `#/drill/${encodeURIComponent(run)}`;

/** A scenario's (or run's) title in the board's language. */
export function scenarioTitle(x) {
  if (!x) return "";
  return (lang() === "en" ? x.title_en || x.title_zh : x.title_zh || x.title_en) || x.scenario || x.run || "";
}

/** A replay speed: "3,600x", or "as fast as possible". */
export function speedText(speed) {
  if (speed === "max" || speed === null || speed === undefined) return t("drill.speed.max");
  return t("drill.speed.x", { n: Number(speed).toLocaleString(lang() === "en" ? "en" : "zh-CN") });
}

/** running | ended | interrupted | failed, as a coloured word. */
export function runStatus(status) {
  return h("span", { class: `drill-status ds-${status}`, "data-status": status }, tOr(`drill.status.${status}`, status));
}

/** A verdict: pass/fail for a run, met/late/low/missed/pending for an expectation; none yet ("—") while it runs. */
export function verdictBadge(verdict) {
  if (!verdict) return h("span", { class: "verdict v-none", "data-verdict": "" }, "—");
  return h("span", { class: `verdict v-${verdict}`, "data-verdict": verdict }, tOr(`drill.verdict.${verdict}`, verdict));
}

/** The run's summary, wherever the answer keeps it (list rows carry it flat, run documents in the scorecard). */
export function summaryOf(r) { return r?.scorecard?.summary || r?.summary || {}; }
export function verdictOf(r) { return r?.scorecard?.verdict ?? r?.verdict ?? null; }

/** "met 2 / 3", the expectations met of those expected. */
export function metText(r) {
  const sm = summaryOf(r);
  const expected = sm.expected ?? r?.expected ?? r?.scorecard?.expectations?.length;
  const met = sm.met ?? r?.met;
  return expected === undefined || expected === null ? "—" : t("drill.metof", { met: met ?? 0, n: expected });
}

const UNIT_S = { s: 1, m: 60, h: 3600, d: 86400 };

/** An expectation's deadline: "+36h" from the start said as "within 36.0 h of the start", else the time. */
function byText(by) {
  const rel = /^\+(\d+(?:\.\d+)?)([smhd])$/.exec(String(by || ""));
  if (rel) return t("drill.by.rel", { d: fmtDuration(Number(rel[1]) * UNIT_S[rel[2]]) });
  return by ? t("drill.by.abs", { time: fmtTime(by) }) : "";
}

/** An expectation in words: risk or rule or feed, where (grid, or any grid under a node), level, by when. */
export function expectLabel(e) {
  if (!e) return "";
  const parts = [];
  if (e.risk) parts.push(tOr(`risk.${e.risk}`, e.risk));
  if (e.rule) parts.push(ruleName(e.rule));
  if (e.feed) parts.push(tOr(`feed.${e.feed}`, e.feed));
  if (e.grid) parts.push(gridName(e.grid));
  if (e.node) parts.push(t("drill.undernode", { node: nodeName(state.byId.get(e.node)) || e.node }));
  if (e.level) parts.push(t("drill.atleast", { level: levelName(e.level) }));
  const by = byText(e.by);
  if (by) parts.push(by);
  return parts.join(t("drill.sep"));
}

/** A scenario author's label in the board's language: "L'Agly red 阿格利河红色" is "L'Agly red" in English and
 * "阿格利河红色" in Chinese; a label in one language is shown as written. */
export function labelIn(label) {
  const m = /^([^\u2e80-\u9fff]*?)\s*([\u2e80-\u9fff].*)$/u.exec(String(label));
  if (!m || !m[1].trim()) return String(label);
  return lang() === "en" ? m[1].trim() : m[2].trim();
}

/** A lead (positive: early) or lag as words. */
export function leadText(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (Math.abs(seconds) < 1) return t("drill.ontime");
  return t(seconds > 0 ? "drill.early" : "drill.lag", { d: fmtDuration(Math.abs(seconds)) });
}

const TICK = { met: "✔", late: "◔", low: "▽", missed: "✘", pending: "…" };

/** The expectations as a checklist, ticked off as they are met. */
export function checklist(expectations) {
  if (!expectations?.length) return h("p", { class: "empty", id: "drill-noexpect" }, t("drill.noexpect"));
  return h("ul", { class: "drill-checklist", id: "drill-checklist" }, expectations.map((x, i) => {
    const verdict = x.verdict || "pending";
    return h("li", { class: `chk chk-${verdict}`, "data-verdict": verdict, "data-index": i },
      h("span", { class: "chk-box", "aria-hidden": "true" }, TICK[verdict] || "•"),
      h("span", { class: "chk-what" }, expectLabel(x.expect),
        x.label ? h("span", { class: "chk-label" }, labelIn(x.label)) : null),
      verdictBadge(verdict),
      x.level ? levelBadge(x.level) : null,
      x.reached_at ? h("span", { class: "chk-at" }, t("drill.reached", { time: fmtTime(x.reached_at) })) : null,
      x.lead_seconds !== null && x.lead_seconds !== undefined
        ? h("span", { class: `chk-lead ${x.lead_seconds >= 0 ? "early" : "lag"}` }, leadText(x.lead_seconds)) : null,
      x.alert ? h("a", { class: "chk-alert", href: `#/alert/${encodeURIComponent(x.alert)}` }, t("drill.seealert")) : null);
  }));
}

const COUNTS = ["planned", "sent", "accepted", "duplicates", "rejected", "dropped", "injected", "acks", "resolves"];
const OPTIONAL = new Set(["acks", "resolves"]);  // the simulated responders' answers: live progress only

/** A delivery delay: tenths of a second below 10 s (a webhook answers in well under a second). */
function fmtDelay(v) {
  return v !== null && v !== undefined && v < 10 ? `${v.toFixed(1)} ${t("unit.s")}` : fmtDuration(v);
}

/** The event counts of a run as cards (progress while it runs, the scorecard's events after). */
export function countCards(progress) {
  const p = progress || {};
  return h("div", { class: "cards drill-counts", id: "drill-counts" }, COUNTS.map((k) =>
    h("div", { class: "card", "data-count": k },
      h("span", { class: "card-v" }, p[k] === undefined || p[k] === null ? "—" : String(p[k])),
      h("span", { class: "card-k" }, t(`drill.ev.${k}`))))
    .filter((_, i) => !OPTIONAL.has(COUNTS[i]) || p[COUNTS[i]] !== undefined));
}

function table(id, heads, rows, caption) {
  return h("div", { class: "table-wrap" }, h("table", { class: "plain drill-table", id },
    caption ? h("caption", { class: "sr-only" }, caption) : null,
    h("thead", {}, h("tr", {}, heads.map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, rows)));
}

function tierName(row) {
  const kind = row.kind ? tOr(`drill.kind.${row.kind}`, row.kind) : "";
  const name = kind ? t("drill.tierof", { n: row.tier, kind }) : t("drill.tiern", { n: row.tier });
  const nodes = (row.nodes || []).map((id) => nodeName(state.byId.get(id)) || id);
  return nodes.length ? [name, h("span", { class: "tier-nodes" }, nodes.join(t("drill.listsep")))] : name;
}

/** The summary of a scorecard as cards: verdict, met, false alarms, MTTA, MTTR, on-time rate. */
export function summaryCards(sc) {
  const sm = sc.summary || {};
  const card = (k, v, attrs = {}) => h("div", { class: "card", ...attrs }, h("span", { class: "card-v" }, v),
    h("span", { class: "card-k" }, t(k)));
  return h("div", { class: "cards drill-summary", id: "drill-summary" },
    card("drill.verdict", verdictBadge(sc.verdict), { "data-figure": "verdict" }),
    card("drill.met", t("drill.metof", { met: sm.met ?? 0, n: sm.expected ?? 0 }), { "data-figure": "met" }),
    card("drill.falsealarms", String(sm.false_alarms ?? sc.false_alarms?.length ?? 0), { "data-figure": "false_alarms" }),
    card("drill.mtta", fmtDuration(sm.mtta_seconds), { "data-figure": "mtta" }),
    card("drill.mttr", fmtDuration(sm.mttr_seconds), { "data-figure": "mttr" }),
    card("drill.ontimerate", fmtRate(sm.on_time_rate), { "data-figure": "on_time" }));
}

/** Per tier: alerts, acknowledged, MTTA, MTTR, on time (against the escalation deadlines). */
export function tierTable(tiers) {
  if (!tiers?.length) return h("p", { class: "empty" }, t("drill.notiers"));
  return table("drill-tiers", ["drill.tier", "reports.count", "drill.acked", "drill.mtta", "drill.mttr", "drill.ontimen",
    "drill.ontimerate"], tiers.map((r) => h("tr", { "data-tier": r.tier },
    h("td", {}, tierName(r)), h("td", {}, String(r.alerts ?? 0)), h("td", {}, String(r.acknowledged ?? 0)),
    h("td", {}, fmtDuration(r.mtta_seconds)), h("td", {}, fmtDuration(r.mttr_seconds)),
    h("td", {}, String(r.on_time ?? 0)), h("td", {}, fmtRate(r.on_time_rate)))), t("drill.tiers"));
}

/** Alerts of the run that no expectation matched. */
export function falseAlarmTable(alarms) {
  if (!alarms?.length) return h("p", { class: "empty", id: "drill-nofalse" }, t("drill.nofalse"));
  return table("drill-false", ["col.level", "alert.rule", "col.grid", "col.created"], alarms.map((a) =>
    h("tr", { "data-alert": a.alert },
      h("td", {}, levelBadge(a.level)),
      h("td", {}, a.alert ? h("a", { href: `#/alert/${encodeURIComponent(a.alert)}` }, ruleName(a.rule)) : ruleName(a.rule)),
      h("td", {}, gridName(a.grid)), h("td", { class: "c-time" }, fmtTime(a.at)))), t("drill.falsealarms"));
}

/** Escalations and notifications as a definition list. */
export function deliveryFacts(sc) {
  const esc = sc.escalations || {}, nt = sc.notifications || {};
  const fact = (k, v, key) => [h("dt", {}, t(k)), h("dd", { "data-fact": key }, v)];
  return h("dl", { class: "facts drill-facts", id: "drill-delivery" },
    fact("drill.escalated", String(esc.escalated ?? 0), "escalated"),
    fact("drill.ranout", String(esc.ran_out ?? 0), "ran_out"),
    fact("drill.nt.sent", String(nt.sent ?? 0), "sent"),
    fact("drill.nt.failed", String(nt.failed ?? 0), "failed"),
    fact("drill.nt.pending", String(nt.pending ?? 0), "pending"),
    fact("drill.nt.delay", `${fmtDelay(nt.delay_p50_seconds)} / ${fmtDelay(nt.delay_max_seconds)}`, "delay"));
}

/** The whole scorecard, one section per part (the report page breaks pages between them). */
export function scorecardSections(sc, cls = "panel") {
  const sec = (id, heading, ...body) => h("section", { class: `${cls} drill-sec`, "aria-labelledby": id, "data-part": id },
    h("h2", { id }, heading), ...body);
  return [
    sec("h-drill-score", t("drill.scorecard"), summaryCards(sc), h("h3", {}, t("drill.expectations")), checklist(sc.expectations)),
    sec("h-drill-tiers", t("drill.tiers"), tierTable(sc.tiers)),
    sec("h-drill-false", t("drill.falsealarms"), falseAlarmTable(sc.false_alarms)),
    sec("h-drill-delivery", t("drill.delivery"), deliveryFacts(sc), h("h3", {}, t("drill.events")), countCards(sc.events)),
  ];
}

// ---- the comparison of a scenario's runs ------------------------------------------------------------
// GET /v1/drills/scenarios/<scenario>/runs (fenghuo/drills/scorecard.py, compare): rows oldest first with their
// figures flat, a trend per figure ({values, change}), and each expectation's verdict per run under its key.

const FIGURES = ["met", "late", "low", "missed", "false_alarms", "mtta_seconds", "mttr_seconds", "on_time_rate"];

function figureName(key) { return tOr(`drill.fig.${key}`, key.replace(/_/g, " ")); }

function fmtFigure(key, v) {
  if (v === null || v === undefined) return "—";
  if (key.endsWith("_seconds")) return fmtDuration(v);
  if (key.endsWith("_rate") || key.endsWith("_share")) return fmtRate(v);
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

/** A row's figure: flat on the row, else in its summary or scorecard. */
function rowFigure(row, key) { return row[key] ?? row.summary?.[key] ?? row.scorecard?.summary?.[key] ?? null; }

function cell(row, key) {
  const v = rowFigure(row, key);
  const expected = rowFigure(row, "expected");
  if (key === "met" && v !== null && expected !== null) return t("drill.metof", { met: v, n: expected });
  return fmtFigure(key, v);
}

/** The runs of one scenario side by side; the current run's row marked. */
export function compareTable(cmp, current) {
  const rows = cmp.runs || [];
  if (!rows.length) return h("p", { class: "empty" }, t("drill.cmp.none"));
  const figures = FIGURES.filter((k) => rows.some((r) => rowFigure(r, k) !== null));
  return h("div", { class: "table-wrap" }, h("table", { class: "plain drill-table", id: "drill-compare" },
    h("caption", { class: "sr-only" }, t("drill.cmp.title")),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("drill.run")), h("th", { scope: "col" }, t("drill.started")),
      h("th", { scope: "col" }, t("drill.status")), h("th", { scope: "col" }, t("drill.verdict")),
      figures.map((k) => h("th", { scope: "col" }, figureName(k))))),
    h("tbody", {}, rows.map((r) => h("tr", { "data-run": r.run, class: r.run === current ? "current" : "" },
      h("td", {}, r.run === current ? h("strong", {}, r.run) : h("a", { href: runHash(r.run) }, r.run)),
      h("td", { class: "c-time" }, fmtTime(r.started_at)),
      h("td", {}, r.status ? runStatus(r.status) : "—"),
      h("td", {}, verdictBadge(verdictOf(r))),
      figures.map((k) => h("td", { "data-figure": k }, cell(r, k))))))));
}

/** One small line per figure of the trend, oldest run on the left, with its change (better, worse, same). */
export function trendChart(trend, runs = []) {
  const keys = Object.keys(trend || {}).filter((k) => (trend[k]?.values || []).some((v) => typeof v === "number"));
  if (!keys.length) return null;
  const W = 260, H = 74, m = { l: 8, r: 64, t: 12, b: 14 };
  return h("div", { class: "drill-trend", id: "drill-trend" }, keys.map((k) => {
    const { values, change } = trend[k];
    const nums = values.map((v) => (typeof v === "number" ? v : null));
    const have = nums.filter((v) => v !== null);
    const lo = Math.min(0, ...have), hi = Math.max(...have, lo + 1e-9);
    const x = (i) => m.l + (values.length === 1 ? 0.5 : i / (values.length - 1)) * (W - m.l - m.r);
    const y = (v) => m.t + (1 - (v - lo) / (hi - lo || 1)) * (H - m.t - m.b);
    let d = "";
    nums.forEach((v, i) => { if (v !== null) d += `${d ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`; });
    const lastKnown = nums.reduce((at, v, i) => (v === null ? at : i), 0);
    const said = change ? tOr(`drill.change.${change}`, change) : t("drill.change.none");
    const label = `${figureName(k)}: ${values.map((v) => fmtFigure(k, v)).join(" → ")} (${said})`;
    return h("figure", { class: "trend", "data-figure": k, "data-change": change || "" },
      h("figcaption", {}, figureName(k), h("span", { class: `trend-change ch-${change || "none"}` }, said)),
      s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart trend-chart", role: "img", "aria-label": label },
        s("title", {}, label),
        s("line", { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: "axis" }),
        s("path", { d, class: "trend-line" }),
        nums.map((v, i) => (v === null ? null : s("circle", { cx: x(i).toFixed(1), cy: y(v).toFixed(1),
          r: i === lastKnown ? 4 : 2.5, class: i === lastKnown ? "trend-dot last" : "trend-dot" },
        s("title", {}, `${runs[i]?.run || `#${i + 1}`}: ${fmtFigure(k, v)}`)))),
        s("text", { x: x(lastKnown) + 8, y: y(nums[lastKnown]) + 4, class: "trend-value" }, fmtFigure(k, nums[lastKnown])),
        s("text", { x: m.l, y: H - 2, class: "tick" }, runs[0]?.number ? `#${runs[0].number}` : ""),
        s("text", { x: W - m.r, y: H - 2, class: "tick", "text-anchor": "end" },
          runs[values.length - 1]?.number ? `#${runs[values.length - 1].number}` : "")));
  }));
}

/** The key the comparison names an expectation by (scorecard.py, expectation_key): its label, else what it asks. */
export function expectationKey(expect) {
  if (expect.label) return String(expect.label);
  const parts = [String(expect.level ?? "?")];
  for (const k of ["risk", "rule", "feed"]) if (expect[k] !== null && expect[k] !== undefined) parts.push(String(expect[k]));
  for (const k of ["grid", "node"]) if (expect[k] !== null && expect[k] !== undefined) parts.push(`${k}=${expect[k]}`);
  return parts.join(" ");
}

/** The expectations of a scorecard by their comparison key (a repeated key gets "#2", "#3" ...). */
export function expectationsByKey(card) {
  const out = new Map();
  for (const j of card?.expectations || []) {
    const expect = j.expect || {};
    const base = expectationKey({ ...expect, label: j.label || expect.label });
    let key = base;
    for (let n = 2; out.has(key); n += 1) key = `${base}#${n}`;
    out.set(key, expect);
  }
  return out;
}

/** Each expectation across the runs: its verdict per run, and whether it is stable. */
export function stabilityTable(expectations, runs = [], card = null) {
  if (!expectations?.length) return null;
  const known = expectationsByKey(card);
  for (const r of runs) for (const [k, v] of expectationsByKey(r.scorecard)) if (!known.has(k)) known.set(k, v);
  const name = (x) => (x.expect ? expectLabel(x.expect) : known.has(x.key) ? expectLabel(known.get(x.key)) : x.label || x.key);
  return h("div", { class: "table-wrap" }, h("table", { class: "plain drill-table", id: "drill-stability" },
    h("caption", { class: "sr-only" }, t("drill.cmp.stability")),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("drill.expectation")),
      (expectations[0].verdicts || []).map((_, i) => h("th", { scope: "col" }, runs[i]?.run || `#${i + 1}`)),
      h("th", { scope: "col" }, t("drill.cmp.stable")))),
    h("tbody", {}, expectations.map((x) => h("tr", { "data-stable": String(Boolean(x.stable)), "data-key": x.key || "" },
      h("td", {}, name(x)),
      (x.verdicts || []).map((v) => h("td", {}, verdictBadge(v))),
      h("td", {}, x.stable ? t("yes") : h("strong", { class: "unstable" }, t("no"))))))));
}

/** The comparison section: the table, the trend and the expectations' stability; loaded on demand. */
export async function comparison(scenario, current, cls = "panel", card = null) {
  const box = h("section", { class: `${cls} drill-sec drill-cmp`, "aria-labelledby": "h-drill-cmp", id: "drill-cmp" },
    h("h2", { id: "h-drill-cmp" }, t("drill.cmp.title")));
  try {
    const cmp = await api(comparePath(scenario));
    const runs = cmp.runs || [];
    box.append(
      h("p", { class: "hint" }, runs.length > 1 ? t("drill.cmp.note", { n: runs.length }) : t("drill.cmp.first")),
      compareTable(cmp, current));
    const chart = runs.length > 1 ? trendChart(cmp.trend, runs) : null;
    if (chart) box.append(h("h3", {}, t("drill.cmp.trend")), chart);
    const stable = runs.length > 1 ? stabilityTable(cmp.expectations, runs, card) : null;
    if (stable) box.append(h("h3", {}, t("drill.cmp.stability")), stable);
  } catch (err) {
    box.append(h("p", { class: "error", role: "alert" }, t("error.generic", { msg: err.message })));
  }
  return box;
}
