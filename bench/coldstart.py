"""Cold start and deployment size: `uv run python -m bench.coldstart [--quick]`.

Cold start: a fresh interpreter per repetition (subprocess) imports the worker handler module
(forecast_worker.app, as Lambda's init phase does), then forecasts a first batch of 40 SKUs (the
engine's lazy import of statsforecast.models, timed on its own, and the first fits), then a
second one (warm). Reported: handler import, statsforecast import, first batch (including that
import), warm batch, and the whole process (interpreter start to exit).

Size: per code directory of template.yaml (a zip function's CodeUri; an image function's
FUNCTION_DIR build arg, which the one functions/Dockerfile installs and copies from), the
directory's requirements.txt plus layers/shared/requirements.txt, closed over their install
requirements, measured from the locked environment's installed distributions (the same pinned
versions; tests/infra checks the pins), plus the code the package holds (a zip: its CodeUri; an
image: its FUNCTION_PACKAGE) and the layer's. Compared with Lambda's limits: 250 MB unzipped for a
zip function with all its layers, 10 GB for a container image; each directory's package type and
image build (Dockerfile and build args) are read from template.yaml, so the report says whether the
decision below is in force and how each image is built.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata as md
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench._common import ROOT, emit

ZIP_LIMIT_MB = 250.0
IMAGE_LIMIT_MB = 10_240.0
MB = 1_000_000  # Lambda's quotas are in MB; reported here in decimal megabytes (250 MB = 250,000,000 bytes)

_PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
import forecast_worker.app  # noqa: F401  (Lambda's init phase)
t1 = time.perf_counter()
import datetime as dt
from bench.scaling import HORIZON, START, demand_mix
from skucast.forecasting.engine import ForecastSpec, SeriesInput, forecast_batch
series = [SeriesInput(s, START, v) for s, v in demand_mix(40, seed=1).items()]
t2 = time.perf_counter()
import statsforecast.models  # noqa: F401  (what the engine imports at its first fit)
t2b = time.perf_counter()
forecast_batch(series, ForecastSpec(horizon=HORIZON))
t3 = time.perf_counter()
forecast_batch(series, ForecastSpec(horizon=HORIZON))
t4 = time.perf_counter()
heavy = sorted(m for m in ("statsforecast", "pandas", "scipy", "pyarrow", "statsmodels") if m in sys.modules)
print(json.dumps({"import_handler": t1 - t0, "import_statsforecast": t2b - t2, "first_batch": t3 - t2,
                  "warm_batch": t4 - t3, "loaded": heavy}))
"""


def cold_starts(reps: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        PYTHONPATH=os.pathsep.join(
            [str(ROOT / "functions" / "forecast_worker"), str(ROOT / "layers" / "shared"), str(ROOT)]
        ),
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_METRICS_DISABLED="true",
        AWS_DEFAULT_REGION="us-east-1",
    )
    samples = []
    for _ in range(reps):
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", _PROBE], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
        )
        total = time.perf_counter() - began
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        sample = json.loads(done.stdout.strip().splitlines()[-1])
        sample["process_total"] = total
        samples.append(sample)
    keys = ("import_handler", "import_statsforecast", "first_batch", "warm_batch", "process_total")
    return {
        "reps": reps,
        "samples": samples,
        "median": {k: round(statistics.median(s[k] for s in samples), 3) for k in keys},
        "loaded_by_first_batch": samples[-1]["loaded"],
    }


# ---------------------------------------------------------------- sizes
def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(path: Path) -> list[str]:
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0])
    return names


def _dist_size(dist: md.Distribution) -> int:
    total = 0
    for f in dist.files or []:
        with contextlib.suppress(OSError):
            total += Path(str(dist.locate_file(f))).stat().st_size
    return total


def _closure(names: list[str]) -> dict[str, md.Distribution | None]:
    from packaging.requirements import Requirement

    seen: dict[str, md.Distribution | None] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        key = _key(name)
        if key in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            seen[key] = None
            continue
        seen[key] = dist
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def sizes() -> dict[str, Any]:
    from skucast_local.template import load

    shared = _requirements(ROOT / "layers" / "shared" / "requirements.txt")
    layer_code = _tree_size(ROOT / "layers" / "shared" / "skucast")
    template = load(ROOT / "template.yaml")
    by_dir: dict[str, list[str]] = {}
    for name, fn in template.functions.items():
        by_dir.setdefault(str(fn.code_uri).strip("/"), []).append(name)
    out: dict[str, Any] = {}
    for code_uri, functions in sorted(by_dir.items()):
        own = _requirements(ROOT / code_uri / "requirements.txt")
        closure = _closure(own + shared)
        dists = {k: _dist_size(d) for k, d in closure.items() if d is not None}
        builds = image_builds([template.functions[name] for name in functions])
        # An image copies its FUNCTION_PACKAGE from the directory; a zip ships the whole CodeUri.
        packages = sorted({b["build_args"].get("FUNCTION_PACKAGE", "") for b in builds})
        code_dirs = [ROOT / code_uri / p for p in packages if p] or [ROOT / code_uri]
        code = sum(_tree_size(d) for d in code_dirs) + layer_code
        total = sum(dists.values()) + code
        top = sorted(dists.items(), key=lambda kv: -kv[1])[:8]
        out[code_uri] = {
            "functions": functions,
            "requirements": own,
            "distributions": len(dists),
            "missing": sorted(k for k, d in closure.items() if d is None),
            "total_mb": round(total / MB, 1),
            "code_mb": round(code / MB, 2),
            "largest_mb": {k: round(v / MB, 1) for k, v in top},
            "fits_zip": total / MB <= ZIP_LIMIT_MB,
            "fits_image": total / MB <= IMAGE_LIMIT_MB,
            "package_types": {name: template.functions[name].package_type for name in functions},
            "image_builds": builds,
        }
    shared_closure = _closure(shared)
    out["_shared_layer"] = {
        "total_mb": round((sum(_dist_size(d) for d in shared_closure.values() if d) + layer_code) / MB, 1)
    }
    return out


def image_builds(functions: list[Any]) -> list[dict[str, Any]]:
    """The distinct image builds (Dockerfile and DockerBuildArgs) of these template functions."""
    seen = {
        (fn.dockerfile, tuple(sorted(fn.build_args.items())))
        for fn in functions
        if fn.package_type == "Image" and fn.dockerfile
    }
    return [{"dockerfile": dockerfile, "build_args": dict(args)} for dockerfile, args in sorted(seen)]


def describe_build(build: dict[str, Any], dockerfile: bool = True) -> str:
    """`functions/Dockerfile` FUNCTION_DIR=... FUNCTION_PACKAGE=...: one image build, for the report."""
    args = " ".join(f"{k}={v}" for k, v in build["build_args"].items())
    return f"`{build['dockerfile']}` {args}".strip() if dockerfile else args


def packaged_as_images(entry: dict[str, Any]) -> bool:
    """Every function of one measured code directory is a container image in template.yaml."""
    return set((entry.get("package_types") or {}).values()) == {"Image"}


def decision(size: dict[str, Any]) -> list[str]:
    over = [k for k, v in size.items() if not k.startswith("_") and not v["fits_zip"]]
    lines = []
    for k in over:
        v = size[k]
        lines.append(
            f"`{k}` ({', '.join(v['functions'])}): {v['total_mb']} MB unzipped > {ZIP_LIMIT_MB:.0f} MB: "
            f"cannot ship as a zip (largest: "
            + ", ".join(f"{n} {mb}" for n, mb in list(v["largest_mb"].items())[:4])
            + " MB)."
        )
    if over:
        lines.append(
            "Decision: container images (PackageType: Image, one image per function directory above, "
            f"limit {IMAGE_LIMIT_MB / 1000:.0f} GB) for the functions over the limit; the others stay zips "
            "with the shared layer. A zip would need the dependency set trimmed below 250 MB (e.g. "
            "statsforecast without its distributed-computing extras fugue/triad, which pull pyarrow, "
            "and without statsmodels): not possible with pip's resolver without --no-deps, so not done."
        )
        done = [k for k in over if packaged_as_images(size[k])]
        if done:
            dockerfiles = sorted({b["dockerfile"] for k in done for b in size[k].get("image_builds") or []})
            lines.append(
                f"Implemented for {', '.join(f'`{k}`' for k in done)}: template.yaml builds each from "
                + (" and ".join(f"`{d}`" for d in dockerfiles) or "a Dockerfile")
                + " with its build args ("
                + "; ".join(describe_build(b, False) for k in done for b in size[k].get("image_builds") or [])
                + "): Python 3.11 on Debian bookworm with AWS's runtime interface client (the AWS "
                "python:3.11 base image is Amazon Linux 2, glibc 2.26, for which the pinned numpy, scipy, "
                "pyarrow and statsforecast have no wheels)."
            )
        if len(done) < len(over):
            lines.append(
                f"Not implemented for {', '.join(f'`{k}`' for k in over if k not in done)}: still zips in "
                "template.yaml, so `sam deploy` fails on them."
            )
    else:
        lines.append("Decision: every function fits a zip with the shared layer; stay with zips.")
    return lines


def run(quick: bool = False, log: Any = print) -> dict[str, Any]:
    sys.path[:0] = [str(ROOT / "local"), str(ROOT / "layers" / "shared")]
    log("  coldstart: sizes")
    size = sizes()
    log("  coldstart: fresh processes")
    cold = cold_starts(2 if quick else 5)
    return {"cold_start": cold, "sizes": size, "decision": decision(size)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result = run(args.quick, log=lambda m: print(m, flush=True))
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
