// The live alert list: level counts, status and real/drill filters, the table.

import { alertTable, modeToggle, segmented } from "../components.js";
import { clear, h } from "../dom.js";
import { levelName, t } from "../i18n.js";
import { alertsFor, LEVELS, setFilter, state, subscribe } from "../store.js";

function counts() {
  const open = alertsFor({ status: "active" });
  return h("ul", { class: "level-counts", "aria-label": t("filter.status") },
    [...LEVELS].reverse().map((lv) => h("li", { class: `count lv-${lv}`, "data-level": lv },
      h("span", { class: "n" }, String(open.filter((a) => a.level === lv).length)),
      h("span", { class: "what" }, levelName(lv)))));
}

function filters() {
  const statuses = ["active", "open", "acknowledged", "resolved", "all"];
  return h("div", { class: "filters" },
    h("span", { class: "filter-label" }, t("filter.status")),
    segmented(t("filter.status"), statuses.map((v) => ({ value: v, label: t(v === "all" ? "filter.all" : `status.${v}`) })),
      state.status, (v) => setFilter("status", v)),
    h("span", { class: "filter-label" }, t("filter.mode")),
    modeToggle());
}

export function render(root) {
  function draw() {
    const alerts = alertsFor();
    clear(root).append(
      h("h1", { class: "page-title" }, t("nav.alerts"),
        h("span", { class: "sub", "aria-live": "polite" }, t("alerts.count", { n: alerts.length }))),
      counts(),
      filters(),
      state.mode === "drill" && state.modeAuto ? h("p", { class: "note drill-note", role: "note" }, t("alerts.drillnote")) : "",
      h("div", { class: "table-wrap" }, alertTable(alerts, { fresh: state.fresh, caption: t("nav.alerts") })),
    );
  }
  draw();
  return subscribe(draw);
}
