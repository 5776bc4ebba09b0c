"""The risk text classifier: safety / contradiction / other, for Chinese and English texts.

Features: TF-IDF of character 1-3-grams (they work for Chinese without word segmentation and
catch English stems and typos) joined with TF-IDF of English word 1-2-grams (sublinear tf both);
a multinomial logistic regression (saga solver) with balanced class weights. Trained on the corpus of
:mod:`fenghuo.detectors.text.corpus` in about a second, cached as a pickle in the caller's cache
directory, keyed by a digest of the data files and the settings.

Inference does not go through scikit-learn's pipeline per text (about 1 ms each): the fitted
vocabularies, idf and coefficients are flattened into one dict ``n-gram -> (idf, column)`` and a
coefficient matrix, and :meth:`RiskClassifier.predict_proba` scores a text in pure Python plus one
small numpy product; it gives the pipeline's probabilities (checked in the tests).

>>> from fenghuo.detectors.text.corpus import load_corpus
>>> clf = RiskClassifier().fit(load_corpus())
>>> p = clf.predict_proba("楼道里有很浓的煤气味，邻居家没人")
>>> max(p, key=p.get)
'safety'
>>> p = clf.predict_proba("The workers have not been paid and are gathering outside the office")
>>> max(p, key=p.get)
'contradiction'
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import pickle
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fenghuo.detectors.text.corpus import DATA, LABELS, Row

log = logging.getLogger(__name__)

VERSION = 1
WORD_PATTERN = r"(?u)\b[a-zA-Z][a-zA-Z']+\b"
_WORD = re.compile(WORD_PATTERN)
_SPACES = re.compile(r"\s\s+")


class RiskClassifier:
    """Char 1-3-gram + word 1-2-gram TF-IDF, logistic regression; ``predict_proba(text)``."""

    def __init__(self, C: float = 10.0, seed: int = 0) -> None:
        self.settings = {"C": C, "seed": seed, "version": VERSION}
        self.pipeline: Any = None
        self.labels: tuple[str, ...] = LABELS
        self._index: dict[tuple[int, str], tuple[float, int]] = {}
        self._coef: np.ndarray = np.zeros((0, 0))
        self._intercept: np.ndarray = np.zeros(0)

    def _make(self) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion, make_pipeline

        chars = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, lowercase=True)
        words = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, lowercase=True,
                                token_pattern=WORD_PATTERN)
        clf = LogisticRegression(C=self.settings["C"], solver="saga", max_iter=2000, tol=1e-4,
                                 class_weight="balanced", random_state=self.settings["seed"])
        return make_pipeline(FeatureUnion([("chars", chars), ("words", words)]), clf)

    def fit(self, rows: Sequence[Row]) -> RiskClassifier:
        self.pipeline = self._make()
        self.pipeline.fit([r.text for r in rows], [r.label for r in rows])
        self._flatten()
        return self

    def _flatten(self) -> None:
        union, clf = self.pipeline.steps[0][1], self.pipeline.steps[-1][1]
        self.labels = tuple(str(c) for c in clf.classes_)
        index: dict[tuple[int, str], tuple[float, int]] = {}
        offset = 0
        for part, (_, vec) in enumerate(union.transformer_list):
            for gram, col in vec.vocabulary_.items():
                index[(part, gram)] = (float(vec.idf_[col]), offset + col)
            offset += len(vec.vocabulary_)
        self._index = index
        self._coef = np.ascontiguousarray(clf.coef_.T)
        self._intercept = clf.intercept_.copy()

    @staticmethod
    def _grams(text: str) -> tuple[Counter[str], Counter[str]]:
        low = _SPACES.sub(" ", text.lower())
        chars: Counter[str] = Counter()
        for n in (1, 2, 3):
            chars.update(low[i:i + n] for i in range(len(low) - n + 1))
        toks = _WORD.findall(low)
        words = Counter(toks)
        words.update(f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False))
        return chars, words

    def predict_proba(self, text: str) -> dict[str, float]:
        """Class probabilities of one text (the same as the fitted pipeline's)."""
        cols: list[int] = []
        vals: list[float] = []
        for part, grams in enumerate(self._grams(text)):
            start = len(cols)
            for gram, tf in grams.items():
                hit = self._index.get((part, gram))
                if hit is not None:
                    cols.append(hit[1])
                    vals.append((1.0 + math.log(tf)) * hit[0])
            norm = math.sqrt(sum(v * v for v in vals[start:])) or 1.0
            vals[start:] = [v / norm for v in vals[start:]]
        z = self._intercept + (np.asarray(vals) @ self._coef[cols] if cols else 0.0)
        e = np.exp(z - z.max())
        p = e / e.sum()
        return {label: float(v) for label, v in zip(self.labels, p, strict=True)}

    def predict(self, texts: Sequence[str]) -> list[str]:
        """Labels of many texts through the scikit-learn pipeline (used for evaluation)."""
        return [str(y) for y in self.pipeline.predict(list(texts))]

    def cache_key(self) -> str:
        h = hashlib.sha256(repr(sorted(self.settings.items())).encode())
        for path in sorted(DATA.glob("*")):
            if path.is_file():
                h.update(path.name.encode() + path.read_bytes())
        return h.hexdigest()[:16]

    def load_or_train(self, cache_dir: str | Path | None, rows: Sequence[Row] | None = None) -> RiskClassifier:
        """Load from ``cache_dir`` or train on ``rows`` (default: the shipped corpus) and cache."""
        from fenghuo.detectors.text.corpus import load_corpus

        path = Path(cache_dir) / f"risk-classifier-{self.cache_key()}.pkl" if cache_dir else None
        if path is not None and rows is None and path.exists():
            try:
                with path.open("rb") as fh:
                    cached = pickle.load(fh)
                if type(cached) is not type(self) or not cached.__dict__:
                    raise TypeError(f"not a {type(self).__name__} of this release")
                self.__dict__.update(cached.__dict__)
                return self
            except Exception as exc:  # a cache another release wrote (classes moved since), or a torn file
                log.warning("retraining the risk classifier: its cache %s does not load (%s)", path.name,
                            type(exc).__name__)
        self.fit(rows if rows is not None else load_corpus())
        if path is not None and rows is None:
            save_model(self, path)
        return self


def save_model(model: object, path: Path) -> None:
    """Pickle a trained model to the cache atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
