"""Crisis relevance on real tweets (CrisisLex T6), leave-one-crisis-out.

For each of the six crises: train :class:`fenghuo.detectors.text.crisis.CrisisClassifier` on the other
five, score the held-out one. Three scores side by side:

- ``model``: the TF-IDF + logistic regression classifier;
- ``lexicon``: the text detector's lexicon safety score (:class:`fenghuo.detectors.text.lexicon.Lexicon`,
  no training);
- ``model+lexicon``: their noisy-or, ``1 - (1 - model) * (1 - lexicon)`` (fixed beforehand, not fitted);
- ``keywords``: the number of :data:`fenghuo.detectors.text.crisis.KEYWORDS` in the post (no training).

ROC AUC on the training crises (in-sample for the model) and on the held-out crisis; recall and
precision on the held-out crisis at a threshold chosen on the training crises only: the lowest score
reaching ``--precision`` (0.9) on them. For the model, those training scores are out-of-fold (the five
training crises split in two groups of crises, each scored by a model trained on the other group), so
the threshold is not set on scores of posts the model has seen. Prints Markdown tables; no tweet text
is printed or written.

    python -m benchmarks.text_crisis [--data DIR] [--precision 0.9]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from fenghuo.core.models import Risk
from fenghuo.detectors.text.crisis import CrisisClassifier, keyword_count, load_crisislex, threshold_at_precision
from fenghuo.detectors.text.lexicon import Lexicon

NAMES = ("model", "lexicon", "model+lexicon", "keywords")
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared/data/crisislex-t6"


def _pool(data: dict[str, tuple[list[str], np.ndarray]], names: list[str]) -> tuple[list[str], np.ndarray]:
    texts = [t for n in names for t in data[n][0]]
    return texts, np.concatenate([data[n][1] for n in names])


def _at(scores: np.ndarray, labels: np.ndarray, threshold: float) -> tuple[float, float]:
    """(recall, precision) of ``scores >= threshold``."""
    flagged = scores >= threshold
    tp = float(np.sum(flagged & (labels == 1)))
    return tp / max(1, int(labels.sum())), tp / max(1, int(flagged.sum()))


def _oof(data: dict[str, tuple[list[str], np.ndarray]], names: list[str]) -> np.ndarray:
    """Out-of-fold model scores of the pooled ``names``: two groups of crises, each scored by the other's model."""
    groups = [names[0::2], names[1::2]]
    parts: dict[str, np.ndarray] = {}
    for i, group in enumerate(groups):
        clf = CrisisClassifier().fit(*_pool(data, groups[1 - i]))
        for n in group:
            parts[n] = clf.score(data[n][0])
    return np.concatenate([parts[n] for n in names])


def run(data_dir: Path, precision: float) -> list[dict[str, float | str]]:
    data = load_crisislex(data_dir)
    if len(data) < 3:
        raise SystemExit(f"CrisisLex T6 not found in {data_dir}")
    lex = Lexicon.default()
    lex_scores = {n: np.array([lex.match(t).risk.get(Risk.SAFETY, 0.0) for t in texts])
                  for n, (texts, _) in data.items()}
    kw_scores = {n: keyword_count(texts) for n, (texts, _) in data.items()}
    rows: list[dict[str, float | str]] = []
    for held in data:
        t0 = time.perf_counter()
        train = [n for n in data if n != held]
        texts, y = _pool(data, train)
        clf = CrisisClassifier().fit(texts, y)
        held_texts, held_y = data[held]
        row: dict[str, float | str] = {"crisis": held, "n": len(held_y), "on_topic": float(held_y.mean())}
        train_scores = {"model": _oof(data, train),
                        "lexicon": np.concatenate([lex_scores[n] for n in train]),
                        "keywords": np.concatenate([kw_scores[n] for n in train])}
        fitted = {"model": clf.score(texts), "lexicon": train_scores["lexicon"], "keywords": train_scores["keywords"]}
        test_scores = {"model": clf.score(held_texts), "lexicon": lex_scores[held], "keywords": kw_scores[held]}
        for scores in (train_scores, fitted, test_scores):
            scores["model+lexicon"] = 1.0 - (1.0 - scores["model"]) * (1.0 - scores["lexicon"])
        for name in NAMES:
            thr = threshold_at_precision(train_scores[name], y, precision)
            row[f"{name}_auc_train"] = float(roc_auc_score(y, fitted[name]))
            row[f"{name}_auc_test"] = float(roc_auc_score(held_y, test_scores[name]))
            row[f"{name}_threshold"] = thr
            row[f"{name}_recall_train"], row[f"{name}_precision_train"] = _at(train_scores[name], y, thr)
            row[f"{name}_recall_test"], row[f"{name}_precision_test"] = _at(test_scores[name], held_y, thr)
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        print(f"# {held}: {row['seconds']:.0f} s", flush=True)
    return rows


def table(rows: list[dict[str, float | str]], precision: float) -> str:
    out = ["| held-out crisis | n | on-topic | score | AUC train (in-sample) | AUC held-out | threshold | "
           f"recall train (OOF) | recall held-out | precision held-out (target {precision:.2f}) |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for name in NAMES:
            out.append(f"| {r['crisis']} | {r['n']} | {float(r['on_topic']):.2f} | {name} | "
                       f"{float(r[name + '_auc_train']):.3f} | {float(r[name + '_auc_test']):.3f} | "
                       f"{float(r[name + '_threshold']):.3f} | {float(r[name + '_recall_train']):.3f} | "
                       f"{float(r[name + '_recall_test']):.3f} | {float(r[name + '_precision_test']):.3f} |")
    out.append("")
    out.append("| score | mean AUC train | mean AUC held-out | min AUC held-out | mean recall held-out | "
               "mean precision held-out |")
    out.append("|---|---|---|---|---|---|")
    for name in NAMES:
        def mean(key: str, name: str = name) -> float:
            return float(np.mean([float(r[f"{name}_{key}"]) for r in rows]))
        low = min(float(r[f"{name}_auc_test"]) for r in rows)
        out.append(f"| {name} | {mean('auc_train'):.3f} | {mean('auc_test'):.3f} | {low:.3f} | "
                   f"{mean('recall_test'):.3f} | {mean('precision_test'):.3f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--precision", type=float, default=0.9)
    args = ap.parse_args(argv)
    print(table(run(args.data, args.precision), args.precision))


if __name__ == "__main__":
    main()
