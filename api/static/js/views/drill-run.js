// One drill run, live (docs/drills.md): records sent of those planned and the scenario clock, the expectations ticked
// off as they are met, the run's alerts as they come (the live store gets them from the event stream), the event
// counts and an End button; once ended, the scorecard and the comparison with the scenario's earlier runs.
// GET /v1/drills/<run> is polled every second while the run is running, and no longer once the page is left.

import { api, ApiError } from "../api.js";
import { alertTable, errorBox } from "../components.js";
import { clear, h } from "../dom.js";
import { fmtRate, fmtTime, t } from "../i18n.js";
import { alertsFor, state, subscribe } from "../store.js";
import {
  checklist, comparison, countCards, runHash, runPath, runStatus, scenarioTitle, scorecardSections, speedText, verdictBadge,
} from "./drill-parts.js";

const POLL_MS = 1000;

/** The share of the scenario's time elapsed: (clock - start) / (end - start), within [0, 1]. */
export function clockFraction(doc) {
  const [c, a, b] = [doc.clock, doc.start, doc.end].map((x) => Date.parse(x));
  if (![c, a, b].every(Number.isFinite) || b <= a) return null;
  return Math.min(1, Math.max(0, (c - a) / (b - a)));
}

function bar(id, fraction, label, text) {
  const pct = fraction === null ? 0 : Math.round(fraction * 1000) / 10;
  const fill = h("div", { class: "drill-bar-fill" });
  fill.style.width = `${pct}%`;  // through the CSSOM: the page's CSP refuses style attributes
  return h("div", { class: "drill-bar", id },
    h("div", { class: "drill-bar-label" }, h("span", {}, label), h("span", { class: "drill-bar-text" }, text)),
    h("div", { class: "drill-bar-track", role: "progressbar", "aria-label": label, "aria-valuemin": 0, "aria-valuemax": 100,
      "aria-valuenow": pct, "aria-valuetext": text },
    fill));
}

/** Records sent of those planned, and the scenario clock within the planned span. */
function progress(doc) {
  const p = doc.progress || {};
  const fraction = p.fraction ?? (p.planned ? Math.min(1, (p.sent || 0) / p.planned) : null);
  const cf = clockFraction(doc);
  return h("div", { class: "drill-progress", id: "drill-progress" },
    bar("drill-records", fraction, t("drill.records"),
      t("drill.sentof", { sent: p.sent ?? 0, planned: p.planned ?? "—", pct: fmtRate(fraction) })),
    bar("drill-clock", cf, t("drill.clock"),
      t("drill.clockat", { clock: fmtTime(doc.clock), end: fmtTime(doc.end), pct: fmtRate(cf) })));
}

/** Downloads the run document as <run>.json (fetched with the key: a plain link could not send it). */
async function downloadJson(run, note) {
  try {
    const doc = await api(runPath(run));
    const url = URL.createObjectURL(new Blob([JSON.stringify(doc, null, 2)], { type: "application/json" }));
    const a = h("a", { href: url, download: `${run}.json`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    note.className = "action-msg bad";
    note.textContent = t("error.generic", { msg: err.message });
  }
}

export function render(root, runId) {
  let alive = true;
  let doc = null;
  let failure = null;
  let timer = null;
  let comparisonBox = null;
  let ending = false;
  const note = h("p", { class: "action-msg", role: "status", id: "drill-end-msg" });
  const alertsBox = h("div", { id: "drill-alerts" });
  const liveBox = h("div", { id: "drill-live" });

  function drawAlerts() {
    const mine = alertsFor({ mode: "drill", status: "all" }).filter((a) => a.drill === runId);
    clear(alertsBox).append(
      h("p", { class: "meta" }, t("drills.alerts", { n: mine.length })),
      h("div", { class: "table-wrap" }, alertTable(mine, { fresh: state.fresh, caption: t("drill.alertsof", { run: runId }) })));
  }

  async function end(button) {
    if (ending) return;
    ending = true;
    button.disabled = true;
    try {
      await api(`${runPath(runId)}/end`, { method: "POST" });
      note.className = "action-msg ok";
      note.textContent = t("drill.ended");
      await load();
    } catch (err) {
      button.disabled = false;
      note.className = "action-msg bad";
      note.textContent = err instanceof ApiError && err.status === 403 ? t("drill.endforbidden")
        : t("error.generic", { msg: err.message });
    } finally {
      ending = false;
    }
  }

  function head() {
    const running = doc.status === "running";
    return [
      h("a", { class: "back no-print", href: "#/drills" }, `← ${t("drill.back")}`),
      h("div", { class: "drill-head", "data-run": runId, "data-status": doc.status },
        h("h1", {}, scenarioTitle(doc) || doc.scenario),
        h("code", { class: "drill-id" }, runId), runStatus(doc.status),
        doc.scorecard?.verdict ? verdictBadge(doc.scorecard.verdict) : null),
      h("p", { class: "meta drill-meta" }, [
        t("drill.startedat", { time: fmtTime(doc.started_at) }),
        doc.ended_at ? t("drill.endedat", { time: fmtTime(doc.ended_at) }) : null,
        doc.requested_by ? t("drill.by", { who: doc.requested_by }) : null,
        doc.speed ? `${t("drill.speed")} ${speedText(doc.speed)}` : null,
      ].filter(Boolean).join(" · ")),
      doc.error ? h("p", { class: "error", role: "alert", id: "drill-error" }, t("drill.error", { msg: doc.error })) : null,
      h("div", { class: "actions" },
        running ? h("button", { type: "button", class: "btn danger", id: "drill-end", onclick: (e) => end(e.currentTarget) },
          t("drill.end")) : null,
        h("a", { class: "btn", id: "drill-json", href: runPath(runId), download: `${runId}.json`,
          onclick: (e) => { e.preventDefault(); downloadJson(runId, note); } }, t("drill.json")),
        h("a", { class: "btn", id: "drill-print", href: `${runHash(runId)}/report` }, t("drill.print")),
        h("a", { class: "btn", id: "drill-risk", href: `#/risk?drill=${encodeURIComponent(runId)}` }, t("rf.drilllink")),
        note),
    ];
  }

  function draw() {
    if (!alive) return;
    if (failure && !doc) {
      const gone = failure instanceof ApiError && failure.status === 404;
      clear(root).append(h("a", { class: "back", href: "#/drills" }, `← ${t("drill.back")}`),
        gone ? h("p", { class: "empty" }, t("drill.notfound", { run: runId })) : errorBox(failure));
      return;
    }
    if (!doc) { clear(root).append(h("p", { class: "hint" }, t("loading"))); return; }
    const sc = doc.scorecard || {};
    const running = doc.status === "running";
    clear(liveBox).append(...[
      h("section", { class: "panel", "aria-labelledby": "h-drill-progress" },
        h("h2", { id: "h-drill-progress" }, t("drill.progress")), progress(doc), countCards(doc.progress)),
      running ? h("section", { class: "panel", "aria-labelledby": "h-drill-expect" },
        h("h2", { id: "h-drill-expect" }, t("drill.expectations")), checklist(sc.expectations)) : null].filter(Boolean));
    const alerts = h("section", { class: "panel", "aria-labelledby": "h-drill-alerts" },
      h("h2", { id: "h-drill-alerts" }, t("drill.alerts")), alertsBox);
    // while it runs: progress, checklist, alerts as they come; once over: the scorecard first, the alerts last
    const live = running || !doc.scorecard;
    const body = live ? [liveBox, alerts, comparisonBox] : [...scorecardSections(sc), comparisonBox, alerts];
    clear(root).append(...[...head(), ...body].filter(Boolean));
    drawAlerts();
  }

  async function load() {
    clearTimeout(timer);
    try {
      const was = doc?.status;
      doc = await api(runPath(runId));
      failure = null;
      if (!alive) return;
      // the comparison once the page opens and again when the run ends (its row is then final)
      if (!comparisonBox || (was === "running" && doc.status !== "running")) {
        comparisonBox = await comparison(doc.scenario, runId, "panel", doc.scorecard);
      }
    } catch (err) {
      failure = err;
    }
    if (!alive) return;
    draw();
    const missing = failure instanceof ApiError && failure.status === 404;
    if (doc?.status === "running" || (!doc && failure && !missing)) timer = setTimeout(load, POLL_MS);
  }

  draw();
  load();
  const unsubscribe = subscribe((change) => {
    if (change.type === "lang") { draw(); return; }
    if (doc && (!change.alert || change.alert.drill === runId || change.type === "fade" || change.type === "reload")) drawAlerts();
  });
  return () => { alive = false; clearTimeout(timer); unsubscribe(); };
}
