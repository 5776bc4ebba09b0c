// The rule editor: list rules, edit one's levels, for_seconds and hysteresis, backtest the change on
// stored history beside the current rule (chart with two lanes, episode table), then save (PUT).

import { api, ApiError } from "../api.js";
import { backtestChart } from "../backtest-chart.js";
import { levelBadge } from "../components.js";
import { clear, h } from "../dom.js";
import { fmtDuration, fmtTime, t } from "../i18n.js";
import { validationText } from "../server-text.js";
import { LEVELS, state, subscribe } from "../store.js";

const DAY = 86400e3;

function localInput(ms) {  // a datetime-local value in the browser's zone
  const d = new Date(ms), p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** A default range and where it comes from: around the rule's real alerts, else around every real alert, else the
 *  span of the drill data the rule alerted on (the demo: backtests are asked for that drill's events), else 30 days. */
function defaultRange(ruleId) {
  const span = (list) => {
    const times = list.flatMap((a) => [Date.parse(a.created_at), Date.parse(a.updated_at)]);
    return [Math.min(...times) - 3 * DAY, Math.max(...times) + DAY];
  };
  const all = [...state.alerts.values()];
  const real = all.filter((a) => !a.drill);
  const mine = real.filter((a) => a.rule === ruleId);
  if (mine.length) return { range: span(mine), from: "rule" };
  if (real.length) return { range: span(real), from: "real" };
  const drills = all.filter((a) => a.drill && a.rule === ruleId);
  const pool = drills.length ? drills : all.filter((a) => a.drill);
  if (pool.length) {
    const drill = pool[0].drill;
    return { range: span(pool.filter((a) => a.drill === drill)), from: "drill", drill };
  }
  return { range: [Date.now() - 30 * DAY, Date.now()], from: "none" };
}

function field(id, labelKey, input) {
  return h("div", { class: "rx-field" }, h("label", { for: id }, t(labelKey)), input);
}

function numberInput(id, value, step = "any") {
  return h("input", { id, name: id, type: "number", step, value: value ?? "", inputmode: "decimal" });
}

function rulesTable(rules, selected, onPick) {
  if (!rules.length) return h("p", { class: "empty" }, t("rules.none"));
  return h("table", { class: "plain rules" },
    h("thead", {}, h("tr", {}, ["rules.id", "rules.kind", "rules.metric", "rules.levels", "rules.version"]
      .map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, rules.map((r) => h("tr", {
      class: `rule-row ${r.id === selected ? "on" : ""}`, "data-rule": r.id, tabindex: 0,
      onclick: () => onPick(r.id), onkeydown: (e) => { if (e.key === "Enter") onPick(r.id); },
    }, h("td", {}, h("a", { href: "#/rules", class: "rule-id", onclick: (e) => { e.preventDefault(); onPick(r.id); } }, r.id)),
    h("td", {}, t(`rules.kind.${r.kind}`)), h("td", {}, r.metric || r.category || "—"),
    h("td", { class: "rx-levels" }, LEVELS.filter((lv) => lv in r.levels).map((lv) => h("span", { class: `rx-chip lv-${lv}` }, r.levels[lv]))),
    h("td", {}, String(r.version))))));
}

function summary(result) {
  const sides = [["proposed", result.proposed], ["current", result.current]];
  const cell = (side, lv) => h("td", { "data-lane": side[0], "data-level": lv }, side[1] ? String(side[1].summary.by_level[lv]) : "—");
  return h("table", { class: "plain bt-summary" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("bt.rule")), LEVELS.map((lv) => h("th", { scope: "col" }, levelBadge(lv))),
      h("th", { scope: "col" }, t("bt.episodes")))),
    h("tbody", {}, sides.map((side) => h("tr", { "data-lane": side[0] }, h("th", { scope: "row" }, t(`bt.${side[0]}`)),
      LEVELS.map((lv) => cell(side, lv)),
      h("td", { class: "bt-total", "data-lane": side[0] }, side[1] ? String(side[1].summary.episodes) : t("bt.nocurrent"))))),
    result.recorded ? h("caption", { class: "hint" }, t("bt.recorded", { n: result.recorded.alerts, m: result.recorded.raises.length })) : null);
}

function episodesTable(result) {
  const rows = [];
  for (const lane of ["proposed", "current"]) for (const e of result[lane]?.episodes || []) rows.push({ lane, e });
  rows.sort((a, b) => a.e.raised_at.localeCompare(b.e.raised_at) || a.lane.localeCompare(b.lane));
  if (!rows.length) return h("p", { class: "empty" }, t("bt.noepisodes"));
  const dur = (e) => (e.cleared_at ? fmtDuration((Date.parse(e.cleared_at) - Date.parse(e.raised_at)) / 1000) : t("bt.open"));
  return h("div", { class: "table-wrap" }, h("table", { class: "plain episodes" },
    h("thead", {}, h("tr", {}, ["bt.lane", "bt.series", "bt.raised", "bt.max", "bt.changes", "bt.cleared", "bt.duration"]
      .map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, rows.slice(0, 500).map(({ lane, e }) => h("tr", { "data-lane": lane, class: `lane-${lane}` },
      h("td", {}, t(`bt.${lane}`)), h("td", {}, e.series), h("td", {}, fmtTime(e.raised_at)),
      h("td", {}, levelBadge(e.max_level)), h("td", {}, e.levels.map((l) => t(`level.short.${l.level}`)).join(" → ")),
      h("td", {}, fmtTime(e.cleared_at)), h("td", {}, dur(e)))))));
}

export function render(root) {
  const ui = { rules: [], id: null, result: null, tested: null, msg: { text: "", cls: "" }, errors: [], busy: false, series: "" };
  const inputs = {};

  function proposed() {
    const base = ui.rules.find((r) => r.id === ui.id);
    const body = { ...base };
    for (const k of ["version", "changed_by", "changed_at"]) delete body[k];
    body.levels = {};
    for (const lv of LEVELS) {
      const v = inputs[lv].value.trim();
      if (v !== "") body.levels[lv] = Number(v);
    }
    body.for_seconds = Number(inputs.for.value || 0);
    body.hysteresis = Number(inputs.hyst.value || 0);
    return body;
  }

  function message() {
    if (!ui.msg.key) return ui.msg.text || "";
    let text = t(ui.msg.key, ui.msg.vars || {});
    if (ui.msg.key === "bt.done" && ui.result && !ui.result.points) {
      text += ` ${ui.rangeFrom?.from === "drill" ? t("bt.zero.drill", { drill: ui.rangeFrom.drill }) : t("bt.zero")}`;
    }
    return text;
  }

  /** Where the default range comes from, said under the range (the demo's data are a drill's). */
  function rangeNote() {
    const from = ui.rangeFrom?.from;
    if (!from) return null;
    return h("p", { class: "hint bt-range-note", "data-from": from }, t(`bt.range.${from}`, { drill: ui.rangeFrom.drill || "" }));
  }

  async function run() {
    const rule = proposed();
    const [t0, t1] = [Date.parse(inputs.start.value), Date.parse(inputs.end.value)];
    ui.busy = true; ui.errors = []; ui.msg = { key: "bt.running", cls: "" }; draw();
    try {
      ui.result = await api("/v1/rules/thresholds/backtest", { method: "POST", body: {
        rule, start: new Date(t0).toISOString(), end: new Date(t1).toISOString(), series: ui.series || undefined,
        drill: ui.rangeFrom?.from === "drill" ? ui.rangeFrom.drill : undefined } });
      ui.range = [t0, t1];
      ui.tested = JSON.stringify(rule);
      ui.msg = { key: "bt.done", vars: { n: ui.result.points, ms: Math.round(ui.result.elapsed_ms.fetch + ui.result.elapsed_ms.simulate) }, cls: "ok" };
    } catch (err) {
      ui.result = null; ui.tested = null;
      if (err instanceof ApiError && err.status === 422 && err.detail?.errors) { ui.errors = err.detail.errors; ui.msg = { key: "bt.invalid", cls: "bad" }; }
      else if (err instanceof ApiError && err.status === 403) ui.msg = { key: "bt.forbidden", cls: "bad" };
      else ui.msg = { text: t("error.generic", { msg: err.message }), cls: "bad" };
    }
    ui.busy = false;
    draw();
  }

  async function save() {
    const rule = proposed();
    if (JSON.stringify(rule) !== ui.tested) { ui.msg = { key: "bt.retest", cls: "bad" }; draw(); return; }
    try {
      const out = await api(`/v1/rules/thresholds/${encodeURIComponent(ui.id)}`, { method: "PUT", body: rule });
      await load();
      ui.tested = null; ui.result = null;
      ui.msg = { key: "bt.saved", vars: { v: out.version }, cls: "ok" }; draw();
    } catch (err) {
      ui.msg = err instanceof ApiError && err.status === 403 ? { key: "bt.forbidden", cls: "bad" }
        : { key: "error.generic", vars: { msg: err.message }, cls: "bad" };
      draw();
    }
  }

  function pick(id) {
    ui.id = id; ui.result = null; ui.tested = null; ui.errors = []; ui.series = ""; ui.msg = { key: "", cls: "" };
    const r = ui.rules.find((x) => x.id === id);
    const def = defaultRange(id);
    const [t0, t1] = def.range;
    ui.rangeFrom = def;
    Object.assign(inputs, {
      for: numberInput("for-seconds", r.for_seconds, "60"), hyst: numberInput("hysteresis", r.hysteresis),
      start: h("input", { id: "start", type: "datetime-local", value: localInput(t0) }),
      end: h("input", { id: "end", type: "datetime-local", value: localInput(t1) }),
    });
    for (const lv of LEVELS) inputs[lv] = numberInput(`lv-${lv}`, r.levels[lv]);
    for (const el of [...LEVELS.map((lv) => inputs[lv]), inputs.for, inputs.hyst]) {
      el.addEventListener("input", () => { if (ui.tested) { ui.tested = null; ui.msg = { key: "bt.changed", cls: "" }; draw(); } });
    }
    draw();
  }

  function seriesPicker() {
    const sel = h("select", { id: "series", onchange: (e) => { ui.series = e.target.value; run(); } },
      h("option", { value: "" }, t("bt.allseries")),
      (ui.result?.series || []).map((x) => h("option", { value: x.series, selected: x.series === ui.series },
        `${x.series} (${x.proposed}/${x.current})`)));
    return field("series", "bt.seriespick", sel);
  }

  function editor(r) {
    const dirty = ui.tested === null || JSON.stringify(proposed()) !== ui.tested;
    return h("form", { class: "rx-form", onsubmit: (e) => { e.preventDefault(); run(); } },
      h("p", { class: "hint" }, t("rules.editing", { id: r.id, kind: t(`rules.kind.${r.kind}`), dir: t(`rules.dir.${r.direction}`) })),
      h("fieldset", { class: "rx-levels-edit" }, h("legend", {}, t("rules.thresholds")),
        LEVELS.map((lv) => field(`lv-${lv}`, `level.short.${lv}`, inputs[lv]))),
      h("div", { class: "rx-row" }, field("for-seconds", "rules.for", inputs.for), field("hysteresis", "rules.hyst", inputs.hyst)),
      h("div", { class: "rx-row" }, field("start", "bt.start", inputs.start), field("end", "bt.end", inputs.end), seriesPicker()),
      h("div", { class: "rx-actions" },
        h("button", { type: "submit", class: "btn primary", id: "backtest", disabled: ui.busy }, t("bt.run")),
        h("button", { type: "button", class: "btn", id: "save", disabled: dirty || ui.busy, onclick: save }, t("bt.save")),
        h("span", { class: `action-msg save-msg ${ui.msg.cls}`, role: "status", "aria-live": "polite" }, message())),
      rangeNote(),
      ui.errors.length ? h("ul", { class: "errors error" }, ui.errors.map((e) => h("li", {}, validationText(e)))) : null);
  }

  function results() {
    const res = ui.result;
    if (!res) return null;
    const chart = res.charts[0];
    const lanes = [{ key: "proposed", label: t("bt.proposed"), episodes: res.proposed.episodes.filter((e) => !chart || e.series === chart.series) }];
    if (res.current) lanes.push({ key: "current", label: t("bt.current"), episodes: res.current.episodes.filter((e) => !chart || e.series === chart.series) });
    const short = Object.fromEntries(LEVELS.map((lv) => [lv, t(`level.short.${lv}`)]));
    return h("section", { class: "panel bt-results", "aria-labelledby": "h-bt" },
      h("h2", { id: "h-bt" }, t("bt.results")), summary(res),
      chart ? h("div", { class: "bt-chart" }, h("p", { class: "hint" }, t("bt.chartof", { series: chart.series, observed: chart.observed }),
        " ", h("span", { class: "legend-proposed" }, t("bt.legend.proposed")), " ", h("span", { class: "legend-current" }, t("bt.legend.current"))),
      backtestChart({ chart, lanes, range: ui.range, texts: { label: t("bt.chartlabel", { series: chart.series }), short } }))
        : h("p", { class: "empty" }, t("bt.nodata")),
      h("h3", {}, t("bt.episodelist")), episodesTable(res));
  }

  function draw() {
    const r = ui.rules.find((x) => x.id === ui.id);
    clear(root).append(h("h1", { class: "page-title" }, t("rules.title")),
      h("div", { class: "columns rx" },
        h("section", { class: "panel", "aria-labelledby": "h-rules" }, h("h2", { id: "h-rules" }, t("rules.list")), rulesTable(ui.rules, ui.id, pick)),
        h("section", { class: "panel wide", "aria-labelledby": "h-edit" }, h("h2", { id: "h-edit" }, t("rules.edit")),
          r ? editor(r) : h("p", { class: "hint" }, t("rules.pick")))),
      results() || "");
  }

  async function load() {
    ui.rules = (await api("/v1/rules/thresholds")).rules;
  }

  draw();
  load().then(() => { if (!ui.id && ui.rules.length) pick(ui.rules[0].id); else draw(); })
    .catch((err) => { ui.msg = { key: "error.generic", vars: { msg: err.message }, cls: "bad" }; draw(); });
  const off = subscribe((change) => { if (change.type === "lang") draw(); });
  off.keepsOnLang = true;  // app.js: switching language redraws this page in place (edits and results stay)
  return off;
}
