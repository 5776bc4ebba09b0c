// One alert: facts, ack/resolve, the series chart with the rule's thresholds, timeline, evidence, notifications.

import { api, ApiError } from "../api.js";
import { lineChart } from "../charts.js";
import { errorBox, gridName, levelBadge, statusBadge } from "../components.js";
import { clear, h } from "../dom.js";
import { fmtTime, levelName, nodeName, t, title, tOr } from "../i18n.js";
import { serverText } from "../server-text.js";
import { LEVELS, state, subscribe } from "../store.js";

const HOUR = 3600e3;

function fact(key, value) {
  return value === null || value === undefined || value === "" ? null : [h("dt", {}, t(key)), h("dd", {}, value)];
}

function facts(a) {
  return h("dl", { class: "facts" },
    fact("col.grid", gridName(a.grid)), fact("alert.risk", t(`risk.${a.risk}`)), fact("alert.feed", t(`feed.${a.feed}`)),
    fact("alert.rule", a.rule), fact("alert.source", a.source), fact("alert.series", a.series),
    fact("alert.maxlevel", levelName(a.max_level)), fact("alert.certainty", a.certainty && tOr(`cert.${a.certainty}`, a.certainty)),
    fact("col.created", fmtTime(a.created_at, true)), fact("col.updated", fmtTime(a.updated_at, true)),
    fact("alert.tier", String(a.escalation_tier)),
    a.status === "open" ? fact("alert.escalate_at", a.escalate_at && fmtTime(a.escalate_at, true)) : null,
    fact("alert.ack_by", a.acknowledged_by && `${a.acknowledged_by} · ${fmtTime(a.acknowledged_at, true)}`),
    fact("alert.resolved_by", a.resolved_by && `${a.resolved_by} · ${fmtTime(a.resolved_at, true)}`),
    fact("col.drill", a.drill));
}

/** Ack and resolve. ``note`` ({text, cls}) outlives redraws so the outcome stays on screen. */
function actions(a, note, onDone) {
  const message = h("p", { class: `action-msg ${note.cls || ""}`, role: "status", "aria-live": "polite" }, note.text || "");
  if (a.status === "resolved") return note.text ? h("div", { class: "actions" }, message) : null;
  if (sessionStorage.getItem("fenghuo.readonly")) {
    return h("div", { class: "actions" }, note.text ? message : h("p", { class: "action-msg", role: "status" }, t("alert.readonly")));
  }
  const by = h("input", { type: "text", id: "by", class: "who", maxlength: 80, autocomplete: "name",
    value: localStorage.getItem("fenghuo.by") || "" });
  const comment = h("input", { type: "text", id: "comment", class: "comment", maxlength: 500 });
  function say(text, cls = "") {
    Object.assign(note, { text, cls });
    message.className = `action-msg ${cls}`;
    message.textContent = text;
  }
  async function act(what) {
    say("…");
    const body = { comment: comment.value.trim() };
    if (by.value.trim()) {
      body.by = by.value.trim();
      localStorage.setItem("fenghuo.by", body.by);
    }
    try {
      await api(`/v1/alerts/${encodeURIComponent(a.id)}/${what}`, { method: "POST", body });
      say(t(`alert.done.${what}`), "ok");
      onDone();
    } catch (err) {
      if (err instanceof ApiError && err.status === 403) {
        sessionStorage.setItem("fenghuo.readonly", "1");  // the key's role cannot act: hide the buttons
        say(t("alert.forbidden"), "bad");
        onDone();
        return;
      }
      const key = err instanceof ApiError && err.status === 409 ? "alert.conflict" : "error.generic";
      say(t(key, { msg: err.message }), "bad");
    }
  }
  return h("div", { class: "actions" },
    h("label", { for: "by" }, t("alert.by")), by,
    h("label", { for: "comment" }, t("alert.comment")), comment,
    a.status === "open" ? h("button", { type: "button", class: "btn primary", id: "ack", onclick: () => act("ack") }, t("alert.ack")) : null,
    h("button", { type: "button", class: "btn", id: "resolve", onclick: () => act("resolve") }, t("alert.resolve")),
    message);
}

/** The actor of a timeline entry; a muted entry links to the silences, an inhibited one to the inhibiting alert. */
function actor(e) {
  if (!e.actor) return null;
  if (e.kind === "inhibited") {
    return h("a", { class: "tl-actor tl-link", href: `#/alert/${encodeURIComponent(e.actor)}`, title: t("tl.by_alert") }, e.actor);
  }
  if (e.kind === "incident_joined") {
    return h("a", { class: "tl-actor tl-link", href: `#/incident/${encodeURIComponent(e.actor)}` }, e.actor);
  }
  if (e.kind === "muted" && e.actor.startsWith("silence:")) {
    return h("a", { class: "tl-actor tl-link", href: "#/silences" }, e.actor);
  }
  return h("span", { class: "tl-actor" }, tOr(`det.${e.actor}`, e.actor));
}

/** A responder's note for the timeline (POST /v1/alerts/{id}/notes; the author is the key's name). ``box`` keeps
 *  the same text box across redraws (the alert changes while a note is being typed). */
function noteForm(a, note, box, onDone) {
  if (sessionStorage.getItem("fenghuo.readonly")) return null;
  box.text ??= h("textarea", { id: "note-text", class: "note-text", maxlength: 2000, rows: 2 });
  box.pub ??= h("input", { type: "checkbox", id: "note-public" });
  const { text, pub } = box;
  const message = h("p", { class: "action-msg", role: "status", "aria-live": "polite" }, "");
  async function add(e) {
    e.preventDefault();
    if (!text.value.trim()) return;
    message.textContent = "…";
    try {
      await api(`/v1/alerts/${encodeURIComponent(a.id)}/notes`, { method: "POST", body: { text: text.value.trim(), public: pub.checked } });
      Object.assign(note, { text: t("note.done"), cls: "ok" });
      text.value = "";
      pub.checked = false;
      onDone();
    } catch (err) {
      message.className = "action-msg bad";
      message.textContent = t("error.generic", { msg: err.message });
    }
  }
  return h("form", { class: "note-form", onsubmit: add },
    h("div", { class: "sil-field" }, h("label", { for: "note-text" }, t("note.text")), text),
    h("div", { class: "actions" }, h("label", { class: "check" }, pub, " ", t("note.public")),
      h("button", { type: "submit", class: "btn", id: "note-add" }, t("note.add")), message));
}

/** A node id (in a server text) as its name in the board's language. */
function nameOf(id) { return nodeName(state.byId.get(id)) || id; }

function timeline(a) {
  return h("ol", { class: "timeline" }, [...a.timeline].reverse().map((e) => h("li", { class: `tl tl-${e.kind}`, "data-kind": e.kind },
    h("time", { datetime: e.ts }, fmtTime(e.ts, true)),
    h("span", { class: "tl-kind" }, tOr(`tl.${e.kind}`, e.kind)),
    e.level ? levelBadge(e.level) : null,
    actor(e),
    e.channel ? h("span", { class: "tl-channel" }, e.channel) : null,
    e.detail ? h("span", { class: "tl-detail" }, serverText(e.detail, nameOf)) : null)));
}

function table(cols, rows, empty) {
  if (!rows.length) return h("p", { class: "empty" }, t(empty));
  return h("div", { class: "table-wrap" }, h("table", { class: "plain" },
    h("thead", {}, h("tr", {}, cols.map(([k]) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, rows.map((r) => h("tr", {}, cols.map(([, f]) => h("td", {}, f(r))))))));
}

function evidence(a) {
  const when = (e) => fmtTime(typeof e.ts === "number" ? new Date(e.ts * 1000).toISOString() : e.ts, true);
  return table([["ev.ts", when], ["ev.level", (e) => (e.level ? levelBadge(e.level) : "—")],
    ["ev.observed", (e) => { const v = e.observed ?? e.score; return typeof v === "number" ? String(+v.toFixed(3)) : (v ?? "—"); }], ["ev.detector", (e) => (e.detector ? tOr(`det.${e.detector}`, e.detector) : "—")],
    ["ev.reason", (e) => serverText(e.reason, nameOf)]], [...a.evidence].reverse(), "alert.noevidence");
}

function notifications(a) {
  return table([["nt.channel", (n) => n.channel], ["nt.responder", (n) => n.responder], ["nt.kind", (n) => tOr(`tl.${n.kind}`, n.kind)],
    ["nt.tier", (n) => String(n.tier)], ["nt.status", (n) => tOr(`tl.${n.status}`, n.status)], ["nt.attempts", (n) => String(n.attempts)],
    ["nt.delivered", (n) => fmtTime(n.delivered_at, true)], ["nt.error", (n) => serverText(n.last_error, nameOf)]],
  a.notifications || [], "alert.nonotifications");
}

// ---- the chart ---------------------------------------------------------------------------------

/** The levels in force for the alert's series: the sensor's own (`sources`, a gauge's datum), else the most
 *  specific node override up the tree, else the rule's `*` levels (as detectors/rules.py: params_for). */
function levelsFor(rule, grid, source) {
  const own = source ? rule.sources?.[source] : null;
  if (own?.levels) return own.levels;
  for (let n = state.byId.get(grid) || { id: grid }; n; n = state.byId.get(n.parent)) {
    const ov = rule.overrides?.[n.id];
    if (ov?.levels) return ov.levels;
  }
  return rule.levels;
}

function seriesQuery(a, start, end) {
  const q = { feed: a.feed, start, end };
  const tail = a.series.slice(a.series.lastIndexOf("/") + 1);
  if (a.feed === "sensor") Object.assign(q, { source: a.source, metric: tail });
  else Object.assign(q, { grid: a.grid, category: tail === "*" ? "" : tail });
  return q;
}

/** Hourly counts summed over the rule's window (when it is whole hours), so the thresholds apply. */
function windowed(points, hours) {
  return points.map((p, i) => ({ t: p.t, v: points.slice(Math.max(0, i - hours + 1), i + 1).reduce((s, x) => s + x.v, 0) }));
}

async function loadChart(a) {
  const t0 = Date.parse(a.created_at) - 12 * HOUR;
  const ends = [a.updated_at, a.resolved_at, a.acknowledged_at].filter(Boolean).map(Date.parse);
  const t1 = Math.max(...ends) + 6 * HOUR;
  const [data, rules] = await Promise.all([
    api("/v1/series", { params: seriesQuery(a, new Date(t0).toISOString(), new Date(t1).toISOString()) }),
    api("/v1/rules/thresholds").catch(() => ({ rules: [] })),
  ]);
  const rule = rules.rules.find((r) => r.id === a.rule);
  let points = data.points.map((p) => ({ t: Date.parse(p.ts), v: p.value }));
  let unit = a.feed === "sensor" ? (seriesQuery(a).metric || "") : t("chart.counts");
  let withThresholds = rule && rule.kind !== "rate";
  if (data.kind === "counts" && rule) {
    const hours = rule.window_seconds / 3600;
    if (Number.isInteger(hours) && hours >= 1) {
      if (hours > 1) { points = windowed(points, hours); unit = t("chart.window", { h: hours }); }
    } else withThresholds = false;
  }
  const levels = withThresholds ? levelsFor(rule, a.grid, a.feed === "sensor" ? a.source : null) : {};
  const thresholds = LEVELS.filter((lv) => lv in levels)
    .map((lv) => ({ level: lv, value: levels[lv], label: t(`level.short.${lv}`) }));
  const markers = [{ t: Date.parse(a.created_at), key: "chart.raised" }];
  if (a.acknowledged_at) markers.push({ t: Date.parse(a.acknowledged_at), key: "chart.acked" });
  return { points, thresholds, markers, unit, step: data.kind === "counts" };
}

function chart(a, data) {
  if (!data) return h("p", { class: "hint" }, t("chart.loading"));
  if (data.error) return errorBox(data.error);
  if (!data.points.length) return h("p", { class: "empty" }, t("chart.empty"));
  return lineChart({ ...data, label: t("chart.label", { name: title(a) }), markers: data.markers.map((k) => ({ ...k, label: t(k.key) })),
    thresholds: data.thresholds.map((th) => ({ ...th, label: t(`level.short.${th.level}`) })) });
}

// ---- the page ----------------------------------------------------------------------------------

export function render(root, id) {
  let alert = null;
  let chartData = null;
  let failure = null;
  const note = { text: "", cls: "" };
  const noteBox = { text: null, pub: null };

  function draw() {
    if (failure) {
      clear(root).append(h("a", { href: "#/", class: "back" }, "← ", t("alert.back")),
        failure.status === 404 ? h("p", { class: "empty" }, t("alert.notfound")) : errorBox(failure));
      return;
    }
    if (!alert) { clear(root).append(h("p", { class: "hint" }, t("loading"))); return; }
    const a = alert;
    clear(root).append(
      h("a", { href: a.drill ? "#/drills" : "#/", class: "back" }, "← ", t(a.drill ? "nav.drills" : "alert.back")),
      h("header", { class: `alert-head lv-${a.level}`, "data-level": a.level },
        levelBadge(a.level), h("h1", { id: "alert-title" }, title(a)), statusBadge(a.status),
        a.drill ? h("span", { class: "tag drill" }, `${t("mode.drill")}: ${a.drill}`) : null,
        a.cleared ? h("span", { class: "tag cleared" }, t("alerts.cleared")) : null),
      actions(a, note, refresh),
      h("div", { class: "columns" },
        h("section", { class: "panel", "aria-labelledby": "h-facts" }, h("h2", { id: "h-facts", class: "sr-only" }, t("alert.rule")), facts(a)),
        h("section", { class: "panel wide", "aria-labelledby": "h-chart" }, h("h2", { id: "h-chart" }, t("alert.chart")), chart(a, chartData))),
      h("div", { class: "columns" },
        h("section", { class: "panel", "aria-labelledby": "h-tl" }, h("h2", { id: "h-tl" }, t("alert.timeline")),
          noteForm(a, note, noteBox, refresh), timeline(a)),
        h("section", { class: "panel wide" },
          h("h2", {}, t("alert.notifications")), notifications(a),
          h("h2", {}, t("alert.evidence")), evidence(a))));
  }

  const stamp = (a) => (a ? [a.level, a.acknowledged_at, a.resolved_at].join("|") : "");

  async function refresh() {
    const before = stamp(alert);
    try {
      alert = await api(`/v1/alerts/${encodeURIComponent(id)}`);
      failure = null;
    } catch (err) { failure = err; }
    draw();
    if (alert && chartData && stamp(alert) !== before) {
      try { chartData = await loadChart(alert); } catch (err) { chartData = { error: err }; }
      draw();
    }
  }

  async function start() {
    await refresh();
    if (!alert) return;
    try { chartData = await loadChart(alert); } catch (err) { chartData = { error: err }; }
    draw();
  }

  draw();
  start();
  const off = subscribe((change) => {
    if (change.alert?.id === id || change.type === "reload") refresh();
    else if (change.type === "lang") draw();
  });
  off.keepsOnLang = true;  // app.js: a language switch redraws in place (the chart is not fetched again)
  return off;
}
