"""The labelled corpus of the risk text classifier (classes ``safety``, ``contradiction``, ``other``).

Three parts, all shipped in ``detectors/text/data/``:

* ``corpus_zh.yaml`` and ``corpus_en.yaml``: short texts written by hand for this project in
  the style of 12345 hotline work orders and local public posts (no real person or case);
* ``boston311_weak.csv.gz``: Boston 311 (2015) case texts with *weak* labels taken from the case
  TYPE (:data:`BOSTON_TYPES`; a ``Notification`` case by its title). Boston texts are built as the
  adapter builds them (REASON / TYPE / CASE_TITLE) and are very repetitive: only distinct texts
  are kept, at most ``per_type`` per TYPE, and each row keeps its TYPE so cross-validation can
  hold whole types out. Rebuild it with ``python -m fenghuo.detectors.text.corpus BOSTON_CSV``.

>>> rows = load_corpus()
>>> sorted({r.lang for r in rows}), sorted({r.label for r in rows})
(['en', 'zh'], ['contradiction', 'other', 'safety'])
>>> boston_label("Notification", "Fire: Odor of Gas"), boston_label("Space Savers", "Space Savers")
('safety', 'contradiction')
"""

from __future__ import annotations

import csv
import gzip
import random
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

DATA = Path(__file__).parent / "data"
LABELS = ("safety", "contradiction", "other")

_SAFETY_TYPES = """Unsafe Dangerous Conditions|Electrical|Carbon Monoxide|Downed Wire|Watermain Break|Tree Emergencies|
Fire in Food Establishment|Egress|Protection of Adjoining Property"""
_CONTRADICTION_TYPES = """Housing Discrimination Intake Form|Contractors Complaint|Working Beyond Hours|
Undefined Noise Disturbance|Automotive Noise Disturbance|Animal Noise Disturbances|
Dumpster & Loading Noise Disturbances|
Public Events Noise Disturbances|Aircraft Noise Disturbance|Work Hours-Loud Noise Complaints|Illegal Rooming House|
Overcrowding|Student Overcrowding|Billing Complaint|Scanning Overcharge|Private Parking Lot Complaints|
Valet Parking Problems|Space Savers|Contractor Complaints|No-Tow Complaint Confirmation|Short Measure - Gas"""
_OTHER_TYPES = """Street Light Outages|Pothole Repair (Internal)|Schedule a Bulk Item Pickup SS|CE Collection|
Sign Repair|
Graffiti Removal|Tree Maintenance Requests|Empty Litter Basket|Request for Recycling Cart|Abandoned Vehicles|
Animal Generic Request|Sticker Request|Traffic Signal Inspection|Pick up Dead Animal|Rodent Activity|Ground Maintenance|
Equipment Repair|Sidewalk Repair|Missing Sign|New Sign  Crosswalk or Pavement Marking|New Tree Requests|Catchbasin|
Needle Pickup|Recycling Cart Return|Bed Bugs|Mice Infestation - Residential|Abandoned Bicycle|News Boxes|
Park Improvement Requests|Parking Meter Repairs|Empty Litter Basket|PWD Graffiti|Animal Found|Animal Lost|
Request for Litter Basket Installation|Pavement Marking Maintenance|Recycling Cart Inquiry|Trash on Vacant Lot|
Litter Basket Maintenance|Pigeon Infestation|Cemetery Maintenance Request|Planting|Roadway Repair|Tree in Park|
Install New Lighting|Upgrade Existing Lighting|General Lighting Request|Bicycle Issues|Idea Collection"""


def _types(spec: str) -> set[str]:
    return {t.strip() for t in spec.replace("\n", "").split("|")}


BOSTON_TYPES: dict[str, str] = {
    **{t: "other" for t in _types(_OTHER_TYPES)},
    **{t: "safety" for t in _types(_SAFETY_TYPES)},
    **{t: "contradiction" for t in _types(_CONTRADICTION_TYPES)},
}
_NOTIFY_SAFETY = re.compile(r"fire|gas|collapse|electrical|water main break|sewer overflow|hazmat|rescue", re.I)


@dataclass(frozen=True, slots=True)
class Row:
    text: str
    label: str
    lang: str  # zh | en
    source: str  # hand | boston311
    group: str  # for grouped cross-validation: the Boston TYPE, or the row's own index


def boston_label(type_: str, title: str) -> str | None:
    """The weak label of a Boston case: by TYPE, a Notification by its title; None when unmapped."""
    if type_ == "Notification":
        return "safety" if _NOTIFY_SAFETY.search(title) else None
    return BOSTON_TYPES.get(type_)


def _boston_text(reason: str, type_: str, title: str) -> str:
    parts: list[str] = []
    for value in (reason.strip(), type_.strip(), title.strip()):
        if value and value not in parts:
            parts.append(value)
    return " / ".join(parts)


def build_boston_weak(src: str | Path, dest: str | Path, per_type: int = 12, seed: int = 0) -> int:
    """Write the weak-labelled Boston sample (distinct texts, ``per_type`` at most); returns its size."""
    by_type: dict[str, set[str]] = {}
    labels: dict[str, str] = {}
    with gzip.open(src, "rt", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            type_, title = row["TYPE"].strip(), row["CASE_TITLE"].strip()
            label = boston_label(type_, title)
            if label is None or "printed" in title.lower():
                continue
            by_type.setdefault(type_, set()).add(_boston_text(row["REASON"], type_, title))
            labels[type_] = label
    rng = random.Random(seed)
    out: list[tuple[str, str, str]] = []
    for type_ in sorted(by_type):
        texts = sorted(by_type[type_])
        rng.shuffle(texts)
        out += [(labels[type_], type_, t) for t in sorted(texts[:per_type])]
    with gzip.open(dest, "wt", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["label", "type", "text"])
        writer.writerows(out)
    return len(out)


def _hand(lang: str) -> Iterable[Row]:
    data = yaml.safe_load((DATA / f"corpus_{lang}.yaml").read_text(encoding="utf-8"))
    for label in LABELS:
        for i, text in enumerate(data[label]):
            yield Row(text, label, lang, "hand", f"{lang}-{label}-{i}")


def load_corpus(boston: bool = True) -> list[Row]:
    """Every labelled row: hand-written zh and en, then (optionally) the Boston weak labels."""
    rows = [*_hand("zh"), *_hand("en")]
    path = DATA / "boston311_weak.csv.gz"
    if boston and path.exists():
        with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
            rows += [Row(r["text"], r["label"], "en", "boston311", f"boston:{r['type']}") for r in csv.DictReader(fh)]
    return rows


if __name__ == "__main__":  # pragma: no cover
    n = build_boston_weak(sys.argv[1], DATA / "boston311_weak.csv.gz")
    print(f"wrote {n} rows to {DATA / 'boston311_weak.csv.gz'}")
