// Drills: every drill run by name, with its alerts, apart from real ones.

import { alertTable, levelBadge } from "../components.js";
import { clear, h } from "../dom.js";
import { fmtTime, t } from "../i18n.js";
import { alertsFor, RANK, state, subscribe } from "../store.js";

function byDrill() {
  const groups = new Map();
  for (const a of alertsFor({ mode: "drill", status: "all" })) {
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

export function render(root) {
  function draw() {
    const drills = byDrill();
    clear(root).append(
      h("h1", { class: "page-title" }, t("drills.title")),
      h("p", { class: "hint" }, t("drills.note")),
      ...(drills.length ? drills.map(drillSection) : [h("p", { class: "empty" }, t("drills.empty"))]));
  }
  draw();
  return subscribe(draw);
}
