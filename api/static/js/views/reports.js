// Response times: MTTA and MTTR (median and p90) by level and by grid, resolution and on-time rates.

import { api } from "../api.js";
import { barChart } from "../charts.js";
import { errorBox, gridName, modeToggle } from "../components.js";
import { clear, h } from "../dom.js";
import { fmtDuration, fmtRate, levelName, t } from "../i18n.js";
import { LEVELS, state, subscribe } from "../store.js";

function rowsOf(report, by) {
  const groups = report.groups;
  if (by === "level") {
    return LEVELS.slice().reverse().map((lv) => groups.find((g) => g.key === lv))
      .filter(Boolean).map((g) => ({ ...g, label: levelName(g.key), cls: `lv-${g.key}` }));
  }
  return groups.map((g) => ({ ...g, label: gridName(g.key), cls: "neutral" }));
}

function timeChart(rows, what, label) {
  return barChart({
    rows, label, ticks: "duration",
    series: [
      { name: t("reports.median"), cls: "s-median", value: (r) => r[`${what}_median_s`], fmt: fmtDuration },
      { name: t("reports.p90"), cls: "s-p90", value: (r) => r[`${what}_p90_s`], fmt: fmtDuration },
    ],
  });
}

function rateChart(rows, label) {
  return barChart({
    rows, label, max: 1, ticks: "rate",
    series: [
      { name: t("reports.resolution"), cls: "s-median", value: (r) => r.resolution_rate, fmt: fmtRate },
      { name: t("reports.ontime"), cls: "s-p90", value: (r) => r.on_time_rate, fmt: fmtRate },
    ],
  });
}

function key(series) {
  return h("ul", { class: "series-key" }, series.map(([cls, name]) => h("li", {}, h("span", { class: `swatch ${cls}` }), name)));
}

function figure(caption, names, chart) {
  return h("figure", {}, h("figcaption", {}, caption, key(names)), chart);
}

function figures(rows, total) {
  const cols = [["reports.key", (r) => r.label], ["reports.count", (r) => r.count], ["reports.acked", (r) => r.acknowledged],
    ["reports.resolved", (r) => r.resolved], ["reports.mtta", (r) => `${fmtDuration(r.mtta_median_s)} / ${fmtDuration(r.mtta_p90_s)}`],
    ["reports.mttr", (r) => `${fmtDuration(r.mttr_median_s)} / ${fmtDuration(r.mttr_p90_s)}`],
    ["reports.resolution", (r) => fmtRate(r.resolution_rate)], ["reports.ontime", (r) => fmtRate(r.on_time_rate)]];
  const all = [...rows, { ...total, label: t("reports.total") }];
  return h("div", { class: "table-wrap" }, h("table", { class: "plain figures" },
    h("thead", {}, h("tr", {}, cols.map(([k]) => h("th", { scope: "col" }, k.startsWith("reports.mtt") ? `${t(k)} (${t("reports.median")} / ${t("reports.p90")})` : t(k))))),
    h("tbody", {}, all.map((r) => h("tr", { class: r.key === "all" ? "total" : "" }, cols.map(([, f]) => h("td", {}, String(f(r)))))))));
}

function summary(total) {
  const card = (k, v) => h("div", { class: "card" }, h("span", { class: "card-v" }, v), h("span", { class: "card-k" }, t(k)));
  return h("div", { class: "cards" },
    card("reports.count", String(total.count)), card("reports.mtta", fmtDuration(total.mtta_median_s)),
    card("reports.mttr", fmtDuration(total.mttr_median_s)), card("reports.resolution", fmtRate(total.resolution_rate)),
    card("reports.ontime", fmtRate(total.on_time_rate)));
}

function section(id, heading, report, by) {
  const rows = rowsOf(report, by);
  const times = [["k-median", t("reports.median")], ["k-p90", t("reports.p90")]];
  const rates = [["k-median", t("reports.resolution")], ["k-p90", t("reports.ontime")]];
  return h("section", { class: "panel", "aria-labelledby": id, "data-group": by },
    h("h2", { id }, heading),
    h("div", { class: "chart-grid" },
      figure(t("reports.mtta"), times, timeChart(rows, "mtta", `${heading}: ${t("reports.mtta")}`)),
      figure(t("reports.mttr"), times, timeChart(rows, "mttr", `${heading}: ${t("reports.mttr")}`)),
      figure(t("reports.rates"), rates, rateChart(rows, `${heading}: ${t("reports.rates")}`))),
    h("details", {}, h("summary", {}, t("reports.table")), figures(rows, report.total)));
}

export function render(root) {
  let seq = 0;
  async function draw() {
    const mine = ++seq;
    const head = [h("h1", { class: "page-title" }, t("reports.title")), h("div", { class: "filters" }, h("span", { class: "filter-label" }, t("filter.mode")), modeToggle())];
    if (!root.firstChild) clear(root).append(...head, h("p", { class: "hint" }, t("loading")));
    try {
      const drill = state.mode === "drill" ? "true" : "false";
      const [byLevel, byGrid] = await Promise.all([
        api("/v1/reports/response-times", { params: { group_by: "level", drill } }),
        api("/v1/reports/response-times", { params: { group_by: "grid", drill } }),
      ]);
      if (mine !== seq) return;
      if (!byLevel.total.count) { clear(root).append(...head, h("p", { class: "empty" }, t("reports.empty"))); return; }
      clear(root).append(...head, summary(byLevel.total),
        section("h-by-level", t("reports.bylevel"), byLevel, "level"),
        section("h-by-grid", t("reports.bygrid"), byGrid, "grid"));
    } catch (err) {
      if (mine === seq) clear(root).append(...head, errorBox(err));
    }
  }
  draw();
  let timer = null;
  return subscribe((change) => {
    // alert changes move the figures; redraw at most every 2 s
    if (change.type === "fade") return;
    clearTimeout(timer);
    timer = setTimeout(draw, change.type === "filter" ? 0 : 2000);
  });
}
