"""`make demo`: the main job end to end, as a tenant does it, on the local stack.

Starts the local stack in this process, signs a tenant up through the API (operator key), then
with the Python client (clients/python): uploads a seeded two-year daily sample of 500 SKUs
through the presigned POST (the S3 trigger ingests it), shows the demand-class mix, runs a
forecast with a progress bar, prints summary tables (by class, by method, accuracy), writes the
HTML report to demo-output/report.html, and stops the stack.

What the stack's threads print (one line per request, emulator tracebacks) goes to
<state>/logs/demo-stack.log instead of the demo's output.

Ports: SKUCAST_API_PORT / SKUCAST_AWS_PORT / SKUCAST_CONTROL_PORT when set, else free ones (so a
`make up` already running does not get in the way). Exits 1 with one line if anything fails.
"""

from __future__ import annotations

import io
import os
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from skucast_local.stack import LocalStack, StackConfig, StackError

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "demo-output"
N_SKUS = 500
HORIZON = 28
LEVELS = (80, 95)
CLASSES = ("smooth", "erratic", "intermittent", "lumpy", "new", "inactive")


class DemoError(Exception):
    """The demo cannot go on (one line)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThreadRouted(io.TextIOBase):
    """stdout/stderr for the demo's thread; text written from any other thread (the stack's
    gateway, pump and emulator threads, in-process) goes to a log file instead."""

    def __init__(self, console: Any, log: Any) -> None:
        self.console, self.log = console, log
        self.main = threading.main_thread()

    def write(self, text: str) -> int:
        target = self.console if threading.current_thread() is self.main else self.log
        return int(target.write(text))

    def flush(self) -> None:
        self.console.flush()
        self.log.flush()

    def isatty(self) -> bool:
        return bool(self.console.isatty())

    def fileno(self) -> int:
        return int(self.console.fileno())


def stack_config() -> StackConfig:
    env = dict(os.environ)
    for name in ("SKUCAST_API_PORT", "SKUCAST_AWS_PORT", "SKUCAST_CONTROL_PORT"):
        env.setdefault(name, str(_free_port()))
    return StackConfig.from_env(ROOT, env)


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 100 else f"{v:,.0f}"
        return str(v)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(header)]
    line = "  ".join("-" * w for w in widths)
    out = ["  " + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), "  " + line]
    out += [
        "  " + "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in cells
    ]
    return "\n".join(out)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


class Demo:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.api = stack.describe()["api"]
        self.t0 = time.monotonic()

    def step(self, message: str) -> None:
        print(f"\n[{time.monotonic() - self.t0:6.1f}s] {message}", flush=True)

    def sign_up(self) -> Any:
        from skucast_client import Client

        email, password = f"admin-{uuid.uuid4().hex[:8]}@demo.example", uuid.uuid4().hex
        r = httpx.post(
            f"{self.api}/api/auth/clients",
            json={"name": "Demo Retail", "tier": "enterprise", "admin_email": email, "admin_password": password},
            headers={"X-Service-Key": self.stack.provisioned.service_key},
            timeout=60,
        )
        if r.status_code != 201:
            raise DemoError(f"creating the tenant failed: {r.status_code} {r.text[:200]}")
        client = Client(self.api, email=email, password=password)
        me = client.me()
        print(f"  tenant {r.json()['client_id']} ({r.json()['tier']}), admin {me['email']} signed in as {me['role']}")
        return client

    def upload(self, client: Any) -> dict[str, str]:
        from skucast_local.sample_data import generate

        sample = generate(N_SKUS)
        frame = sample.frame
        print(
            f"  generated {sample.skus} SKUs x 2 years daily: {len(frame):,} rows "
            f"({frame['date'].min():%Y-%m-%d} .. {frame['date'].max():%Y-%m-%d})"
        )
        started = time.monotonic()
        report = client.upload_demand(frame, timeout=600)
        print(
            f"  upload {report['upload_id']}: {report['status']}, {report['rows_accepted']:,} rows accepted, "
            f"{report['rows_rejected']} rejected, {report['skus_touched']} SKUs "
            f"({time.monotonic() - started:.1f}s through the presigned POST and the S3 trigger)"
        )
        if report["status"] != "SUCCEEDED" or report["skus_touched"] != sample.skus:
            raise DemoError(f"the upload finished {report['status']} with {report['skus_touched']} SKUs")
        return sample.generated_as

    def class_mix(self, client: Any, generated_as: dict[str, str]) -> None:
        skus = client.skus()
        found = Counter(s["demand_class"] for s in skus)
        agree = Counter(s["demand_class"] for s in skus if generated_as.get(s["sku"]) == s["demand_class"])
        generated = Counter(generated_as.values())
        rows = [[c, found[c], f"{100 * found[c] / len(skus):.0f}%", generated[c], agree[c]] for c in CLASSES]
        print(_table(rows, ["class", "SKUs", "share", "generated as", "agree"]))
        missing = [c for c in CLASSES if not found[c]]
        if len(skus) != N_SKUS or missing:
            raise DemoError(f"GET /skus lists {len(skus)} SKUs; classes missing: {missing}")

    def forecast(self, client: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """What `Client.forecast()` does (start, wait with a progress bar, read every result page,
        shape the frame), step by step so the results are read once for the summary and report."""
        from skucast_client import forecast_frame

        started = time.monotonic()
        run = client.start_run(HORIZON, "D", LEVELS, name="demo: 28-day daily forecast")
        run = client.wait_run(run["run_id"], progress=True, timeout=900)
        elapsed = time.monotonic() - started
        results = client.results(run["run_id"])
        frame = forecast_frame(results, LEVELS)
        print(
            f"  run {run['run_id']} {run['status']} in {elapsed:.1f}s "
            f"({run['progress']['skus_done'] / max(elapsed, 1e-9):.0f} SKUs/s): DataFrame {frame.shape[0]:,} rows x "
            f"{frame.shape[1]} columns"
        )
        print("  columns: " + ", ".join(frame.columns))
        print("\n".join("  " + line for line in frame.head(3).to_string(index=False).splitlines()))
        if run["status"] != "SUCCEEDED" or len(frame) != N_SKUS * HORIZON:
            raise DemoError(f"the run finished {run['status']} with {len(frame)} forecast rows")
        return run, results

    def summary(self, run: dict[str, Any], results: list[dict[str, Any]]) -> None:
        from skucast_client.report import group_accuracy

        methods_by_class: dict[str, Counter[str]] = {}
        for r in results:
            methods_by_class.setdefault(r["demand_class"], Counter())[r["method"]] += 1
        by_class = group_accuracy(results, "demand_class")
        cov = [f"coverage_{lv}" for lv in LEVELS]
        print("  by demand class:")
        print(
            _table(
                [
                    [
                        row["demand_class"],
                        row["skus"],
                        row["median_mase"],
                        _pct(row["wape"]),
                        *[_pct(row.get(k)) for k in cov],
                        ", ".join(f"{m} {n}" for m, n in methods_by_class[row["demand_class"]].most_common(3)),
                    ]
                    for row in by_class
                ],
                ["class", "SKUs", "median MASE", "WAPE", *[f"cov {lv}%" for lv in LEVELS], "methods (top 3)"],
            )
        )
        print("  by method:")
        print(
            _table(
                [
                    [
                        row["method"],
                        row["skus"],
                        row["median_mase"],
                        _pct(row["wape"]),
                        *[_pct(row.get(k)) for k in cov],
                    ]
                    for row in group_accuracy(results, "method")
                ],
                ["method", "SKUs", "median MASE", "WAPE", *[f"cov {lv}%" for lv in LEVELS]],
            )
        )
        m = (run.get("summary") or {}).get("metrics") or {}
        print(
            f"  accuracy (1-window backtest, {int(m.get('n_points') or 0):,} points): MASE {m.get('mase', 0):.3f}, "
            f"WAPE {_pct(m.get('wape'))}, bias {m.get('bias', 0):+.2f}/day, "
            + ", ".join(f"{lv}% interval covers {_pct(m.get(f'coverage_{lv}'))}" for lv in LEVELS)
        )

    def report(self, client: Any, run: dict[str, Any], results: list[dict[str, Any]]) -> Path:
        from skucast_client.report import worst_fits, write_report

        chosen = worst_fits(results, 4)
        for cls in CLASSES:  # and one example of each class
            example = next((r["sku"] for r in results if r["demand_class"] == cls and r.get("forecast")), None)
            if example and example not in chosen:
                chosen.append(example)
        out = write_report(
            client,
            run["run_id"],
            OUTPUT / "report.html",
            skus=chosen,
            title="skucast demo report",
            run=run,
            results=results,
        )
        html = Path(out["path"]).read_text(encoding="utf-8")
        if html.count('<path class="forecast"') != len(chosen):
            raise DemoError("the report is missing charts")
        print(f"  charted: {len(chosen)} SKUs (the 4 worst fits by backtest MASE, one example per class)")
        return Path(out["path"])

    def run(self) -> None:
        self.step("sign up a tenant (operator key) and sign its admin in")
        client = self.sign_up()
        with client:
            self.step(f"generate and upload the sample ({N_SKUS} SKUs)")
            generated_as = self.upload(client)
            self.step("demand classes (GET /api/v1/forecast/skus)")
            self.class_mix(client, generated_as)
            self.step(f"forecast {HORIZON} days ahead with {'/'.join(map(str, LEVELS))}% intervals")
            run, results = self.forecast(client)
            self.step("summary")
            self.summary(run, results)
            self.step("report")
            path = self.report(client, run, results)
            print(f"  report: {path}  (open it in a browser: file://{path})")


def main() -> int:
    started = time.monotonic()
    try:
        config = stack_config()
    except StackError as exc:
        print(f"skucast-demo: {exc}", file=sys.stderr)
        return 1
    assert config.state_dir is not None
    (config.state_dir / "logs").mkdir(parents=True, exist_ok=True)
    out, err = sys.stdout, sys.stderr
    with (config.state_dir / "logs" / "demo-stack.log").open("a", encoding="utf-8") as log:
        sys.stdout, sys.stderr = ThreadRouted(out, log), ThreadRouted(err, log)
        try:
            return _run(config, started)
        finally:
            sys.stdout, sys.stderr = out, err


def _run(config: StackConfig, started: float) -> int:
    stack = LocalStack(config)
    try:
        stack.start()
    except StackError as exc:
        stack.stop()
        print(f"skucast-demo: {exc}", file=sys.stderr)
        return 1
    try:
        info = stack.describe()
        print(f"local stack up: API {info['api']}, AWS emulator {info['aws']}; logs in {config.state_dir}/logs")
        Demo(stack).run()
    except KeyboardInterrupt:
        print("skucast-demo: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # any failure: one line, non-zero
        first = str(exc).splitlines()[0] if str(exc) else ""
        print(f"\nskucast-demo: FAILED: {type(exc).__name__}: {first}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
    print(f"\ndemo: OK in {time.monotonic() - started:.0f}s")
    print(console_hint(os.environ))
    return 0


def console_hint(env: dict[str, str] | os._Environ[str]) -> str:
    """How to open the web console: the demo's stack (and its tenant) is gone once it ends."""
    port = env.get("SKUCAST_API_PORT") or "3000"
    base = f"http://127.0.0.1:{port}"
    return "\n".join(
        [
            "",
            "The web console: run `make up`, then open " + base + "/ in a browser.",
            "  `make up` prints the operator key (or set SKUCAST_SERVICE_KEY); create a tenant and sign in with it:",
            f"  curl -s {base}/api/auth/clients -H 'X-Service-Key: <key>' -H 'Content-Type: application/json' \\",
            """    -d '{"name": "Demo", "admin_email": "me@example.com", "admin_password": "a long password"}'""",
            "  (the demo's own tenant lived in its stack, which has stopped.)",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
