// The "on duty now" panel of the grid map: per node of the chosen district, who is on duty (GET /v1/oncall),
// until when (the node's local time), and who takes over next; responders outside rotations are always reachable.

import { api } from "../api.js";
import { clear, h } from "../dom.js";
import { nodeName, t } from "../i18n.js";
import { state } from "../store.js";

const FRESH_MS = 60000;
let cache = null;
let fetchedAt = 0;
let pending = null;

function fresh() { return cache && Date.now() - fetchedAt < FRESH_MS ? cache : null; }

function load() {
  if (!pending) {
    pending = api("/v1/oncall").then((data) => { cache = data; fetchedAt = Date.now(); return data; })
      .finally(() => { pending = null; });
  }
  return pending;
}

/** Whether node ``id`` is ``top`` or lies under it in the grid tree. */
function within(id, top) {
  for (let n = state.byId.get(id), hops = 0; n && hops < 10; n = state.byId.get(n.parent), hops++) {
    if (n.id === top) return true;
  }
  return false;
}

function person(p) { return p ? (p.name || p.id) : null; }

function rows(node) {
  const name = nodeName(state.byId.get(node.node)) || node.node;
  const out = node.rotations.map((r, i) => h("tr", { "data-node": node.node, "data-rotation": r.name },
    i === 0 ? h("th", { scope: "row", rowspan: node.rotations.length + (node.always.length ? 1 : 0) }, name) : null,
    h("td", {}, r.name === "duty" ? t("oncall.duty") : r.name),
    h("td", { class: `on-duty ${r.on_duty ? "" : "nobody"}`, "data-responder": r.on_duty?.id || "" },
      person(r.on_duty) || t("oncall.nobody"),
      r.override ? h("span", { class: "tag", title: r.note || "" }, r.note || t("oncall.override")) : null),
    h("td", { class: "c-time", title: r.timezone }, r.until_local),
    h("td", { "data-next": r.next.responder?.id || "" },
      person(r.next.responder) || t("oncall.nobody"),
      r.next.at_local !== r.until_local ? [" · ", h("span", { class: "c-time", title: r.timezone }, r.next.at_local)] : null)));
  if (node.always.length) {
    const always = h("td", { colspan: 4, class: "always" }, t("oncall.always", { names: node.always.map(person).join("、") }));
    out.push(node.rotations.length ? h("tr", { "data-node": node.node }, always)
      : h("tr", { "data-node": node.node }, h("th", { scope: "row" }, name), always));
  }
  return out;
}

function fill(body, data, district) {
  const nodes = data.nodes.filter((n) => within(n.node, district));
  clear(body);
  if (!nodes.length) { body.append(h("p", { class: "empty" }, t("oncall.none"))); return; }
  const zones = [...new Set(nodes.flatMap((n) => n.rotations.map((r) => r.timezone)))];
  if (!zones.length) {  // no rotations here: everyone is always reachable
    body.append(h("ul", { class: "oncall-always" }, nodes.map((n) => h("li", { "data-node": n.node },
      h("strong", {}, nodeName(state.byId.get(n.node)) || n.node), " ",
      h("span", { class: "always" }, t("oncall.always", { names: n.always.map(person).join("、") }))))));
    return;
  }
  body.append(h("table", { class: "oncall-table" },
    h("caption", { class: "hint" }, zones.length ? t("oncall.local", { tz: zones.join(", ") }) : ""),
    h("thead", {}, h("tr", {}, ["oncall.node", "oncall.rotation", "oncall.onduty", "oncall.until", "oncall.next"]
      .map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, nodes.map(rows))));
}

/** The panel for a district (drawn at once from a recent answer, else when GET /v1/oncall answers). */
export function oncallPanel(district) {
  const body = h("div", { class: "oncall-body" });
  const section = h("section", { class: "panel oncall", id: "oncall", "aria-labelledby": "oncall-title" },
    h("h2", { id: "oncall-title" }, t("oncall.title")), body);
  const data = fresh();
  if (data) fill(body, data, district);
  else {
    body.append(h("p", { class: "hint" }, t("loading")));
    load().then((d) => fill(body, d, district))
      .catch((err) => clear(body).append(h("p", { class: "error", role: "alert" }, t("error.generic", { msg: err.message }))));
  }
  return section;
}
