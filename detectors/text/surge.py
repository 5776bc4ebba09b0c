"""Public-opinion surges per (topic, grid): volume x negativity x risk terms against a decayed baseline.

Every post is put in a topic (:class:`fenghuo.detectors.text.topics.TopicModel`). Per (topic, grid) the
posts of the last ``window_s`` are counted against the expected count ``rate * window_s``; the
rate is a decayed count of the key's earlier posts (a post joins it when it leaves the window:
score before learn; posts of a key in alert at weight ``learn_in_alert``) over its decayed
exposure, shrunk towards ``prior_per_day`` with ``prior_s`` of pseudo-exposure, so a new topic
is not a surge by itself. The Poisson surprise ``-log10 P(X >= count)`` is multiplied by the
window's intensity ``(0.5 + mean negativity) * (1 + mean lexicon risk)`` (1 for neutral chatter
without risk terms, up to 3) and the product, the *heat*, is mapped to levels with hysteresis;
fewer than ``min_count`` posts never raise. Keys in alert are re-scored every ``sweep_s`` so a
surge that dies down is cleared (or lowered) without a new post of its own.

Signals carry the topic's top terms, the volume, expected volume, negativity, the lexicon terms
counted over the window and up to ``max_examples`` event ids; never a text.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from fenghuo.core import state as saved
from fenghuo.core.levels import Level
from fenghuo.core.models import Certainty, Event, Risk, Signal
from fenghuo.detectors.bursts import poisson_surprise
from fenghuo.detectors.hysteresis import LevelParams, LevelState
from fenghuo.detectors.text.topics import TopicModel

LN2 = math.log(2.0)


@dataclass(frozen=True, slots=True)
class SurgeParams:
    window_s: float = 3600.0
    thresholds: tuple[float, float, float, float] = (5.0, 9.0, 14.0, 20.0)  # heat for blue..red
    hysteresis: float = 1.0
    min_count: int = 5
    half_life_s: float = 7 * 86400.0
    prior_per_day: float = 6.0
    prior_s: float = 86400.0
    learn_in_alert: float = 0.2
    sweep_s: float = 300.0
    similarity: float = 0.15
    max_topics: int = 300
    top_terms: int = 5
    max_examples: int = 5

    def level_params(self) -> LevelParams:
        return LevelParams(tuple(zip((1, 2, 3, 4), self.thresholds, strict=True)), True, 0.0, self.hysteresis)


@dataclass(slots=True)
class Post:
    ts: float
    id: str
    negativity: float
    risk: dict[Risk, float]
    terms: tuple[str, ...]
    weight: float = 1.0


@dataclass(slots=True)
class _Key:
    window: deque[Post] = field(default_factory=deque)
    state: LevelState = field(default_factory=LevelState)
    count: float = 0.0  # decayed count of posts learned, as of ``as_of``
    as_of: float = 0.0
    since: float = 0.0  # first post
    source: str = ""
    feed: str = "opinion"


class OpinionSurge:
    """One stream's topics and per-(topic, grid) surge state; ``observe`` returns signals."""

    def __init__(self, params: SurgeParams | None = None) -> None:
        self.p = params or SurgeParams()
        self.topics = TopicModel(threshold=self.p.similarity, max_topics=self.p.max_topics)
        self.keys: dict[tuple[int, str], _Key] = {}
        self.last_sweep = -math.inf

    def observe(self, e: Event, text: str, post: Post) -> list[Signal]:
        hot = {tid for (tid, _), k in self.keys.items() if k.state.level}
        tid = self.topics.assign(text, e.ts, keep=hot)
        for old in self.topics.evicted:
            for key in [k for k in self.keys if k[0] == old]:
                del self.keys[key]
        k = self.keys.get((tid, e.grid))
        if k is None:
            k = self.keys[(tid, e.grid)] = _Key(as_of=e.ts, since=e.ts)
        k.source, k.feed = e.source, e.feed
        post.weight = self.p.learn_in_alert if k.state.level else 1.0
        k.window.append(post)
        out: list[Signal] = []
        s = self._evaluate(tid, e.grid, k, e.ts)
        if s is not None:
            out.append(s)
        if e.ts - self.last_sweep >= self.p.sweep_s:
            self.last_sweep = e.ts
            for (t2, g2), k2 in list(self.keys.items()):
                if k2.state.level and k2 is not k:
                    s = self._evaluate(t2, g2, k2, e.ts)
                    if s is not None:
                        out.append(s)
        return out

    def _learn(self, k: _Key, post: Post) -> None:
        k.count = k.count * 2.0 ** (-(post.ts - k.as_of) / self.p.half_life_s) + post.weight
        k.as_of = post.ts

    def expected(self, k: _Key, now: float) -> float:
        """Expected posts in a window: the decayed rate, shrunk towards the prior."""
        p = self.p
        start = now - p.window_s
        count = k.count * 2.0 ** (-max(0.0, start - k.as_of) / p.half_life_s)
        exposure = (1.0 - 2.0 ** (-max(0.0, start - k.since) / p.half_life_s)) * p.half_life_s / LN2
        rate = (count + p.prior_per_day / 86400.0 * p.prior_s) / (exposure + p.prior_s)
        return rate * p.window_s

    def _evaluate(self, tid: int, grid: str, k: _Key, now: float) -> Signal | None:
        while k.window and k.window[0].ts <= now - self.p.window_s:
            self._learn(k, k.window.popleft())
        n = len(k.window)
        expected = self.expected(k, now)
        _, surprise = poisson_surprise(n, expected)
        neg = sum(x.negativity for x in k.window) / n if n else 0.5
        risk = sum(max(x.risk.values(), default=0.0) for x in k.window) / n if n else 0.0
        heat = surprise * (0.5 + neg) * (1.0 + risk) if n >= self.p.min_count or k.state.level else 0.0
        changed = k.state.step(self.p.level_params(), now, heat)
        if changed is None:
            return None
        return self._signal(tid, grid, k, now, heat, expected, neg, Level(changed) if changed else None)

    def _signal(self, tid: int, grid: str, k: _Key, now: float, heat: float, expected: float, neg: float,
                level: Level | None) -> Signal:
        terms: Counter[str] = Counter(t for x in k.window for t in x.terms)
        by_risk = {r: sum(x.risk.get(r, 0.0) for x in k.window) for r in Risk}
        risk = Risk.SAFETY if by_risk[Risk.SAFETY] > by_risk[Risk.CONTRADICTION] else Risk.CONTRADICTION
        top = self.topics.top_terms(tid, self.p.top_terms)
        evidence: dict[str, Any] = {
            "topic": tid, "topic_terms": top, "volume": len(k.window), "expected": round(expected, 3),
            "window_s": self.p.window_s, "heat": round(heat, 3), "negativity": round(neg, 3),
            "risk_terms": dict(terms.most_common(10)),
            "examples": [x.id for x in list(k.window)[-self.p.max_examples:]],
        }
        what = "、".join(top[:3]) or "?"
        if level is None:
            reason = f"opinion surge on topic {tid} [{what}] in {grid} has subsided ({len(k.window)} posts)"
        else:
            reason = (f"opinion surge on topic {tid} [{what}] in {grid}: {len(k.window)} posts in "
                      f"{self.p.window_s / 3600:g} h vs {expected:.2g} expected, negativity {neg:.2f} "
                      f"({level.name_en})")
        return Signal(detector="text-surge", rule="opinion-surge", risk=risk, feed=k.feed, grid=grid,
                      series=f"{grid}/topic:{tid}", source=k.source, ts=now, level=level, score=heat,
                      reason=reason, evidence=evidence, kind="level" if level else "clear",
                      certainty=Certainty.POSSIBLE)


# saved state: plain data (fenghuo.core.state), under tags that survive renaming the classes
saved.register("text.surge-params", SurgeParams)
saved.register("text.post", Post)
saved.register("text.surge-key", _Key)
saved.register("text.surge", OpinionSurge)
