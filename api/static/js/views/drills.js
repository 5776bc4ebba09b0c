// Drills (docs/drills.md): the scenarios that can be started (a Start button each, for a key that may run drills),
// the runs of scenarios with their status and verdict, and the alerts of drills that are not runs (a replay tagged
// with a name), grouped by name and apart from real ones.

import { api, ApiError, getKey } from "../api.js";
import { alertTable, errorBox, levelBadge } from "../components.js";
import { clear, h } from "../dom.js";
import { fmtTime, t } from "../i18n.js";
import { alertsFor, RANK, state, subscribe } from "../store.js";
import { metText, runHash, runStatus, scenarioTitle, speedText, verdictBadge, verdictOf } from "./drill-parts.js";

let refusedKey = null;  // the key the API refused to start drills for (403): its Start buttons stay hidden

/** Whether the signed-in key may start drills: the answer says so if it can, a 403 settles it for the session. */
function mayStart(data) {
  if (refusedKey && refusedKey === getKey()) return false;
  const said = data.can_run ?? data.can_start ?? data.may_drill;
  return said === undefined || said === null ? true : Boolean(said);
}

function scenarioTable(data, onStart) {
  const scenarios = data.scenarios || [];
  if (!scenarios.length) return h("p", { class: "empty", id: "drill-noscenario" }, t("drill.noscenarios"));
  const can = mayStart(data);
  return h("div", { class: "table-wrap" }, h("table", { class: "plain drill-table", id: "drill-scenarios" },
    h("caption", { class: "sr-only" }, t("drill.scenarios")),
    h("thead", {}, h("tr", {}, ["drill.scenario", "drill.speed", "drill.expects", "drill.injections", ""]
      .map((k) => h("th", { scope: "col" }, k ? t(k) : h("span", { class: "sr-only" }, t("drill.start")))))),
    h("tbody", {}, scenarios.map((sc) => h("tr", { "data-scenario": sc.scenario },
      h("td", { title: sc.description || "" }, h("span", { class: "drill-name" }, scenarioTitle(sc)), " ",
        h("code", {}, sc.scenario),
        sc.chaos ? h("span", { class: "tag chaos", title: t("drill.chaos.note") }, t("drill.chaos")) : null),
      h("td", {}, speedText(sc.speed)),
      h("td", {}, String(sc.expect ?? 0)),
      h("td", {}, String(sc.injections ?? 0)),
      h("td", {}, can ? h("button", { type: "button", class: "btn primary", "data-start": sc.scenario,
        onclick: (e) => onStart(sc, e.currentTarget) }, t("drill.start")) : null))))));
}

function runTable(runs) {
  if (!runs.length) return h("p", { class: "empty", id: "drill-noruns" }, t("drill.noruns"));
  return h("div", { class: "table-wrap" }, h("table", { class: "plain drill-table", id: "drill-runs" },
    h("caption", { class: "sr-only" }, t("drill.runs")),
    h("thead", {}, h("tr", {}, ["drill.run", "drill.scenario", "drill.status", "drill.started", "drill.verdict", "drill.met"]
      .map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, runs.map((r) => h("tr", { "data-run": r.run, "data-status": r.status },
      h("td", {}, h("a", { href: runHash(r.run), class: "drill-run-link" }, r.run)),
      h("td", {}, scenarioTitle(r) || r.scenario),
      h("td", {}, runStatus(r.status)),
      h("td", { class: "c-time" }, fmtTime(r.started_at)),
      h("td", {}, verdictBadge(verdictOf(r))),
      h("td", { "data-figure": "met" }, metText(r)))))));
}

/** Drill alerts grouped by drill name, newest drill first; runs are left out when ``skip`` names them. */
function byDrill(skip) {
  const groups = new Map();
  for (const a of alertsFor({ mode: "drill", status: "all" })) {
    if (skip.has(a.drill)) continue;
    if (!groups.has(a.drill)) groups.set(a.drill, []);
    groups.get(a.drill).push(a);
  }
  const latest = (list) => list.reduce((m, a) => (a.created_at > m ? a.created_at : m), "");
  return [...groups.entries()].sort((x, y) => latest(y[1]).localeCompare(latest(x[1])));
}

function drillSection([name, alerts]) {
  const worst = alerts.reduce((w, a) => (!w || RANK[a.max_level] > RANK[w] ? a.max_level : w), null);
  const first = alerts.reduce((m, a) => (!m || a.created_at < m ? a.created_at : m), null);
  const open = alerts.filter((a) => a.status !== "resolved").length;
  return h("section", { class: "panel drill", "data-drill": name },
    h("h2", {}, h("span", { class: "tag drill" }, t("mode.drill")), " ", name, " ", levelBadge(worst)),
    h("p", { class: "meta" }, `${t("drills.alerts", { n: alerts.length })} · ${t("status.active")} ${open} · ${fmtTime(first)}`),
    alertTable(alerts, { fresh: state.fresh, caption: name }));
}

/** Why the runs cannot be listed: a service without drill runs (409), else the error. */
function failed(err) {
  if (err instanceof ApiError && err.status === 409) return h("p", { class: "note drill-note", role: "note" }, t("drill.kafka"));
  return errorBox(err);
}

export function render(root) {
  let alive = true;
  let data = null;
  let failure = null;
  let timer = null;
  const message = h("p", { class: "action-msg", role: "status", id: "drill-msg" });

  async function start(sc, button) {
    button.disabled = true;
    message.className = "action-msg";
    message.textContent = t("drill.starting", { name: scenarioTitle(sc) });
    try {
      const made = await api("/v1/drills", { method: "POST", body: { scenario: sc.scenario } });
      if (alive) location.hash = runHash(made.run);
    } catch (err) {
      button.disabled = false;
      message.className = "action-msg bad";
      message.setAttribute("role", "alert");
      if (err instanceof ApiError && err.status === 403) {
        refusedKey = getKey();
        message.textContent = t("drill.forbidden");
        draw();
      } else message.textContent = t("drill.startfailed", { msg: err.message });
    }
  }

  function draw() {
    if (!alive) return;
    const runs = data?.runs || [];
    const named = byDrill(new Set(runs.map((r) => r.run)));
    clear(root).append(...[
      h("h1", { class: "page-title" }, t("drills.title")),
      h("p", { class: "hint" }, t("drills.note")),
      h("section", { class: "panel", "aria-labelledby": "h-drill-scenarios" },
        h("h2", { id: "h-drill-scenarios" }, t("drill.scenarios")),
        failure ? failed(failure) : data ? scenarioTable(data, start) : h("p", { class: "hint" }, t("loading")),
        data && !mayStart(data) ? h("p", { class: "hint", id: "drill-cannot" }, t("drill.cannot")) : null,
        message),
      h("section", { class: "panel", "aria-labelledby": "h-drill-runs" },
        h("h2", { id: "h-drill-runs" }, t("drill.runs")),
        data ? runTable(runs) : failure ? null : h("p", { class: "hint" }, t("loading"))),
      named.length ? h("h2", { class: "sub-title" }, t("drill.named")) : null,
      ...named.map(drillSection),
      !named.length && !runs.length && data ? h("p", { class: "empty" }, t("drills.empty")) : null].filter(Boolean));
  }

  async function load() {
    clearTimeout(timer);
    try {
      data = await api("/v1/drills");
      failure = null;
    } catch (err) {
      failure = err;
    }
    if (!alive) return;
    draw();
    // while a run is going, its status and verdict move: look again every 2 s
    if ((data?.runs || []).some((r) => r.status === "running")) timer = setTimeout(load, 2000);
  }

  draw();
  load();
  const unsubscribe = subscribe((change) => {
    if (change.type === "fade") return;
    if (change.alert && !change.alert.drill) return;
    draw();
  });
  return () => { alive = false; clearTimeout(timer); unsubscribe(); };
}
