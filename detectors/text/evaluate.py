"""Measure the text models: cross-validated classifier figures and TextRisk throughput.

``python -m fenghuo.detectors.text.evaluate [CACHE_DIR]`` prints the figures quoted in docs/text-risk.md.
Cross-validation: the hand-written rows in stratified folds (by language and label); the Boston
weak-labelled rows in folds grouped by case TYPE (a type is never both trained on and tested,
since a Boston text contains its TYPE); each fold's model trains on every row outside the fold.
The lexicon alone (argmax of its risk scores, ``other`` below ``lexicon_floor``) is the baseline.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

import numpy as np

from fenghuo.detectors.text.classifier import RiskClassifier
from fenghuo.detectors.text.corpus import LABELS, Row, load_corpus
from fenghuo.detectors.text.lexicon import Lexicon


def fold_ids(rows: Sequence[Row], folds: int = 5, seed: int = 0) -> np.ndarray:
    """A fold number per row: stratified for hand rows, grouped by TYPE for Boston rows."""
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    out = np.zeros(len(rows), dtype=int)
    hand = [i for i, r in enumerate(rows) if r.source == "hand"]
    strata = [f"{rows[i].lang}-{rows[i].label}" for i in hand]
    for k, (_, test) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=seed).split(hand, strata)):
        out[np.asarray(hand)[test]] = k
    weak = [i for i, r in enumerate(rows) if r.source != "hand"]
    if weak:
        groups = [rows[i].group for i in weak]
        for k, (_, test) in enumerate(GroupKFold(folds).split(weak, groups=groups)):
            out[np.asarray(weak)[test]] = k
    return out


def out_of_fold(rows: Sequence[Row], folds: int = 5, seed: int = 0, only: int | None = None) -> list[str | None]:
    """Out-of-fold predictions (``only``: run that single fold, others stay None)."""
    ids = fold_ids(rows, folds, seed)
    pred: list[str | None] = [None] * len(rows)
    for k in range(folds) if only is None else [only]:
        train = [r for r, f in zip(rows, ids, strict=True) if f != k]
        clf = RiskClassifier(seed=seed).fit(train)
        test = [i for i, f in enumerate(ids) if f == k]
        for i, y in zip(test, clf.predict([rows[i].text for i in test]), strict=True):
            pred[i] = y
    return pred


def lexicon_predict(texts: Sequence[str], floor: float = 0.3) -> list[str]:
    lex = Lexicon.default()
    out = []
    for t in texts:
        m = lex.match(t)
        out.append(str(max(m.risk, key=lambda r: m.risk[r])) if m.score >= floor else "other")
    return out


def metrics(rows: Sequence[Row], pred: Sequence[str | None]) -> dict[str, dict[str, float]]:
    """Accuracy, macro F1 and per-class F1 by subset (zh-hand, en-hand, en-boston311, all)."""
    from sklearn.metrics import accuracy_score, f1_score

    subsets = {"zh-hand": lambda r: r.lang == "zh", "en-hand": lambda r: r.lang == "en" and r.source == "hand",
               "en-boston311": lambda r: r.source == "boston311", "all": lambda r: True}
    out: dict[str, dict[str, float]] = {}
    for name, keep in subsets.items():
        pairs = [(r.label, p) for r, p in zip(rows, pred, strict=True) if p is not None and keep(r)]
        if not pairs:
            continue
        y, p = [a for a, _ in pairs], [b for _, b in pairs]
        f1 = f1_score(y, p, labels=list(LABELS), average=None, zero_division=0.0)
        out[name] = {"n": float(len(y)), "accuracy": float(accuracy_score(y, p)),
                     "macro_f1": float(np.mean(f1)), **{f"f1_{c}": float(v) for c, v in zip(LABELS, f1, strict=True)}}
    return out


def throughput(cache_dir: str | None, n: int = 5000) -> float:
    """Events per second through TextRisk (complaints and opinions, mixed zh/en corpus texts)."""
    from fenghuo.core.models import Event
    from fenghuo.detectors.text.detector import make_text_extra

    rows = load_corpus()
    extra = make_text_extra(cache_dir=cache_dir)
    extra.models  # noqa: B018 - load before timing
    events = [Event("opinion" if i % 2 else "complaint", "bench", 60.0 * i, f"G{i % 20}", f"e{i}",
                    category="x", text=rows[i % len(rows)].text) for i in range(n)]
    t0 = time.perf_counter()
    for e in events:
        extra(e)
    return n / (time.perf_counter() - t0)


def main(argv: list[str]) -> None:  # pragma: no cover
    rows = load_corpus()
    pred = out_of_fold(rows)
    lex = lexicon_predict([r.text for r in rows])
    for title, m in (("classifier, 5-fold CV", metrics(rows, pred)), ("lexicon only", metrics(rows, lex))):
        print(title)
        for name, v in m.items():
            print(f"  {name:13s} " + " ".join(f"{k}={v[k]:.3f}" if k != "n" else f"n={int(v[k])}" for k in v))
    print(f"TextRisk throughput: {throughput(argv[0] if argv else None):.0f} events/s")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
