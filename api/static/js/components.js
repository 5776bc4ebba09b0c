// Pieces shared by the views: level and status badges, the alert table, the filter bar.

import { h, levelClass } from "./dom.js";
import { fmtTime, lang, levelName, nodeName, t, title, tOr } from "./i18n.js";
import { setFilter, state } from "./store.js";

export function levelBadge(level) {
  return h("span", { class: `badge ${levelClass(level)}`, "data-level": level }, levelName(level));
}

export function statusBadge(status) {
  return h("span", { class: `status st-${status}`, "data-status": status }, t(`status.${status}`));
}

export function gridName(id) {
  return nodeName(state.byId.get(id)) || id;
}

/** A rule's name for people: its own title (config title_zh / title_en), else its detector's name, else its id. */
export function ruleName(id) {
  const r = state.rules.get(id);
  const own = r && (lang() === "en" ? r.title_en || r.title_zh : r.title_zh || r.title_en);
  if (own) return own;
  const [head, model] = String(id).split(":");
  const det = tOr(`det.${head}`, null);
  if (!det) return id;
  if (!model) return det;
  return lang() === "en" ? `${det} (${model})` : `${det}（${model}）`;
}

/** What tells apart alerts of one grid and rule: the station of a sensor alert, else its series' category. */
export function sourceOf(a) {
  if ((a.feed === "sensor" || a.feed === "warning") && a.source) return a.source;  // a warning's: its CAP sender
  const tail = String(a.series || "").split("/").pop();
  return tail && tail !== "*" ? tail : (a.source || "—");
}

function alertRow(a, fresh) {
  const open = () => { location.hash = `#/alert/${a.id}`; };
  return h("tr", {
    class: `alert-row ${levelClass(a.level)} ${fresh ? "fresh" : ""} ${a.status === "resolved" ? "done" : ""}`,
    "data-alert": a.id, "data-level": a.level, tabindex: 0,
    onclick: open, onkeydown: (e) => { if (e.key === "Enter") open(); },
  },
  h("td", { class: "c-level" }, levelBadge(a.level)),
  h("td", { class: "c-title" },
    h("a", { href: `#/alert/${a.id}`, class: "alert-title" }, title(a)),
    h("span", { class: "alert-rule" }, ruleName(a.rule)),
    a.cleared ? h("span", { class: "tag cleared" }, t("alerts.cleared")) : null,
    fresh ? h("span", { class: "tag new" }, t("alerts.new")) : null),
  h("td", {}, gridName(a.grid)),
  h("td", { class: "c-source" }, sourceOf(a)),
  h("td", {}, statusBadge(a.status)),
  h("td", { class: "c-time" }, fmtTime(a.created_at)),
  h("td", { class: "c-time" }, fmtTime(a.updated_at)));
}

export function alertTable(alerts, { fresh = new Set(), caption } = {}) {
  if (!alerts.length) return h("p", { class: "empty" }, t("alerts.empty"));
  return h("table", { class: "alerts" },
    caption ? h("caption", { class: "sr-only" }, caption) : null,
    h("thead", {}, h("tr", {},
      ["col.level", "col.title", "col.grid", "col.source", "col.status", "col.created", "col.updated"]
        .map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, alerts.map((a) => alertRow(a, fresh.has(a.id)))));
}

/** A segmented control: options [{value, label}], current value, onChange. */
export function segmented(name, options, value, onChange) {
  return h("div", { class: "segmented", role: "group", "aria-label": name },
    options.map((o) => h("button", {
      type: "button", class: o.value === value ? "on" : "", "aria-pressed": String(o.value === value),
      "data-value": o.value, onclick: () => onChange(o.value),
    }, o.label)));
}

export function modeToggle() {
  return segmented(t("filter.mode"), [
    { value: "real", label: t("mode.real") }, { value: "drill", label: t("mode.drill") },
  ], state.mode, (v) => setFilter("mode", v));
}

export function errorBox(err) {
  return h("p", { class: "error", role: "alert" }, t("error.generic", { msg: err.message }));
}
