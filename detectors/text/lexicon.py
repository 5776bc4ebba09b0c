"""A weighted risk-term lexicon in Chinese and English, matched with one compiled regex per language.

Each category belongs to a risk type (safety or contradiction) and has a default weight in
(0, 1]; a term may carry its own weight (``term:0.3``). A weight of 0 marks a *stop phrase*: a
longer phrase that contains a risk word but is not a risk ("fire hydrant", "消防演练"); the
alternation tries longer terms first, so the stop phrase wins at that position and is dropped.

Scoring: a category scores the highest weight among its matched terms; a risk type scores the
noisy-or of its categories, ``1 - prod(1 - w_c)``, so two independent cues (爆炸 and 起火) add up.
A term preceded closely by a negation (没有, 未, 无, 不是, 排除; no, not, never, without) counts
at ``negated_weight`` of its weight. Chinese is matched as plain substrings (no segmentation);
English on word boundaries, case-insensitively, any run of spaces matching a space.

>>> lex = Lexicon.default()
>>> m = lex.match("3号楼突然发生爆炸，随后起火冒烟")
>>> sorted(m.terms), round(m.risk[Risk.SAFETY], 2)
(['explosion', 'fire'], 0.8)
>>> m = lex.match("Strong smell of gas in the hallway, next to the fire hydrant")
>>> m.terms
{'gas': ['smell of gas']}
>>> lex.match("工地拖欠工资半年，工人们在门口拉横幅").categories
['gathering', 'wage_arrears']
>>> round(lex.match("经检查未发现燃气泄漏").risk[Risk.SAFETY], 2)
0.18
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fenghuo.core.models import Risk

S, C = Risk.SAFETY, Risk.CONTRADICTION

# (category, risk, default weight, Chinese terms separated by spaces, English terms separated by "|")
CATEGORIES: tuple[tuple[str, Risk, float, str, str], ...] = (
    ("fire", S, 0.5,
     "火灾 起火 着火 失火 冒烟 浓烟 明火 火情 烧起来了 火苗 大火 焦糊味:0.4 烟雾:0.35 "
     "防火:0 消防演练:0 消防通道:0 消防检查:0 防火门:0",
     "fire:0.3|on fire|caught fire|house fire|building fire|flames|blaze|burning smell:0.4|smoke:0.35|"
     "fire hydrant:0|fire department request:0|fire drill:0|fire alarm test:0|fire escape:0"),
    ("explosion", S, 0.6, "爆炸 爆燃 闪爆 炸了 巨响:0.3", "explosion|exploded|explode|blast:0.4"),
    ("gas", S, 0.6,
     "燃气泄漏 燃气泄露 煤气泄漏 煤气泄露 天然气泄漏 天然气泄露 漏气 煤气味 燃气味 天然气味 液化气罐:0.4 "
     "燃气:0.3 煤气:0.35 天然气:0.3 一氧化碳:0.6 煤气中毒:0.8",
     "gas leak|gas leaking|leaking gas|smell of gas|smells like gas|smell gas|gas smell|gas odor|odor of gas|"
     "carbon monoxide:0.7"),
    ("collapse", S, 0.55,
     "坍塌 倒塌 塌方 塌陷 垮塌 地陷 摇摇欲坠 裂缝:0.35 开裂:0.35 墙体开裂:0.5 危房:0.5 外墙脱落:0.5 脱落:0.3",
     "collapse|collapsed|collapsing|caved in|cave-in|sinkhole|structural damage:0.5|falling debris:0.5|"
     "cracks:0.25|cracked:0.25"),
    ("flood", S, 0.5,
     "内涝 洪水 山洪 被淹 淹了 水淹 倒灌 漫堤 决口:0.8 溃坝:0.9 泥石流 滑坡 积水:0.35 水位上涨:0.4 爆管:0.45",
     "flood|floods|flooding|flooded|landslide|mudslide|sewer backup:0.4|water main break:0.45|"
     "watermain break:0.45|burst pipe:0.4|water in the basement:0.4"),
    ("electrical", S, 0.45,
     "漏电 触电:0.7 电线老化 私拉电线 私拉乱接 飞线充电 电动车进楼 电瓶车进楼 电线:0.25 电箱:0.25 火花:0.4 "
     "短路:0.4 电动车充电:0.35",
     "electrical hazard|live wire|downed wire|down wire|wires down|wire down|exposed wires|sparking|sparks:0.4|"
     "electrocuted:0.7|power line down|short circuit:0.4|electrical:0.25"),
    ("casualty", S, 0.7,
     "受伤 伤亡 人员伤亡:0.9 死亡:0.6 被困 困在 昏迷 送医:0.5",
     "injured|injury:0.5|injuries|trapped|unconscious|killed|casualties|poisoning"),
    ("hazmat", S, 0.45,
     "危化品 化学品泄漏 有毒气体 毒气 刺鼻气味:0.4 异味:0.2",
     "chemical spill|toxic fumes|hazardous material|fumes:0.3|asbestos:0.4|lead paint:0.3"),
    ("elevator", S, 0.45,
     "电梯困人:0.7 电梯故障 电梯坠落:0.8 电梯急坠:0.8 电梯停运:0.3",
     "stuck in the elevator:0.6|elevator stuck:0.6|elevator broken:0.3|elevator fell:0.8"),
    ("hazard", S, 0.3,
     "安全隐患 隐患:0.25 危险 险情:0.5",
     "unsafe|dangerous|hazard|safety hazard:0.4|emergency:0.3|make safe:0.2"),
    # natural hazards (issue 12): the hazard named is itself the alert topic; drills and popular-science
    # phrases are stop phrases, ambiguous English words carry low weights
    ("earthquake", S, 0.65,
     "地震 强震 余震 震感:0.5 震中:0.6 震级:0.5 级地震:0.7 房屋震裂:0.7 地震演练:0 防震减灾:0 地震科普:0 地震局:0.2",
     "earthquake|earthquakes|quake:0.6|aftershock|aftershocks|tremor:0.45|epicenter:0.6|seismic:0.35|"
     "earthquake drill:0|earthquake preparedness:0"),
    ("storm", S, 0.6,
     "台风 飓风 龙卷风 强台风 超强台风 暴风:0.5 暴雨:0.4 特大暴雨:0.6 大暴雨:0.5 冰雹:0.45 暴雪:0.5 风暴潮 "
     "台风预警:0.5 暴雨预警:0.45 台风天:0.4",
     "typhoon|typhoons|hurricane|hurricanes|tornado|tornadoes|tornados|twister:0.5|cyclone|superstorm|"
     "storm surge|storm:0.3|storms:0.3|blizzard:0.5|hailstorm:0.45|severe weather:0.45|high winds:0.4|"
     "tornado warning:0.65|hurricane warning:0.65|perfect storm:0|brainstorm:0|brainstorming:0|storm drain:0"),
    ("wildfire", S, 0.65,
     "山火 森林火灾 草原火灾 林火 山林起火 山林着火 烧山:0.5",
     "wildfire|wildfires|bushfire|bushfires|brush fire|forest fire|grass fire:0.5|bush fire"),
    ("landslide", S, 0.6,
     "山体滑坡 塌方滑坡 地质灾害 崩塌:0.5 落石:0.45",
     "rockslide|rock slide|mud slide|debris flow|rockfall:0.45"),
    ("evacuation", S, 0.55,
     "疏散 紧急疏散 撤离 紧急撤离 转移安置:0.5 紧急转移:0.6 避难:0.5 救援:0.45 搜救:0.55 疏散演练:0 撤离演练:0 "
     "应急演练:0",
     "evacuate|evacuated|evacuating|evacuation|evacuations|evacuees|shelter in place|take shelter:0.5|"
     "rescue:0.4|rescued:0.45|rescuers:0.5|search and rescue|evacuation drill:0|evacuation plan:0.2"),
    # public health
    ("epidemic", S, 0.55,
     "疫情:0.45 传染病 疫病 瘟疫 暴发疫情 疫情暴发 疫情爆发 聚集性疫情:0.75 确诊病例:0.55 确诊:0.4 感染者:0.45 "
     "发热病人:0.4 发烧:0.2 霍乱 鼠疫 禽流感 手足口病 诺如病毒 疫情防控:0.15 疫苗接种:0",
     "epidemic|outbreak|outbreaks|pandemic|infectious disease|contagious|cholera|measles|plague|"
     "quarantine:0.45|confirmed cases:0.55|cases of:0.2|flu outbreak|norovirus|legionnaires|"
     "outbreak of:0.6|flu shot:0|vaccination clinic:0"),
    ("food_poisoning", S, 0.65,
     "食物中毒 食源性疾病 集体中毒:0.8 中毒:0.45 上吐下泻 腹泻:0.35 呕吐:0.3 吃坏肚子:0.35 变质:0.3 食品安全:0.3",
     "food poisoning|foodborne|food borne|salmonella|e. coli|listeria|botulism|food safety:0.3|"
     "vomiting:0.3|diarrhea:0.3|sick after eating|got sick:0.3"),
    # public security
    ("stampede", S, 0.7,
     "踩踏 踩踏事件 人群拥挤:0.45 挤倒:0.5 人踩人:0.75",
     "stampede|crowd crush|crushed in the crowd|trampled"),
    ("shooting", S, 0.7,
     "枪击 开枪 枪声 枪战 持枪 枪手 中枪",
     "shooting:0.55|shootings|shooter|gunman|gunmen|gunfire|gunshot|gunshots|shots fired|opened fire|"
     "active shooter|shot dead|shooting star:0|shooting hoops:0|photo shooting:0|shooting range:0.2"),
    ("attack", S, 0.65,
     "袭击 恐袭 恐怖袭击 恐怖分子 爆炸装置 炸弹 人体炸弹 砍杀 驾车冲撞 冲撞人群 劫持 人质",
     "attack:0.45|attacks:0.45|attacked:0.5|terror|terrorist|terrorists|terrorism|bomb|bombs|bombing|bombings|"
     "bomber|bombers|explosive device|ied|hostage|hostages|manhunt|lockdown:0.4|"
     "heart attack:0|panic attack:0|asthma attack:0|bath bomb:0|photobomb:0|bomb diggity:0"),
    ("wage_arrears", C, 0.55,
     "欠薪 拖欠工资 讨薪 讨要工资 工资拖欠 不发工资 拿不到工资 农民工工资 拖欠工钱 工钱 要工资:0.45 "
     "包工头跑路 老板跑路 欠款:0.3",
     "unpaid wages|wage theft|not been paid|haven't been paid|have not been paid|not paid|owed wages|"
     "back pay|withheld wages|withholding wages|unpaid workers"),
    ("demolition", C, 0.5,
     "拆迁 强拆 强制拆除 征地 征收:0.35 补偿款:0.4 补偿不合理 补偿标准 安置房:0.3 钉子户",
     "forced eviction|eviction:0.4|evicted:0.4|demolition:0.35|land grab|displacement:0.3"),
    ("petition", C, 0.55, "上访 信访 越级上访 进京上访 集体上访:0.8 投诉无门:0.4 多次投诉:0.3",
     "petition:0.3|complained many times:0.3|nobody responds:0.3"),
    ("gathering", C, 0.6,
     "聚集 围堵 拉横幅 拉条幅 打横幅 静坐 堵路 堵门 示威 游行 闹事 群体事件:0.85 群体性事件:0.85 群访 "
     "聚众:0.7 集体:0.35 维权:0.4 举牌:0.5",
     "protest|protests|protesters|protesting|blockade|blocking the road:0.4|sit-in|crowd gathered|mob|"
     "demonstration:0.4|picket|rally:0.4|march:0.3"),
    ("dispute", C, 0.45,
     "纠纷 冲突 打架 斗殴 殴打 打人 动手 扭打 持刀:0.8 砍人:0.9 吵架:0.35 争吵:0.35 矛盾:0.3 辱骂:0.35 "
     "威胁:0.4 报复:0.5",
     "fight|fighting|brawl|assault|assaulted|threatened|threatening|dispute|argument:0.3|harassment:0.4|"
     "harassing:0.4|knife:0.6|stabbed:0.8|violence|violent"),
    ("property", C, 0.4,
     "业主维权:0.6 物业纠纷 烂尾楼:0.6 延期交房:0.55 物业:0.2 物业费:0.25 业委会:0.3 停水停电:0.4 开发商:0.3 "
     "退房:0.3 维修基金:0.3",
     "landlord:0.3|tenant dispute|lockout:0.5|illegal eviction:0.6|rent increase:0.3|no heat:0.3|slumlord"),
    ("extreme", C, 0.85,
     "跳楼 自杀 轻生 自焚 同归于尽 以死相逼 爬塔吊 爬上塔吊 跳下去:0.6",
     "suicide|jump off the roof|kill myself|set himself on fire|self-immolation|threatened to jump"),
    ("fraud", C, 0.5, "非法集资 集资:0.35 爆雷 暴雷 跑路:0.4 诈骗 骗局 讨债:0.4 退款:0.2",
     "scam|fraud|ponzi|defrauded|refund:0.2"),
    ("enforcement", C, 0.5, "暴力执法 执法冲突 粗暴执法 城管:0.25 摊贩:0.2",
     "police brutality|excessive force|heavy-handed"),
    ("nuisance", C, 0.25, "噪音 扰民 噪声 夜间施工 广场舞",
     "noise:0.2|loud music|noise complaint|working beyond hours:0.2|loud party"),
)

# the family of each category (issue 12): what kind of event a matched category names
GROUPS: dict[str, tuple[str, ...]] = {
    "natural_hazard": ("earthquake", "storm", "flood", "wildfire", "landslide", "evacuation"),
    "public_health": ("epidemic", "food_poisoning"),
    "public_security": ("explosion", "stampede", "shooting", "attack"),
    "accident": ("fire", "gas", "collapse", "electrical", "casualty", "hazmat", "elevator", "hazard"),
    "contradiction": ("wage_arrears", "demolition", "petition", "gathering", "dispute", "property", "extreme",
                      "fraud", "enforcement", "nuisance"),
}
GROUP_OF: dict[str, str] = {cat: group for group, cats in GROUPS.items() for cat in cats}

_NEG_ZH = ("没有", "没", "未", "无", "不是", "排除")
_NEG_EN = re.compile(r"\b(?:no|not|never|without|isn't|wasn't|aren't)\b", re.IGNORECASE)


def _parse(spec: str, sep: str, default: float) -> list[tuple[str, float]]:
    out = []
    for item in filter(None, (t.strip() for t in spec.split(sep))):
        term, _, weight = item.rpartition(":") if ":" in item else (item, "", "")
        out.append((term, float(weight) if weight else default))
    return out


def _norm_en(term: str) -> str:
    return " ".join(term.lower().split())


def _compile(terms: list[str], english: bool) -> re.Pattern[str]:
    ordered = sorted(set(terms), key=lambda t: (-len(t), t))
    if english:
        alts = [r"\s+".join(re.escape(w) for w in t.split()) for t in ordered]
        return re.compile(r"\b(?:" + "|".join(alts) + r")\b", re.IGNORECASE)
    return re.compile("|".join(re.escape(t) for t in ordered))


@dataclass(slots=True)
class LexiconMatch:
    """Matched terms by category, and a score per risk type (noisy-or of category weights)."""

    terms: dict[str, list[str]] = field(default_factory=dict)
    risk: dict[Risk, float] = field(default_factory=dict)

    @property
    def categories(self) -> list[str]:
        return sorted(self.terms)

    @property
    def score(self) -> float:
        return max(self.risk.values(), default=0.0)


class Lexicon:
    """The compiled lexicon: ``match(text)`` finds terms of every category in one pass per language."""

    def __init__(self, categories: tuple[tuple[str, Risk, float, str, str], ...] = CATEGORIES,
                 negated_weight: float = 0.3) -> None:
        self.negated_weight = negated_weight
        self.risk_of: dict[str, Risk] = {}
        self._zh: dict[str, tuple[str, float]] = {}
        self._en: dict[str, tuple[str, float]] = {}
        for name, risk, default, zh, en in categories:
            self.risk_of[name] = risk
            self._zh.update((t, (name, w)) for t, w in _parse(zh, " ", default))
            self._en.update((_norm_en(t), (name, w)) for t, w in _parse(en, "|", default))
        self._zh_re = _compile(list(self._zh), english=False)
        self._en_re = _compile(list(self._en), english=True)

    @classmethod
    def default(cls) -> Lexicon:
        return cls()

    def match(self, text: str) -> LexiconMatch:
        """Terms found in ``text`` and the per-risk scores (risk types with no match are absent)."""
        best: dict[str, float] = {}
        terms: dict[str, list[str]] = {}
        hits = [(m, self._zh[m.group()], False) for m in self._zh_re.finditer(text)]
        if text.isascii() or any("a" <= ch.lower() <= "z" for ch in text):
            hits += [(m, self._en[_norm_en(m.group())], True) for m in self._en_re.finditer(text)]
        for m, (cat, weight), english in hits:
            if weight <= 0.0:
                continue
            if self._negated(text, m.start(), english):
                weight *= self.negated_weight
            best[cat] = max(best.get(cat, 0.0), weight)
            found = terms.setdefault(cat, [])
            term = _norm_en(m.group()) if english else m.group()
            if term not in found:
                found.append(term)
        risk: dict[Risk, float] = {}
        for cat, weight in best.items():
            r = self.risk_of[cat]
            risk[r] = 1.0 - (1.0 - risk.get(r, 0.0)) * (1.0 - weight)
        return LexiconMatch(terms, risk)

    @staticmethod
    def _negated(text: str, start: int, english: bool) -> bool:
        if english:
            return _NEG_EN.search(" ".join(text[max(0, start - 30):start].split()[-3:])) is not None
        before = text[max(0, start - 4):start]
        return any(neg in before for neg in _NEG_ZH)
