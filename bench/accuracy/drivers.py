"""Driver-aware `auto` against history-only `auto` on the same series (#19's accuracy target):
the engine alone, on the seeded suite of bench/accuracy/driver_suite.py (`--peaked`: the same
suite with a sharp yearly peak for a season instead of a sine, a shape few sines can draw).

Per variant: WAPE (pooled over SKU-weeks) over the promotion and holiday weeks of the test window
and over the other weeks; the share of promoted SKUs (a promotion in the test window) whose
estimated promotion effect is within 20 % of the true one; CPU seconds per SKU; which method won.
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np

from bench.accuracy.driver_suite import KINDS, START, TEST_WEEKS, DriverSku, generate
from skucast.forecasting import EngineConfig, ForecastSpec, SeriesInput, forecast_batch
from skucast.forecasting.engine import Features
from skucast.forecasting.methods import ENSEMBLE_X

FEATURES = frozenset(KINDS)


def _inputs(suite: list[DriverSku], drivers: bool) -> list[SeriesInput]:
    out = []
    for s in suite:
        features = Features(s.values, KINDS, FEATURES) if drivers else None
        out.append(SeriesInput(s.sku, START, s.history, "W", features=features))
    return out


def with_global_model(suite: list[DriverSku]) -> list[SeriesInput]:
    """The suite's driver-aware inputs with the global model (trained on the whole suite as one
    shard, as the product's training stage does) as each SKU's external candidate."""
    import dataclasses

    from skucast.forecasting import global_model

    items = _inputs(suite, True)
    features = {s.sku: Features(s.values, KINDS, FEATURES) for s in suite}
    spec = ForecastSpec(horizon=TEST_WEEKS, frequency="W")
    predicted = global_model.predict(global_model.train(items, features, spec), items, features, spec)
    return [dataclasses.replace(i, external=(predicted[i.sku],) if i.sku in predicted else ()) for i in items]


def promotion_effects(inputs: list[SeriesInput]) -> dict[str, float]:
    """Each SKU's reported `promo` effect in units over the test window, as auto forecasts it."""
    results = forecast_batch(inputs, ForecastSpec(horizon=TEST_WEEKS, frequency="W"), EngineConfig())
    return {r.sku: next((e["units"] for e in r.effects if e["name"] == "promo"), 0.0) for r in results}


def variants(slow: bool = False) -> dict[str, tuple[bool, EngineConfig]]:
    """The shipped policy against history-only auto; with `slow`, also MSTL with an ARIMA-with-
    regressors trend as an extra driver-aware candidate (seconds per SKU). arima_x is not run here:
    a seasonal AutoARIMA search at season 52 takes 5-40 CPU s per fit (REPORT.md)."""
    out = {
        "history-only auto": (False, EngineConfig()),
        "driver-aware auto (shipped: ensemble_x anchor)": (True, EngineConfig()),
        "driver-aware, no anchor: ensemble_x vs ensemble by backtest score": (True, EngineConfig(driver_anchor=False)),
    }
    if slow:
        for extra in ("mstl_x",):
            policy = {"smooth": (ENSEMBLE_X, extra), "erratic": (ENSEMBLE_X, extra)}
            out[f"driver-aware auto + {extra}"] = (True, EngineConfig(drivers=policy))
    return out


def _wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.sum(np.abs(actual - forecast)) / np.sum(actual)) if np.sum(actual) > 0 else float("nan")


def run(
    n: int = 300,
    dispersion: tuple[float, float] = (200.0, 15.0),
    slow: bool = False,
    only: tuple[str, ...] = (),
    shape: str = "sine",
) -> dict:
    suite = generate(n, dispersion=dispersion, shape=shape)
    spec = ForecastSpec(horizon=TEST_WEEKS, frequency="W")
    actual = np.stack([s.test for s in suite])
    special = np.stack([s.promo_test | s.holiday_test for s in suite])
    promo_cells = np.stack([s.promo_test for s in suite])
    holiday_cells = np.stack([s.holiday_test for s in suite])
    promoted = [i for i, s in enumerate(suite) if s.promo_test.any() and s.true_effects["promo"] > 0]
    out: dict = {
        "n": n,
        "dispersion": list(dispersion),
        "shape": shape,
        "promoted_skus": len(promoted),
        "special_cells": int(special.sum()),
        "variants": {},
    }
    for label, (drivers, config) in variants(slow).items():
        if only and not any(label.startswith(o) for o in only):
            continue
        inputs = _inputs(suite, drivers)
        forecast_batch(inputs[:2], spec, config)  # JIT warm-up
        t0 = time.process_time()
        res = forecast_batch(inputs, spec, config)
        seconds = time.process_time() - t0
        fc = np.stack([np.array([p["mean"] for p in r.forecast]) for r in res])
        bands = {lv: [np.array([[p[f"lo_{lv}"], p[f"hi_{lv}"]] for p in r.forecast]) for r in res] for lv in (80, 95)}
        cover = {
            lv: float(np.mean([(a >= b[:, 0]) & (a <= b[:, 1]) for a, b in zip(actual, bands[lv], strict=True)]))
            for lv in (80, 95)
        }
        within, error = [], []
        for i in promoted:
            est = next((e["units"] for e in res[i].effects if e["name"] == "promo"), 0.0)
            true = suite[i].true_effects["promo"]
            within.append(abs(est - true) <= 0.2 * true)
            error.append(est / true - 1)
        quiet = [w for w, i in zip(within, promoted, strict=True) if i % 2 == 0]
        noisy = [w for w, i in zip(within, promoted, strict=True) if i % 2 == 1]
        out["variants"][label] = {
            "wape_promo_holiday": _wape(actual[special], fc[special]),
            "wape_promo": _wape(actual[promo_cells], fc[promo_cells]),
            "wape_holiday": _wape(actual[holiday_cells], fc[holiday_cells]),
            "wape_elsewhere": _wape(actual[~special], fc[~special]),
            "wape_all": _wape(actual, fc),
            "promo_effect_within_20": float(np.mean(within)) if within else float("nan"),
            "promo_effect_within_20_quiet": float(np.mean(quiet)) if quiet else float("nan"),
            "promo_effect_within_20_noisy": float(np.mean(noisy)) if noisy else float("nan"),
            "promo_effect_median_error": float(np.median(error)) if error else float("nan"),
            "seconds_per_sku": seconds / len(inputs),
            "coverage_80": cover[80],
            "coverage_95": cover[95],
            "methods": dict(Counter(r.method for r in res).most_common()),
        }
        print(f"drivers: {label} done", flush=True)
    return out


def lines(res: dict | None) -> list[str]:
    if not res:
        return []
    out = [
        "",
        f"### Drivers: driver-aware vs history-only auto (`--only drivers`, {res['n']} weekly SKUs, h = 13, "
        f"negative binomial r = {res['dispersion'][0]:g} / {res['dispersion'][1]:g}, "
        f"{res.get('shape', 'sine')} season)",
        "",
        f"{res['promoted_skus']} SKUs have a promotion in the test window; {res['special_cells']} SKU-weeks of the "
        "test window are promotion or holiday weeks. WAPE pooled over SKU-weeks. Promotion effect within 20 %: "
        "all promoted SKUs (quiet r / noisy r halves); median error of the estimate.",
        "",
        "| variant | WAPE promo+holiday | promo | holiday | elsewhere | all | promo effect within 20 % "
        "(quiet / noisy) | median effect error | coverage 80 / 95 | CPU s/SKU |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, v in res["variants"].items():
        out.append(
            f"| {label} | {v['wape_promo_holiday']:.3f} | {v['wape_promo']:.3f} | {v['wape_holiday']:.3f} | "
            f"{v['wape_elsewhere']:.3f} | {v['wape_all']:.3f} | {v['promo_effect_within_20']:.0%} "
            f"({v['promo_effect_within_20_quiet']:.0%} / {v['promo_effect_within_20_noisy']:.0%}) | "
            f"{v['promo_effect_median_error']:+.1%} | {v['coverage_80']:.1%} / {v['coverage_95']:.1%} | "
            f"{v['seconds_per_sku']:.2f} |"
        )
    base = res["variants"].get("history-only auto")
    for label, v in res["variants"].items():
        if base and v is not base:
            out.append(
                f"- {label}: promo+holiday WAPE {v['wape_promo_holiday'] / base['wape_promo_holiday'] - 1:+.1%}, "
                f"elsewhere {v['wape_elsewhere'] / base['wape_elsewhere'] - 1:+.1%} vs history-only; "
                f"methods {v['methods']}"
            )
    return out


if __name__ == "__main__":
    import sys

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    dispersion = (float(args[1]), float(args[2])) if len(args) > 2 else (200.0, 15.0)
    shape = "peaked" if "--peaked" in sys.argv else "sine"
    result = run(int(args[0]) if args else 300, dispersion, slow="--slow" in sys.argv, shape=shape)
    print("\n".join(lines(result)))
