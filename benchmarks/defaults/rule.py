"""The one rule that picks the ``anomaly`` defaults, the same on every data set, and its cross-validation.

Among candidate settings, keep those whose false alert episodes per series-day are within the budget ``B``
on every data set; of those, choose the one with the highest worst-case (over data sets) recall of labelled
anomalies; ties go to fewer false alerts (the lower worst-case false rate), then to the name. When no
candidate within ``B`` everywhere catches anything on every data set, ``B`` is raised to the least budget at
which one does, and the budget actually used is reported.

>>> t = {"a": {"x": Figures(8, 10, 1, 10.0), "y": Figures(5, 10, 0, 5.0)},
...      "b": {"x": Figures(9, 10, 9, 10.0), "y": Figures(9, 10, 0, 5.0)},
...      "c": {"x": Figures(6, 10, 0, 10.0), "y": Figures(6, 10, 0, 5.0)}}
>>> choose(t, budget=0.5).candidate  # b raises 0.9 false a day on x: out; c's worst recall 0.6 beats a's 0.5
'c'
>>> choose(t, budget=1.0).candidate
'b'
>>> choose({"quiet": {"x": Figures(0, 10, 0, 10.0)}, "loud": {"x": Figures(5, 10, 3, 10.0)}}, 0.1)
Choice(candidate='loud', budget=0.3, feasible=2)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

DAY = 86400.0


@dataclass(frozen=True)
class Figures:
    """What the rule looks at on one data set (or part of one)."""

    caught: int
    windows: int
    false: int
    normal_days: float  # normal series-days

    @property
    def recall(self) -> float:
        return self.caught / self.windows if self.windows else 0.0

    @property
    def false_per_day(self) -> float:
        if self.normal_days > 0:
            return self.false / self.normal_days
        return float("inf") if self.false else 0.0

    def __add__(self, other: Figures) -> Figures:
        return Figures(self.caught + other.caught, self.windows + other.windows, self.false + other.false,
                       self.normal_days + other.normal_days)


ZERO = Figures(0, 0, 0, 0.0)
Table = Mapping[str, Mapping[str, Figures]]  # candidate -> data set -> figures


@dataclass(frozen=True)
class Choice:
    candidate: str | None
    budget: float  # the budget that admitted it (the stated one, or the least that admits a useful candidate)
    feasible: int  # candidates within that budget on every data set


def key(row: Mapping[str, Figures]) -> tuple[float, float, float]:
    """Sort key, best first: the highest worst-case recall, then the fewest false alerts (the lowest
    worst-case false rate, then the lowest sum of the false rates)."""
    rates = [f.false_per_day for f in row.values()]
    return (-min(f.recall for f in row.values()), max(rates), sum(rates))


def ranking(table: Table, budget: float) -> list[str]:
    """The candidates within ``budget`` on every data set, best first."""
    ok = [c for c, row in table.items() if all(f.false_per_day <= budget for f in row.values())]
    return sorted(ok, key=lambda c: (*key(table[c]), c))


def choose(table: Table, budget: float) -> Choice:
    """The rule (module doc); ``Choice(None, ...)`` only when no candidate catches anything on every data set.

    A setting that catches nothing on some data set is no default: when the best within the budget has a
    worst-case recall of 0, the budget is raised to the least that admits a candidate catching something on
    every data set (the lowest worst-case false rate among those), and the one used is reported."""
    ok = ranking(table, budget)
    if ok and min(f.recall for f in table[ok[0]].values()) > 0:
        return Choice(ok[0], budget, len(ok))
    useful = [max(f.false_per_day for f in row.values()) for row in table.values()
              if row and min(f.recall for f in row.values()) > 0]
    if not useful:
        return Choice(None, budget, 0)
    raised = min(useful)
    ok = ranking(table, raised)
    return Choice(ok[0], raised, len(ok))


def leave_one_out(table: Table, budget: float) -> dict[str, tuple[Choice, Figures]]:
    """Per data set: the rule applied to the other data sets, and the chosen candidate's figures on it.

    >>> t = {"a": {"x": Figures(9, 10, 0, 1.0), "y": Figures(1, 10, 0, 1.0)},
    ...      "b": {"x": Figures(5, 10, 0, 1.0), "y": Figures(5, 10, 0, 1.0)}}
    >>> {d: (c.candidate, f.recall) for d, (c, f) in leave_one_out(t, 1.0).items()}
    {'x': ('b', 0.5), 'y': ('a', 0.1)}
    """
    names = sorted({d for row in table.values() for d in row})
    out = {}
    for held in names:
        train = {c: {d: f for d, f in row.items() if d != held} for c, row in table.items()}
        ch = choose(train, budget)
        out[held] = (ch, table[ch.candidate][held] if ch.candidate else ZERO)
    return out


UnitRows = Mapping[str, Mapping[str, Sequence[tuple[str, Figures]]]]  # candidate -> data set -> [(fold, unit)]


def pooled(rows: Sequence[tuple[str, Figures]], keep: Callable[[str], bool] = lambda fold: True) -> Figures:
    """The sum of the units whose fold passes ``keep``."""
    total = ZERO
    for fold, f in rows:
        if keep(fold):
            total = total + f
    return total


def within_folds(units: UnitRows, budget: float) -> dict[str, tuple[list[tuple[str, Choice]], Figures]]:
    """Per data set: for each of its folds, the rule applied to its other folds plus the other data sets in
    full, the chosen candidate scored on the held-out fold; the held-out figures pooled over its folds.

    >>> u = {"a": {"x": [("x0", Figures(1, 1, 0, 1.0)), ("x1", Figures(0, 1, 0, 1.0))]},
    ...      "b": {"x": [("x0", Figures(0, 1, 0, 1.0)), ("x1", Figures(1, 1, 0, 1.0))]}}
    >>> chosen, f = within_folds(u, 1.0)["x"]
    >>> [(fold, c.candidate) for fold, c in chosen], f.caught, f.windows
    ([('x0', 'b'), ('x1', 'a')], 0, 2)
    """
    names = sorted({d for row in units.values() for d in row})
    out = {}
    for held in names:
        folds = sorted({fold for row in units.values() for fold, _ in row.get(held, ())})
        chosen, total = [], ZERO
        for fold in folds:
            train = {c: {d: pooled(rows, (lambda f, fold=fold: f != fold) if d == held else (lambda f: True))
                         for d, rows in row.items()} for c, row in units.items()}
            ch = choose(train, budget)
            chosen.append((fold, ch))
            if ch.candidate:
                total = total + pooled(units[ch.candidate][held], lambda f, fold=fold: f == fold)
        out[held] = (chosen, total)
    return out
