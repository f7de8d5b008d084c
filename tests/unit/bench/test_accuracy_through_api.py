"""The building blocks of `python -m bench.accuracy --through-api` (the bench itself runs minutes on
the local stack and is not part of the suite): the ERP-style monthly CSV, the month arithmetic, and
that a SKU is scored the same whether its forecast came over HTTP or from the engine."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from bench.accuracy import bare
from bench.accuracy import through_api as t
from bench.accuracy.scoring import mase, smape
from skucast.forecasting.engine import SeriesInput, SkuForecast
from skucast.forecasting.metrics import MetricSums

rng = np.random.default_rng(3)
SERIES = [
    t.Series("M1 MRF1 monthly", np.array([10.0, 12.5, 0.0, 7.0, 1e-3 + 1 / 3]), np.array([11.0, 9.0, 4.0])),
    t.Series("Tourism M42", rng.uniform(50, 500, 30), rng.uniform(50, 500, 3)),
    t.Series("short one", np.array([3.0, 4.0]), np.array([5.0, 5.0, 5.0])),
]


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_add_months_crosses_years_both_ways() -> None:
    assert t.add_months(dt.date(2025, 12, 1), 1) == dt.date(2026, 1, 1)
    assert t.add_months(dt.date(2025, 1, 1), -1) == dt.date(2024, 12, 1)
    assert t.add_months(dt.date(2025, 12, 1), -308) == dt.date(2000, 4, 1)
    assert t.first_month(14) == dt.date(2024, 11, 1)
    assert t.forecast_months(3) == ["2026-01-01", "2026-02-01", "2026-03-01"]


@pytest.mark.parametrize("last", [t.LAST_TRAIN_MONTH, dt.date(2024, 2, 1)])
def test_csv_is_monthly_on_the_first_with_every_series_ending_in_the_same_month(tmp_path: Path, last: dt.date) -> None:
    path = tmp_path / "demand.csv"
    rows = t.write_demand_csv(path, SERIES, last)

    assert path.read_text(encoding="utf-8").splitlines()[0] == "sku,date,quantity"
    read = _read(path)
    assert rows == len(read) == sum(s.x.size for s in SERIES)
    for s in SERIES:
        mine = [r for r in read if r["sku"] == s.sku]  # the name, space and all, as written
        dates = [dt.date.fromisoformat(r["date"]) for r in mine]
        assert all(d.day == 1 for d in dates)
        assert dates[-1] == last  # aligned ends: the common origin of the run
        assert dates == [t.add_months(dates[0], i) for i in range(s.x.size)]  # consecutive months, no gap
        assert [float(r["quantity"]) for r in mine] == s.x.tolist()  # exact round trip


def test_quantities_look_like_an_erp_export_and_round_trip() -> None:
    assert t.quantity_text(12.0) == "12"
    assert t.quantity_text(0.0) == "0"
    assert float(t.quantity_text(1e-3 + 1 / 3)) == 1e-3 + 1 / 3


def test_monthly_series_are_every_period_12_series_with_real_looking_names() -> None:
    m1 = t.load_monthly(t.DATASETS[0])
    assert len(m1) == 617
    assert m1[0].sku == "M1 MRF1 monthly"
    assert all(s.xx.size == 18 for s in m1)
    assert len({s.sku for s in m1}) == len(m1)
    assert [s.sku for s in t.load_monthly(t.DATASETS[0], 25)] == [s.sku for s in m1[::25]]


def _means(h: int) -> dict[str, np.ndarray]:
    """A fixed, different forecast per SKU."""
    return {s.sku: np.linspace(5.0, 400.0, h) * (i + 1) / 3 for i, s in enumerate(SERIES)}


def _api_item(sku: str, means: np.ndarray, dates: list[str], method: str = "ensemble") -> dict:
    # lo/hi differ from the mean: the score must read the mean
    rows = [
        {"date": d, "mean": float(m), "lo_80": float(m) - 9, "hi_80": float(m) + 9}
        for d, m in zip(dates, means, strict=False)
    ]
    return {"sku": sku, "demand_class": "smooth", "method": method, "forecast": rows, "metrics": {}, "error": None}


def _engine_item(item: dict) -> SkuForecast:
    return SkuForecast(item["sku"], "smooth", item["method"], item["forecast"], {}, MetricSums(), {}, "", item["error"])


def test_api_results_and_engine_forecasts_are_scored_identically_with_the_bench_scores() -> None:
    h = 3
    dates = t.forecast_months(h)
    means = _means(h)
    api = [_api_item(s.sku, means[s.sku], dates) for s in reversed(SERIES)]  # order does not matter

    by_api = t.score_results(SERIES, api, h)
    by_engine = t.score_engine(SERIES, [_engine_item(i) for i in api], h)

    expected = {s.sku: (mase(s.x, s.xx, means[s.sku], 12), smape(s.xx, means[s.sku])) for s in SERIES}
    assert by_api.scores == by_engine.scores == expected
    assert by_api.summary() == by_engine.summary()
    assert by_api.summary()["mase"] == pytest.approx(np.mean([v[0] for v in expected.values()]))
    c = t.compare(by_api, by_engine)
    assert c["rel_diff"] == {"mase": 0.0, "smape": 0.0}
    assert c["within_target"] and c["same_forecast"] == c["same_method"] == c["n"] == len(SERIES)


def test_compare_reports_the_relative_difference_and_the_differing_skus() -> None:
    h = 3
    dates = t.forecast_months(h)
    means = _means(h)
    api = t.score_results(SERIES, [_api_item(s.sku, means[s.sku], dates) for s in SERIES], h)
    moved = dict(means, **{"Tourism M42": means["Tourism M42"] * 3})
    engine = t.score_engine(SERIES, [_engine_item(_api_item(s.sku, moved[s.sku], dates, "ets")) for s in SERIES], h)

    c = t.compare(api, engine)
    a, e = api.summary()["mase"], engine.summary()["mase"]
    assert c["rel_diff"]["mase"] == pytest.approx(abs(a - e) / e)
    assert c["rel_diff"]["mase"] > t.TARGET_REL_DIFF and not c["within_target"]
    assert c["differing_skus"] == ["Tourism M42"]
    assert c["same_forecast"] == 2 and c["same_method"] == 0


def test_a_forecast_at_other_dates_or_with_an_error_is_a_failed_sku_not_a_score() -> None:
    h = 3
    good = t.forecast_months(h)
    shifted = t.forecast_months(h, t.add_months(t.LAST_TRAIN_MONTH, 1))  # one month late
    x = np.ones(h)
    items = [
        _api_item(SERIES[0].sku, x, shifted),
        _api_item(SERIES[1].sku, x, good[:-1]),  # a period short
        _api_item(SERIES[2].sku, x, good) | {"forecast": [], "error": {"code": "forecast_failed", "message": "x"}},
    ]
    scored = t.score_results(SERIES, items, h)
    assert not scored.scores
    assert scored.failed[SERIES[0].sku].startswith("wrong_dates")
    assert scored.failed[SERIES[1].sku].startswith("wrong_dates")
    assert scored.failed[SERIES[2].sku] == "forecast_failed: x"
    assert t.score_results(SERIES, items[:1], h).failed[SERIES[2].sku].startswith("no_result")


def test_catalog_check_wants_every_sku_and_a_monthly_grain_when_reported() -> None:
    listed = [{"sku": s.sku} for s in SERIES]
    assert t.catalog_check(listed, SERIES)["ok"]  # before the API reports a grain
    assert t.catalog_check([i | {"granularity": "M"} for i in listed], SERIES)["ok"]
    assert not t.catalog_check([i | {"granularity": "D"} for i in listed], SERIES)["ok"]
    missing = t.catalog_check(listed[1:], SERIES)
    assert not missing["ok"] and missing["missing"] == [SERIES[0].sku]


def test_engine_inputs_are_monthly_values_from_the_first_month() -> None:
    if "granularity" not in {f.name for f in dataclasses.fields(SeriesInput)}:
        with pytest.raises(t.GrainMissing, match="granularity"):
            t.engine_inputs(SERIES)
        return
    inputs = t.engine_inputs(SERIES)
    assert [i.sku for i in inputs] == [s.sku for s in SERIES]
    for i, s in zip(inputs, SERIES, strict=True):
        assert i.granularity == "M"
        assert i.start == t.first_month(s.x.size)
        assert np.array_equal(i.values, s.x)


# ---------------------------------------------------------------- coverage, bare models, the verdict
def _banded(sku: str, means: np.ndarray, dates: list[str], demand_class: str, width: float) -> dict:
    """An API result whose bands are mean +- width (80) and +- 2 width (95)."""
    rows = [
        {
            "date": d,
            "mean": float(m),
            "lo_80": m - width,
            "hi_80": m + width,
            "lo_95": m - 2 * width,
            "hi_95": m + 2 * width,
        }
        for d, m in zip(dates, means, strict=True)
    ]
    return {"sku": sku, "demand_class": demand_class, "method": "ets", "forecast": rows, "error": None}


def test_coverage_is_the_share_of_test_points_inside_each_band_overall_and_per_class() -> None:
    h = 3
    dates = t.forecast_months(h)
    a, b, c = SERIES
    items = [
        _banded(a.sku, a.xx, dates, "smooth", 1.0),  # exact: every point inside both
        _banded(b.sku, b.xx + 1.5, dates, "smooth", 1.0),  # 1.5 off: outside 80, inside 95
        _banded(c.sku, c.xx + 10, dates, "intermittent", 1.0),  # outside both
    ]
    scored = t.score_results(SERIES, items, h)

    assert scored.covered == {a.sku: {80: 3, 95: 3}, b.sku: {80: 0, 95: 3}, c.sku: {80: 0, 95: 0}}
    assert scored.summary()["coverage"] == {80: pytest.approx(3 / 9), 95: pytest.approx(6 / 9)}
    classes = scored.by_class()
    assert set(classes) == {"smooth", "intermittent"}
    assert classes["smooth"]["n"] == 2 and classes["smooth"]["coverage"] == {80: 0.5, 95: 1.0}
    assert classes["intermittent"]["coverage"] == {80: 0.0, 95: 0.0}
    assert classes["smooth"]["mase"] == pytest.approx(np.mean([scored.scores[a.sku][0], scored.scores[b.sku][0]]))


def test_rows_without_a_level_give_no_coverage_for_it() -> None:
    h = 3
    scored = t.score_results(SERIES, [_api_item(s.sku, np.ones(h), t.forecast_months(h)) for s in SERIES], h)
    assert scored.summary()["coverage"] == {
        80: pytest.approx(sum(scored.covered[s.sku][80] for s in SERIES) / 9),
        95: None,
    }


def _policy(scores: dict[str, tuple[float, float]], cpu: float | None = 1.0, failed: int = 0) -> t.Policy:
    scored = t.Scored(scores=scores, classes=dict.fromkeys(scores, "smooth"))
    return t.Policy(scored, cpu, failed, len(scores))


def test_auto_beats_the_bare_models_only_when_lower_in_both_means_on_the_same_skus() -> None:
    auto = _policy({"x": (1.0, 10.0), "y": (1.0, 10.0)})
    policies = {
        t.AUTO_API: auto,
        t.AUTO_ENGINE: auto,
        "AutoETS": _policy({"x": (2.0, 20.0), "y": (2.0, 20.0)}),
        "Theta": _policy({"x": (0.5, 11.0), "y": (1.0, 11.0)}),  # better MASE, worse sMAPE
    }
    v = t.verdict(policies)
    assert v is not None and v["n"] == 2 and not v["beats_all"]
    assert v["models"]["AutoETS"]["auto_better_mase"] and v["models"]["AutoETS"]["auto_better_smape"]
    assert not v["models"]["Theta"]["auto_better_mase"] and v["models"]["Theta"]["auto_better_smape"]
    assert t.verdict({k: p for k, p in policies.items() if k != "Theta"})["beats_all"]  # type: ignore[index]
    assert t.verdict({t.AUTO_API: auto}) is None


def test_pooled_policies_cover_every_series_of_every_data_set_with_summed_cost() -> None:
    m1 = {t.AUTO_API: _policy({"m1 a": (1.0, 10.0)}, 2.0), "Theta": _policy({"m1 a": (3.0, 30.0)}, 1.0, 1)}
    tourism = {t.AUTO_API: _policy({"t a": (2.0, 20.0), "t b": (3.0, 30.0)}, 4.0)}  # no Theta: not pooled
    tourism["Theta"] = _policy({"t a": (1.0, 1.0), "t b": (1.0, 1.0)}, 5.0)
    res = t.pooled([m1, tourism])

    assert res["n"] == 3
    auto = res["policies"][t.AUTO_API]
    assert auto["mase"] == pytest.approx(2.0) and auto["smape"] == pytest.approx(20.0)
    assert auto["cpu_s"] == 6.0 and auto["cpu_s_per_series"] == pytest.approx(2.0)
    assert res["policies"]["Theta"]["failed"] == 1 and res["policies"]["Theta"]["mase"] == pytest.approx(5 / 3)
    assert res["verdict"]["models"]["Theta"] == {
        "mase": pytest.approx(5 / 3),
        "smape": pytest.approx(32 / 3),
        "auto_better_mase": False,
        "auto_better_smape": False,
    }
    assert res["api_by_class"]["smooth"]["n"] == 3


def test_bare_forecasts_are_scored_as_autos_and_fallbacks_named() -> None:
    h = 3
    run = bare.BareRun("AutoETS")
    for i, s in enumerate(SERIES):
        mean = np.full(h, float(i + 1))
        run.forecasts[s.sku] = bare.Forecast(mean, {80: (mean - 1, mean + 1), 95: (mean - 2, mean + 2)})
    run.fallbacks[SERIES[2].sku] = "ValueError: x"

    scored = t.score_bare(SERIES, run)

    for i, s in enumerate(SERIES):
        mean = np.full(h, float(i + 1))
        assert scored.scores[s.sku] == (mase(s.x, s.xx, mean, 12), smape(s.xx, mean))
    assert scored.methods == {SERIES[0].sku: "AutoETS", SERIES[1].sku: "AutoETS", SERIES[2].sku: t.FALLBACK}
    assert set(scored.covered[SERIES[0].sku]) == {80, 95}


def test_bare_option_takes_a_comma_list_all_or_none_in_report_order() -> None:
    assert t.bare_option("none") == ()
    assert t.bare_option("all") == bare.BARE_MODELS
    assert t.bare_option("theta, autoets") == ("AutoETS", "Theta")
    with pytest.raises(argparse.ArgumentTypeError, match="prophet"):
        t.bare_option("AutoETS,Prophet")


def test_the_report_has_a_policy_table_per_data_set_the_pool_and_auto_per_class() -> None:
    policies = {t.AUTO_API: _policy({"x": (1.0, 10.0)}), "AutoETS": _policy({"x": (2.0, 20.0)}, 3.0, 1)}
    policies[t.AUTO_API].scored.covered["x"] = {80: 13, 95: 19}
    policies[t.AUTO_API].scored.points["x"] = 20
    block = {"n": 1, "horizon": 6, "api_wall_s": 1.0, "timings": {}, "checks": {}} | t._policy_summaries(policies)
    block["bare"] = {"AutoETS": {"wall_s": 3.0, "fallbacks": {"x": "ValueError: y"}, "per_sku": {}}}
    res = {"quick": True, "seconds": 5.0, "last_train_month": "2025-12-01", "bare_models": ["AutoETS"]}
    md = t.markdown(res | {"datasets": {"M1": block}, "pooled": t.pooled([policies])})

    assert "| AutoETS | 2.000 | 20.00 | - | - | 3.0000 | 0.3 | 1 | ✓ / ✓ |" in md
    assert "| auto (through API) | 1.000 | 10.00 | **65.0 %** | 95.0 % | 1.0000 | 1.0 | 0 |  |" in md  # 80: > 3 off
    assert md.count("auto beats every bare model in mean MASE and mean sMAPE: ✓** (on 1 SKUs)") == 2
    assert "| M1 | smooth | 1 | 1.000 | 10.00 | **65.0 %** | 95.0 % |" in md
    assert "AutoETS failed on 1 series (naive used), e.g. x: ValueError: y" in md
