"""Sampling profiles of other processes with py-spy: out of process, every thread, no code change.

The local stack's work happens in processes the bench does not run itself (the stack's main
process: moto server, gateway, pumps; the worker containers), so an in-process profiler cannot
see it. `record` attaches py-spy for a while; `summarise` turns its collapsed stacks into where
the samples went, by package and by function, with the standard library charged to its caller.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench._common import ROOT

# Where a frame's file lives (py-spy shortens site-packages paths to `package/module.py`) -> the
# name the report uses. First match wins; other third-party packages go by their own name.
PACKAGES = (
    ("moto/dynamodb/", "moto DynamoDB"),
    ("moto/sqs/", "moto SQS"),
    ("moto/", "moto (other)"),
    ("werkzeug/", "werkzeug (moto's HTTP server)"),
    ("flask/", "flask (moto's HTTP server)"),
    ("skucast_local/", "skucast_local (gateway, pumps, emulator)"),
    ("skucast/", "skucast"),
    ("forecast_worker/", "skucast"),
)


def py_spy() -> str:
    return str(Path(sys.executable).with_name("py-spy"))


def record(pid: int, seconds: int, out: Path, rate: int = 50) -> subprocess.Popen[bytes]:
    """Start sampling `pid` for `seconds` into `out` (collapsed stacks); returns the py-spy process."""
    return subprocess.Popen(
        [
            py_spy(),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def finish(proc: subprocess.Popen[bytes], out: Path, timeout: float = 120) -> dict[str, Any]:
    """Wait for a recording and summarise it; an unusable recording says why instead."""
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return {"error": "py-spy did not finish"}
    if not out.exists() or not out.stat().st_size:
        return {"error": (err or b"no samples").decode(errors="replace").strip()[-300:]}
    return summarise(out.read_text())


def _package(filename: str) -> str | None:
    """The package a frame is charged to; None for the standard library (charged to its caller)."""
    path = "/" + filename.lstrip("/")
    for marker, name in PACKAGES:
        if "/" + marker in path:
            return name
    top = filename.lstrip("/").split("/")[0].removesuffix(".py")
    if filename.startswith(("/", "<")) or top in sys.stdlib_module_names:
        return None  # the standard library, the interpreter, or code run with -c
    return top


def _frame(text: str) -> tuple[str, str]:
    """'query (/x/moto/dynamodb/models/table.py:123)' -> (function, file)."""
    name, _, rest = text.rpartition(" (")
    return name.strip(), rest.rsplit(":", 1)[0]


def summarise(collapsed: str, top: int = 8) -> dict[str, Any]:
    by_package: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame(f) for f in stack.split(";") if " (" in f]
        # the innermost frame that is not the standard library: where this sample is charged
        for name, filename in reversed(frames):
            package = _package(filename)
            if package is not None:
                by_package[package] += count
                short = filename.removeprefix(f"{ROOT}/")
                by_function[f"{short}:{name}"] += count
                break
        else:
            by_package["standard library only"] += count
    if not total:
        return {"error": "no samples"}
    return {
        "samples": total,
        "by_package": {k: round(v / total, 3) for k, v in by_package.most_common()},
        "top_functions": {k: round(v / total, 3) for k, v in by_function.most_common(top)},
    }


def describe(summary: dict[str, Any], packages: int = 4, functions: int = 3) -> str:
    """One line for the report: the biggest packages and functions by share of samples."""
    if "error" in summary:
        return f"no profile ({summary['error']})"
    shares = ", ".join(f"{k} {v:.0%}" for k, v in list(summary["by_package"].items())[:packages])
    hot = ", ".join(f"`{k}` {v:.0%}" for k, v in list(summary["top_functions"].items())[:functions])
    return f"{shares}; hottest: {hot} ({summary['samples']:,} samples)"
