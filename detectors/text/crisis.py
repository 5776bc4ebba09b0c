"""Crisis relevance of short posts: TF-IDF (word 1-2-grams and character 2-5-grams) + logistic regression.

Trained on CrisisLex T6 (six 2012-2013 crises, English tweets labelled on-topic / off-topic) and scored
leave-one-crisis-out by ``python -m benchmarks.text_crisis``: a model that only learned one crisis's
names is no early warning, so the figures that count are those on a crisis it never saw.

Texts are normalised before vectorising (:func:`normalise`): lower case, HTML entities decoded, links,
user mentions and numbers replaced by placeholders, "RT" dropped, hashtags split from their ``#``.
The tweets themselves are under Twitter's terms: they are read from the shared data directory, never
copied into the repository (no tweet in tests, docs or fixtures).

>>> clf = CrisisClassifier(min_df=1).fit(
...     ["flood water rising, evacuate now", "roads closed by the flood", "shelter open for evacuees",
...      "great pizza tonight", "watching the game with friends", "new phone, love it"], [1, 1, 1, 0, 0, 0])
>>> bool(clf.score(["evacuate, the flood is here"])[0] > 0.5 > clf.score(["pizza with friends"])[0])
True
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import html
import logging
import pickle
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

log = logging.getLogger(__name__)

_URL = re.compile(r"https?://\S+|www\.\S+")
_USER = re.compile(r"@\w+")
_NUM = re.compile(r"\d+(?:[.,:]\d+)*")
_RT = re.compile(r"\brt\b:?")
_SPACE = re.compile(r"\s+")

# a short crisis keyword list (the "keyword count" baseline of the benchmark), chosen without the data
KEYWORDS: tuple[str, ...] = (
    "emergency", "disaster", "evacuate", "evacuation", "evacuated", "rescue", "victims", "killed", "dead",
    "injured", "damage", "destroyed", "shelter", "help", "pray", "prayers", "safe", "warning", "relief", "donate",
)
_KEYWORDS_RE = re.compile(r"\b(?:" + "|".join(KEYWORDS) + r")\b")


def normalise(text: str) -> str:
    """Lower case, decoded entities, placeholders for links, users and numbers.

    >>> normalise("RT @abc: Flood at 5th Ave &amp; Main http://t.co/x #yycflood")
    'user : flood at 0th ave & main url # yycflood'
    """
    t = html.unescape(text).lower()
    t = _URL.sub(" url ", t)
    t = _USER.sub(" user ", t)
    t = _RT.sub(" ", t)
    t = _NUM.sub("0", t)
    t = t.replace("#", "# ")
    return _SPACE.sub(" ", t).strip()


def keyword_count(texts: Iterable[str]) -> np.ndarray:
    """The baseline: how many words of :data:`KEYWORDS` each text holds."""
    return np.array([len(_KEYWORDS_RE.findall(normalise(t))) for t in texts], dtype=float)


@dataclass(slots=True)
class CrisisClassifier:
    """``fit(texts, labels)`` then ``score(texts)``: the probability that a post is about the crisis."""

    C: float = 1.0
    min_df: int = 2
    max_features: int = 200_000
    word: TfidfVectorizer = field(init=False, repr=False)
    char: TfidfVectorizer = field(init=False, repr=False)
    model: LogisticRegression = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.word = TfidfVectorizer(preprocessor=normalise, ngram_range=(1, 2), min_df=self.min_df,
                                    sublinear_tf=True, max_features=self.max_features, token_pattern=r"(?u)\b\w+\b")
        self.char = TfidfVectorizer(preprocessor=normalise, analyzer="char_wb", ngram_range=(2, 5),
                                    min_df=self.min_df, sublinear_tf=True, max_features=self.max_features)
        self.model = LogisticRegression(C=self.C, max_iter=2000, solver="liblinear")

    def fit(self, texts: Sequence[str], labels: Sequence[int] | np.ndarray) -> CrisisClassifier:
        x = hstack([self.word.fit_transform(texts), self.char.fit_transform(texts)]).tocsr()
        self.model.fit(x, np.asarray(labels, dtype=int))
        return self

    def score(self, texts: Sequence[str]) -> np.ndarray:
        x = hstack([self.word.transform(texts), self.char.transform(texts)]).tocsr()
        return self.model.predict_proba(x)[:, 1]


def threshold_at_precision(scores: np.ndarray, labels: np.ndarray, precision: float = 0.9) -> float:
    """The lowest score threshold whose precision (on these scores) reaches ``precision``; the highest
    score when none does (so that almost nothing is flagged).

    >>> float(threshold_at_precision(np.array([0.9, 0.8, 0.7, 0.6, 0.2]), np.array([1, 1, 0, 1, 0]), 0.75))
    0.6
    """
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    tp = np.cumsum(y)
    prec = tp / np.arange(1, len(y) + 1)
    last = np.r_[s[1:] != s[:-1], True]  # a threshold flags every tie of its score
    ok = np.nonzero(last & (prec >= precision))[0]
    return float(s[ok[-1]]) if len(ok) else float(s[0])


def load_crisislex(directory: str | Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """``{crisis: (texts, labels)}`` from CrisisLex T6's ``*.csv.gz`` (label 1 = on-topic); empty when the
    directory is missing. The crisis name is the file name up to ``-ontopic``."""
    out: dict[str, tuple[list[str], np.ndarray]] = {}
    for path in sorted(Path(directory).glob("*.csv.gz")):
        with gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
            rows = csv.reader(fh)
            header = [h.strip() for h in next(rows)]
            ti, li = header.index("tweet"), header.index("label")
            texts, labels = [], []
            for row in rows:
                if len(row) > max(ti, li):
                    texts.append(row[ti])
                    labels.append(1 if row[li].strip() == "on-topic" else 0)
        out[path.name.split("-ontopic")[0]] = (texts, np.array(labels, dtype=int))
    return out


def _data_key(directory: Path) -> str:
    """A key of the CrisisLex files (names, sizes, modification times) and of this classifier's settings."""
    h = hashlib.sha256(repr(CrisisClassifier()).encode())
    for path in sorted(directory.glob("*.csv.gz")):
        st = path.stat()
        h.update(f"{path.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def load_or_train(directory: str | Path, cache_dir: str | Path | None) -> CrisisClassifier | None:
    """The crisis classifier trained on every crisis in ``directory`` (CrisisLex T6's layout), cached in
    ``cache_dir`` (the tweets are not copied there, the fitted vocabulary and weights are); None, with a
    warning in the log, when the directory holds no such file. Training takes about a minute on 60,000 tweets."""
    folder = Path(directory)
    if not any(folder.glob("*.csv.gz")):
        log.warning("crisis classifier off: %s holds no CrisisLex *.csv.gz file", folder)
        return None
    path = Path(cache_dir) / f"crisis-classifier-{_data_key(folder)}.pkl" if cache_dir else None
    if path is not None and path.exists():
        try:
            with path.open("rb") as fh:
                cached = pickle.load(fh)
            if isinstance(cached, CrisisClassifier):
                return cached
            raise TypeError("not a CrisisClassifier")
        except Exception as exc:  # a torn file, or one another release wrote
            log.warning("retraining the crisis classifier: its cache %s does not load (%s)", path.name,
                        type(exc).__name__)
    texts: list[str] = []
    labels: list[np.ndarray] = []
    for t, y in load_crisislex(folder).values():
        texts.extend(t)
        labels.append(y)
    clf = CrisisClassifier().fit(texts, np.concatenate(labels))
    if path is not None:
        from fenghuo.detectors.text.classifier import save_model

        save_model(clf, path)
    return clf
