// SVG charts drawn by hand: a time-series line chart with threshold lines, and grouped bar charts.

import { s } from "./dom.js";

const W = 860;

function niceStep(span, ticks) {
  const raw = span / Math.max(1, ticks);
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  const f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

function yTicks(lo, hi, n = 5) {
  const step = niceStep(hi - lo, n);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toFixed(10));
  return out;
}

function fmtNum(v) {
  return Math.abs(v) >= 100 ? v.toFixed(0) : +v.toFixed(2) + "";
}

function zoneName() {
  const off = -new Date().getTimezoneOffset();
  if (!off) return "UTC";
  const hh = Math.floor(Math.abs(off) / 60), mm = Math.abs(off) % 60;
  return `UTC${off < 0 ? "-" : "+"}${hh}${mm ? `:${String(mm).padStart(2, "0")}` : ""}`;
}

function labelWidth(text) {  // estimated, 12 px bold: CJK glyphs square, Latin ones about 0.6 em
  let w = 0;
  for (const ch of String(text)) w += ch.codePointAt(0) >= 0x2e80 ? 12 : 7.2;
  return w;
}

/**
 * Marker labels above the plot that never overprint: each label goes right of its line (left of it near the
 * right edge) on the first of two rows where it does not touch a label already placed; a third row if need be.
 */
export function placeMarkers(markers, left, right, top) {
  const rows = [[], [], []];
  return [...markers].sort((a, b) => a.x - b.x).map((k) => {
    const w = labelWidth(k.label) + 8;
    const end = k.x + w > right + 100;
    const span = end ? [k.x - w, k.x] : [k.x, k.x + w];
    let row = rows.findIndex((r) => r.every(([a, b]) => span[1] <= a || span[0] >= b));
    if (row < 0) row = rows.length - 1;
    rows[row].push(span);
    return { ...k, end, y: top - 8 - row * 14, row, span };
  });
}

const TIME_STEPS = [5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080].map((m) => m * 60e3);

/** Tick times on whole minutes/hours/days (local time), about ``n`` of them. */
function timeTicks(t0, t1, n = 7) {
  const step = TIME_STEPS.find((st) => (t1 - t0) / st <= n) ?? TIME_STEPS[TIME_STEPS.length - 1];
  const offset = new Date(t0).getTimezoneOffset() * 60e3;
  const out = [];
  for (let t = Math.ceil((t0 - offset) / step) * step + offset; t <= t1; t += step) out.push(t);
  return out;
}

function timeLabel(ms, spanMs) {
  const d = new Date(ms);
  const hm = `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
  return spanMs > 36 * 3600e3 ? `${d.getMonth() + 1}/${d.getDate()} ${hm}` : hm;
}

/**
 * points: [{t: ms, v}], thresholds: [{level, value, label}], markers: [{t: ms, label}].
 * Returns an <svg> with role="img" and the given accessible label.
 */
export function lineChart({ points, thresholds = [], markers = [], label, unit = "", step = false, tz = zoneName() }) {
  const H = 310, m = { l: 68, r: 110, t: 44, b: 36 };
  const iw = W - m.l - m.r, ih = H - m.t - m.b;
  const ts = points.map((p) => p.t).concat(markers.map((k) => k.t));
  const t0 = Math.min(...ts), t1 = Math.max(...ts, t0 + 1);
  const vs = points.map((p) => p.v).concat(thresholds.map((k) => k.value));
  let lo = Math.min(...vs), hi = Math.max(...vs);
  const pad = (hi - lo || Math.abs(hi) || 1) * 0.08;
  lo = step ? Math.min(0, lo) : lo - pad;
  hi += pad;
  const x = (t) => m.l + ((t - t0) / (t1 - t0)) * iw;
  const y = (v) => m.t + ih - ((v - lo) / (hi - lo)) * ih;

  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": label });
  svg.append(s("title", {}, label));
  for (const v of yTicks(lo, hi)) {
    svg.append(s("line", { x1: m.l, x2: m.l + iw, y1: y(v), y2: y(v), class: "grid-line" }));
    svg.append(s("text", { x: m.l - 8, y: y(v) + 4, class: "tick", "text-anchor": "end" }, fmtNum(v)));
  }
  for (const t of timeTicks(t0, t1)) {
    svg.append(s("line", { x1: x(t), x2: x(t), y1: m.t + ih, y2: m.t + ih + 5, class: "axis" }));
    svg.append(s("text", { x: x(t), y: H - 12, class: "tick", "text-anchor": "middle" }, timeLabel(t, t1 - t0)));
  }
  svg.append(s("text", { x: m.l + iw, y: H - 12, class: "tick tz", "text-anchor": "start", dx: 8 }, tz));
  if (unit) {
    svg.append(s("text", { x: 16, y: m.t + ih / 2, class: "tick unit", "text-anchor": "middle",
      transform: `rotate(-90 16 ${m.t + ih / 2})` }, unit));
  }
  for (const th of thresholds) {
    svg.append(s("line", { x1: m.l, x2: m.l + iw, y1: y(th.value), y2: y(th.value), class: `threshold th-${th.level}` }));
    svg.append(s("text", { x: m.l + iw + 6, y: y(th.value) + 4, class: `th-label th-${th.level}` }, `${th.label} ${fmtNum(th.value)}`));
  }
  for (const k of placeMarkers(markers.map((k) => ({ ...k, x: x(k.t) })), m.l, m.l + iw, m.t)) {
    svg.append(s("line", { x1: k.x, x2: k.x, y1: k.y + 3, y2: m.t + ih, class: "marker" }));
    svg.append(s("text", { x: k.x + (k.end ? -4 : 4), y: k.y, class: "marker-label",
      "text-anchor": k.end ? "end" : "start" }, k.label));
  }
  let d = "";
  points.forEach((p, i) => {
    const px = x(p.t).toFixed(1), py = y(p.v).toFixed(1);
    if (i === 0) d = `M${px},${py}`;
    else d += step ? `H${px}V${py}` : `L${px},${py}`;
  });
  svg.append(s("path", { d, class: "series-line" }));
  svg.append(s("rect", { x: m.l, y: m.t, width: iw, height: ih, class: "frame" }));
  return svg;
}

const DURATION_STEPS = [1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];

/** Value-axis ticks from 0: rates in quarters, durations on whole units, else round numbers. */
function valueTicks(top, kind) {
  if (kind === "rate") return [0, 0.25, 0.5, 0.75, 1];
  const step = kind === "duration" ? (DURATION_STEPS.find((st) => top / st <= 4) ?? 604800) : niceStep(top, 4);
  const out = [];
  for (let v = 0; v < top + step; v += step) out.push(v);
  return out;
}

/** A row name in at most two lines of ``room`` pixels (split at " / " or a space, else cut with "…"). */
export function fitName(name, room) {
  if (labelWidth(name) <= room) return [name];
  const cut = (text) => {
    if (labelWidth(text) <= room) return text;
    const chars = [...text];
    while (chars.length > 1 && labelWidth(`${chars.join("")}…`) > room) chars.pop();
    return `${chars.join("").trimEnd()}…`;
  };
  const at = [name.indexOf(" / "), name.lastIndexOf(" ", Math.floor(name.length * 0.6))].find((i) => i > 0);
  if (at !== undefined) {
    const rest = name.slice(at).replace(/^ \/ | /, "");
    return [cut(name.slice(0, at)), cut(rest)];
  }
  const half = Math.ceil([...name].length / 2);
  return [cut([...name].slice(0, half).join("")), cut([...name].slice(half).join(""))];
}

/**
 * Grouped horizontal bars with a value axis. rows: [{key, label, cls}], series: [{name, cls, value: row => number|null,
 * fmt}]. One band per row with one bar per series; missing values are shown as "—". ``ticks``: "duration", "rate"
 * or nothing (plain numbers), for the value axis.
 */
export function barChart({ rows, series, label, max, ticks: kind }) {
  const BW = 460, bar = 14, gap = 3, band = series.length * (bar + gap) + 12;
  const widest = Math.max(40, ...rows.map((r) => labelWidth(r.label)));
  const m = { l: Math.min(Math.max(widest + 14, 70), 170), r: 64, t: 6, b: 24 };
  const H = m.t + m.b + rows.length * band;
  const iw = BW - m.l - m.r;
  const highest = max ?? Math.max(1e-9, ...rows.flatMap((r) => series.map((sr) => sr.value(r) ?? 0)));
  const axis = valueTicks(highest, kind);
  const top = Math.max(highest, axis[axis.length - 1]);
  const fmt = series[0]?.fmt || ((v) => String(v));
  const svg = s("svg", { viewBox: `0 0 ${BW} ${H}`, class: "chart bars", role: "img", "aria-label": label });
  svg.append(s("title", {}, label));
  for (const v of axis) {
    const gx = m.l + (v / top) * iw;
    svg.append(s("line", { x1: gx, x2: gx, y1: m.t, y2: H - m.b, class: "value-grid" }));
    svg.append(s("text", { x: gx, y: H - 8, class: "value-tick", "text-anchor": "middle" }, fmt(v)));
  }
  rows.forEach((row, i) => {
    const y0 = m.t + i * band;
    const lines = fitName(row.label, m.l - 12);
    svg.append(s("text", { x: m.l - 8, y: y0 + band / 2 - (lines.length - 1) * 7, class: "bar-key", "text-anchor": "end",
      "dominant-baseline": "middle" }, s("title", {}, row.label),
    lines.map((ln, k) => s("tspan", { x: m.l - 8, dy: k ? 14 : 0 }, ln))));
    series.forEach((sr, j) => {
      const v = sr.value(row);
      const y = y0 + 4 + j * (bar + gap);
      const w = v === null || v === undefined ? 0 : Math.max(2, (v / top) * iw);
      svg.append(s("rect", { x: m.l, y, width: w, height: bar, rx: 2, class: `bar ${row.cls || ""} ${sr.cls}` },
        s("title", {}, `${row.label} · ${sr.name}: ${sr.fmt(v)}`)));
      svg.append(s("text", { x: m.l + w + 6, y: y + bar / 2, class: "bar-value", "dominant-baseline": "middle" },
        sr.fmt(v)));
    });
  });
  svg.append(s("line", { x1: m.l, x2: m.l, y1: m.t, y2: H - m.b, class: "axis" }));
  svg.append(s("line", { x1: m.l, x2: m.l + iw, y1: H - m.b, y2: H - m.b, class: "axis" }));
  return svg;
}
