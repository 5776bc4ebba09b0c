// The rule editor's chart: one series with the proposed (solid) and current (dashed) thresholds, and
// below it two lanes of episodes, proposed and current, each a bar coloured by level from raise to clear.

import { s } from "./dom.js";

const W = 900;
const LEVELS = ["blue", "yellow", "orange", "red"];

function fmt(v) { return Math.abs(v) >= 100 ? v.toFixed(0) : String(+v.toFixed(2)); }

function ticks(lo, hi, n = 5) {
  const raw = (hi - lo) / n, mag = 10 ** Math.floor(Math.log10(raw || 1)), f = raw / mag;
  const step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toFixed(10));
  return out;
}

function dayTicks(t0, t1) {
  const day = 86400e3, span = (t1 - t0) / day;
  const step = span > 20 ? 7 * day : span > 8 ? 2 * day : span > 2 ? day : 6 * 3600e3;
  const out = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) out.push(t);
  return out;
}

function label(ms, step) {
  const d = new Date(ms), p = (n) => String(n).padStart(2, "0");
  return step < 86400e3 ? `${p(d.getHours())}:${p(d.getMinutes())}` : `${d.getMonth() + 1}/${d.getDate()}`;
}

/** Episode segments [{t0, t1, level}] from an episode of the API (levels with times, cleared_at or the end). */
function segments(ep, end) {
  const steps = ep.levels.map((l) => ({ t: Date.parse(l.ts), level: l.level }));
  const stop = ep.cleared_at ? Date.parse(ep.cleared_at) : end;
  return steps.map((st, i) => ({ t0: st.t, t1: i + 1 < steps.length ? steps[i + 1].t : stop, level: st.level }));
}

/**
 * chart: one element of the backtest's "charts"; lanes: [{key, label, episodes}]; range: [t0, t1] in ms.
 * texts: {proposed, current, label} for the legend and the accessible name.
 */
export function backtestChart({ chart, lanes, range, texts }) {
  const laneH = 26, m = { l: 64, r: 120, t: 18, b: 30 }, plotH = 260;
  const H = m.t + plotH + m.b + lanes.length * (laneH + 6) + 8;
  const iw = W - m.l - m.r;
  const points = chart.points.filter((p) => p.value !== null).map((p) => ({ t: Date.parse(p.ts), v: p.value }));
  const [t0, t1] = range;
  const ths = [];
  for (const [key, dash] of [["proposed", false], ["current", true]]) {
    const levels = chart.thresholds[key] || {};
    for (const lv of LEVELS) if (lv in levels) ths.push({ key, lv, value: levels[lv], dash });
  }
  const vs = points.map((p) => p.v).concat(ths.map((x) => x.value));
  let lo = Math.min(...vs), hi = Math.max(...vs);
  const pad = (hi - lo || Math.abs(hi) || 1) * 0.08;
  lo -= pad; hi += pad;
  const x = (t) => m.l + ((Math.min(Math.max(t, t0), t1) - t0) / (t1 - t0 || 1)) * iw;
  const y = (v) => m.t + plotH - ((v - lo) / (hi - lo)) * plotH;

  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart backtest-chart", role: "img", "aria-label": texts.label });
  svg.append(s("title", {}, texts.label));
  for (const v of ticks(lo, hi)) {
    svg.append(s("line", { x1: m.l, x2: m.l + iw, y1: y(v), y2: y(v), class: "grid-line" }));
    svg.append(s("text", { x: m.l - 8, y: y(v) + 4, class: "tick", "text-anchor": "end" }, fmt(v)));
  }
  const dt = dayTicks(t0, t1), step = dt.length > 1 ? dt[1] - dt[0] : 86400e3;
  for (const t of dt) {
    svg.append(s("line", { x1: x(t), x2: x(t), y1: m.t, y2: H - m.b + 6, class: "grid-line" }));
    svg.append(s("text", { x: x(t), y: H - 8, class: "tick", "text-anchor": "middle" }, label(t, step)));
  }
  for (const th of ths) {
    svg.append(s("line", { x1: m.l, x2: m.l + iw, y1: y(th.value), y2: y(th.value),
      class: `bt-threshold th-${th.key} th-${th.lv}`, "data-level": th.lv, "data-value": th.value }));
    if (th.key === "proposed") {
      svg.append(s("text", { x: m.l + iw + 6, y: y(th.value) + 4, class: `th-label th-${th.lv}` },
        `${texts.short[th.lv]} ${fmt(th.value)}`));
    }
  }
  let d = "";
  points.forEach((p, i) => { d += `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`; });
  svg.append(s("path", { d, class: "series-line" }));
  svg.append(s("rect", { x: m.l, y: m.t, width: iw, height: plotH, class: "frame" }));

  lanes.forEach((lane, i) => {
    const top = m.t + plotH + 10 + i * (laneH + 6);
    const g = s("g", { class: "lane", "data-lane": lane.key });
    g.append(s("rect", { x: m.l, y: top, width: iw, height: laneH, class: "lane-bg" }));
    g.append(s("text", { x: m.l - 8, y: top + laneH / 2 + 4, class: "tick lane-label", "text-anchor": "end" }, lane.label));
    for (const ep of lane.episodes) {
      const e = s("g", { class: "ep", "data-level": ep.max_level, "data-raised": ep.raised_at });
      for (const seg of segments(ep, t1)) {
        e.append(s("rect", { x: x(seg.t0), y: top + 3, width: Math.max(2, x(seg.t1) - x(seg.t0)), height: laneH - 6,
          class: `seg lv-${seg.level}` }));
      }
      e.append(s("line", { x1: x(Date.parse(ep.raised_at)), x2: x(Date.parse(ep.raised_at)), y1: top, y2: top + laneH,
        class: "raise-mark" }));
      e.append(s("title", {}, `${lane.label}: ${ep.raised_at} → ${ep.cleared_at || "…"} (${ep.max_level})`));
      g.append(e);
    }
    svg.append(g);
  });
  return svg;
}
