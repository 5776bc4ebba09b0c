// Board strings in Chinese (the default) and English. t(key, vars) looks a string up in the current language.

const STRINGS = {
  "zh-CN": {
    "app.title": "烽火 · 风险预警指挥台", "skip": "跳到主要内容",
    "app.subtitle": "网格化社会治理 风险预警与应急响应",
    "nav.rules": "规则",
    "rules.title": "规则与回测", "rules.list": "规则列表", "rules.edit": "编辑规则", "rules.none": "还没有规则。",
    "rules.pick": "请从左侧选择一条规则。", "rules.id": "规则", "rules.kind": "类型", "rules.metric": "指标/类别",
    "rules.levels": "阈值", "rules.version": "版本", "rules.kind.threshold": "阈值", "rules.kind.rate": "变化率",
    "rules.kind.count": "计数", "rules.dir.above": "高于阈值报警", "rules.dir.below": "低于阈值报警",
    "rules.editing": "{id} · {kind} · {dir}", "rules.thresholds": "各级阈值（留空表示不设该级）",
    "rules.for": "持续时间（秒）", "rules.hyst": "回差（滞回）",
    "bt.start": "开始时间", "bt.end": "结束时间", "bt.seriespick": "序列", "bt.allseries": "全部序列（图表显示预警最多的一条）",
    "bt.run": "回测", "bt.save": "保存", "bt.running": "正在回测…", "bt.done": "回测完成：{n} 个数据点，用时 {ms} 毫秒。",
    "bt.invalid": "规则有误，请修改：", "bt.forbidden": "权限不足：回测和保存规则需要分析员（analyst）及以上角色。",
    "bt.retest": "规则已修改，请先回测再保存。", "bt.changed": "规则已修改，请重新回测后再保存。", "bt.saved": "已保存（版本 {v}），立即生效。",
    "bt.results": "回测结果", "bt.rule": "规则", "bt.proposed": "拟议规则", "bt.current": "现行规则", "bt.episodes": "预警次数",
    "bt.nocurrent": "无现行规则", "bt.recorded": "现行规则在此期间实际产生 {n} 条预警（含复发共触发 {m} 次）。",
    "bt.noepisodes": "两条规则在此期间都不会产生预警。", "bt.open": "未恢复", "bt.lane": "规则", "bt.series": "序列",
    "bt.raised": "触发时间", "bt.max": "最高级别", "bt.changes": "级别变化", "bt.cleared": "恢复时间", "bt.duration": "持续",
    "bt.chartof": "{series}（{observed}）", "bt.legend.proposed": "实线：拟议阈值", "bt.legend.current": "虚线：现行阈值",
    "bt.chartlabel": "{series} 的数据、拟议与现行阈值，以及两条规则各自的预警", "bt.nodata": "该时段没有数据。",
    "bt.episodelist": "预警明细",
    "nav.alerts": "预警", "nav.map": "网格地图", "nav.reports": "响应时效", "nav.drills": "演练",
    "lang.switch": "English", "lang.switch.label": "Switch to English",
    "signin.title": "登录", "signin.key": "API 密钥", "signin.submit": "登录",
    "signin.help": "请输入值班人员的 API 密钥（仅保存在本浏览器会话中）。",
    "signin.bad": "密钥无效，请检查后重试。", "signin.error": "无法连接服务：{msg}",
    "signout": "退出",
    "live.on": "实时连接", "live.off": "连接中断，正在重连…", "live.connecting": "正在连接…",
    "filter.status": "状态", "filter.all": "全部", "filter.mode": "类型",
    "mode.real": "真实预警", "mode.drill": "演练",
    "status.active": "未解决", "status.open": "待处理", "status.acknowledged": "已确认", "status.resolved": "已解决",
    "level.blue": "蓝色预警", "level.yellow": "黄色预警", "level.orange": "橙色预警", "level.red": "红色预警",
    "level.short.blue": "蓝色", "level.short.yellow": "黄色", "level.short.orange": "橙色", "level.short.red": "红色",
    "level.none": "无预警",
    "col.level": "级别", "col.title": "预警", "col.grid": "网格", "col.status": "状态", "col.created": "发生时间",
    "col.updated": "更新时间", "col.drill": "演练",
    "alerts.empty": "当前没有符合条件的预警。", "alerts.count": "共 {n} 条",
    "alerts.new": "新预警", "alerts.cleared": "已恢复正常",
    "risk.safety": "安全风险", "risk.contradiction": "矛盾风险",
    "feed.sensor": "传感器", "feed.complaint": "投诉", "feed.opinion": "舆情",
    "alert.back": "返回列表", "alert.notfound": "找不到该预警。",
    "alert.rule": "规则", "alert.source": "来源", "alert.series": "序列", "alert.risk": "风险类型", "alert.feed": "数据源",
    "alert.certainty": "确定性", "alert.maxlevel": "最高级别", "alert.tier": "升级层级", "alert.escalate_at": "下次升级",
    "alert.ack_by": "确认人", "alert.resolved_by": "解决人",
    "alert.timeline": "处置时间线", "alert.evidence": "证据", "alert.notifications": "通知", "alert.chart": "数据走势",
    "alert.ack": "确认预警", "alert.resolve": "解决预警", "alert.by": "现场处置人（记入备注）", "alert.comment": "备注（可选）",
    "alert.done.ack": "已确认该预警。", "alert.done.resolve": "已解决该预警。",
    "alert.forbidden": "您的密钥权限不足：确认和解决预警需要值班员（responder）及以上角色。", "alert.readonly": "只读密钥：可查看预警，不能确认或解决。", "alert.conflict": "无法执行：{msg}",
    "alert.noevidence": "没有证据记录。", "alert.nonotifications": "没有通知记录。",
    "tl.raised": "触发", "tl.upgraded": "升级", "tl.downgraded": "降级", "tl.notified": "已通知",
    "tl.escalated": "逐级上报", "tl.acknowledged": "已确认", "tl.resolved": "已解决", "tl.cleared": "恢复正常",
    "tl.delivered": "已送达", "tl.failed": "发送失败",
    "ev.ts": "时间", "ev.level": "级别", "ev.observed": "观测值", "ev.reason": "原因", "ev.detector": "检测器",
    "nt.channel": "渠道", "nt.responder": "责任人", "nt.kind": "类型", "nt.tier": "层级", "nt.status": "状态",
    "nt.attempts": "尝试次数", "nt.delivered": "送达时间", "nt.error": "错误",
    "chart.loading": "正在加载数据…", "chart.empty": "该时段没有数据。",
    "chart.readings": "读数", "chart.counts": "每小时事件数", "chart.threshold": "{level}阈值",
    "chart.window": "{h} 小时窗口内事件数", "chart.raised": "触发", "chart.acked": "确认", "chart.label": "{name} 的数据走势及规则阈值",
    "map.district": "区域", "map.legend": "图例", "map.cells": "网格单元",
    "map.nogrids": "配置中没有网格。", "map.label": "{name} 网格地图，按最严重的未解决预警着色",
    "map.alerts_in": "{grid} 的预警", "map.select": "点击网格查看预警",
    "reports.title": "响应时效", "reports.bylevel": "按预警级别", "reports.bygrid": "按网格",
    "reports.mtta": "平均确认时长（MTTA）", "reports.mttr": "平均解决时长（MTTR）",
    "reports.median": "中位数", "reports.p90": "P90",
    "reports.rates": "解决率与及时率", "reports.resolution": "解决率", "reports.ontime": "及时率",
    "reports.count": "预警数", "reports.acked": "已确认", "reports.resolved": "已解决", "reports.total": "合计",
    "reports.empty": "还没有可统计的预警。", "reports.key": "分组", "reports.table": "明细",
    "drills.title": "演练", "drills.empty": "还没有演练。", "drills.alerts": "{n} 条预警",
    "drills.note": "演练预警只通知演练参与者，与真实预警分开统计。",
    "unit.s": "秒", "unit.min": "分钟", "unit.h": "小时",
    "error.generic": "出错了：{msg}", "error.forbidden": "权限不足", "loading": "加载中…",
    "yes": "是", "no": "否",
  },
  en: {
    "app.title": "Fenghuo · Risk Early-Warning Board", "skip": "Skip to content",
    "app.subtitle": "Grid-based community governance: early warning and emergency response",
    "nav.rules": "Rules",
    "rules.title": "Rules and backtests", "rules.list": "Rules", "rules.edit": "Edit the rule", "rules.none": "No rules yet.",
    "rules.pick": "Pick a rule on the left.", "rules.id": "Rule", "rules.kind": "Kind", "rules.metric": "Metric/category",
    "rules.levels": "Thresholds", "rules.version": "Version", "rules.kind.threshold": "threshold", "rules.kind.rate": "rate of change",
    "rules.kind.count": "count", "rules.dir.above": "alerts above", "rules.dir.below": "alerts below",
    "rules.editing": "{id} · {kind} · {dir}", "rules.thresholds": "Thresholds per level (empty: no such level)",
    "rules.for": "Holds for (seconds)", "rules.hyst": "Hysteresis",
    "bt.start": "From", "bt.end": "To", "bt.seriespick": "Series", "bt.allseries": "All series (the chart shows the one with most alerts)",
    "bt.run": "Backtest", "bt.save": "Save", "bt.running": "Backtesting…", "bt.done": "Backtest done: {n} points in {ms} ms.",
    "bt.invalid": "The rule is not valid:", "bt.forbidden": "Not allowed: backtests and rule changes need the analyst role or higher.",
    "bt.retest": "The rule changed: backtest it before saving.", "bt.changed": "The rule changed: backtest again before saving.",
    "bt.saved": "Saved (version {v}); in effect now.",
    "bt.results": "Backtest", "bt.rule": "Rule", "bt.proposed": "Proposed", "bt.current": "Current", "bt.episodes": "Alerts",
    "bt.nocurrent": "no current rule", "bt.recorded": "The current rule really raised {n} alerts in this period ({m} raises with recurrences).",
    "bt.noepisodes": "Neither rule would have raised an alert in this period.", "bt.open": "not cleared", "bt.lane": "Rule",
    "bt.series": "Series", "bt.raised": "Raised", "bt.max": "Highest level", "bt.changes": "Levels", "bt.cleared": "Cleared",
    "bt.duration": "Lasted", "bt.chartof": "{series} ({observed})", "bt.legend.proposed": "solid: proposed thresholds",
    "bt.legend.current": "dashed: current thresholds",
    "bt.chartlabel": "{series}: values, proposed and current thresholds, and the alerts of each rule", "bt.nodata": "No data in this period.",
    "bt.episodelist": "Alerts, one per row",
    "nav.alerts": "Alerts", "nav.map": "Grid map", "nav.reports": "Response times", "nav.drills": "Drills",
    "lang.switch": "中文", "lang.switch.label": "切换到中文",
    "signin.title": "Sign in", "signin.key": "API key", "signin.submit": "Sign in",
    "signin.help": "Enter your duty API key (kept only for this browser session).",
    "signin.bad": "That key was not accepted. Check it and try again.", "signin.error": "Cannot reach the service: {msg}",
    "signout": "Sign out",
    "live.on": "Live", "live.off": "Disconnected, reconnecting…", "live.connecting": "Connecting…",
    "filter.status": "Status", "filter.all": "All", "filter.mode": "Type",
    "mode.real": "Real alerts", "mode.drill": "Drills",
    "status.active": "Unresolved", "status.open": "Open", "status.acknowledged": "Acknowledged", "status.resolved": "Resolved",
    "level.blue": "Blue warning", "level.yellow": "Yellow warning", "level.orange": "Orange warning",
    "level.red": "Red warning",
    "level.short.blue": "blue", "level.short.yellow": "yellow", "level.short.orange": "orange", "level.short.red": "red",
    "level.none": "No alert",
    "col.level": "Level", "col.title": "Alert", "col.grid": "Grid", "col.status": "Status", "col.created": "Raised",
    "col.updated": "Updated", "col.drill": "Drill",
    "alerts.empty": "No alerts match.", "alerts.count": "{n} alerts",
    "alerts.new": "New", "alerts.cleared": "Back to normal",
    "risk.safety": "Safety", "risk.contradiction": "Contradiction (social conflict)",
    "feed.sensor": "Sensor", "feed.complaint": "Complaints", "feed.opinion": "Public opinion",
    "alert.back": "Back to the list", "alert.notfound": "No such alert.",
    "alert.rule": "Rule", "alert.source": "Source", "alert.series": "Series", "alert.risk": "Risk", "alert.feed": "Feed",
    "alert.certainty": "Certainty", "alert.maxlevel": "Highest level", "alert.tier": "Escalation tier",
    "alert.escalate_at": "Escalates at", "alert.ack_by": "Acknowledged by", "alert.resolved_by": "Resolved by",
    "alert.timeline": "Timeline", "alert.evidence": "Evidence", "alert.notifications": "Notifications",
    "alert.chart": "Series around the alert", "alert.ack": "Acknowledge", "alert.resolve": "Resolve",
    "alert.by": "Name on site (kept as a note)", "alert.comment": "Comment (optional)",
    "alert.done.ack": "Alert acknowledged.", "alert.done.resolve": "Alert resolved.",
    "alert.forbidden": "Your key is not allowed to do this: acknowledging and resolving need the responder role or higher.", "alert.readonly": "Read-only key: you can view alerts but not acknowledge or resolve them.", "alert.conflict": "Not possible: {msg}",
    "alert.noevidence": "No evidence recorded.", "alert.nonotifications": "No notifications.",
    "tl.raised": "Raised", "tl.upgraded": "Upgraded", "tl.downgraded": "Downgraded", "tl.notified": "Notified",
    "tl.escalated": "Escalated", "tl.acknowledged": "Acknowledged", "tl.resolved": "Resolved", "tl.cleared": "Cleared",
    "tl.delivered": "Delivered", "tl.failed": "Delivery failed",
    "ev.ts": "Time", "ev.level": "Level", "ev.observed": "Observed", "ev.reason": "Reason", "ev.detector": "Detector",
    "nt.channel": "Channel", "nt.responder": "Responder", "nt.kind": "Kind", "nt.tier": "Tier", "nt.status": "Status",
    "nt.attempts": "Attempts", "nt.delivered": "Delivered at", "nt.error": "Error",
    "chart.loading": "Loading the series…", "chart.empty": "No data in this period.",
    "chart.readings": "Readings", "chart.counts": "Events per hour", "chart.threshold": "{level} threshold",
    "chart.window": "Events in a {h} h window", "chart.raised": "raised", "chart.acked": "acknowledged", "chart.label": "{name}: series and rule thresholds",
    "map.district": "District", "map.legend": "Legend", "map.cells": "Grid cells",
    "map.nogrids": "No grids are configured.", "map.label": "Grid map of {name}, cells coloured by their worst open alert",
    "map.alerts_in": "Alerts in {grid}", "map.select": "Select a cell to see its alerts",
    "reports.title": "Response times", "reports.bylevel": "By level", "reports.bygrid": "By grid",
    "reports.mtta": "Time to acknowledge (MTTA)", "reports.mttr": "Time to resolve (MTTR)",
    "reports.median": "median", "reports.p90": "p90",
    "reports.rates": "Resolution and on-time rates", "reports.resolution": "Resolution rate",
    "reports.ontime": "On-time rate",
    "reports.count": "Alerts", "reports.acked": "Acknowledged", "reports.resolved": "Resolved", "reports.total": "Total",
    "reports.empty": "No alerts to report yet.", "reports.key": "Group", "reports.table": "Figures",
    "drills.title": "Drills", "drills.empty": "No drills yet.", "drills.alerts": "{n} alerts",
    "drills.note": "Drill alerts reach only drill participants and are counted apart from real ones.",
    "unit.s": "s", "unit.min": "min", "unit.h": "h",
    "error.generic": "Something went wrong: {msg}", "error.forbidden": "Not allowed", "loading": "Loading…",
    "yes": "yes", "no": "no",
  },
};

export const LANGS = Object.keys(STRINGS);
let current = localStorage.getItem("fenghuo.lang") || "zh-CN";
if (!STRINGS[current]) current = "zh-CN";

export function lang() { return current; }

export function setLang(value) {
  current = STRINGS[value] ? value : "zh-CN";
  localStorage.setItem("fenghuo.lang", current);
  document.documentElement.lang = current;
}

export function t(key, vars = {}) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

/** Translate a key if it exists, else return the fallback (e.g. an unknown timeline kind). */
export function tOr(key, fallback) {
  return STRINGS[current][key] ?? fallback;
}

export function levelName(level) { return level ? t(`level.${level}`) : t("level.none"); }

/** An alert's title in the current language. */
export function title(alert) {
  const ti = alert.title || {};
  return ti[current] || ti["zh-CN"] || ti.en || alert.id;
}

/** A node's name in the current language. */
export function nodeName(node) {
  if (!node) return "";
  return current === "en" ? (node.name_en || node.name || node.id) : (node.name || node.id);
}

/** Apply data-i18n / data-i18n-aria attributes of the static page. */
export function translatePage(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-aria]")) el.setAttribute("aria-label", t(el.dataset.i18nAria));
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  document.title = t("app.title");
}

function pad(n) { return String(n).padStart(2, "0"); }

/** ISO time to "YYYY-MM-DD HH:MM" in the browser's zone. */
export function fmtTime(iso, seconds = false) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const base = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return seconds ? `${base}:${pad(d.getSeconds())}` : base;
}

/** Seconds as a short duration: "45 s", "12 min", "3.5 h". */
export function fmtDuration(s) {
  if (s === null || s === undefined) return "—";
  if (s < 120) return `${Math.round(s)} ${t("unit.s")}`;
  if (s < 7200) return `${Math.round(s / 60)} ${t("unit.min")}`;
  return `${(s / 3600).toFixed(1)} ${t("unit.h")}`;
}

export function fmtRate(r) {
  return r === null || r === undefined ? "—" : `${Math.round(r * 100)}%`;
}
