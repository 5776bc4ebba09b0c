// Silences: the list by state (active, pending, expired), a form to create one with its matchers, and expiring
// one early. A silenced alert is still recorded (its timeline says "muted" and by which silence); it sends nothing.

import { api, ApiError } from "../api.js";
import { segmented } from "../components.js";
import { clear, h } from "../dom.js";
import { fmtTime, nodeName, t } from "../i18n.js";
import { LEVELS, state } from "../store.js";

let shown = "active";
const DURATIONS = [["1h", 3600], ["2h", 7200], ["8h", 28800], ["24h", 86400], ["7d", 604800]];

function field(id, label, control) {
  return h("div", { class: "sil-field" }, h("label", { for: id }, label), control);
}

function select(id, options) {
  return h("select", { id, name: id }, options.map(([value, label]) => h("option", { value }, label)));
}

function localInput(id) {
  const d = new Date(Date.now() - new Date().getTimezoneOffset() * 60000);
  return h("input", { id, name: id, type: "datetime-local", value: d.toISOString().slice(0, 16) });
}

function form(onMade) {
  const grid = select("sil-grid", [["", t("sil.any")], ...state.nodes.map((n) => [n.id, `${nodeName(n)} (${n.id})`])]);
  const rule = h("input", { id: "sil-rule", name: "sil-rule", maxlength: 128, placeholder: "river / anomaly:*" });
  const source = h("input", { id: "sil-source", name: "sil-source", maxlength: 128 });
  const risk = select("sil-risk", [["", t("sil.any")], ["safety", t("risk.safety")], ["contradiction", t("risk.contradiction")],
    ["system", t("sil.system")]]);
  const feed = select("sil-feed", [["", t("sil.any")], ["sensor", t("feed.sensor")], ["complaint", t("feed.complaint")],
    ["opinion", t("feed.opinion")], ["system", t("sil.system")]]);
  const level = select("sil-level", [["", t("sil.any")], ...LEVELS.map((l) => [l, t(`level.short.${l}`)])]);
  const drill = select("sil-drill", [["", t("sil.both")], ["false", t("mode.real")], ["true", t("mode.drill")]]);
  const start = localInput("sil-start");
  const duration = select("sil-duration", DURATIONS.map(([label, s]) => [String(s), label]));
  const comment = h("input", { id: "sil-comment", name: "sil-comment", maxlength: 1000, required: true });
  const message = h("p", { class: "action-msg", role: "status", id: "sil-msg" });
  const el = h("form", { class: "panel sil-form", "aria-labelledby": "h-sil-new" },
    h("h2", { id: "h-sil-new" }, t("sil.new")),
    h("div", { class: "sil-grid" },
      field("sil-grid", t("sil.grid"), grid), field("sil-rule", t("sil.rule"), rule),
      field("sil-risk", t("alert.risk"), risk), field("sil-feed", t("alert.feed"), feed),
      field("sil-source", t("alert.source"), source), field("sil-level", t("sil.levelmax"), level),
      field("sil-drill", t("sil.drill"), drill), field("sil-start", t("sil.start"), start),
      field("sil-duration", t("sil.duration"), duration), field("sil-comment", t("sil.comment"), comment)),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn primary", id: "sil-create" }, t("sil.create")), message));
  el.addEventListener("submit", async (e) => {
    e.preventDefault();
    const match = {};
    if (grid.value) match.grid = grid.value;
    if (rule.value.trim()) match.rule = rule.value.trim();
    if (source.value.trim()) match.source = source.value.trim();
    if (risk.value) match.risk = risk.value;
    if (feed.value) match.feed = feed.value;
    if (level.value) match.level_at_most = level.value;
    if (drill.value) match.drill = drill.value === "true";
    const startsAt = start.value ? new Date(start.value).toISOString() : undefined;
    try {
      const made = await api("/v1/silences", { method: "POST", body: {
        match, starts_at: startsAt, duration_s: Number(duration.value), comment: comment.value.trim() } });
      message.className = "action-msg ok";
      message.textContent = t("sil.made", { id: made.id });
      comment.value = "";
      onMade(made.state);
    } catch (err) {
      message.className = "action-msg bad";
      if (err instanceof ApiError && err.status === 403) message.textContent = t("sil.forbidden");
      else if (err instanceof ApiError && err.status === 422) {
        const errors = err.detail?.errors || (Array.isArray(err.detail) ? err.detail.map((x) => x.msg) : [err.message]);
        message.textContent = `${t("sil.invalid")} ${errors.join("; ")}`;
      } else message.textContent = t("error.generic", { msg: err.message });
    }
  });
  return el;
}

/** The matchers in the current language. */
function describe(m) {
  const parts = [];
  if (m.grid) parts.push(t("sil.m.grid", { node: nodeName(state.byId.get(m.grid)) || m.grid }));
  if (m.node_kind) parts.push(t("sil.m.kind", { kind: m.node_kind }));
  if (m.rule) parts.push(t("sil.m.rule", { rule: m.rule }));
  if (m.risk) parts.push(m.risk === "system" ? t("sil.system") : t(`risk.${m.risk}`));
  if (m.feed) parts.push(m.feed === "system" ? t("sil.system") : t(`feed.${m.feed}`));
  if (m.source) parts.push(t("sil.m.source", { source: m.source }));
  if (m.level_at_least) parts.push(t("sil.m.atleast", { level: t(`level.short.${m.level_at_least}`) }));
  if (m.level_at_most) parts.push(t("sil.m.atmost", { level: t(`level.short.${m.level_at_most}`) }));
  if (m.drill === true) parts.push(t("mode.drill"));
  if (m.drill === false) parts.push(t("mode.real"));
  return parts.length ? parts.join(t("sil.m.sep")) : t("sil.m.all");
}

function listTable(silences, onExpire) {
  if (!silences.length) return h("p", { class: "empty", id: "sil-empty" }, t(`sil.none.${shown}`));
  return h("div", { class: "table-wrap" }, h("table", { class: "plain sil-table", id: "sil-table" },
    h("caption", { class: "sr-only" }, t(`sil.state.${shown}`)),
    h("thead", {}, h("tr", {}, ["sil.matches", "sil.start", "sil.end", "sil.by", "sil.why", "sil.state", ""]
      .map((k) => h("th", { scope: "col" }, k ? t(k) : h("span", { class: "sr-only" }, t("sil.expire")))))),
    h("tbody", {}, silences.map((s) => h("tr", { "data-silence": s.id, "data-state": s.state },
      h("td", { title: s.matches }, h("code", {}, s.id), " ", describe(s.match)),
      h("td", { class: "c-time" }, fmtTime(s.starts_at)),
      h("td", { class: "c-time" }, fmtTime(s.ends_at)),
      h("td", {}, s.expired_by ? `${s.created_by} · ${t("sil.expiredby", { who: s.expired_by })}` : s.created_by),
      h("td", {}, s.comment),
      h("td", {}, h("span", { class: `status sil-${s.state}` }, t(`sil.state.${s.state}`))),
      h("td", {}, s.state === "expired" ? null : h("button", {
        type: "button", class: "btn", "data-expire": s.id, onclick: () => onExpire(s) }, t("sil.expire"))))))));
}

export function render(root) {
  let alive = true;
  const listBox = h("div", { id: "sil-list" });
  const note = h("p", { class: "action-msg", role: "status" });

  async function refresh() {
    try {
      const { silences } = await api("/v1/silences", { params: { state: shown } });
      if (!alive) return;
      clear(listBox).append(listTable(silences, expire));
    } catch (err) {
      if (alive) clear(listBox).append(h("p", { class: "error", role: "alert" }, t("error.generic", { msg: err.message })));
    }
  }

  async function expire(s) {
    try {
      await api(`/v1/silences/${encodeURIComponent(s.id)}/expire`, { method: "POST" });
      note.className = "action-msg ok";
      note.textContent = t("sil.expired", { id: s.id });
    } catch (err) {
      note.className = "action-msg bad";
      note.textContent = err instanceof ApiError && err.status === 403 ? t("sil.forbidden") : t("error.generic", { msg: err.message });
    }
    refresh();
  }

  const section = h("section", { class: "panel", "aria-labelledby": "h-sil-list" });

  function drawList() {
    clear(section).append(
      h("h2", { id: "h-sil-list" }, t("sil.list")),
      segmented(t("sil.state"), ["active", "pending", "expired"].map((v) => ({ value: v, label: t(`sil.state.${v}`) })),
        shown, (v) => { shown = v; note.textContent = ""; drawList(); }),
      note, listBox);
    refresh();
  }

  function draw() {
    clear(root).append(
      h("h1", { class: "page-title" }, t("sil.title")),
      h("p", { class: "hint" }, t("sil.note")),
      form((made) => { shown = made || "active"; drawList(); }),
      section);
    drawList();
  }
  draw();
  return () => { alive = false; };
}
