"""The bare statsforecast models of `--through-api` (bench/accuracy/bare.py): per series they give
exactly what StatsForecast gives a planner, and a failing model falls back to naive, counted."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from bench.accuracy import bare

H = 6
rng = np.random.default_rng(18)
_season = 50 + 20 * np.sin(2 * np.pi * np.arange(60) / 12)
SHORT = {  # short monthly series: seasonal, trending, noisy
    "a": _season[:36] + rng.normal(0, 3, 36),
    "b": np.linspace(100, 160, 40) + _season[:40] + rng.normal(0, 5, 40),
    "c": rng.gamma(4.0, 25.0, 30),
}


def _statsforecast(name: str) -> dict[str, bare.Forecast]:
    """The planner's notebook: one StatsForecast call over all the series."""
    from statsforecast import StatsForecast

    df = pd.concat(
        pd.DataFrame({"unique_id": sku, "ds": pd.date_range("2020-01-01", periods=y.size, freq="MS"), "y": y})
        for sku, y in SHORT.items()
    )
    model = bare.make_model(name)
    out = StatsForecast(models=[model], freq="MS").forecast(df=df, h=H, level=[80, 95])
    col = repr(model)  # StatsForecast names columns by alias: AutoCES's is "CES"
    forecasts = {}
    for sku, rows in out.groupby("unique_id"):
        result = {"mean": rows[col].to_numpy()} | {
            f"{side}-{lv}": rows[f"{col}-{side}-{lv}"].to_numpy() for lv in (80, 95) for side in ("lo", "hi")
        }
        forecasts[str(sku)] = bare.forecast_of(result)
    return forecasts


@pytest.mark.parametrize("name", ["AutoETS", "Theta", "AutoCES"])
def test_per_series_forecasts_equal_statsforecasts(name: str) -> None:
    run = bare.run_model(name, list(SHORT.items()), H)
    expected = _statsforecast(name)

    assert not run.fallbacks and set(run.forecasts) == set(SHORT)
    for sku, f in run.forecasts.items():
        np.testing.assert_allclose(f.mean, expected[sku].mean, rtol=1e-9)
        for lv in bare.LEVELS:
            np.testing.assert_allclose(f.bands[lv][0], expected[sku].bands[lv][0], rtol=1e-9)
            np.testing.assert_allclose(f.bands[lv][1], expected[sku].bands[lv][1], rtol=1e-9)


def test_every_model_is_built_with_season_length_12_and_unknown_names_are_refused() -> None:
    for name in bare.BARE_MODELS:
        model = bare.make_model(name)
        assert type(model).__name__ == name
        assert model.season_length == 12
    with pytest.raises(ValueError, match="unknown bare model"):
        bare.make_model("Prophet")


class _Flaky:
    """Raises on short series, gives NaN on series starting below 10, else a flat forecast."""

    def forecast(self, y: np.ndarray, h: int, level: list[int]) -> dict[str, np.ndarray]:
        if y.size < 32:
            raise RuntimeError("too short\nsecond line")
        value = np.nan if y[0] < 10 else 1.0
        return {"mean": np.full(h, value)} | {f"{s}-{lv}": np.full(h, value) for lv in level for s in ("lo", "hi")}


def test_a_raising_or_non_finite_model_falls_back_to_naive_and_is_counted(monkeypatch: Any) -> None:
    monkeypatch.setattr(bare, "make_model", lambda name: _Flaky())
    series = [("ok", np.full(40, 20.0)), ("raises", np.arange(30.0) + 20), ("nan", np.arange(40.0))]

    run = bare.run_model("AutoETS", series, H)

    assert run.fallbacks == {"raises": "RuntimeError: too short", "nan": "non-finite forecast"}
    assert np.array_equal(run.forecasts["ok"].mean, np.ones(H))
    assert np.array_equal(run.forecasts["raises"].mean, np.full(H, 49.0))  # naive: the last value
    assert np.array_equal(run.forecasts["nan"].mean, np.full(H, 39.0))
    assert all(f.finite() and set(f.bands) == {80, 95} for f in run.forecasts.values())
    assert run.cpu_s >= 0 and run.wall_s >= 0


def test_coverage_counts_points_inside_the_band_bounds_included() -> None:
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    assert bare.covered(actual, (np.array([1.0, 0.0, 3.5, 0.0]), np.array([2.0, 2.0, 4.0, 3.9]))) == 2


def test_cost_is_cpu_per_series_and_its_inverse() -> None:
    assert bare.cost(2.0, 8) == {"cpu_s_per_series": 0.25, "series_per_s_per_core": 4.0}
    assert bare.cost(0.0, 0) == {"cpu_s_per_series": None, "series_per_s_per_core": None}
