"""Alert titles in Chinese and English.

>>> from fenghuo.core.models import Signal, Risk
>>> s = Signal("threshold", "river-level", Risk.SAFETY, "sensor", "G1", "s/water_level_m", "s", 0.0,
...            None, 1.0, "r", evidence={"metric": "water_level_m"})
>>> make_title(s, {"G1": ("一号网格", "Grid 1")})
('一号网格 水位预警', 'Grid 1: water level warning')

A rule's own ``title_zh`` / ``title_en`` (config) win over the wording derived from the metric:

>>> make_title(s, {"G1": ("一号网格", "Grid 1")}, {"river-level": ("河道水位超警戒", "River level above warning")})
('一号网格 河道水位超警戒', 'Grid 1: River level above warning')
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fenghuo.core.models import Signal

METRICS = {
    "water_level_m": ("水位", "water level"),
    "gas_ppm": ("燃气浓度", "gas concentration"),
    "pm25": ("PM2.5", "PM2.5"),
    "temperature_c": ("温度", "temperature"),
    "vibration": ("振动", "vibration"),
    "value": ("监测值", "reading"),
}


# the health detector's rules: dead and stuck sensors, silent sources and feeds
HEALTH = {"sensor-silent": ("传感器无数据", "sensor silent"), "sensor-stuck": ("传感器读数停滞", "sensor stuck"),
          "source-silent": ("数据源中断", "data source silent"), "feed-silent": ("数据流中断", "data feed silent")}


RuleTitles = dict[str, tuple[str | None, str | None]]


def rule_titles(rules: Iterable[Any]) -> RuleTitles:
    """``{rule id: (title_zh, title_en)}`` of the rules that set either (config ``Rule`` objects)."""
    return {r.id: (r.title_zh, r.title_en) for r in rules
            if getattr(r, "title_zh", None) or getattr(r, "title_en", None)}


def make_title(s: Signal, names: dict[str, tuple[str, str]], rules: RuleTitles | None = None) -> tuple[str, str]:
    zh_grid, en_grid = names.get(s.grid, (s.grid, s.grid))
    own = (rules or {}).get(s.rule)
    if own and s.detector not in ("health", "asset") and s.feed != "system":
        zh_own, en_own = own
        derived = _derived(s, zh_grid, en_grid)
        return (f"{zh_grid} {zh_own}" if zh_own else derived[0]), (f"{en_grid}: {en_own}" if en_own else derived[1])
    return _derived(s, zh_grid, en_grid)


def _derived(s: Signal, zh_grid: str, en_grid: str) -> tuple[str, str]:
    if s.feed == "warning":  # a CAP warning taken in (alerts/external.py): its headline, else its event
        cap = s.evidence.get("cap") or {}
        what = str(s.evidence.get("headline") or cap.get("headline") or cap.get("event")
                   or s.rule.removeprefix("cap:"))[:120]
        return f"{zh_grid} 外部预警：{what}", f"{en_grid}: external warning: {what}"
    if s.detector == "health":
        zh, en = HEALTH.get(s.rule, (s.rule, s.rule))
        if s.feed == "system":
            return f"{zh} {s.source}", f"{en[0].upper()}{en[1:]}: {s.source}"
        return f"{zh_grid} {s.series} {zh}", f"{en_grid}: {s.series} {en}"
    if s.detector == "asset":
        return f"{zh_grid} 设备 {s.series} 运行异常", f"{en_grid}: asset {s.series} behaving abnormally"
    if s.feed == "system":
        return f"通知渠道 {s.series} 投递失败", f"Notification channel {s.series} is failing"
    if s.feed == "sensor":
        metric = str(s.evidence.get("metric") or s.series.rsplit("/", 1)[-1])
        zh_m, en_m = METRICS.get(metric, (metric, metric.replace("_", " ")))
        what_zh = f"{zh_m}{'变化过快' if s.detector == 'rate' else ''}预警"
        what_en = f"{en_m} {'rising fast' if s.detector == 'rate' else 'warning'}"
        return f"{zh_grid} {what_zh}", f"{en_grid}: {what_en}"
    category = str(s.evidence.get("category") or s.series.rsplit("/", 1)[-1])
    kind_zh, kind_en = ("投诉", "complaints") if s.feed == "complaint" else ("舆情", "public opinion")
    return f"{zh_grid} {category} {kind_zh}激增", f"{en_grid}: surge of {kind_en} ({category})"
