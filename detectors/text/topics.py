"""Online topic clustering of short texts: a streaming nearest-centroid over TF-IDF n-gram vectors.

Features: character 2- and 3-grams of every run of Chinese characters (no segmentation needed)
and English words of three letters or more (stop words dropped) with their bigrams; sublinear tf
times an online idf from document frequencies that are halved every ``halve_every`` documents
(so the idf follows the recent stream and the table stays small); L2-normalised.

A text joins the topic whose centroid is the most cosine-similar when that similarity is at
least ``threshold``, else it starts a new topic; a centroid is the decayed sum of its members'
vectors cut to its ``centroid_terms`` heaviest n-grams. An inverted index (n-gram -> topics)
limits the comparison to topics sharing an n-gram. With ``max_topics`` topics, the least recently
used one not in ``keep`` is dropped. :meth:`TopicModel.top_terms` names a topic by its heaviest
n-grams, skipping one that overlaps a term already chosen.

>>> tm = TopicModel()
>>> posts = ["拖欠工资三个月，工人在工地门口讨薪", "工地拖欠工资，工人们讨薪无果",
...          "The street light on Main Street is out", "老板拖欠工资跑路了，工人讨薪"]
>>> [tm.assign(text, 60.0 * i) for i, text in enumerate(posts)]
[1, 1, 2, 1]
>>> tm.top_terms(1, 4)
['工人', '拖欠工资', '讨薪', '工地']
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Container
from dataclasses import dataclass, field

from fenghuo.core import state as saved

_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
_EN_WORD = re.compile(r"[a-z][a-z']{2,}")
STOP_EN = frozenset("""the and for are but not you all any can had her was one our out has have his how its may new now
old see two who did get him let put say she too use with this that from they them then than there their what when
where which will would could should been were into about after again also just like more most some such only over
very your because being while here these those each other other's off our ours yet""".split())


def features(text: str, idf: dict[str, float] | None = None, default_idf: float = 1.0) -> dict[str, float]:
    """Sublinear-tf x idf weights of a text's n-grams, L2-normalised.

    >>> sorted(features("燃气泄漏"))
    ['气泄', '气泄漏', '泄漏', '燃气', '燃气泄']
    >>> sorted(features("Gas leak on the street!"))
    ['gas', 'gas leak', 'leak', 'leak street', 'street']
    """
    grams: Counter[str] = Counter()
    for run in _CJK_RUN.findall(text):
        for n in (2, 3):
            grams.update(run[i:i + n] for i in range(len(run) - n + 1))
    words = [w for w in _EN_WORD.findall(text.lower()) if w not in STOP_EN]
    grams.update(words)
    grams.update(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))
    idf = idf or {}
    vec = {g: (1.0 + math.log(tf)) * idf.get(g, default_idf) for g, tf in grams.items()}
    norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
    return {g: v / norm for g, v in vec.items()}


@dataclass(slots=True)
class Topic:
    centroid: dict[str, float] = field(default_factory=dict)
    norm: float = 0.0
    size: float = 0.0
    last_ts: float = 0.0


class TopicModel:
    """Streaming nearest-centroid clustering; ``assign(text, ts) -> topic id``."""

    def __init__(self, threshold: float = 0.15, max_topics: int = 300, centroid_terms: int = 60,
                 decay: float = 0.98, halve_every: int = 5000) -> None:
        self.threshold = threshold
        self.max_topics = max_topics
        self.centroid_terms = centroid_terms
        self.decay = decay
        self.halve_every = halve_every
        self.topics: dict[int, Topic] = {}
        self.index: dict[str, set[int]] = {}
        self.df: dict[str, float] = {}
        self.docs = 0.0
        self.seen = 0
        self.next_id = 1
        self.evicted: list[int] = []  # ids dropped by the last assign (for the caller to forget)

    def _idf(self, grams: list[str]) -> dict[str, float]:
        n = self.docs + 1.0
        return {g: math.log(n / (self.df.get(g, 0.0) + 1.0)) + 1.0 for g in grams}

    def assign(self, text: str, ts: float, keep: Container[int] = ()) -> int:
        raw = features(text)
        vec = features(text, self._idf(list(raw))) if raw else raw
        self._learn_df(raw)
        sims: dict[int, float] = {}
        for g, w in vec.items():
            for tid in self.index.get(g, ()):
                t = self.topics[tid]
                sims[tid] = sims.get(tid, 0.0) + w * t.centroid[g] / t.norm
        best = max(sims, key=lambda k: (sims[k], -k), default=None)
        self.evicted = []
        if best is None or sims[best] < self.threshold:
            best = self._new(ts, keep)
        self._update(best, vec, ts)
        return best

    def _learn_df(self, raw: dict[str, float]) -> None:
        for g in raw:
            self.df[g] = self.df.get(g, 0.0) + 1.0
        self.docs += 1.0
        self.seen += 1
        if self.seen % self.halve_every == 0:
            self.docs /= 2.0
            self.df = {g: c / 2.0 for g, c in self.df.items() if c >= 1.0}

    def _new(self, ts: float, keep: Container[int]) -> int:
        if len(self.topics) >= self.max_topics:
            old = [tid for tid in self.topics if tid not in keep]
            if old:
                victim = min(old, key=lambda k: self.topics[k].last_ts)
                self._unindex(victim, self.topics.pop(victim).centroid)
                self.evicted.append(victim)
        tid, self.next_id = self.next_id, self.next_id + 1
        self.topics[tid] = Topic(last_ts=ts)
        return tid

    def _unindex(self, tid: int, grams: Container[str] | dict[str, float]) -> None:
        for g in grams:
            ids = self.index.get(g)
            if ids is not None:
                ids.discard(tid)
                if not ids:
                    del self.index[g]

    def _update(self, tid: int, vec: dict[str, float], ts: float) -> None:
        t = self.topics[tid]
        c = {g: w * self.decay for g, w in t.centroid.items()}
        for g, w in vec.items():
            c[g] = c.get(g, 0.0) + w
        if len(c) > self.centroid_terms:
            c = dict(sorted(c.items(), key=lambda kv: -kv[1])[: self.centroid_terms])
        self._unindex(tid, [g for g in t.centroid if g not in c])
        for g in c:
            self.index.setdefault(g, set()).add(tid)
        t.centroid, t.norm = c, math.sqrt(sum(w * w for w in c.values())) or 1.0
        t.size, t.last_ts = t.size * self.decay + 1.0, ts

    def top_terms(self, tid: int, n: int = 5) -> list[str]:
        """The topic's heaviest n-grams; overlapping Chinese n-grams are joined (up to 4 characters)."""
        t = self.topics.get(tid)
        if t is None:
            return []
        chosen: list[str] = []
        for g, _ in sorted(t.centroid.items(), key=lambda kv: (-kv[1], kv[0])):
            if any(g in c.split() or (not g.isascii() and g in c) for c in chosen):
                continue
            if g.isascii():
                chosen = [c for c in chosen if not (c.isascii() and c in g.split())] + [g]
            else:
                for i, c in enumerate(chosen):
                    joined = None if c.isascii() else _join(c, g)
                    if joined is not None and len(joined) <= 4 and all(
                            joined[j:j + 3] in t.centroid for j in range(len(joined) - 2)):
                        chosen[i] = joined
                        break
                else:
                    chosen.append(g)
            chosen = [c for c in chosen if not any(c != d and not c.isascii() and c in d for d in chosen)]
            if len(chosen) >= n:
                break
        return chosen


def _join(a: str, b: str) -> str | None:
    """``a`` and ``b`` joined where one's end overlaps the other's start, else None.

    >>> _join("拖欠", "欠工资"), _join("工资", "拖欠工"), _join("讨薪", "工地")
    ('拖欠工资', '拖欠工资', None)
    """
    for k in range(min(len(a), len(b)) - 1, 0, -1):
        if a.endswith(b[:k]):
            return a + b[k:]
        if b.endswith(a[:k]):
            return b + a[k:]
    return None


# saved state: plain data (fenghuo.core.state), under tags that survive renaming the classes
saved.register("text.topic", Topic)
saved.register("text.topics", TopicModel)
