"""Service-level figures of a unit from what the alerting layer raised: caught windows, false episodes, clearing.

The input is what :class:`fenghuo.detectors.timebase.ScoreLevels` (inside the ``anomaly`` detector) emitted
for each series of a unit: the level changes ``(ts, level)``. An *alert* is a level at or above the counting
level (yellow: the first level that needs ``confirm`` readings in a row, so a single glitch never counts;
blue is the unconfirmed "look here" level). An *episode* runs from the raise to the change below that level.

- a labelled window ``[a, b]`` is *caught* when an episode of any series of the unit is raised inside it
  (an alert already up at ``a`` does not catch it: it was raised for something else); its *delay* is the
  first raise minus ``a``; its *lead* is ``b`` minus that raise (Gloria: before the red crossing);
- an episode raised in normal time (scored, outside every window and excluded span) is *false*; normal time
  is counted per series, so the rate is false episodes per series-day;
- time up: the share of window time with any series in alert, and of normal series-time in alert;
- clearing: after each window's *settle* time (the end of the anomaly), how long until no series of the unit
  is in alert (0 when none is); never cleared before the series ends counts as not cleared.

>>> ev = evaluate_unit(windows=[(100.0, 200.0)], scored_from=0.0, ends=[1000.0],
...                    traces=[[(150.0, 2), (260.0, 0), (600.0, 2), (650.0, 0)]])
>>> ev.caught, ev.delays_s, ev.false, ev.normal_s, ev.clear_s
(1, [50.0], 1, 900.0, [60.0])
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

Span = tuple[float, float]
Change = tuple[float, int]  # (ts, new level), 0 = cleared
INF = float("inf")


def episodes(changes: Sequence[Change], at_least: int = 2) -> list[tuple[float, float]]:
    """``(raised, ended)`` spans with the level at or above ``at_least``; ``ended`` is inf when never ended.

    >>> episodes([(1.0, 1), (2.0, 2), (3.0, 3), (4.0, 1), (5.0, 2), (6.0, 0), (7.0, 4)])
    [(2.0, 4.0), (5.0, 6.0), (7.0, inf)]
    """
    out: list[tuple[float, float]] = []
    start: float | None = None
    for ts, level in changes:
        if level >= at_least and start is None:
            start = ts
        elif level < at_least and start is not None:
            out.append((start, ts))
            start = None
    if start is not None:
        out.append((start, INF))
    return out


def merge(spans: Sequence[Span]) -> list[Span]:
    """Overlapping or touching spans merged, sorted.

    >>> merge([(5.0, 9.0), (0.0, 2.0), (2.0, 3.0), (8.0, 12.0)])
    [(0.0, 3.0), (5.0, 12.0)]
    """
    out: list[Span] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def inside(t: float, spans: Sequence[Span]) -> bool:
    """``t`` in one of the merged, sorted ``spans`` (ends included).

    >>> inside(3.0, [(0.0, 3.0)]), inside(3.5, [(0.0, 3.0), (4.0, 5.0)])
    (True, False)
    """
    i = bisect.bisect_right(spans, (t, INF)) - 1
    return i >= 0 and spans[i][0] <= t <= spans[i][1]


def overlap(a: float, b: float, spans: Sequence[Span]) -> float:
    """Length of ``[a, b]`` covered by the merged ``spans``.

    >>> overlap(0.0, 10.0, [(2.0, 4.0), (8.0, 20.0)])
    4.0
    """
    return sum(max(0.0, min(b, hi) - max(a, lo)) for lo, hi in spans if hi > a and lo < b)


def complement(a: float, b: float, spans: Sequence[Span]) -> list[Span]:
    """``[a, b]`` minus the merged ``spans``.

    >>> complement(0.0, 10.0, [(2.0, 4.0), (8.0, 20.0)])
    [(0.0, 2.0), (4.0, 8.0)]
    """
    out, cur = [], a
    for lo, hi in spans:
        if hi <= cur or lo >= b:
            continue
        if lo > cur:
            out.append((cur, lo))
        cur = max(cur, hi)
    if cur < b:
        out.append((cur, b))
    return out


@dataclass
class UnitEval:
    """The service-level figures of one unit under one setting (summed over its series)."""

    windows: int = 0
    caught: int = 0
    up_at_onset: int = 0  # windows with an alert already up at their start
    delays_s: list[float] = field(default_factory=list)  # per caught window: first raise - window start
    leads_s: list[float] = field(default_factory=list)  # per caught window: window end - first raise
    window_s: float = 0.0
    window_up_s: float = 0.0  # window time with any series in alert
    false: int = 0
    false_durations_s: list[float] = field(default_factory=list)
    normal_s: float = 0.0  # normal series-time (summed over series)
    normal_up_s: float = 0.0  # normal series-time in alert
    clear_s: list[float] = field(default_factory=list)  # per window: settle -> no series in alert (inf: never)


def evaluate_unit(windows: Sequence[Span], scored_from: float, ends: Sequence[float],
                  traces: Sequence[Sequence[Change]], excluded: Sequence[Span] = (),
                  settle: Sequence[float] | None = None, at_least: int = 2) -> UnitEval:
    """The figures of one unit: its labelled ``windows``, its series' last reading times ``ends`` and their
    level changes ``traces`` (one per series); ``settle`` per window (default: the window's end)."""
    wins = merge([w for w in windows if w[1] >= scored_from])
    excl = merge(excluded)
    settles = list(settle) if settle is not None else [b for _, b in windows]
    settles = [s for s, w in zip(settles, windows, strict=True) if w[1] >= scored_from]
    not_normal = merge([*wins, *excl])
    ev = UnitEval(windows=len(wins))
    per_series = [episodes(ch, at_least) for ch in traces]
    unit_end = max(ends) if ends else scored_from
    for eps, end in zip(per_series, ends, strict=True):
        normal = complement(scored_from, end, not_normal)
        ev.normal_s += sum(b - a for a, b in normal)
        for a, b in eps:
            b_cut = min(b, end)
            ev.normal_up_s += overlap(a, b_cut, normal)
            if a >= scored_from and not inside(a, not_normal):
                ev.false += 1
                ev.false_durations_s.append(b - a)
    union = merge([(a, min(b, unit_end)) for eps in per_series for a, b in eps])
    for (a, b), s in zip(wins, settles, strict=True):
        lo = max(a, scored_from)
        ev.window_s += b - lo
        ev.window_up_s += overlap(lo, b, union)
        raises = [ra for eps in per_series for ra, _ in eps if lo <= ra <= b]
        if raises:
            first = min(raises)
            ev.caught += 1
            ev.delays_s.append(first - a)
            ev.leads_s.append(b - first)
        if any(ra < lo <= rb for eps in per_series for ra, rb in eps):
            ev.up_at_onset += 1
        up_until = max((rb for eps in per_series for ra, rb in eps if ra <= s < rb), default=s)
        ev.clear_s.append(up_until - s if up_until <= unit_end else INF)
    return ev
