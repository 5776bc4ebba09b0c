// The service writes timeline details, evidence reasons and delivery errors in English (a forecast's reason in
// both languages, "zh / en"). The board reads them back from their fixed wording and says them in the board's
// language; a text of no known form is shown as it came, after its known parts (levels) are translated.

import { lang, t } from "./i18n.js";

const LV = "(blue|yellow|orange|red)";
const NUM = "(-?[\\d.]+(?:e[+-]?\\d+)?)";

function level(name) { return t(`level.short.${name}`); }

function duration(text) {  // "10 min", "3600 s", "2 h" as the board writes durations
  return text.replace(/(\d+(?:\.\d+)?) ?(s|min|h)\b/g, (_, n, u) => `${n} ${t(`unit.${u}`)}`);
}

/** [pattern, key, vars(match, nodeName) -> vars]; the key's text is in i18n.js (both languages). */
const FORMS = [
  [new RegExp(`^([\\w:.-]+): value ${NUM} (>=|<=) ${NUM} \\(${LV}\\)$`), "sv.threshold",
    (m) => ({ rule: m[1], v: m[2], op: m[3], th: m[4], level: level(m[5]) })],
  [new RegExp(`^([\\w:.-]+): count in window ${NUM} (>=|<=) ${NUM} \\(${LV}\\)$`), "sv.count",
    (m) => ({ rule: m[1], v: m[2], op: m[3], th: m[4], level: level(m[5]) })],
  [new RegExp(`^([\\w:.-]+): rate per hour ${NUM} (>=|<=) ${NUM} \\(${LV}\\)$`), "sv.rate",
    (m) => ({ rule: m[1], v: m[2], op: m[3], th: m[4], level: level(m[5]) })],
  [new RegExp(`^([\\w:.-]+): (value|count in window|rate per hour) ${NUM} back within limits$`), "sv.within",
    (m) => ({ rule: m[1], what: t(`sv.what.${m[2].replace(/ /g, "_")}`), v: m[3] })],
  [new RegExp(`^([\\w:.-]+): ${NUM} is ${NUM} x the interval half-width off the forecast ${NUM} \\((\\w+)\\)$`), "sv.fanomaly",
    (m) => ({ rule: m[1], v: m[2], k: m[3], f: m[4], model: m[5] })],
  [new RegExp(`^([\\w:.-]+): ${NUM} is back near forecast \\((\\w+)\\)$`), "sv.fanomaly.back",
    (m) => ({ rule: m[1], v: m[2], model: m[3] })],
  [new RegExp(`^([\\w:.-]+): anomaly score ${NUM} \\(${LV}; readings every (.+)\\)$`), "sv.anomaly",
    (m) => ({ rule: m[1], score: m[2], level: level(m[3]), every: duration(m[4]) })],
  [new RegExp(`^([\\w:.-]+): (\\d+) (.+) complaints in ${NUM} h \\(expected ${NUM}, p=${NUM}\\)$`), "sv.burst",
    (m) => ({ rule: m[1], n: m[2], category: m[3], h: m[4], e: m[5], p: m[6] })],
  [new RegExp(`^([\\w:.-]+): (.+) back to normal \\((.+)\\)$`), "sv.burst.back",
    (m, names) => ({ rule: m[1], category: m[2], inner: serverText(m[3], names).replace(/^[\w:.-]+[:：]\s*/, "") })],
  [/^(\d+) (.+) complaints in ([\d.]+) h \(expected ([\d.]+), p=([\d.e-]+)\)$/, "sv.burst.inner",
    (m) => ({ n: m[1], category: m[2], h: m[3], e: m[4], p: m[5] })],
  [new RegExp(`^not acknowledged within ${NUM} s: tier (\\d+) \\((.+)\\)$`), "sv.escalated",
    (m, names) => ({ after: fmtSeconds(Number(m[1])), tier: m[2], node: names(m[3]) })],
  [/^not acknowledged and no higher tier to escalate to$/, "sv.exhausted", () => ({})],
  [/^no one on duty at (.+): passed over$/, "sv.noduty", (m, names) => ({ node: names(m[1]) })],
  [/^(\w+) tier (\d+): (.+) \(attempt (\d+)\)$/, "sv.delivery",
    (m, names) => ({ kind: t(`tl.${m[1]}`), tier: m[2], detail: serverText(m[3], names), n: m[4] })],
  [/^logged$/, "sv.logged", () => ({})],
  [/^expired: queued (.+), longer than the (.+) bound; not sent$/, "sv.expired",
    (m) => ({ queued: duration(m[1].replace(/(\d+) d\b/, (_, n) => `${n} ${t("unit.d")}`)), bound: duration(m[2]) })],
  [new RegExp(`^(\\w+): held back by alert (\\S+) \\(${LV} (\\S+) at (\\S+); inhibit rule (.+)\\)$`), "sv.inhibited",
    (m, names) => ({ kind: t(`tl.${m[1]}`), alert: m[2], level: level(m[3]), rule: m[4], grid: names(m[5]), name: m[6] })],
];

function fmtSeconds(s) {
  if (s % 3600 === 0) return `${s / 3600} ${t("unit.h")}`;
  if (s % 60 === 0) return `${s / 60} ${t("unit.min")}`;
  return `${s} ${t("unit.s")}`;
}

/** A forecast reason "rule: 蓝色预计 120 分钟后 / blue expected in 120 min (forecast 1.95, fallback)": one language. */
function bilingual(text, names) {
  const m = text.match(/^([\w:.-]+): (.*[\u2e80-\u9fff].*?) \/ (.+?)(?: \((.+)\))?$/);
  if (!m) return null;
  const part = lang() === "en" ? m[3] : m[2];
  const paren = m[4] ? serverText(m[4], names) : "";
  return lang() === "en" ? `${m[1]}: ${part}${paren ? ` (${paren})` : ""}` : `${m[1]}：${part}${paren ? `（${paren}）` : ""}`;
}

const PARENS = [
  [new RegExp(`^forecast ${NUM}, (\\w+)$`), "sv.fc", (m) => ({ v: m[1], model: m[2] })],
  [new RegExp(`^peak now expected ${NUM} within ${NUM} h, (\\w+)$`), "sv.fc.peak", (m) => ({ v: m[1], h: m[2], model: m[3] })],
];

/**
 * A text written by the service, in the board's language. ``names`` turns a node id into its name.
 * Unknown texts come back unchanged (English).
 */
export function serverText(text, names = (id) => id) {
  if (text === null || text === undefined || text === "") return "";
  const s = String(text);
  for (const [re, key, vars] of [...FORMS, ...PARENS]) {
    const m = s.match(re);
    if (m) return t(key, vars(m, names));
  }
  return bilingual(s, names) ?? s;
}

/** Whether ``text`` is of a known form (the test of the board's translations uses it). */
export function knownServerText(text) {
  const s = String(text);
  return [...FORMS, ...PARENS].some(([re]) => re.test(s)) || /[\u2e80-\u9fff].* \/ /.test(s);
}

/** A rule validation error of the API ("levels: for direction 'above' thresholds must rise ...") in the board's language. */
export function validationText(text) {
  const s = String(text);
  const field = (path) => {
    const head = path.split(".")[0];
    return t(`field.${head}`) === `field.${head}` ? path : (path === head ? t(`field.${head}`) : `${t(`field.${head}`)} ${path.slice(head.length + 1)}`);
  };
  let m = s.match(/^([\w.\-()]+): for direction '(above|below)' thresholds must (?:rise|fall) from blue to red/);
  if (m) return t(`val.order.${m[2]}`, { where: field(m[1]) });
  if (/at least one level is needed/.test(s)) return t("val.onelevel");
  m = s.match(/^([\w.\-()]+): Input should be greater than(?: or equal to)? (\S+)$/);
  if (m) return t("val.min", { field: field(m[1]), min: m[2] });
  m = s.match(/^([\w.\-()]+): Input should be a valid number/);
  if (m) return t("val.number", { field: field(m[1]) });
  m = s.match(/^([\w.\-()]+): unknown node '([^']+)'$/);
  if (m) return t("val.node", { field: field(m[1]), node: m[2] });
  m = s.match(/^([\w.\-()]+): (.+)$/);
  return m ? t("val.other", { field: field(m[1]), msg: m[2] }) : s;
}
