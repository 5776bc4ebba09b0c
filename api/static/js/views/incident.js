// Incidents (docs/incidents.md): the list, and one incident with its map of affected grids, its member alerts,
// a combined timeline (its own entries and its members'), ack/resolve for every member, and notes.

import { api, ApiError } from "../api.js";
import { errorBox, gridName, levelBadge } from "../components.js";
import { clear, h, s } from "../dom.js";
import { fmtTime, t, title, tOr } from "../i18n.js";
import { state, subscribe } from "../store.js";

function statusTag(status) {
  return h("span", { class: `badge st-${status === "open" ? "open" : status}` }, t(`inc.status.${status}`));
}

function levelCounts(summary) {
  return h("span", { class: "inc-counts" }, Object.entries(summary.by_level).filter(([, n]) => n)
    .map(([lv, n]) => h("span", { class: "inc-count" }, levelBadge(lv), ` × ${n}`)));
}

// ---- the list ----------------------------------------------------------------------------------

export function renderList(root) {
  let data = null;
  let failure = null;
  function draw() {
    if (failure) { clear(root).append(errorBox(failure)); return; }
    if (!data) { clear(root).append(h("p", { class: "hint" }, t("loading"))); return; }
    const rows = data.incidents;
    clear(root).append(
      h("h1", {}, t("inc.title")),
      h("p", { class: "hint" }, t("inc.note")),
      rows.length ? h("div", { class: "table-wrap" }, h("table", { class: "plain", id: "incidents" },
        h("thead", {}, h("tr", {}, ["alert.maxlevel", "inc.title", "col.grid", "inc.summary", "sil.state", "col.created", "col.updated"]
          .map((k) => h("th", { scope: "col" }, t(k))))),
        h("tbody", {}, rows.map((i) => h("tr", { "data-incident": i.id },
          h("td", {}, levelBadge(i.level)),
          h("td", {}, h("a", { href: `#/incident/${encodeURIComponent(i.id)}` }, i.id)),
          h("td", {}, gridName(i.node)),
          h("td", {}, t("inc.head", { node: gridName(i.node), n: i.summary.alerts }), " ", levelCounts(i.summary)),
          h("td", {}, statusTag(i.status)),
          h("td", {}, fmtTime(i.created_at)), h("td", {}, fmtTime(i.updated_at)))))))
        : h("p", { class: "empty" }, t("inc.none")));
  }
  async function load() {
    try { data = await api("/v1/incidents", { params: { limit: 200 } }); failure = null; } catch (err) { failure = err; }
    draw();
  }
  draw();
  load();
  return subscribe((change) => { if (change.type === "lang") draw(); else if (change.alert) load(); });
}

// ---- the map of affected grids -----------------------------------------------------------------

const SHOWN = 300;  // timeline entries drawn (the API gives up to 1,000)
const FILL = { blue: "#1565c0", yellow: "#f2c200", orange: "#ec6a00", red: "#c62828", none: "#dbe2ea" };  // style.css's levels

/** The grids under the incident's node as dots at their centroids, coloured by the member's level there. */
function gridMap(inc) {
  const worst = new Map();
  const rank = { blue: 1, yellow: 2, orange: 3, red: 4 };
  for (const m of inc.members) {
    if ((rank[m.level] || 0) > (rank[worst.get(m.grid)] || 0)) worst.set(m.grid, m.level);
  }
  const under = (n) => { for (let x = n; x; x = state.byId.get(x.parent)) if (x.id === inc.node) return true; return false; };
  const cells = state.nodes.filter((n) => n.kind === "grid" && n.centroid && (under(n) || worst.has(n.id)));
  if (!cells.length) return h("p", { class: "empty" }, [...worst.keys()].map(gridName).join("、"));
  const lats = cells.map((n) => n.centroid[0]), lons = cells.map((n) => n.centroid[1]);
  const [la0, la1, lo0, lo1] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  const W = 480, H = 300, pad = 24, right = 70;  // room on the right for the last column's labels
  const x = (lon) => pad + (lo1 === lo0 ? 0.5 : (lon - lo0) / (lo1 - lo0)) * (W - pad - right);
  const y = (lat) => H - pad - (la1 === la0 ? 0.5 : (lat - la0) / (la1 - la0)) * (H - 2 * pad);
  return s("svg", { viewBox: `0 0 ${W} ${H}`, class: "inc-map", role: "img", "aria-label": t("inc.map"), width: "100%" },
    s("rect", { x: 0, y: 0, width: W, height: H, fill: "#f4f7fa" }),
    cells.map((n) => {
      const lv = worst.get(n.id);
      return s("g", { class: lv ? `cell lv-${lv}` : "cell lv-none", "data-grid": n.id },
        s("circle", { cx: x(n.centroid[1]).toFixed(1), cy: y(n.centroid[0]).toFixed(1), r: lv ? 12 : 6,
          fill: FILL[lv || "none"], stroke: "#ffffff", "stroke-width": 2 }),
        s("title", {}, `${gridName(n.id)}${lv ? ` · ${t(`level.${lv}`)}` : ""}`),
        lv ? s("text", { x: (x(n.centroid[1]) + 14).toFixed(1), y: (y(n.centroid[0]) + 4).toFixed(1), class: "cell-label",
          "font-size": 12, fill: "#1d2b3c" }, gridName(n.id)) : null);
    }));
}

// ---- one incident ------------------------------------------------------------------------------

function actions(inc, note, box, onDone) {
  const message = h("p", { class: `action-msg ${note.cls || ""}`, role: "status", "aria-live": "polite" }, note.text || "");
  if (sessionStorage.getItem("fenghuo.readonly")) return h("div", { class: "actions" }, message);
  box.comment ??= h("input", { type: "text", id: "inc-comment", class: "comment", maxlength: 2000 });  // kept across redraws
  const comment = box.comment;
  function say(text, cls = "") { Object.assign(note, { text, cls }); message.className = `action-msg ${cls}`; message.textContent = text; }
  async function act(what) {
    say("…");
    const path = `/v1/incidents/${encodeURIComponent(inc.id)}/${what}`;
    const body = what === "notes" ? { text: comment.value.trim() } : { comment: comment.value.trim() };
    if (what === "notes" && !body.text) { say(""); return; }
    try {
      await api(path, { method: "POST", body });
      say(what === "notes" ? t("note.done") : t(`inc.done.${what}`), "ok");
      comment.value = "";
      onDone();
    } catch (err) {
      if (err instanceof ApiError && err.status === 403) { sessionStorage.setItem("fenghuo.readonly", "1"); say(t("alert.forbidden"), "bad"); return; }
      say(t(err instanceof ApiError && err.status === 409 ? "alert.conflict" : "error.generic", { msg: err.message }), "bad");
    }
  }
  return h("div", { class: "actions" },
    h("label", { for: "inc-comment" }, t("inc.comment")), comment,
    inc.status === "open" ? h("button", { type: "button", class: "btn primary", id: "inc-ack", onclick: () => act("ack") }, t("inc.ack")) : null,
    inc.status !== "resolved" ? h("button", { type: "button", class: "btn", id: "inc-resolve", onclick: () => act("resolve") }, t("inc.resolve")) : null,
    h("button", { type: "button", class: "btn", id: "inc-note", onclick: () => act("notes") }, t("note.add")),
    message);
}

function members(inc) {
  return h("div", { class: "table-wrap" }, h("table", { class: "plain", id: "inc-members" },
    h("thead", {}, h("tr", {}, ["col.level", "col.title", "col.grid", "col.status", "inc.alertid"].map((k) => h("th", { scope: "col" }, tOr(k, k))))),
    h("tbody", {}, inc.members.map((m) => h("tr", { "data-alert": m.id },
      h("td", {}, levelBadge(m.level)), h("td", {}, title(m)), h("td", {}, gridName(m.grid)),
      h("td", {}, tOr(`status.${m.status}`, m.status)),
      h("td", {}, h("a", { href: `#/alert/${encodeURIComponent(m.id)}` }, m.id)))))));
}

function combined(inc) {
  return h("ol", { class: "timeline", id: "inc-timeline" }, [...inc.combined_timeline].reverse().slice(0, SHOWN).map((e) =>
    h("li", { class: `tl tl-${e.kind}`, "data-kind": e.kind },
      h("time", { datetime: e.ts }, fmtTime(e.ts, true)),
      h("span", { class: "tl-kind" }, tOr(`tl.${e.kind}`, e.kind)),
      e.level ? levelBadge(e.level) : null,
      e.alert ? h("a", { class: "tl-actor tl-link", href: `#/alert/${encodeURIComponent(e.alert)}` }, gridName(e.grid)) : h("span", { class: "tl-actor" }, t("inc.title")),
      e.actor ? h("span", { class: "tl-actor" }, e.actor) : null,
      e.channel ? h("span", { class: "tl-channel" }, e.channel) : null,
      e.detail ? h("span", { class: "tl-detail" }, e.detail) : null)));
}

export function render(root, id) {
  let inc = null;
  let failure = null;
  const note = { text: "", cls: "" };
  const box = { comment: null };

  function draw() {
    const back = h("a", { href: "#/incidents", class: "back" }, "← ", t("inc.back"));
    if (failure) { clear(root).append(back, failure.status === 404 ? h("p", { class: "empty" }, t("inc.notfound")) : errorBox(failure)); return; }
    if (!inc) { clear(root).append(h("p", { class: "hint" }, t("loading"))); return; }
    const sm = inc.summary;
    clear(root).append(back,
      h("header", { class: `alert-head lv-${inc.level}`, "data-level": inc.level },
        levelBadge(inc.level), h("h1", { id: "incident-title" }, t("inc.head", { node: gridName(inc.node), n: sm.alerts })),
        statusTag(inc.status), inc.drill ? h("span", { class: "tag drill" }, `${t("mode.drill")}: ${inc.drill}`) : null),
      actions(inc, note, box, refresh),
      h("div", { class: "columns" },
        h("section", { class: "panel", "aria-labelledby": "h-inc-sum" }, h("h2", { id: "h-inc-sum" }, t("inc.summary")),
          h("dl", { class: "facts" },
            h("dt", {}, t("alert.risk")), h("dd", {}, t(`risk.${inc.risk}`)),
            h("dt", {}, t("inc.open")), h("dd", {}, `${sm.open} / ${sm.alerts}`, " ", levelCounts(sm)),
            h("dt", {}, t("inc.grids")), h("dd", {}, String(sm.grid_count)),
            h("dt", {}, t("inc.notified")), h("dd", {}, String(inc.notifications), inc.notified_at ? ` · ${fmtTime(inc.notified_at, true)}` : ""),
            h("dt", {}, t("alert.tier")), h("dd", {}, String(inc.escalation_tier)),
            h("dt", {}, t("col.created")), h("dd", {}, fmtTime(inc.created_at, true)),
            inc.acknowledged_by ? [h("dt", {}, t("alert.ack_by")), h("dd", {}, `${inc.acknowledged_by} · ${fmtTime(inc.acknowledged_at, true)}`)] : null,
            inc.resolved_by ? [h("dt", {}, t("alert.resolved_by")), h("dd", {}, `${inc.resolved_by} · ${fmtTime(inc.resolved_at, true)}`)] : null)),
        h("section", { class: "panel wide", "aria-labelledby": "h-inc-map" }, h("h2", { id: "h-inc-map" }, t("inc.map")), gridMap(inc))),
      h("section", { class: "panel", "aria-labelledby": "h-inc-members" }, h("h2", { id: "h-inc-members" }, t("inc.members")), members(inc)),
      h("section", { class: "panel", "aria-labelledby": "h-inc-tl" }, h("h2", { id: "h-inc-tl" }, t("inc.timeline")),
        h("p", { class: "hint" }, t("inc.combined", { n: inc.combined_members })), combined(inc)));
  }

  async function refresh() {
    try { inc = await api(`/v1/incidents/${encodeURIComponent(id)}`); failure = null; } catch (err) { failure = err; }
    draw();
  }

  draw();
  refresh();
  return subscribe((change) => {
    if (change.type === "lang") draw();
    else if (change.alert && inc && inc.members.some((m) => m.id === change.alert.id)) refresh();
  });
}
