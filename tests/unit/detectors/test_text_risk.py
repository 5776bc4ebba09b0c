"""Text risk: lexicon, negativity, classifier, opinion surges, TextRisk signals (fast; models cached)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from fenghuo.core import state as saved
from fenghuo.core.levels import Level
from fenghuo.core.models import Event, Risk
from fenghuo.detectors.text.corpus import load_corpus
from fenghuo.detectors.text.detector import TextModels, TextRisk, make_text_extra
from fenghuo.detectors.text.evaluate import metrics, out_of_fold
from fenghuo.detectors.text.lexicon import Lexicon
from fenghuo.detectors.text.sentiment import english_negativity

CACHE = Path(__file__).resolve().parents[3] / ".cache" / "text-risk"


@pytest.fixture(scope="session")
def models() -> TextModels:
    return TextModels(CACHE)


LEXICON_CASES = [
    ("fire", "楼下饭店起火了，到处冒烟", "Smoke pouring out, the house is on fire"),
    ("explosion", "化工厂发生爆炸", "We heard an explosion at the depot"),
    ("gas", "厨房里有煤气味，怀疑天然气泄漏", "There is a smell of gas in the stairwell"),
    ("collapse", "老房子的墙倒塌了", "The porch collapsed last night"),
    ("flood", "暴雨后小区严重内涝", "Flooding on the whole street"),
    ("electrical", "楼道有人私拉电线，还漏电", "A downed wire is sparking on the road"),
    ("casualty", "有两个人被困在电梯里", "Two people are trapped inside"),
    ("wage_arrears", "包工头拖欠工资三个月", "The workers have not been paid since March"),
    ("demolition", "半夜有人来强拆", "A forced eviction happened this morning"),
    ("petition", "他们准备去市里上访", "Residents filed a petition again"),
    ("gathering", "上百人在门口聚集，还拉横幅", "Protesters are blocking the gate"),
    ("dispute", "两家人为了车位打架", "A brawl broke out at the bar"),
    ("property", "业主维权，要求更换物业", "The landlord locked us out, a lockout"),
    ("extreme", "有人扬言要跳楼", "He threatened suicide"),
]


@pytest.mark.parametrize(("category", "zh", "en"), LEXICON_CASES)
def test_lexicon_finds_each_category_in_both_languages(category: str, zh: str, en: str) -> None:
    lex = Lexicon.default()
    for text in (zh, en):
        assert category in lex.match(text).categories, text


def test_lexicon_stop_phrases_and_negation() -> None:
    lex = Lexicon.default()
    assert lex.match("Fire Hydrant / paint the fire hydrant").terms == {}
    assert lex.match("本周六社区组织消防演练").terms == {}
    assert lex.match("There is no gas leak").risk[Risk.SAFETY] < lex.match("There is a gas leak").risk[Risk.SAFETY]


def test_negativity_is_higher_on_negative_sentences(models: TextModels) -> None:
    neg = models.negativity
    for bad, good in [("垃圾好几天没人清理，臭气熏天，太气人了", "社区服务很周到，感谢网格员的帮助"),
                      ("物业根本不管，打了十几次电话都没人理", "新修的公园很漂亮，大家都很开心")]:
        assert neg.score(bad) > 0.6 > 0.4 > neg.score(good)
    for bad, good in [("The landlord ignores us, the heat is broken and it is unsafe", "Thank you, great job"),
                      ("Horrible smell and nobody responds", "The crew was quick and helpful")]:
        assert neg.score(bad) > english_negativity("The bus stop sign") > neg.score(good)


def test_fast_inference_matches_the_pipelines(models: TextModels) -> None:
    texts = [r.text for r in load_corpus()[::25]] + ["", "  gas   leak  ", "拖欠\t\t工资"]
    clf = models.classifier
    fast = np.array([[clf.predict_proba(t)[c] for c in clf.labels] for t in texts])
    assert np.allclose(fast, clf.pipeline.predict_proba(texts), atol=1e-9)
    zh = models.negativity.zh
    assert np.allclose([zh.score_one(t) for t in texts], zh.score(texts), atol=1e-9)


def test_classifier_held_out_accuracy_above_measured_floor() -> None:
    rows = load_corpus()
    m = metrics(rows, out_of_fold(rows, folds=5, only=0))  # one fold of the 5-fold CV in the docs
    # measured over all 5 folds: all 0.897, zh-hand 0.895, en-hand 0.854 (docs/text-risk.md); margin 0.08-0.1
    assert m["all"]["accuracy"] >= 0.82
    assert m["zh-hand"]["accuracy"] >= 0.80
    assert m["en-hand"]["accuracy"] >= 0.75


def _event(i: int, ts: float, grid: str, text: str, feed: str = "opinion") -> Event:
    return Event(feed, "weibo", ts, grid, f"post-{i}", category=None, text=text)


def test_single_texts_levels(models: TextModels) -> None:
    det = TextRisk(cache_dir=CACHE, models=models)
    boom = det(_event(1, 0.0, "G1", "3号楼突然发生爆炸，随后起火，浓烟滚滚", "complaint"))
    assert boom and boom[0].risk == Risk.SAFETY and boom[0].level >= Level.YELLOW
    wages = det(_event(2, 0.0, "G2", "工地拖欠工资半年，几十个工人在门口聚集拉横幅", "complaint"))
    # a grievance without a hazard is one voice: blue at most (issue 12, item 7); a surge carries it higher
    assert wages and wages[0].risk == Risk.CONTRADICTION and wages[0].level == Level.BLUE
    leak = det(_event(5, 0.0, "G5", "楼道里煤气泄漏，厨房已经起火了", "complaint"))  # gas + fire names a hazard
    assert leak and leak[0].risk == Risk.SAFETY and leak[0].level == Level.ORANGE
    assert det(_event(3, 0.0, "G3", "小区门口的路灯坏了，请尽快修复", "complaint")) == []
    gas = det(_event(4, 0.0, "G4", "Strong smell of gas in the basement of our building", "complaint"))
    assert gas and gas[0].risk == Risk.SAFETY


CHATTER = ["今天社区的义诊活动人很多", "小区门口新开了一家面包店", "公园的花开了，周末去拍照", "图书馆新到了一批绘本",
           "The farmers market is back on Saturday", "Nice weather for a walk by the river",
           "地铁站出口的指示牌换新了", "社区食堂的饭菜挺好吃的", "广场上晚上有人唱歌跳舞", "菜市场的菜价最近便宜了"]
SURGE = ["{b}拖欠工资{m}个月了，工人们在工地门口讨薪", "工地老板拖欠工资跑路，{n}多个工人在门口聚集讨薪",
         "又是拖欠工资！工人讨薪没人管，大家准备拉横幅", "拖欠工资的事没人管，工人们堵在项目部门口讨薪",
         "{b}工地的工人讨薪，说拖欠工资已经{m}个月"]


def _stream(seed: int = 0) -> list[Event]:
    rng = random.Random(seed)
    events: list[Event] = []
    t = 0.0
    while t < 3 * 86400:  # three days of quiet chatter in six grids
        t += rng.expovariate(1 / 900.0)
        events.append(_event(len(events), t, f"G{rng.randrange(6)}", rng.choice(CHATTER)))
    for j in range(30):  # then 30 angry posts on one topic in one grid within 45 minutes
        where = rng.choice(["东区", "南湖", "新城"])
        text = rng.choice(SURGE).format(b=where, m=rng.randint(2, 9), n=rng.randint(2, 9))
        events.append(_event(len(events), t + 90.0 * j, "G3", text))
    return events


def _run(det: TextRisk, events: list[Event]) -> list:
    return [s for e in events for s in det(e)]


def test_opinion_surge_is_flagged_with_its_topic_and_chatter_is_not(models: TextModels) -> None:
    events = _stream()
    det = TextRisk(cache_dir=CACHE, models=models)
    quiet = events[:-30]
    assert [s for s in _run(det, quiet) if s.detector == "text-surge"] == []
    surge = [s for s in _run(det, events[len(quiet):]) if s.detector == "text-surge"]
    assert surge and all(s.grid == "G3" and s.series.startswith("G3/topic:") for s in surge)
    top = surge[-1]
    assert top.level >= Level.YELLOW and top.risk == Risk.CONTRADICTION
    assert {"拖欠工资", "讨薪"} & set(top.evidence["topic_terms"])
    assert top.evidence["volume"] >= 5 and top.evidence["negativity"] > 0.5
    assert set(top.evidence["examples"]) <= {e.id for e in events[-30:]}


def test_saved_state_mid_stream_gives_the_same_signals(models: TextModels) -> None:
    events = _stream(seed=1)
    cut = len(events) - 15
    straight = TextRisk(cache_dir=CACHE, models=models)
    expected = _run(straight, events)
    det = make_text_extra(cache_dir=CACHE)
    det._models = models
    first = _run(det, events[:cut])
    blob = saved.dumps("text", 1, det.snapshot())
    assert len(blob) < 2_000_000  # models are not saved
    resumed = make_text_extra(cache_dir=CACHE)
    resumed._models = models
    resumed.restore(saved.loads(blob, "text", {1: lambda d: d}))
    got = first + _run(resumed, events[cut:])
    assert [(s.series, s.level, round(s.score, 9)) for s in got] == [
        (s.series, s.level, round(s.score, 9)) for s in expected]


def test_signals_never_contain_the_text(models: TextModels) -> None:
    events = _stream(seed=2)[-40:] + [_event(9, 1e6, "G1", "3号楼张三家发生爆炸起火，电话13800000000", "complaint")]
    det = TextRisk(cache_dir=CACHE, models=models)
    signals = _run(det, events)
    assert signals
    blob = json.dumps([[s.reason, s.evidence] for s in signals], ensure_ascii=False)
    for e in events:
        assert e.text is not None and e.text not in blob
    assert "13800000000" not in blob and "张三" not in blob


def test_a_model_cache_written_by_the_previous_release_is_retrained_not_fatal(tmp_path: Path) -> None:
    """0.1.0 cached the classifier as a pickle of ``detectors.text.classifier.RiskClassifier``; that module is
    fenghuo.detectors.text.classifier now, so the old cache cannot load: it is retrained and rewritten."""
    from fenghuo.detectors.text.classifier import RiskClassifier

    fresh = RiskClassifier()
    path = tmp_path / f"risk-classifier-{fresh.cache_key()}.pkl"
    path.write_bytes(b"\x80\x04cdetectors.text.classifier\nRiskClassifier\n)\x81}b.")  # the old class, by name
    loaded = fresh.load_or_train(tmp_path)
    assert len(loaded.predict(["煤气泄漏 闻到很浓的气味", "the street lights are out"])) == 2  # trained
    assert RiskClassifier().load_or_train(tmp_path).cache_key() == fresh.cache_key()  # the rewritten cache loads
    assert b"cdetectors.text.classifier\n" not in path.read_bytes()
