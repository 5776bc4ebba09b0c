"""The trained forecast: probabilities, explanations, roll-up, too little history, the API body, the model's bytes."""

from __future__ import annotations

import numpy as np
import pytest

from fenghuo.detectors.risk import Forecast, RiskForecastParams, RiskModel, forecast, rollup, train
from tests.unit.detectors.risk import synth

P = RiskForecastParams(groups={})  # the group "all" only
HOT_DAYS = 150


@pytest.fixture(scope="module")
def hot() -> tuple[list, RiskModel, float]:
    """Grids with 14-day hot spells (a busy week foretells a busy next week); a model trained on them."""
    cases = synth.log(HOT_DAYS, np.full(10, 6.0), seed=3, hot=3.0)
    until = synth.T0 + (HOT_DAYS - 7) * synth.DAY
    model = train(cases, [], synth.tree(), P, until, "UTC", kind="logistic")
    assert model is not None
    return cases, model, until


def test_roll_up_is_the_chance_that_any_grid_has_the_event(hot: tuple[list, RiskModel, float]) -> None:
    cases, model, until = hot
    fc = forecast(model, cases, [], synth.tree(), P, until, 7, "UTC")
    grids = {r.node: r.probability for r in fc.rows if r.kind == "grid"}
    c1 = next(r for r in fc.rows if r.node == "C1")
    assert c1.probability == pytest.approx(1 - np.prod([1 - grids[f"G{i}"] for i in range(5)]))
    district = next(r for r in fc.rows if r.node == "D")
    assert district.probability == pytest.approx(rollup(list(grids.values())))
    assert district.recent == sum(r.recent for r in fc.rows if r.kind == "grid")
    assert [r.probability for r in fc.rows] == sorted((r.probability for r in fc.rows), reverse=True)
    assert rollup([0.5, 0.5]) == pytest.approx(0.75)


def test_a_grid_with_many_more_recent_complaints_is_riskier_because_of_them(
        hot: tuple[list, RiskModel, float]) -> None:
    cases, model, until = hot
    start = until - 7 * synth.DAY
    extra = [synth.Case(start + 3000 * i, "G4", "noise", start + 3000 * i + 2 * synth.DAY, None, None, False)
             for i in range(200)]  # 200 more than its usual 42 in the last week, closed as fast as the others
    fc = forecast(model, sorted(cases[:] + extra, key=lambda c: c.ts), [], synth.tree(), P, until, 7, "UTC")
    plain = forecast(model, cases, [], synth.tree(), P, until, 7, "UTC")
    g4 = next(r for r in fc.rows if r.node == "G4")
    before = next(r for r in plain.rows if r.node == "G4")
    assert g4.probability > before.probability
    assert g4.probability > max(r.probability for r in fc.rows if r.kind == "grid" and r.node != "G4")
    factors = {f.name: f for f in g4.factors}
    assert factors["recent_count"].contribution > 0 and factors["recent_count"].value == g4.recent
    assert all(f.unit == "log-odds" and f.label_zh and f.label_en for f in g4.factors)


def test_a_model_that_cannot_tell_gives_about_the_base_rate() -> None:
    cases = synth.log(150, np.full(10, 6.0), seed=4)  # pure noise: nothing foretells next week
    until = synth.T0 + 143 * synth.DAY
    for kind in ("logistic", "boosting"):
        model = train(cases, [], synth.tree(), P, until, "UTC", kind=kind)
        assert model is not None
        fc = forecast(model, cases, [], synth.tree(), P, until, 7, "UTC")
        ps = np.array([r.probability for r in fc.grid_rows()])
        assert abs(ps.mean() - model.base_rate) < 0.07, kind
        assert ps.max() - ps.min() < 0.25, kind


def test_too_little_history_gives_the_reason_and_no_rows() -> None:
    cases = synth.log(10, np.full(10, 6.0))
    at = synth.T0 + 10 * synth.DAY
    assert train(cases, [], synth.tree(), P, at, "UTC") is None
    fc = forecast(None, cases, [], synth.tree(), P, at, 7, "UTC")
    assert fc.rows == [] and fc.reason is not None and "28" in fc.reason
    body = fc.to_json(watch_level=0.5)
    assert body["rows"] == [] and body["reason"] == fc.reason and body["model_version"] is None


def test_the_api_body_has_the_contract_shape(hot: tuple[list, RiskModel, float]) -> None:
    cases, model, until = hot
    body = forecast(model, cases, [], synth.tree(), P, until, 14, "UTC").to_json(watch_level=0.5)
    assert set(body) == {"made_at", "horizon_days", "model_version", "window", "reason", "drill", "watch_level",
                         "rows"}
    assert body["made_at"].endswith("Z") and body["horizon_days"] == 14 and body["reason"] is None
    assert body["model_version"].startswith("risk-logistic-1:") and set(body["window"]) == {"from", "to"}
    row = body["rows"][0]
    assert list(row) == ["node", "kind", "group", "probability", "expected", "recent", "watch", "factors"]
    assert all(set(f) == {"name", "label_zh", "label_en", "value", "contribution", "unit"} for f in row["factors"])
    assert len(row["factors"]) <= 5
    grids = [r for r in body["rows"] if r["kind"] == "grid"]
    assert len(grids) == 10 and all(r["watch"] == (r["probability"] >= 0.5) for r in grids)
    assert all(r["watch"] is False for r in body["rows"] if r["kind"] != "grid")


def test_a_model_survives_its_bytes(hot: tuple[list, RiskModel, float]) -> None:
    cases, model, until = hot
    back = RiskModel.from_bytes(model.to_bytes())
    assert (back.version, back.kind, back.window, back.groups) == (model.version, "logistic", model.window, ["all"])
    one: Forecast = forecast(model, cases, [], synth.tree(), P, until, 7, "UTC")
    two = forecast(back, cases, [], synth.tree(), P, until, 7, "UTC")
    assert one.to_json() == two.to_json()
    with pytest.raises(ValueError):
        RiskModel.from_bytes(__import__("pickle").dumps({"not": "a model"}))
