"""Issue 12 item 6: hazard, public-health and public-security lexicon categories; the crisis-relevance classifier.

No tweet text here: the classifier is tested on a synthetic corpus, and once on the shared CrisisLex T6
data (skipped when it is absent).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from fenghuo.core.levels import Level
from fenghuo.core.models import Event, Risk
from fenghuo.detectors.text.crisis import CrisisClassifier, keyword_count, load_crisislex, threshold_at_precision
from fenghuo.detectors.text.detector import TextModels, TextRisk
from fenghuo.detectors.text.lexicon import GROUP_OF, GROUPS, Lexicon

CACHE = Path(__file__).resolve().parents[3] / ".cache" / "text-risk"
CRISISLEX = Path(__file__).resolve().parents[3].parent / "shared/data/crisislex-t6"

NEW_CASES = [
    ("earthquake", "凌晨发生5.6级地震，很多人跑到楼下", "A strong earthquake shook the city overnight"),
    ("storm", "台风即将登陆，沿海渔船回港", "The hurricane is expected to make landfall tonight"),
    ("storm", "龙卷风刮倒了一排厂房", "A tornado touched down near the school"),
    ("flood", "暴雨后地下车库严重内涝", "The river is flooding the lower town"),
    ("flood", "山区突发泥石流", "A landslide closed the mountain road"),
    ("wildfire", "后山发生山火，火势蔓延", "The wildfire is spreading towards the houses"),
    ("evacuation", "小区居民正在紧急疏散", "Residents were told to evacuate immediately"),
    ("epidemic", "学校出现聚集性疫情", "Health officials confirmed an outbreak of measles"),
    ("food_poisoning", "公司食堂午饭后多人食物中毒", "Dozens of guests got food poisoning at the wedding"),
    ("explosion", "化工园区发生爆炸", "A loud explosion was heard at the fertilizer plant"),
    ("stampede", "演唱会散场时发生踩踏", "Several fans were trampled in a stampede"),
    ("shooting", "商场里有人开枪", "A gunman opened fire in the parking lot"),
    ("attack", "车站发生恐怖袭击", "Police said the bombing was a terrorist attack"),
]

ORDINARY = ["小区门口的路灯坏了，请尽快修复", "周末带孩子去公园放风筝", "社区下周组织地震演练和疏散演练",
            "今天的菜价比上周便宜", "Great game last night, what a shot", "I almost had a heart attack laughing",
            "We saw a shooting star from the porch", "Brainstorming session at the library on Monday",
            "The new bakery on Main Street opens at 7"]


@pytest.mark.parametrize(("category", "zh", "en"), NEW_CASES)
def test_hazard_health_and_security_categories_in_both_languages(category: str, zh: str, en: str) -> None:
    lex = Lexicon.default()
    assert lex.risk_of[category] == Risk.SAFETY
    for text in (zh, en):
        m = lex.match(text)
        assert category in m.categories, text
        assert m.risk[Risk.SAFETY] >= 0.5, text


def test_ordinary_texts_drills_and_idioms_are_not_hazards() -> None:
    lex = Lexicon.default()
    for text in ORDINARY:
        assert Risk.SAFETY not in lex.match(text).risk, (text, lex.match(text).terms)


@pytest.fixture(scope="module")
def models() -> TextModels:
    return TextModels(CACHE)


@pytest.mark.parametrize(("text", "category"), [("四川某县发生6.2级地震，部分房屋受损", "earthquake"),
                                                ("某小学食堂发生食物中毒，二十多名学生呕吐", "food_poisoning")])
def test_a_chinese_hazard_report_raises_a_safety_alert_named_by_its_category(
        models: TextModels, text: str, category: str) -> None:
    det = TextRisk(cache_dir=CACHE, models=models)
    signals = det(Event("opinion", "weibo", 0.0, "G1", "p1", category=None, text=text))
    assert len(signals) == 1
    s = signals[0]
    assert s.risk == Risk.SAFETY and s.level >= Level.BLUE
    assert s.series == f"G1/text:{category}" and category in s.evidence["risk_categories"]
    assert text not in str(s.evidence)
    assert det(Event("opinion", "weibo", 0.0, "G2", "p2", category=None, text="周末带孩子去公园放风筝")) == []


HAZARDS = {"flood": ["flood", "water rising", "river", "sandbags", "levee"],
           "fire": ["wildfire", "smoke", "flames", "burning", "firefighters"],
           "storm": ["storm", "winds", "power out", "trees down", "rain"]}
CRISIS_WORDS = ["evacuate", "shelter", "damage", "rescue", "emergency", "stay safe", "roads closed", "victims"]
CHATTER = ["pizza", "the game", "new phone", "concert", "coffee", "my cat", "weekend plans", "movie night",
           "birthday", "homework", "new shoes", "the gym"]


def _synthetic(hazard: str, n: int, rng: random.Random) -> tuple[list[str], np.ndarray]:
    texts, labels = [], []
    for _ in range(n):
        if rng.random() < 0.5:
            words = rng.sample(HAZARDS[hazard], 2) + rng.sample(CRISIS_WORDS, 2) + [rng.choice(CHATTER)]
            labels.append(1)
        else:  # off-topic posts sometimes carry the crisis's hashtag or a crisis word
            words = rng.sample(CHATTER, 3) + ([f"#{hazard}"] if rng.random() < 0.5 else [])
            words += [rng.choice(CRISIS_WORDS)] if rng.random() < 0.2 else []
            labels.append(0)
        rng.shuffle(words)
        texts.append(" ".join(words))
    return texts, np.array(labels)


def test_classifier_trained_on_two_synthetic_crises_ranks_a_third_it_never_saw() -> None:
    rng = random.Random(3)
    a, b = _synthetic("flood", 300, rng), _synthetic("fire", 300, rng)
    clf = CrisisClassifier(min_df=1).fit(a[0] + b[0], np.concatenate([a[1], b[1]]))
    texts, y = _synthetic("storm", 300, rng)
    assert roc_auc_score(y, clf.score(texts)) > 0.9
    thr = threshold_at_precision(clf.score(a[0] + b[0]), np.concatenate([a[1], b[1]]), 0.9)
    flagged = clf.score(texts) >= thr
    assert flagged[y == 1].mean() > 0.5 and (y[flagged] == 1).mean() > 0.8


def test_keyword_baseline_counts_words_not_substrings() -> None:
    assert keyword_count(["Evacuate now, EMERGENCY shelter open", "helpful tips", ""]).tolist() == [3.0, 0.0, 0.0]


def test_threshold_at_precision_when_no_threshold_reaches_it() -> None:
    scores, labels = np.array([0.9, 0.5, 0.1]), np.array([0, 1, 0])
    assert threshold_at_precision(scores, labels, 0.9) == 0.9  # only the top post would be flagged


@pytest.mark.skipif(not CRISISLEX.is_dir(), reason="shared CrisisLex T6 data absent")
def test_trained_on_two_real_crises_ranks_a_third_above_auc_0_8() -> None:
    data = load_crisislex(CRISISLEX)
    train = ["2013_Alberta_Floods", "2013_Boston_Bombings"]
    texts = [t for n in train for t in data[n][0]]
    clf = CrisisClassifier().fit(texts, np.concatenate([data[n][1] for n in train]))
    held_texts, held_y = data["2013_Oklahoma_Tornado"]
    assert roc_auc_score(held_y, clf.score(held_texts)) > 0.8


def test_every_category_has_one_group_and_the_new_groups_are_safety() -> None:
    lex = Lexicon.default()
    assert sorted(GROUP_OF) == sorted(lex.risk_of)
    for group in ("natural_hazard", "public_health", "public_security"):
        assert all(lex.risk_of[c] == Risk.SAFETY for c in GROUPS[group])
    assert all(lex.risk_of[c] == Risk.CONTRADICTION for c in GROUPS["contradiction"])


def _crisislex_dir(folder: Path, rng: random.Random) -> Path:
    """Two synthetic crises written in CrisisLex T6's layout (tweet id, tweet, label)."""
    import csv
    import gzip

    folder.mkdir(parents=True, exist_ok=True)
    for hazard in ("flood", "fire"):
        texts, labels = _synthetic(hazard, 400, rng)
        with gzip.open(folder / f"2020_{hazard}-ontopic_offtopic.csv.gz", "wt", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["tweet id", " tweet", " label"])
            for i, (t, y) in enumerate(zip(texts, labels, strict=True)):
                w.writerow([i, t, "on-topic" if y else "off-topic"])
    return folder


def test_with_crisis_data_a_crisis_post_naming_no_hazard_raises_blue_and_no_more(tmp_path: Path) -> None:
    from fenghuo.detectors.text.detector import TextParams

    data = _crisislex_dir(tmp_path / "crisislex", random.Random(9))
    on = TextRisk(TextParams(crisis_data=str(data)), cache_dir=tmp_path / "cache")
    off = TextRisk(cache_dir=CACHE)
    post = "water rising at the river, sandbags needed, roads closed"  # names no lexicon hazard
    e = Event("opinion", "weibo", 1000.0, "G1", "p1", text=post)
    assert off(e) == []
    (s,) = on(e)
    assert (s.level, s.risk) == (Level.BLUE, Risk.SAFETY) and "crisis classifier" in s.reason
    assert s.evidence["classifier"]["crisis"] >= 0.8 and post not in str(s.evidence)
    assert on(Event("opinion", "weibo", 1001.0, "G2", "p2", text="pizza and the game, new phone")) == []
    assert any(p.name.startswith("crisis-classifier-") for p in (tmp_path / "cache").iterdir())  # cached


def test_a_crisis_data_path_that_is_not_a_directory_is_refused(tmp_path: Path) -> None:
    from fenghuo.detectors.text.detector import TextParams

    with pytest.raises(ValueError, match="detectors.text.crisis_data: .* is not a directory"):
        TextParams(crisis_data=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="crisis_blue"):
        TextParams(crisis_blue=1.5)
