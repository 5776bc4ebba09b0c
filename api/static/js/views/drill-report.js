// A drill run's printable report: the run's facts, the scorecard and the comparison with the scenario's earlier
// runs, one section per printed page (style.css's print rules: no header or navigation, black on white).

import { api, ApiError } from "../api.js";
import { errorBox } from "../components.js";
import { clear, h } from "../dom.js";
import { fmtTime, t } from "../i18n.js";
import {
  comparison, runHash, runPath, runStatus, scenarioTitle, scorecardSections, speedText, verdictBadge,
} from "./drill-parts.js";

function facts(doc) {
  const row = (k, v) => [h("dt", {}, t(k)), h("dd", {}, v)];
  return h("dl", { class: "facts drill-facts", id: "report-facts" },
    row("drill.scenario", `${scenarioTitle(doc)} (${doc.scenario})`),
    row("drill.run", doc.run || ""),
    row("drill.status", runStatus(doc.status)),
    row("drill.started", fmtTime(doc.started_at)),
    row("drill.endedcol", fmtTime(doc.ended_at)),
    row("drill.span", `${fmtTime(doc.start)} – ${fmtTime(doc.end)}`),
    row("drill.speed", speedText(doc.speed)),
    row("drill.requestedby", doc.requested_by || "—"),
    row("drill.verdict", verdictBadge(doc.scorecard?.verdict ?? null)));
}

export function render(root, runId) {
  let alive = true;

  async function load() {
    clear(root).append(h("p", { class: "hint" }, t("loading")));
    try {
      const doc = await api(runPath(runId));
      const cmp = await comparison(doc.scenario, runId, "report-sec", doc.scorecard);
      if (!alive) return;
      clear(root).append(
        h("div", { class: "report-tools no-print" },
          h("a", { class: "back", href: runHash(runId) }, `← ${t("drill.backrun")}`),
          h("button", { type: "button", class: "btn primary", id: "report-print", onclick: () => window.print() }, t("drill.printnow"))),
        h("article", { class: "drill-report", id: "drill-report", "data-run": runId },
          h("header", { class: "report-sec report-head" },
            h("p", { class: "report-kicker" }, t("drill.report.kicker")),
            h("h1", {}, t("drill.report.title", { name: scenarioTitle(doc) || doc.scenario, run: runId })),
            h("p", { class: "meta" }, t("drill.report.made", { time: fmtTime(new Date().toISOString()) })),
            doc.status === "running" ? h("p", { class: "note drill-note" }, t("drill.report.running")) : null,
            facts(doc)),
          ...(doc.scorecard ? scorecardSections(doc.scorecard, "report-sec") : []),
          cmp));
    } catch (err) {
      if (!alive) return;
      const gone = err instanceof ApiError && err.status === 404;
      clear(root).append(h("a", { class: "back", href: "#/drills" }, `← ${t("drill.back")}`),
        gone ? h("p", { class: "empty" }, t("drill.notfound", { run: runId })) : errorBox(err));
    }
  }

  load();
  return () => { alive = false; };
}
