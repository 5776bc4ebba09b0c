"""Why a grid's risk is what it is: each feature's signed contribution, with Chinese and English labels.

Logistic model: the feature's term in the calibrated log-odds, ``platt slope x coef x standardised value`` (the
terms and the intercept add up to the logit of the probability; a feature at its training mean contributes 0).
Boosting: the probability drop when the feature is replaced by its training median, all else kept (positive:
this feature's value raises the risk), in probability points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fenghuo.detectors.risk.features import LABELS, NAMES

TOP = 5


@dataclass
class Factor:
    name: str  # machine name, e.g. "recent_count"
    label_zh: str
    label_en: str
    value: float  # the feature's plain value for this grid
    contribution: float  # signed, log-odds (linear terms) or probability (permutation); see unit
    unit: str  # "log-odds" | "probability"

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "label_zh": self.label_zh, "label_en": self.label_en,
                "value": round(float(self.value), 4), "contribution": round(float(self.contribution), 4),
                "unit": self.unit}


def contributions(model: object, X: np.ndarray, group_index: np.ndarray) -> tuple[np.ndarray, str]:
    """(rows, features) signed contributions and their unit, for a :class:`~.model.RiskModel`."""
    from fenghuo.detectors.risk.model import RiskModel

    assert isinstance(model, RiskModel)
    n_f = len(NAMES)
    if model.kind == "logistic":
        Z = model.design(X, group_index)
        coef = np.asarray(model.estimator.coef_[0], dtype=float)
        return model.platt[0] * coef[:n_f] * Z[:, :n_f], "log-odds"
    base = model.probability(X, group_index)
    out = np.zeros((len(X), n_f))
    stacked = np.repeat(X[None, :, :], n_f, axis=0)  # (features, rows, features)
    for j in range(n_f):
        stacked[j, :, j] = model.medians[j]
    p = model.probability(stacked.reshape(-1, n_f), np.tile(group_index, n_f)).reshape(n_f, len(X))
    out = (base[None, :] - p).T
    return out, "probability"


def top_factors(contrib: np.ndarray, shown: np.ndarray, unit: str, top: int = TOP) -> list[Factor]:
    """The ``top`` factors of one row by |contribution| (exact zeros left out)."""
    order = np.argsort(-np.abs(contrib), kind="stable")[:top]
    out = []
    for j in order:
        if contrib[j] == 0:
            continue
        zh, en = LABELS[NAMES[j]]
        out.append(Factor(NAMES[j], zh, en, float(shown[j]), float(contrib[j]), unit))
    return out
