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
    "nav.silences": "静默",
    "sil.title": "静默与维护", "sil.note": "静默期间，匹配的预警照常记录并显示在处置时间线中（标记为“已静默”），只是不发送通知。维护窗口和抑制规则在配置文件中设置。",
    "sil.new": "新建静默", "sil.list": "静默列表", "sil.any": "任意", "sil.both": "真实与演练", "sil.system": "系统",
    "sil.grid": "网格或上级节点（含下级）", "sil.rule": "规则（可用 * 通配）", "sil.levelmax": "最高级别（不高于）", "sil.drill": "真实/演练",
    "sil.start": "开始时间", "sil.duration": "持续时长", "sil.comment": "原因（必填）", "sil.create": "创建静默",
    "sil.made": "已创建静默 {id}。", "sil.expired": "静默 {id} 已提前结束。", "sil.invalid": "静默设置有误：",
    "sil.forbidden": "权限不足：创建和结束静默需要值班员（responder）及以上角色。",
    "sil.matches": "匹配条件", "sil.end": "结束时间", "sil.by": "创建人", "sil.state": "状态", "sil.expire": "提前结束",
    "sil.expiredby": "{who} 提前结束",
    "sil.state.active": "生效中", "sil.state.pending": "未开始", "sil.state.expired": "已结束",
    "sil.none.active": "当前没有生效的静默。", "sil.none.pending": "没有未开始的静默。", "sil.none.expired": "最近没有结束的静默。",
    "sil.why": "原因", "sil.m.grid": "{node}及下级", "sil.m.kind": "{kind}级节点", "sil.m.rule": "规则 {rule}",
    "sil.m.source": "来源 {source}", "sil.m.atleast": "{level}及以上", "sil.m.atmost": "{level}及以下", "sil.m.sep": "，",
    "sil.m.all": "全部预警",
    "tl.muted": "已静默（未发送通知）", "tl.inhibited": "已抑制（未发送通知）", "tl.by_alert": "抑制来源预警",
    // incidents and notes (views/incident.js, the alert page's timeline)
    "nav.incidents": "事件", "inc.title": "事件", "inc.list": "事件列表", "inc.none": "还没有事件。",
    "inc.note": "同一街道（或所配置的节点）下同类风险的多条预警合并为一个事件：只发送一份汇总通知，按事件逐级上报；确认或解决事件即确认或解决其全部预警。",
    "inc.head": "{node} · {n} 条预警", "inc.members": "成员预警", "inc.map": "涉及网格", "inc.timeline": "综合时间线",
    "inc.summary": "汇总", "inc.open": "未解决", "inc.grids": "网格数", "inc.notified": "已发送汇总",
    "inc.ack": "确认事件（含全部预警）", "inc.resolve": "解决事件（含全部预警）", "inc.comment": "备注",
    "inc.done.ack": "事件已确认。", "inc.done.resolve": "事件已解决。", "inc.notfound": "没有这个事件。",
    "inc.back": "返回事件列表", "inc.combined": "含最近 {n} 条成员预警的记录", "inc.alert": "预警", "inc.alertid": "预警编号",
    "inc.status.open": "未确认", "inc.status.acknowledged": "已确认", "inc.status.resolved": "已解决",
    "note.add": "添加处置记录", "note.text": "处置记录", "note.public": "随 CAP 更新公开发布", "note.done": "已添加记录。",
    "tl.note": "处置记录", "tl.note_public": "处置记录（公开）", "tl.incident_joined": "并入事件",
    "tl.opened": "事件建立", "tl.member_joined": "预警并入", "tl.member_upgraded": "成员预警升级",
    "tl.summary_opened": "发送事件汇总", "tl.summary_updated": "发送事件更新", "tl.summary_reminder": "发送事件提醒",
    "tl.escalation_exhausted": "已无更高层级", "tl.incident_opened": "事件汇总", "tl.incident_updated": "事件更新",
    "tl.incident_reminder": "事件提醒", "tl.incident_escalated": "事件逐级上报",
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
    "tl.no_one_on_duty": "无人值班，已跳过",
    "oncall.title": "当前值班", "oncall.node": "节点", "oncall.rotation": "班次", "oncall.onduty": "值班人",
    "oncall.until": "交班时间", "oncall.next": "下一班", "oncall.nobody": "无人值班", "oncall.override": "临时调班",
    "oncall.duty": "值班", "oncall.always": "不轮班、随时可联系：{names}", "oncall.none": "本区域没有配置值班人员。",
    "oncall.local": "时间为当地时间（{tz}）",
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
    // server texts, detectors, certainty, first use, validation, time zones (issue 14)
    "sv.threshold": "{rule}：读数 {v} {op} {th}（{level}）", "sv.count": "{rule}：窗口内计数 {v} {op} {th}（{level}）",
    "sv.rate": "{rule}：每小时变化 {v} {op} {th}（{level}）", "sv.within": "{rule}：{what} {v}，已回到限值以内", "sv.what.value": "读数",
    "sv.what.count_in_window": "窗口内计数", "sv.what.rate_per_hour": "每小时变化",
    "sv.fanomaly": "{rule}：读数 {v} 偏离预测值 {f}，达预测区间半宽的 {k} 倍（模型 {model}）",
    "sv.fanomaly.back": "{rule}：读数 {v} 已回到预测值附近（模型 {model}）",
    "sv.anomaly": "{rule}：异常分数 {score}（{level}；读数间隔 {every}）",
    "sv.burst": "{rule}：{h} 小时内“{category}”投诉 {n} 件（预期 {e}，p={p}）",
    "sv.burst.back": "{rule}：“{category}”已恢复正常（{inner}）",
    "sv.burst.inner": "{h} 小时内“{category}”投诉 {n} 件（预期 {e}，p={p}）",
    "sv.escalated": "{after}内未确认：上报至第 {tier} 级（{node}）", "sv.exhausted": "仍未确认，且已没有更高层级可上报",
    "sv.noduty": "{node} 无人值班，已跳过", "sv.delivery": "{kind}通知 · 第 {tier} 级：{detail}（第 {n} 次尝试）",
    "sv.logged": "已记入值班日志", "sv.expired": "已过期：排队 {queued}，超过 {bound} 的上限，未发送",
    "sv.inhibited": "{kind}：被预警 {alert} 抑制（{grid} 的{level} {rule}；抑制规则 {name}）", "sv.fc": "预测值 {v}，模型 {model}",
    "sv.fc.peak": "现预计 {h} 小时内峰值 {v}，模型 {model}", "unit.d": "天", "tl.notify_retrying": "通知重试中",
    "tl.notify_failed": "通知失败", "tl.notify_withheld": "通知未发送（回放或过期）", "tl.recurred": "再次触发", "tl.corroborated": "多源印证", "tl.expired": "已过期（未发送）",
    "tl.pending": "待发送", "tl.sent": "已发送", "tl.updated": "已更新", "det.threshold": "阈值规则", "det.rate": "变化率规则",
    "det.count": "计数规则", "det.forecast": "水位预报", "det.forecast-anomaly": "预报偏离", "det.anomaly": "异常检测",
    "det.burst": "投诉激增检测", "det.fusion": "多源融合", "det.health": "设备健康", "det.text": "文本风险", "det.asset": "设备运行",
    "cert.Observed": "已观测", "cert.Likely": "很可能", "cert.Possible": "可能", "cert.Unlikely": "不太可能",
    "cert.Unknown": "未知", "alerts.drillnote": "还没有真实预警：正在显示演练预警（例如演示数据）。可在“类型”中切换到真实预警。", "col.source": "监测点/来源",
    "bt.zero": "该时段没有可回测的数据：回测只读取真实（非演练）数据。", "bt.zero.drill": "该时段没有数据：本服务的回测不读取演练数据（{drill}），演示数据都属于演练。",
    "bt.range.rule": "默认时段：本规则真实预警的前后。", "bt.range.real": "默认时段：已有真实预警的时间范围（本规则还没有真实预警）。",
    "bt.range.drill": "默认时段：演练 {drill} 的数据范围（还没有真实预警）。", "bt.range.none": "默认时段：最近 30 天（还没有任何预警可供参考）。",
    "val.order.above": "{where}：方向为“高于阈值报警”时，阈值须从蓝色到红色逐级升高且互不相同。",
    "val.order.below": "{where}：方向为“低于阈值报警”时，阈值须从蓝色到红色逐级降低且互不相同。", "val.onelevel": "至少要设一个级别的阈值。",
    "val.min": "{field}：不能小于 {min}。", "val.number": "{field}：须为数字。", "val.node": "{field}：未知节点 {node}。",
    "val.other": "{field}：服务拒绝了该值（{msg}）", "field.levels": "阈值", "field.for_seconds": "持续时间（秒）",
    "field.hysteresis": "回差", "field.grid": "网格", "field.overrides": "节点覆盖", "field.rule": "规则",
    "chart.time": "时间（{tz}）", "map.tiles": "这些网格的边界重叠较多：按各网格中心位置平铺显示（格子大小不代表实际面积）。",
    "map.polygons": "按配置中的网格边界绘制，较小的网格在上层。", "time.zone": "时间均为 {tz}",
    "det.complaint-burst": "投诉激增", "det.sensor-silent": "传感器无数据", "det.sensor-stuck": "传感器读数停滞",
    "det.source-silent": "数据源中断", "det.feed-silent": "数据流中断",
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
    "nav.silences": "Silences",
    "sil.title": "Silences and maintenance", "sil.note": "While silenced, matching alerts are still recorded and shown, their timeline says \"muted\"; they only send no notification. Maintenance windows and inhibition rules are set in the configuration file.",
    "sil.new": "New silence", "sil.list": "Silences", "sil.any": "any", "sil.both": "real and drills", "sil.system": "system",
    "sil.grid": "Grid or node above (with everything under it)", "sil.rule": "Rule (* as a wildcard)", "sil.levelmax": "Level at most", "sil.drill": "Real or drill",
    "sil.start": "Starts", "sil.duration": "Lasts", "sil.comment": "Why (required)", "sil.create": "Create the silence",
    "sil.made": "Silence {id} created.", "sil.expired": "Silence {id} ended early.", "sil.invalid": "The silence is not valid:",
    "sil.forbidden": "Not allowed: creating and ending silences need the responder role or higher.",
    "sil.matches": "Matches", "sil.end": "Ends", "sil.by": "Created by", "sil.state": "State", "sil.expire": "End now",
    "sil.expiredby": "ended early by {who}",
    "sil.state.active": "Active", "sil.state.pending": "Pending", "sil.state.expired": "Expired",
    "sil.none.active": "No silence is active.", "sil.none.pending": "No silence is pending.", "sil.none.expired": "No silence ended recently.",
    "sil.why": "Why", "sil.m.grid": "{node} and below", "sil.m.kind": "{kind}-level nodes", "sil.m.rule": "rule {rule}",
    "sil.m.source": "source {source}", "sil.m.atleast": "{level} or higher", "sil.m.atmost": "{level} or lower", "sil.m.sep": ", ",
    "sil.m.all": "every alert",
    "tl.muted": "Muted (not notified)", "tl.inhibited": "Inhibited (not notified)", "tl.by_alert": "held back by alert",
    // incidents and notes (views/incident.js, the alert page's timeline)
    "nav.incidents": "Incidents", "inc.title": "Incidents", "inc.list": "Incidents", "inc.none": "No incidents yet.",
    "inc.note": "Alerts of one risk under one street (or the configured node) are grouped into an incident: one summary is sent, the incident escalates, and acknowledging or resolving it does so for every member.",
    "inc.head": "{node} · {n} alerts", "inc.members": "Member alerts", "inc.map": "Affected grids", "inc.timeline": "Combined timeline",
    "inc.summary": "Summary", "inc.open": "Open", "inc.grids": "Grids", "inc.notified": "Summaries sent",
    "inc.ack": "Acknowledge the incident (all members)", "inc.resolve": "Resolve the incident (all members)", "inc.comment": "Comment",
    "inc.done.ack": "Incident acknowledged.", "inc.done.resolve": "Incident resolved.", "inc.notfound": "No such incident.",
    "inc.back": "Back to incidents", "inc.combined": "with the entries of the latest {n} member alerts", "inc.alert": "Alert", "inc.alertid": "Alert id",
    "inc.status.open": "open", "inc.status.acknowledged": "acknowledged", "inc.status.resolved": "resolved",
    "note.add": "Add a note", "note.text": "Note", "note.public": "Publish with the next CAP update", "note.done": "Note added.",
    "tl.note": "Note", "tl.note_public": "Note (public)", "tl.incident_joined": "Joined incident",
    "tl.opened": "Incident opened", "tl.member_joined": "Alert joined", "tl.member_upgraded": "Member upgraded",
    "tl.summary_opened": "Summary sent", "tl.summary_updated": "Update sent", "tl.summary_reminder": "Reminder sent",
    "tl.escalation_exhausted": "No higher tier", "tl.incident_opened": "Incident summary", "tl.incident_updated": "Incident update",
    "tl.incident_reminder": "Incident reminder", "tl.incident_escalated": "Incident escalated",
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
    "tl.no_one_on_duty": "Nobody on duty: passed over",
    "oncall.title": "On duty now", "oncall.node": "Node", "oncall.rotation": "Rotation", "oncall.onduty": "On duty",
    "oncall.until": "Hands over at", "oncall.next": "Next", "oncall.nobody": "Nobody on duty", "oncall.override": "cover",
    "oncall.duty": "duty", "oncall.always": "Always reachable (no rotation): {names}",
    "oncall.none": "No responders are set up in this district.", "oncall.local": "Local times ({tz})",
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
    // server texts, detectors, certainty, first use, validation, time zones (issue 14)
    "sv.threshold": "{rule}: value {v} {op} {th} ({level})",
    "sv.count": "{rule}: count in window {v} {op} {th} ({level})",
    "sv.rate": "{rule}: rate per hour {v} {op} {th} ({level})", "sv.within": "{rule}: {what} {v} back within limits",
    "sv.what.value": "value", "sv.what.count_in_window": "count in window", "sv.what.rate_per_hour": "rate per hour",
    "sv.fanomaly": "{rule}: {v} is {k} x the interval half-width off the forecast {f} ({model})",
    "sv.fanomaly.back": "{rule}: {v} is back near the forecast ({model})",
    "sv.anomaly": "{rule}: anomaly score {score} ({level}; readings every {every})",
    "sv.burst": "{rule}: {n} {category} complaints in {h} h (expected {e}, p={p})",
    "sv.burst.back": "{rule}: {category} back to normal ({inner})",
    "sv.burst.inner": "{n} {category} complaints in {h} h (expected {e}, p={p})",
    "sv.escalated": "not acknowledged within {after}: tier {tier} ({node})",
    "sv.exhausted": "not acknowledged and no higher tier to escalate to",
    "sv.noduty": "no one on duty at {node}: passed over",
    "sv.delivery": "{kind} notice, tier {tier}: {detail} (attempt {n})", "sv.logged": "logged in the duty log",
    "sv.expired": "expired: queued {queued}, longer than the {bound} bound; not sent",
    "sv.inhibited": "{kind}: held back by alert {alert} ({level} {rule} at {grid}; inhibit rule {name})",
    "sv.fc": "forecast {v}, {model}", "sv.fc.peak": "peak now expected {v} within {h} h, {model}", "unit.d": "d",
    "tl.escalation_exhausted": "No higher tier", "tl.notify_retrying": "Retrying the notification",
    "tl.notify_failed": "Notification failed", "tl.notify_withheld": "Notification not sent (backfill or expired)", "tl.recurred": "Recurred", "tl.corroborated": "Corroborated",
    "tl.expired": "Expired (not sent)", "tl.pending": "Pending", "tl.sent": "Sent", "tl.updated": "Updated",
    "det.threshold": "threshold rule", "det.rate": "rate rule", "det.count": "count rule", "det.forecast": "forecast",
    "det.forecast-anomaly": "forecast deviation", "det.anomaly": "anomaly detection", "det.burst": "complaint bursts",
    "det.fusion": "fusion", "det.health": "sensor health", "det.text": "text risk", "det.asset": "asset",
    "cert.Observed": "Observed", "cert.Likely": "Likely", "cert.Possible": "Possible", "cert.Unlikely": "Unlikely",
    "cert.Unknown": "Unknown",
    "alerts.drillnote": "No real alerts yet: showing the drill alerts (such as the demo's). Switch to real alerts under “Type”.",
    "col.source": "Station / source",
    "bt.zero": "No data to backtest in this period: backtests read real (non-drill) data only.",
    "bt.zero.drill": "No data: this service's backtests do not read drill data ({drill}), and the demo's data are a drill.",
    "bt.range.rule": "Default period: around this rule's real alerts.",
    "bt.range.real": "Default period: the span of the real alerts (this rule has none yet).",
    "bt.range.drill": "Default period: the span of drill {drill}'s data (there are no real alerts yet).",
    "bt.range.none": "Default period: the last 30 days (no alerts yet to go by).",
    "val.order.above": "{where}: alerting above, thresholds must rise from blue to red, each different.",
    "val.order.below": "{where}: alerting below, thresholds must fall from blue to red, each different.",
    "val.onelevel": "At least one level needs a threshold.", "val.min": "{field}: must be at least {min}.",
    "val.number": "{field}: must be a number.", "val.node": "{field}: unknown node {node}.",
    "val.other": "{field}: not accepted ({msg})", "field.levels": "thresholds",
    "field.for_seconds": "holds for (seconds)", "field.hysteresis": "hysteresis", "field.grid": "grid",
    "field.overrides": "node overrides", "field.rule": "rule", "chart.time": "Time ({tz})",
    "map.tiles": "These grids' outlines overlap heavily: cells are tiled from their centres (a cell's size is not its real area).",
    "map.polygons": "Drawn from the grids' outlines in the configuration, smaller grids on top.",
    "time.zone": "Times in {tz}",
    "det.complaint-burst": "complaint burst", "det.sensor-silent": "sensor silent", "det.sensor-stuck": "sensor stuck",
    "det.source-silent": "data source silent", "det.feed-silent": "data feed silent",
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

/** The browser's offset from UTC at ``d`` as "UTC", "UTC+8", "UTC-5" or "UTC+5:30". */
export function tzName(d = new Date()) {
  const off = -d.getTimezoneOffset();
  if (!off) return "UTC";
  const h = Math.floor(Math.abs(off) / 60), m = Math.abs(off) % 60;
  return `UTC${off < 0 ? "-" : "+"}${h}${m ? `:${pad(m)}` : ""}`;
}

/** ISO time to "YYYY-MM-DD HH:MM UTC+8" in the browser's zone (the zone always said). */
export function fmtTime(iso, seconds = false) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const base = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return `${seconds ? `${base}:${pad(d.getSeconds())}` : base} ${tzName(d)}`;
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
