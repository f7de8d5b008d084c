"""Driver-aware accuracy through the product: `python -m bench.accuracy.drivers_api [--n N] [--seed S]`.

The seeded driver suite (bench/accuracy/driver_suite.py: weekly demand driven by promotions,
prices and US holidays with known effects) goes the way a tenant's data goes: the local stack
starts in this process on free ports (as `make demo`), an enterprise tenant signs up, and with the
Python client (real HTTP) it declares the drivers (`promo` flag rolled up by max, `price` numeric
by mean), uploads the demand as an ERP exports it (a CSV `sku,date,quantity`, weekly rows dated
Mondays, SKU names with spaces, quotes and unicode) and the driver values for history and the test
window (a CSV `sku,date,promo,price` - a price plan and a promotion calendar are known in
advance), sets the calendar to US holidays, and starts two runs of 13 weeks from the same origin:
`drivers: "auto"` and `drivers: "none"` (history only). Every result is read over HTTP.

Scored on the held-out 13 weeks (#19's targets):
- WAPE of driver-aware auto against history-only auto over the test weeks with a promotion or a
  holiday (target: >= 15 % lower) and over the other weeks (target: no worse than +1 %);
- the promotion effect each result reports (`effects`, name `promo`, in units over the horizon)
  against the true one (expected demand with the promotions minus without), for every SKU with a
  promotion in the test window (target: within 20 % for >= 80 % of them).

Writes bench/out/accuracy_drivers_api.{md,json} (`_seed<S>` added to the name for another draw
than seed 19); the stack's log goes to <state>/logs/accuracy-drivers-stack.log.
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.accuracy.driver_suite import HISTORY_WEEKS, TEST_WEEKS, DriverSku, generate, weeks
from bench.accuracy.report_files import write_report
from bench.accuracy.through_api import BenchError, on_local_stack, sign_up

HORIZON = TEST_WEEKS
TARGET_DRIVEN = 0.15  # at least this much lower WAPE over promotion and holiday weeks
TARGET_ELSEWHERE = 0.01  # at most this much higher WAPE over the other weeks
TARGET_EFFECT = 0.20  # an estimated promotion effect within this share of the true one...
TARGET_EFFECT_SHARE = 0.80  # ...for at least this share of promoted SKUs


def sku_name(item: DriverSku) -> str:
    """Names as planners' exports carry them: spaces, a quote, unicode."""
    return f'Crème "{item.sku}" 500 g'


def write_demand(path: Path, suite: Sequence[DriverSku]) -> int:
    days = weeks()[:HISTORY_WEEKS]
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["sku", "date", "quantity"])
        for item in suite:
            for day, qty in zip(days, item.history, strict=True):
                out.writerow([sku_name(item), day.isoformat(), f"{qty:g}"])
    return len(suite) * HISTORY_WEEKS


def write_drivers(path: Path, suite: Sequence[DriverSku]) -> int:
    days = [d.isoformat() for d in weeks()]
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["sku", "date", "promo", "price"])
        for item in suite:
            for day in days:
                out.writerow([sku_name(item), day, f"{item.values['promo'][day]:g}", f"{item.values['price'][day]:g}"])
    return len(suite) * len(days)


def wape(actual: np.ndarray, forecast: np.ndarray) -> float | None:
    total = float(np.sum(np.abs(actual)))
    return float(np.sum(np.abs(actual - forecast)) / total) if total > 0 else None


def means(results: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    return {
        r["sku"]: np.array([p["mean"] for p in r["forecast"]], dtype=float)
        for r in results
        if not r.get("error") and len(r.get("forecast") or ()) == HORIZON
    }


def score(suite: Sequence[DriverSku], auto: Mapping[str, Any], none: Mapping[str, Any]) -> dict[str, Any]:
    """WAPE over driven and other weeks for both runs, and the promotion effects' errors."""
    with_drivers, history_only = means(auto["results"]), means(none["results"])
    effects = {r["sku"]: {e["name"]: e["units"] for e in r.get("effects") or ()} for r in auto["results"]}
    methods = {r["sku"]: r.get("method") for r in auto["results"]}
    parts: dict[str, dict[str, list[np.ndarray]]] = {
        k: {"actual": [], "auto": [], "none": []} for k in ("driven", "elsewhere")
    }
    effect_errors: list[float] = []
    uplift_errors: list[float] = []
    by_method: dict[str, list[float]] = {}  # effect errors by the method the SKU's forecast chose
    missing = 0
    for item in suite:
        name = sku_name(item)
        if name not in with_drivers or name not in history_only:
            missing += 1
            continue
        driven = item.promo_test | item.holiday_test
        for key, mask in (("driven", driven), ("elsewhere", ~driven)):
            parts[key]["actual"].append(item.test[mask])
            parts[key]["auto"].append(with_drivers[name][mask])
            parts[key]["none"].append(history_only[name][mask])
        true = item.true_effects["promo"]
        if item.promo_test.any() and true > 0:
            estimated = effects.get(name, {}).get("promo", 0.0)
            effect_errors.append(abs(estimated - true) / true)
            by_method.setdefault(str(methods.get(name)), []).append(abs(estimated - true) / true)
            # The same effect as an uplift over the promotion weeks' baseline (demand without the
            # promotion): what the model learned about promotions, apart from how well it
            # forecasts the baseline level (whose error the effect in units also carries).
            true_base = float(np.sum(item.mu_test[item.promo_test])) - true
            estimated_base = float(np.sum(with_drivers[name][item.promo_test])) - estimated
            if true_base > 0 and estimated_base > 0:
                true_uplift, estimated_uplift = true / true_base, estimated / estimated_base
                uplift_errors.append(abs(estimated_uplift - true_uplift) / true_uplift)
    out: dict[str, Any] = {"skus": len(suite), "skus_missing": missing}
    for key, p in parts.items():
        actual = np.concatenate(p["actual"]) if p["actual"] else np.zeros(0)
        w_auto = wape(actual, np.concatenate(p["auto"])) if p["auto"] else None
        w_none = wape(actual, np.concatenate(p["none"])) if p["none"] else None
        change = (w_auto / w_none - 1) if w_auto is not None and w_none else None
        out[key] = {"weeks": int(actual.size), "wape_drivers": w_auto, "wape_history_only": w_none, "change": change}
    for key, found in (("promo_effect", effect_errors), ("promo_uplift", uplift_errors)):
        errors = np.array(found)
        out[key] = {
            "skus": int(errors.size),
            "within_20pct": float(np.mean(errors <= TARGET_EFFECT)) if errors.size else None,
            "median_relative_error": float(np.median(errors)) if errors.size else None,
        }
    out["promo_effect_by_method"] = {
        m: {"skus": len(e), "within_20pct": float(np.mean(np.array(e) <= TARGET_EFFECT))} for m, e in by_method.items()
    }
    out["methods"] = dict(sorted(_count(methods.values()).items()))
    driven, elsewhere, effect = out["driven"]["change"], out["elsewhere"]["change"], out["promo_effect"]["within_20pct"]
    out["verdict"] = {
        "driven": driven is not None and driven <= -TARGET_DRIVEN,
        "elsewhere": elsewhere is not None and elsewhere <= TARGET_ELSEWHERE,
        "promo_effect": effect is not None and effect >= TARGET_EFFECT_SHARE,
    }
    return out


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[str(v)] = counts.get(str(v), 0) + 1
    return counts


def through_api(stack: Any, suite: Sequence[DriverSku], workdir: Path) -> dict[str, Any]:
    """Sign up, declare, upload demand and drivers, set the calendar, run twice, read results."""
    timings: dict[str, float] = {}
    client = sign_up(stack.describe()["api"], stack.provisioned.service_key, "Accuracy bench drivers")
    with client:
        client.declare_driver("promo", "flag", aggregate="max")
        client.declare_driver("price", "numeric", aggregate="mean")
        demand_csv, drivers_csv = workdir / "weekly-demand.csv", workdir / "drivers.csv"
        rows = write_demand(demand_csv, suite)
        started = time.perf_counter()
        report = client.upload_demand(demand_csv, timeout=1800)
        if report["status"] != "SUCCEEDED" or report["rows_accepted"] != rows:
            raise BenchError(f"demand upload {report['status']}: {report['rows_accepted']}/{rows} rows")
        driver_rows = write_drivers(drivers_csv, suite)
        report = client.upload_drivers(drivers_csv, timeout=1800)
        if report["status"] != "SUCCEEDED" or report["rows_accepted"] != driver_rows:
            raise BenchError(f"drivers upload {report['status']}: {report['rows_accepted']}/{driver_rows} rows")
        timings["uploads_s"] = time.perf_counter() - started
        client.set_calendar(holidays=["US"])
        runs: dict[str, Any] = {}
        for drivers in ("auto", "none"):
            started = time.perf_counter()
            run = client.start_run(HORIZON, "W", drivers=drivers, name=f"drivers bench: {drivers}")
            run = client.wait_run(run["run_id"], timeout=3600)
            if run["status"] not in ("SUCCEEDED", "PARTIAL"):
                raise BenchError(f"run drivers={drivers} finished {run['status']}: {run.get('error')}")
            timings[f"run_{drivers}_s"] = time.perf_counter() - started
            runs[drivers] = {"run": run, "results": client.results(run["run_id"])}
    res = score(suite, runs["auto"], runs["none"])
    res["timings"] = timings
    res["runs"] = {k: {f: v["run"].get(f) for f in ("run_id", "status", "summary")} for k, v in runs.items()}
    return res


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:+.1f} %"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def markdown(res: Mapping[str, Any]) -> str:
    v = res["verdict"]
    mark = {True: "holds", False: "DOES NOT HOLD"}
    lines = [
        "# Driver-aware accuracy through the API",
        "",
        f"{res['skus']} weekly SKUs of the seeded driver suite (bench/accuracy/driver_suite.py, seed "
        f"{res.get('seed', 19)}), 13 test weeks,",
        f"uploaded and forecast through the local stack ({res['skus_missing']} without a forecast).",
        "",
        "| weeks | n | WAPE drivers auto | WAPE history-only auto | change | target |",
        "|---|---|---|---|---|---|",
    ]
    for key, target in (("driven", "<= -15 %"), ("elsewhere", "<= +1 %")):
        r = res[key]
        label = "promotion or holiday" if key == "driven" else "other"
        lines.append(
            f"| {label} | {r['weeks']} | {_num(r['wape_drivers'])} | {_num(r['wape_history_only'])} | "
            f"{_pct(r['change'])} | {target}: {mark[v[key]]} |"
        )
    pe, pu = res["promo_effect"], res["promo_uplift"]

    def share(r: Mapping[str, Any]) -> str:
        return "-" if r["within_20pct"] is None else f"{100 * r['within_20pct']:.1f} %"

    lines += [
        "",
        f"Promotion effect in units within 20 % of the true one: {share(pe)} of {pe['skus']} promoted SKUs "
        f"(target >= 80 %: {mark[v['promo_effect']]}); median relative error {_num(pe['median_relative_error'])}.",
        f"The same effect as an uplift over the promotion weeks' baseline: within 20 % of the true uplift for "
        f"{share(pu)} of {pu['skus']}; median relative error {_num(pu['median_relative_error'])}.",
        "By the method chosen: "
        + "; ".join(f"{m} {share(r)} of {r['skus']}" for m, r in sorted(res.get("promo_effect_by_method", {}).items()))
        + ".",
        "",
        f"Methods chosen (drivers auto): {res['methods']}. Timings: "
        + ", ".join(f"{k} {t:.0f}" for k, t in res["timings"].items())
        + ".",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.accuracy.drivers_api", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="SKUs of the suite (default 300)")
    parser.add_argument("--seed", type=int, default=19, help="draw of the suite (default 19, the reported one)")
    args = parser.parse_args(argv)
    suite = generate(args.n, seed=args.seed)
    res = on_local_stack(
        "bench.accuracy.drivers_api", "accuracy-drivers-stack.log", lambda stack, tmp: through_api(stack, suite, tmp)
    )
    if res is None:
        return 1
    res["seed"] = args.seed
    write_report("accuracy_drivers_api" + ("" if args.seed == 19 else f"_seed{args.seed}"), res, markdown(res))
    return 0 if all(res["verdict"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
