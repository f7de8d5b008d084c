"""The global model's promotion effects on the driver suite, two ways (#19's effect target):
`python -m bench.accuracy.global_effects [--n 300]`.

Engine level: the global model (forecasting/global_model.py) trained on every SKU of the seeded
driver suite (bench/accuracy/driver_suite.py, 13-week horizon) and asked for every promoted SKU's
promotion effect over the test window - not only where it would win selection:
- `counterfactual` (what the product reports): the forecast minus the model's forecast with the
  promotion off, predicted again through the recursive lags;
- `pred_contrib`: LightGBM's TreeSHAP contribution of the promotion feature at each horizon step
  (the frames the recursive prediction feeds the regressor), summed, times the SKU's scale.
Prints and writes bench/out/global_effects.{md,json}: share within 20 % of the true effect,
median relative error, CPU seconds of each for all SKUs.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from bench.accuracy.driver_suite import KINDS, START, TEST_WEEKS, generate
from bench.accuracy.report_files import write_report

TOLERANCE = 0.20


def _pred_contrib(payload: dict[str, Any], items: list[Any], features: dict[str, Any], spec: Any) -> dict[str, float]:
    """Each SKU's `promo` TreeSHAP contribution over the horizon, in units."""
    import datetime as dt

    from skucast.forecasting import global_model as gm

    model = payload["models"][0]
    names, kinds, freq, h = payload["features"], payload["kinds"], payload["frequency"], spec.horizon
    ids = sorted(i.sku for i in items if i.sku in model["scales"])
    blocks = [gm._Block(s, dt.date.fromisoformat(payload["starts"][s]), payload["lengths"][s], h) for s in ids]
    steps: list[Any] = []

    def keep(x: Any) -> Any:
        steps.append(x.copy())
        return x

    fcst = model["fcst"]
    fcst.predict(h, X_df=gm._frame(blocks, names, kinds, features, freq), ids=ids, before_predict_callback=keep)
    order = list(fcst.ts.features_order_)
    column = order.index(f"x{names.index('promo')}")
    contrib = np.stack(
        [np.asarray(fcst.models_["lgb"].predict(x[order], pred_contrib=True))[:, column] for x in steps], axis=1
    )
    return {sku: float(contrib[row].sum() * model["scales"][sku]) for row, sku in enumerate(ids)}


def run(n: int) -> dict[str, Any]:
    from skucast.forecasting import ForecastSpec, SeriesInput
    from skucast.forecasting import global_model as gm
    from skucast.forecasting.engine import Features

    suite = generate(n)
    features = {s.sku: Features(s.values, KINDS, frozenset(KINDS)) for s in suite}
    items = [SeriesInput(s.sku, START, s.history, "W", features=features[s.sku]) for s in suite]
    spec = ForecastSpec(horizon=TEST_WEEKS, frequency="W")
    payload = gm.load(gm.train(items, features, spec))
    t = time.process_time()
    predicted = gm.predict(payload, items, features, spec)
    counterfactual = {
        sku: {e["name"]: e["units"] for e in f.feature_effects()}.get("promo", 0.0) for sku, f in predicted.items()
    }
    cpu = {"counterfactual": time.process_time() - t}
    t = time.process_time()
    contributions = _pred_contrib(payload, items, features, spec)
    cpu["pred_contrib"] = time.process_time() - t
    out: dict[str, Any] = {"skus": n, "tolerance": TOLERANCE, "ways": {}}
    for name, estimates in (("counterfactual", counterfactual), ("pred_contrib", contributions)):
        errors = np.array(
            [
                abs(estimates.get(s.sku, 0.0) - s.true_effects["promo"]) / s.true_effects["promo"]
                for s in suite
                if s.promo_test.any() and s.true_effects["promo"] > 0
            ]
        )
        out["ways"][name] = {
            "promoted_skus": int(errors.size),
            "within": float(np.mean(errors <= TOLERANCE)),
            "median_relative_error": float(np.median(errors)),
            "cpu_seconds": round(cpu[name], 2),
        }
    return out


def markdown(res: dict[str, Any]) -> str:
    lines = [
        f"# The global model's promotion effects ({res['skus']} SKUs of the driver suite)",
        "",
        f"| way | promoted SKUs | within {res['tolerance']:.0%} | median error | CPU s (all SKUs) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in res["ways"].items():
        lines.append(
            f"| {name} | {r['promoted_skus']} | {r['within']:.1%} | {r['median_relative_error']:.1%} | "
            f"{r['cpu_seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    res = run(parser.parse_args().n)
    write_report("global_effects", res, markdown(res))


if __name__ == "__main__":
    main()
