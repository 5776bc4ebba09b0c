"""TextRisk: safety and contradiction risk of complaint and opinion texts, and opinion surges.

For each complaint or opinion event with a text (feeds in ``TextParams.feeds``):

1. the lexicon gives a score per risk type ``lex_r`` and the matched categories; the classifier
   gives ``p_safety, p_contradiction, p_other``;
2. ``score_r = 1 - (1 - lex_r * (0.75 + 0.25 * q_r)) * (1 - w * p_r)`` with
   ``q_r = p_r / (p_r + p_other)`` (the classifier confirms or damps the lexicon) and
   ``w = classifier_weight`` (0.5: the classifier alone reaches blue at most, and only for a text
   naming a hazard, since a text naming none needs ``lone_blue`` = 0.5 for blue);
3. the risk type with the higher score wins; its level comes from ``thresholds`` (blue, yellow,
   orange, red), capped at ``max_level`` (orange: one text is one voice), then raised to the
   floor of any :data:`COMBOS` entry whose categories all matched (explosion + fire: yellow;
   wage arrears + gathering: orange; a threat of an extreme act over wages: red), then capped at
   ``lone_max_level`` (blue) unless a matched lexicon category names a hazard (groups natural hazard,
   public health, public security, accident): above blue, a text without a hazard needs a surge;
4. with ``crisis_data`` (a directory of CrisisLex T6 files, or any labelled posts in its layout) a text that
   the crisis classifier (:mod:`fenghuo.detectors.text.crisis`, TF-IDF + logistic regression) gives at least
   ``crisis_blue`` and that raised nothing else raises a blue safety alert ("crisis classifier"): never
   more on its own, since it names no hazard;
5. a signal goes out when the level is at least the level already raised in the same series
   (``grid/text:<category>``) within ``hold_s``: a milder report does not downgrade the alert.

Opinion posts also feed :class:`fenghuo.detectors.text.surge.OpinionSurge` (one per drill). Signals hold
event ids, scores, lexicon terms and topic terms, never the text (texts are personal data).
The models (lexicon, classifier, Chinese negativity) are not pickled: they are reloaded from the
cache directory (or retrained from the shipped data) on first use after unpickling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fenghuo.core import state as saved
from fenghuo.core.levels import Level
from fenghuo.core.models import Certainty, Event, Risk, Signal
from fenghuo.detectors.protocol import VersionedDetector
from fenghuo.detectors.registry import BuildContext, register
from fenghuo.detectors.text import crisis
from fenghuo.detectors.text.classifier import RiskClassifier
from fenghuo.detectors.text.lexicon import GROUP_OF, Lexicon
from fenghuo.detectors.text.sentiment import Negativity
from fenghuo.detectors.text.surge import OpinionSurge, Post, SurgeParams

COMBOS: tuple[tuple[frozenset[str], Risk, Level], ...] = (
    (frozenset({"explosion", "fire"}), Risk.SAFETY, Level.YELLOW),
    (frozenset({"gas", "fire"}), Risk.SAFETY, Level.ORANGE),
    (frozenset({"gas", "explosion"}), Risk.SAFETY, Level.ORANGE),
    (frozenset({"fire", "casualty"}), Risk.SAFETY, Level.ORANGE),
    (frozenset({"collapse", "casualty"}), Risk.SAFETY, Level.ORANGE),
    (frozenset({"flood", "casualty"}), Risk.SAFETY, Level.ORANGE),
    (frozenset({"wage_arrears", "gathering"}), Risk.CONTRADICTION, Level.ORANGE),
    (frozenset({"demolition", "gathering"}), Risk.CONTRADICTION, Level.ORANGE),
    (frozenset({"petition", "gathering"}), Risk.CONTRADICTION, Level.ORANGE),
    (frozenset({"property", "gathering"}), Risk.CONTRADICTION, Level.YELLOW),
    (frozenset({"dispute", "gathering"}), Risk.CONTRADICTION, Level.ORANGE),
    (frozenset({"extreme"}), Risk.CONTRADICTION, Level.ORANGE),
    (frozenset({"extreme", "wage_arrears"}), Risk.CONTRADICTION, Level.RED),
)
_LABEL = {Risk.SAFETY: "safety", Risk.CONTRADICTION: "contradiction"}


@dataclass(frozen=True, slots=True)
class TextParams:
    thresholds: tuple[float, float, float, float] = (0.4, 0.65, 0.8, 0.95)
    max_level: Level = Level.ORANGE  # one text alone goes no higher, unless a combo says so
    # one text that names no hazard (no lexicon category in ``hazard_groups``) goes no higher than this, combos
    # included: above it, only an opinion surge (many texts on one topic in one area) carries the level.
    # None: no such cap (the rule before issue 12, item 7)
    lone_max_level: Level | None = Level.BLUE
    hazard_groups: tuple[str, ...] = ("natural_hazard", "public_health", "public_security", "accident")
    # the score a text that names no hazard needs for blue (issue 12, item 7: the routine-text budget,
    # benchmarks/text_budget.py; at 0.5 the classifier alone, score 0.5 p, no longer raises such a text)
    lone_blue: float = 0.5
    classifier_weight: float = 0.5
    hold_s: float = 86400.0
    feeds: tuple[str, ...] = ("complaint", "opinion")
    surge_feeds: tuple[str, ...] = ("opinion",)
    surge: SurgeParams = field(default_factory=SurgeParams)
    # the crisis classifier: a directory of labelled posts in CrisisLex T6's layout to train it on (None: off;
    # the tweets cannot ship with fenghuo), and the probability of a crisis post at which a text raises blue
    crisis_data: str | None = None
    crisis_blue: float = 0.8  # make bench-text-budget: held-out recall 69.3% -> 74.1%, routine texts +0.08 points

    def __post_init__(self) -> None:
        if not 0.0 < self.crisis_blue <= 1.0:
            raise ValueError(f"detectors.text.crisis_blue: a probability in (0, 1] is needed, not {self.crisis_blue!r}")
        if self.crisis_data is not None and not Path(self.crisis_data).is_dir():
            raise ValueError(f"detectors.text.crisis_data: {self.crisis_data!r} is not a directory "
                             "(CrisisLex T6's *.csv.gz files, tweet and label columns)")


@dataclass(slots=True)
class Assessment:
    """What TextRisk concluded about one text (no text inside)."""

    risk: Risk
    score: float
    level: Level | None
    scores: dict[Risk, float]
    terms: dict[str, list[str]]
    probs: dict[str, float]
    negativity: float


class TextModels:
    """The trained parts: lexicon, classifier, negativity (loaded or trained via ``cache_dir``)."""

    def __init__(self, cache_dir: str | Path | None, crisis_data: str | None = None) -> None:
        self.lexicon = Lexicon.default()
        self.classifier = RiskClassifier().load_or_train(cache_dir)
        self.negativity = Negativity(cache_dir)
        self.crisis = crisis.load_or_train(crisis_data, cache_dir) if crisis_data else None


class TextRisk(VersionedDetector):
    """The ``text`` :class:`fenghuo.detectors.protocol.Detector`, picklable:
    ``TextRisk(params, cache_dir)(event) -> signals``."""

    name = "text"

    def __init__(self, params: TextParams | None = None, cache_dir: str | Path | None = None,
                 models: TextModels | None = None) -> None:
        self.params = params or TextParams()
        self.cache_dir = str(cache_dir) if cache_dir is not None else None
        self._models = models
        self.held: dict[tuple[str | None, str], tuple[int, float]] = {}  # (drill, series) -> (level, ts)
        self.surges: dict[str | None, OpinionSurge] = {}

    @property
    def models(self) -> TextModels:
        if self._models is None:
            self._models = TextModels(self.cache_dir, self.params.crisis_data)
        return self._models

    def __getstate__(self) -> dict[str, Any]:
        return {"params": self.params, "cache_dir": self.cache_dir, "held": self.held, "surges": self.surges}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._models = None

    def live_state(self) -> dict[str, Any]:
        """The state as the live objects (not copied), for :meth:`use_live_state` (the models are no part
        of it: they are reloaded from the cache directory, or trained again)."""
        return {"held": dict(self.held), "surges": dict(self.surges)}

    def use_live_state(self, live: dict[str, Any]) -> None:
        self.held = dict(live.get("held", {}))
        self.surges = dict(live.get("surges", {}))

    STATE_VERSION = 1  # of the held levels and opinion surges; bump it (and read the old) on a change

    def assess(self, text: str) -> Assessment:
        m = self.models
        lex = m.lexicon.match(text)
        probs = m.classifier.predict_proba(text)
        p_other = probs.get("other", 0.0)
        scores: dict[Risk, float] = {}
        for r, label in _LABEL.items():
            p = probs.get(label, 0.0)
            q = p / (p + p_other) if p + p_other > 0 else 0.0
            lex_r = lex.risk.get(r, 0.0) * (0.75 + 0.25 * q)
            scores[r] = 1.0 - (1.0 - lex_r) * (1.0 - self.params.classifier_weight * p)
        risk = max(scores, key=lambda r: (scores[r], r == Risk.CONTRADICTION))
        level = single_text_level(risk, scores[risk], set(lex.terms), self.params)
        if m.crisis is not None:
            probs = {**probs, "crisis": float(m.crisis.score([text])[0])}
            if level is None and probs["crisis"] >= self.params.crisis_blue:
                risk, level = Risk.SAFETY, Level.BLUE  # the crisis classifier alone: blue, never more
        return Assessment(risk, scores[risk], level, scores, lex.terms, probs, m.negativity.score(text))

    def __call__(self, e: Event) -> list[Signal]:
        if e.feed not in self.params.feeds or not e.text:
            return []
        a = self.assess(e.text)
        out: list[Signal] = []
        if a.level is not None:
            s = self._signal(e, a)
            if s is not None:
                out.append(s)
        if e.feed in self.params.surge_feeds:
            surge = self.surges.get(e.drill)
            if surge is None:
                surge = self.surges[e.drill] = OpinionSurge(self.params.surge)
            terms = tuple(t for ts in a.terms.values() for t in ts)
            post = Post(e.ts, e.id, a.negativity, dict(a.scores), terms)
            for s in surge.observe(e, e.text, post):
                s.drill = e.drill
                out.append(s)
        return out

    process = __call__

    @property
    def feeds(self) -> frozenset[str]:  # type: ignore[override]
        return frozenset(self.params.feeds)

    def _signal(self, e: Event, a: Assessment) -> Signal | None:
        assert a.level is not None
        cats = [c for c in a.terms if self.models.lexicon.risk_of[c] == a.risk]
        series = f"{e.grid}/text:{cats[0] if cats else 'model'}"
        key = (e.drill, series)
        held = self.held.get(key)
        if held is not None and e.ts - held[1] < self.params.hold_s and a.level < held[0]:
            return None
        self.held[key] = (int(a.level), e.ts)
        if len(self.held) > 10000:
            self.held = {k: v for k, v in self.held.items() if e.ts - v[1] < self.params.hold_s}
        what = ", ".join(cats) or ("crisis classifier" if a.probs.get("crisis", 0.0) >= self.params.crisis_blue
                                   else "classifier only")
        reason = f"text risk: {a.risk} {a.score:.2f} ({what}), {a.level.name_en}"
        evidence = {
            "event": e.id, "ts": e.ts, "category": e.category, "score": round(a.score, 4),
            "scores": {str(r): round(v, 4) for r, v in a.scores.items()},
            "risk_categories": cats, "terms": {c: a.terms[c] for c in a.terms},
            "classifier": {k: round(v, 4) for k, v in a.probs.items()}, "negativity": round(a.negativity, 4),
        }
        return Signal(detector="text-risk", rule="text-risk", risk=a.risk, feed=e.feed, grid=e.grid, series=series,
                      source=e.source, ts=e.ts, level=a.level, score=a.score, reason=reason, evidence=evidence,
                      drill=e.drill, certainty=Certainty.POSSIBLE)


def names_hazard(categories: set[str] | frozenset[str], params: TextParams) -> bool:
    """Whether a matched lexicon category belongs to a hazard group (natural hazard, public health, public
    security, accident: :data:`fenghuo.detectors.text.lexicon.GROUP_OF`).

    >>> names_hazard({"earthquake"}, TextParams()), names_hazard({"wage_arrears", "gathering"}, TextParams())
    (True, False)
    """
    return any(GROUP_OF.get(c) in params.hazard_groups for c in categories)


def single_text_level(risk: Risk, score: float, categories: set[str] | frozenset[str],
                      params: TextParams) -> Level | None:
    """The level one text raises on its own: the score's level capped at ``max_level`` (none when the text
    names no hazard and scores below ``lone_blue``), raised to the floor of any :data:`COMBOS` entry whose
    categories all matched, then capped at ``lone_max_level`` unless a matched category names a hazard.

    >>> p = TextParams()
    >>> single_text_level(Risk.CONTRADICTION, 0.9, {"wage_arrears", "gathering"}, p)
    <Level.BLUE: 1>
    >>> single_text_level(Risk.SAFETY, 0.9, {"gas", "fire"}, p)
    <Level.ORANGE: 3>
    >>> single_text_level(Risk.CONTRADICTION, 0.9, {"wage_arrears", "gathering"}, TextParams(lone_max_level=None))
    <Level.ORANGE: 3>
    >>> single_text_level(Risk.CONTRADICTION, 0.45, {"nuisance"}, p), single_text_level(Risk.SAFETY, 0.45, {"flood"}, p)
    (None, <Level.BLUE: 1>)
    """
    hazard = names_hazard(categories, params)
    level = _level(score, params.thresholds) if hazard or score >= params.lone_blue else None
    if level is not None and level > params.max_level:
        level = params.max_level
    for combo, combo_risk, floor in COMBOS:
        if combo <= categories and combo_risk == risk and (level is None or level < floor):
            level = floor
    cap = params.lone_max_level
    if level is not None and cap is not None and level > cap and not hazard:
        level = cap
    return level


def _level(score: float, thresholds: tuple[float, float, float, float]) -> Level | None:
    """The highest level whose threshold the score reaches.

    >>> _level(0.8, (0.35, 0.6, 0.75, 0.9)), _level(0.1, (0.35, 0.6, 0.75, 0.9))
    (<Level.ORANGE: 3>, None)
    """
    best = None
    for level, threshold in zip(Level, thresholds, strict=True):
        if score >= threshold:
            best = level
    return best


def make_text_extra(params: TextParams | None = None, cache_dir: str | Path | None = None) -> TextRisk:
    """The text-risk :class:`~fenghuo.detectors.protocol.Detector` for ``DetectorEngine.add``."""
    return TextRisk(params, cache_dir)


@register("text", TextParams, feeds=("complaint", "opinion"), scope="grid")
def _build(params: TextParams, ctx: BuildContext) -> TextRisk:
    extra = TextRisk(params, ctx.cache_dir)
    _ = extra.models  # train or load the models now, not on the first event
    return extra


# saved state: plain data (fenghuo.core.state), under tags that survive renaming the classes
saved.register("text.params", TextParams)
saved.register("text.risk", TextRisk)
