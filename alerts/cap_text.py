"""The words of CAP messages in Chinese and English: category, event, headline, description, instruction.

>>> from fenghuo.core.models import Alert, Risk, Status
>>> a = Alert("A1", "fp", Risk.SAFETY, "sensor", "G1", "st/water_level_m", "st/water_level_m", "river",
...           Level.RED, Status.OPEN, None, 0.0, 0.0, title_zh="一号网格 水位预警", title_en="Grid 1")
>>> category(a), event_names(a)
('Met', ('水位预警', 'water level warning'))
>>> texts(a, "Update", "upgraded", Level.RED, "", "一号网格", "zh-CN").headline
'一号网格 水位预警：升级为红色预警'
>>> texts(a, "Update", "upgraded", Level.RED, "", "Grid 1", "en").headline
'Grid 1 — warning upgraded to red'
>>> texts(a, "Alert", "raised", Level.YELLOW, "", "Grid 1", "en").headline
'Grid 1 — yellow warning issued'
>>> texts(a, "Update", "note_public", Level.RED, "", "一号网格", "zh-CN").headline  # a responder's public note
'一号网格 水位预警：更新红色预警'
"""

from __future__ import annotations

from dataclasses import dataclass

from fenghuo.core.levels import Level
from fenghuo.core.models import Alert
from fenghuo.core.titles import METRICS

# keyword in a metric or complaint category -> CAP category; first match wins
CATEGORIES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("fire", "smoke", "火", "烟"), "Fire"),
    (("water", "rain", "flood", "river", "snow", "wind", "storm", "水", "雨", "雪", "风"), "Met"),
    (("quake", "seism", "landslide", "subsid", "地震", "滑坡", "沉降"), "Geo"),
    (("pm", "aqi", "no2", "so2", "o3", "pollut", "noise", "污染", "噪"), "Env"),
    (("vibration", "strain", "crack", "tilt", "bridge", "building", "power", "pipe", "振动", "裂", "倾斜"), "Infra"),
    (("temperature", "heat", "温度"), "Met"),
    (("gas", "燃气", "煤气"), "Safety"),
)
KIND_ZH = {"raised": "发布", "upgraded": "升级为", "downgraded": "降级为", "resolved": "解除", "note_public": "更新"}
INSTRUCTIONS = {
    Level.BLUE: ("请关注事态发展，做好防范准备。", "Stay alert and follow updates; get ready to act."),
    Level.YELLOW: ("请加强监测，网格员到场核查。", "Increase monitoring; grid staff check on site."),
    Level.ORANGE: ("请立即组织核查处置，做好人员转移准备。",
                   "Check and respond on site now; prepare to move people out of harm's way."),
    Level.RED: ("请立即启动应急响应，按指挥部指令疏散避险。",
                "Start the emergency response now; evacuate as the command centre instructs."),
}
CONFLICT = ("请网格员及时介入、调解化解，防止矛盾激化。",
            "Grid staff should step in and mediate at once so the dispute does not escalate.")
ALL_CLEAR = ("预警已解除，恢复正常秩序。", "The warning is over; normal activity may resume.")


def _subject(alert: Alert) -> str:
    """The metric of a sensor alert, the category of a complaint or opinion alert."""
    tail = alert.series.rsplit("/", 1)[-1]
    for ev in reversed(alert.evidence):
        value = ev.get("metric") if alert.feed == "sensor" else ev.get("category")
        if value:
            return str(value)
    return tail


def category(alert: Alert) -> str:
    """The CAP category from the risk and the metric or complaint category."""
    if str(alert.risk) == "contradiction":
        return "Security"
    subject = _subject(alert).lower()
    for words, cat in CATEGORIES:
        if any(w in subject for w in words):
            return cat
    return "Safety"


def event_names(alert: Alert) -> tuple[str, str]:
    """The CAP event (what kind of hazard) in Chinese and English."""
    subject = _subject(alert)
    if alert.feed == "sensor":
        zh, en = METRICS.get(subject, (subject, subject.replace("_", " ")))
        return f"{zh}预警", f"{en} warning"
    if alert.feed == "complaint":
        return f"{subject}投诉激增", f"surge of complaints ({subject})"
    return f"{subject}舆情激增", f"surge of public opinion ({subject})"


@dataclass(frozen=True, slots=True)
class Texts:
    sender_name: str
    headline: str
    description: str
    instruction: str


def texts(alert: Alert, msg_type: str, kind: str, level: Level, detail: str, area_desc: str, lang: str) -> Texts:
    """The human-readable parts of one ``<info>``."""
    zh = lang.startswith("zh")
    title = (alert.title_zh if zh else alert.title_en) or area_desc
    drill = (f"【演练 {alert.drill}】" if zh else f"[DRILL {alert.drill}] ") if alert.drill else ""
    ev_zh, ev_en = event_names(alert)
    done = msg_type == "Cancel"
    if zh:
        verb = "解除" if done else KIND_ZH.get(kind, "发布")
        headline = f"{title}：{level.name_zh}预警解除" if done else f"{title}：{verb}{level.name_zh}预警"
        description = f"{area_desc}{level.name_zh}（{level.roman}级）{ev_zh}{'已解除' if done else ''}。"
        description += f"说明：{detail}。" if detail else ""
    else:
        if done or kind not in ("upgraded", "downgraded"):
            verb = "cancelled" if done else "updated" if kind == "note_public" else "issued"
            headline = f"{title} — {level.name_en} warning {verb}"
        else:  # the level once: "warning upgraded to red", not "red warning upgraded to red"
            headline = f"{title} — warning {kind} to {level.name_en}"
        description = f"{level.name_en.capitalize()} ({level.roman}) {ev_en} for {area_desc}"
        description += " cancelled." if done else "."
        description += f" Detail: {detail}." if detail else ""
    if done:
        instruction = ALL_CLEAR[0 if zh else 1]
    else:
        pair = CONFLICT if str(alert.risk) == "contradiction" else INSTRUCTIONS[level]
        instruction = pair[0 if zh else 1]
    return Texts("烽火预警 fenghuo" if zh else "fenghuo early warning", drill + headline, description, instruction)
