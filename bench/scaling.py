"""Scaling and fairness on the local stack: `uv run python -m bench.scaling [--quick|--full]`.

Each pool size (SKUCAST_LOCAL_WORKERS) gets a fresh local stack in a subprocess (`python -m
skucast_local`, as `make up` runs it). A tenant signs up over HTTP; its synthetic series are written
straight into the emulator's table with the demand repository (ingestion is benched on its own);
then runs of 1k, 5k and 20k SKUs go through the real path: POST /runs -> PlanQueue -> planner ->
ForecastQueue -> worker containers -> results, timed from the POST to the finished status.

Fairness (issue 6) rides on the largest run at the largest pool: while tenant A's run is busy,
tenant B starts a 50-SKU run; its time is compared with the same run on an idle stack.

Also home of the synthetic demand every bench in this directory uses (`demand_mix`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench import profiling
from bench._common import ROOT, emit  # puts the repository on sys.path first

HISTORY_DAYS = 730  # two years of daily history
HORIZON = 28
START = dt.date(2023, 1, 2)
RUN_BODY = {"horizon": HORIZON, "frequency": "D", "levels": [80, 95], "backtest_windows": 1}
SERVICE_KEY = "bench-service-key-0123456789abcdef"
STALL_SECONDS = 180.0  # no progress for this long: the run is reported stalled and cancelled
KINDS = (
    "smooth",
    "smooth",
    "smooth",
    "erratic",
    "intermittent",
    "intermittent",
    "lumpy",
    "lumpy",
    "new",
    "inactive",
)


# ---------------------------------------------------------------- synthetic demand
def demand_mix(n: int, seed: int = 7, prefix: str = "SKU") -> dict[str, np.ndarray]:
    """`n` daily series of HISTORY_DAYS days from START, seeded, in a fixed mix per 10 SKUs:
    3 smooth (weekly x yearly season, trend, low noise), 1 erratic (same shape, heavy noise),
    2 intermittent and 2 lumpy (sales on 10-45% of days, steady or heavy-tailed sizes),
    1 new (sales only in the last 40 days) and 1 inactive (no sales in the last 150 days)."""
    rng = np.random.default_rng(seed)
    t = np.arange(HISTORY_DAYS)
    out: dict[str, np.ndarray] = {}
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        if kind in ("smooth", "erratic"):
            level = float(np.exp(rng.uniform(np.log(10), np.log(300))))
            weekly = np.maximum(1 + rng.uniform(0.1, 0.5) * rng.standard_normal(7), 0.2)
            yearly = 1 + rng.uniform(0, 0.4) * np.sin(2 * np.pi * t / 365.25 + rng.uniform(0, 2 * np.pi))
            mu = (
                level * (weekly / weekly.mean())[t % 7] * yearly * np.maximum(1 + rng.uniform(-0.2, 0.4) * t / 365, 0.1)
            )
            r = 30.0 if kind == "smooth" else 0.8
            v = rng.negative_binomial(r, r / (r + mu)).astype(float)
        elif kind in ("intermittent", "lumpy"):
            p = rng.uniform(0.1, 0.45)
            sizes = (
                rng.poisson(3, HISTORY_DAYS) + 1
                if kind == "intermittent"
                else rng.negative_binomial(0.7, 0.05, HISTORY_DAYS) + 1
            )
            v = ((rng.random(HISTORY_DAYS) < p) * sizes).astype(float)
        elif kind == "new":
            v = np.r_[np.zeros(HISTORY_DAYS - 40), rng.poisson(5, 40)].astype(float)
        else:
            v = np.r_[rng.poisson(4, HISTORY_DAYS - 150), np.zeros(150)].astype(float)
        out[f"{prefix}-{i:06d}"] = v
    return out


# ---------------------------------------------------------------- the emulator's transactions
# The stack as `make up` runs it (its emulator installs local/skucast_local/moto_fast.py).
_LAUNCH = """
import runpy, sys
sys.argv = ["skucast_local"]
runpy.run_module("skucast_local", run_name="__main__")
"""


# ---------------------------------------------------------------- the local stack in a subprocess
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """`python -m skucast_local` on free loopback ports, as a user (or `make up`) runs it."""

    workers: int
    state: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)

    def start(self, timeout: float = 180) -> Stack:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SKUCAST_"))}
        env.update(
            PYTHONPATH=os.pathsep.join([str(ROOT / "local"), str(ROOT / "layers" / "shared"), str(ROOT)]),
            SKUCAST_API_PORT=str(free_port()),
            SKUCAST_AWS_PORT=str(free_port()),
            SKUCAST_CONTROL_PORT=str(free_port()),
            SKUCAST_SERVICE_KEY=SERVICE_KEY,
            SKUCAST_LOCAL_STATE=str(self.state),
            SKUCAST_LOCAL_WORKERS=str(self.workers),
        )
        self.env = env
        self.process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCH],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = threading.Event()

        def read() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                if len(self.output) < 2000:  # request lines are printed per call: keep the head only
                    self.output.append(line)
                if line.startswith("ready"):
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("local stack did not start:\n" + "".join(self.output[-40:]))
        return self

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.env['SKUCAST_API_PORT']}"

    @property
    def aws(self) -> str:
        return f"http://127.0.0.1:{self.env['SKUCAST_AWS_PORT']}"

    @property
    def control(self) -> str:
        return f"http://127.0.0.1:{self.env['SKUCAST_CONTROL_PORT']}"

    def describe(self) -> dict[str, Any]:
        import httpx

        return dict(httpx.get(f"{self.control}/describe", timeout=30).json())

    def worker_cpu_seconds(self) -> float:
        """CPU seconds used so far by the live ForecastWorkerFunction containers (from /proc)."""
        import httpx

        pids = httpx.get(f"{self.control}/containers", timeout=30).json().get("ForecastWorkerFunction", [])
        return sum(_cpu_seconds(pid) for pid in pids)

    def stack_cpu_seconds(self) -> float:
        """CPU seconds of the stack's main process (emulator, gateway, pumps)."""
        return _cpu_seconds(self.process.pid) if self.process else 0.0

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@dataclass
class Tenant:
    stack: Stack
    client_id: str
    headers: dict[str, str]
    email: str = ""
    password: str = ""

    @classmethod
    def sign_up(cls, stack: Stack, tier: str = "standard") -> Tenant:
        import httpx

        email, password = f"bench-{uuid.uuid4().hex[:10]}@bench.example", "bench admin password"
        with httpx.Client(base_url=stack.api, timeout=120) as http:
            r = http.post(
                "/api/auth/clients",
                json={
                    "name": f"bench {tier}",
                    "tier": tier,
                    "admin_email": email,
                    "admin_password": password,
                },
                headers={"X-Service-Key": SERVICE_KEY},
            )
            r.raise_for_status()
            client_id = r.json()["client_id"]
        tenant = cls(stack, client_id, {}, email, password)
        tenant.login()
        return tenant

    def login(self) -> None:
        """A fresh access token (they live 15 minutes; a long bench outlives several)."""
        import httpx

        with httpx.Client(base_url=self.stack.api, timeout=120) as http:
            r = http.post("/api/auth/login", json={"email": self.email, "password": self.password})
            r.raise_for_status()
            self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

    def call(self, http: Any, method: str, path: str, **kwargs: Any) -> Any:
        r = http.request(method, path, headers=self.headers, **kwargs)
        if r.status_code == 401:  # the access token expired: sign in again, once
            self.login()
            r = http.request(method, path, headers=self.headers, **kwargs)
        return r

    def store(self, series: dict[str, np.ndarray]) -> float:
        """Write the series and catalog entries into the emulator's table; returns seconds taken."""
        return store_series(self.stack, self.client_id, series)

    def start_run(self, http: Any, skus: list[str] | None) -> str:
        body = {**RUN_BODY, **({"skus": skus} if skus is not None else {})}
        r = self.call(http, "POST", "/api/v1/forecast/runs", json=body)
        if r.status_code != 202:
            raise RuntimeError(f"POST /runs -> {r.status_code} {r.text}")
        return str(r.json()["run_id"])

    def get_run(self, http: Any, run_id: str) -> dict[str, Any]:
        r = self.call(http, "GET", f"/api/v1/forecast/runs/{run_id}")
        r.raise_for_status()
        return dict(r.json())

    def wait(
        self, http: Any, run_id: str, timeout: float, poll: float = 0.25, stall: float = STALL_SECONDS
    ) -> dict[str, Any]:
        """The finished run; a run whose progress has not moved for `stall` seconds is given up
        (returned with status "STALLED") so one stuck run never eats the bench's budget."""
        deadline = time.monotonic() + timeout
        last, moved = None, time.monotonic()
        while time.monotonic() < deadline:
            run = self.get_run(http, run_id)
            if run["status"] not in ("QUEUED", "RUNNING"):
                return run
            progress = (run["status"], run["progress"]["skus_done"], run["progress"]["skus_failed"])
            if progress != last:
                last, moved = progress, time.monotonic()
            elif time.monotonic() - moved > stall:
                self.cancel(http, run_id)
                return {**run, "status": "STALLED"}
            time.sleep(poll)
        self.cancel(http, run_id)
        return {**self.get_run(http, run_id), "status": "TIMED_OUT"}

    def cancel(self, http: Any, run_id: str) -> None:
        self.call(http, "POST", f"/api/v1/forecast/runs/{run_id}/cancel")


def store_series(stack: Stack, client_id: str, series: dict[str, np.ndarray]) -> float:
    from skucast import aws
    from skucast.ingestion.series import DemandSeries
    from skucast.repositories import catalog, demand

    os.environ.update(
        AWS_ENDPOINT_URL=stack.aws,
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
        AWS_DEFAULT_REGION="us-east-1",
    )
    aws.reset_clients()
    table = stack.describe()["resources"]["Table"]
    began = time.perf_counter()
    items = list(series.items())
    for i in range(0, len(items), 2000):
        chunk = dict(items[i : i + 2000])
        demand.put_series(table, client_id, {s: DemandSeries(START, v) for s, v in chunk.items()}, "upl_bench")
        catalog.merge_entries(table, client_id, [{"sku": s, "demand_class": "unknown"} for s in chunk], None)
    return time.perf_counter() - began


# ---------------------------------------------------------------- runs
def timed_run(
    tenant: Tenant, skus: list[str] | None, n: int, timeout: float, profile_dir: Path | None = None
) -> dict[str, Any]:
    """One run from POST to its end; with `profile_dir`, py-spy samples the stack's main process
    and one worker container for PROFILE_SECONDS of it."""
    import httpx

    stack = tenant.stack
    with httpx.Client(base_url=stack.api, timeout=120) as http:
        cpu0, main0 = stack.worker_cpu_seconds(), stack.stack_cpu_seconds()
        began = time.perf_counter()
        run_id = tenant.start_run(http, skus)
        recordings = _start_profiles(stack, profile_dir) if profile_dir else {}
        run = tenant.wait(http, run_id, timeout)
        seconds = time.perf_counter() - began
        cpu1, main1 = stack.worker_cpu_seconds(), stack.stack_cpu_seconds()
    ok = run["status"] == "SUCCEEDED" and run["progress"]["skus_done"] == n
    profiles = {name: profiling.finish(proc, out) for name, (proc, out) in recordings.items()}
    return {
        **({"profile": profiles} if profiles else {}),
        "skus": n,
        "seconds": round(seconds, 2),
        "skus_per_second": round(n / seconds, 2),
        "status": run["status"],
        "ok": ok,
        # containers replaced mid-run would undercount: these are lower bounds
        "worker_cpu_seconds": round(max(cpu1 - cpu0, 0.0), 1),
        "stack_cpu_seconds": round(max(main1 - main0, 0.0), 1),
    }


PROFILE_SECONDS = 30


def _start_profiles(stack: Stack, out_dir: Path) -> dict[str, tuple[Any, Path]]:
    import httpx

    time.sleep(5)  # past planning: batches flowing
    pids = {"stack process": stack.process.pid if stack.process else None}
    workers = httpx.get(f"{stack.control}/containers", timeout=30).json().get("ForecastWorkerFunction", [])
    pids["worker container"] = workers[0] if workers else None
    out_dir.mkdir(parents=True, exist_ok=True)
    started = {}
    for name, pid in pids.items():
        if pid:
            out = out_dir / f"{name.replace(' ', '-')}.txt"
            started[name] = (profiling.record(pid, PROFILE_SECONDS, out), out)
    return started


def fairness_probe(
    stack: Stack,
    big: Tenant,
    small: Tenant,
    big_skus: list[str] | None,
    n_big: int,
    small_skus: list[str],
    reps: int,
    timeout: float,
    finish_big: bool = True,
) -> tuple[dict[str, Any] | None, list[float]]:
    """Start `big`'s run; while it is busy, time `reps` runs of `small` one after the other.
    The big run then goes on to the end (its time is a scaling point), or is cancelled."""
    import httpx

    with httpx.Client(base_url=stack.api, timeout=120) as http:
        cpu0, main0 = stack.worker_cpu_seconds(), stack.stack_cpu_seconds()
        began = time.perf_counter()
        big_id = big.start_run(http, big_skus)
        while big.get_run(http, big_id)["progress"]["skus_done"] == 0:  # fully busy: batches settling
            time.sleep(0.5)
        contended = []
        for _ in range(reps):
            if big.get_run(http, big_id)["status"] != "RUNNING":
                break
            t0 = time.perf_counter()
            run_id = small.start_run(http, small_skus)
            run = small.wait(http, run_id, timeout)
            if run["status"] == "SUCCEEDED":
                contended.append(time.perf_counter() - t0)
        if not finish_big:
            big.cancel(http, big_id)
            return None, contended
        run = big.wait(http, big_id, timeout, poll=1.0)
        seconds = time.perf_counter() - began
        cpu1, main1 = stack.worker_cpu_seconds(), stack.stack_cpu_seconds()
    point = {
        "skus": n_big,
        "seconds": round(seconds, 2),
        "skus_per_second": round(n_big / seconds, 2),
        "status": run["status"],
        "ok": run["status"] == "SUCCEEDED" and run["progress"]["skus_done"] == n_big,
        "worker_cpu_seconds": round(max(cpu1 - cpu0, 0.0), 1),
        "stack_cpu_seconds": round(max(main1 - main0, 0.0), 1),
        "note": f"with {len(contended)} concurrent {len(small_skus)}-SKU runs of another tenant",
    }
    return point, contended


def run_pool(
    workers: int, sizes: list[int], fairness: dict[str, Any] | None, tmp: Path, log: Any, finish_big: bool = True
) -> dict[str, Any]:
    """One stack with `workers` worker containers: every size in `sizes`; fairness on the largest
    (whose run is then finished as a scaling point, or cancelled when `finish_big` is False)."""
    import httpx

    out: dict[str, Any] = {"workers": workers, "points": [], "load_seconds": None}
    biggest = max(sizes)
    series = demand_mix(biggest)
    skus = list(series)
    with Stack(workers, tmp / f"pool{workers}") as stack:
        a = Tenant.sign_up(stack, tier="standard")
        out["load_seconds"] = round(a.store(series), 1)
        log(f"  pool {workers}: stack up, {biggest:,} series stored in {out['load_seconds']} s")
        small: Tenant | None = None
        small_skus: list[str] = []
        if fairness:
            small = Tenant.sign_up(stack, tier="standard")
            small_series = demand_mix(fairness["small_skus"], seed=99, prefix="B")
            small.store(small_series)
            small_skus = list(small_series)
        # warm-up (containers spawn and import, as Lambda's first invocations do): not timed
        timed_run(a, skus[:40], 40, 600)
        if small is not None:
            alone = []
            with httpx.Client(base_url=stack.api, timeout=120):
                for _ in range(fairness["reps"]):  # type: ignore[index]
                    alone.append(timed_run(small, small_skus, len(small_skus), 600)["seconds"])
            out["fairness_alone"] = alone
            log(f"  pool {workers}: {len(small_skus)}-SKU run alone: {[round(x, 1) for x in alone]} s")
        for n in sorted(sizes):
            subset = None if n == len(skus) else skus[:n]
            if small is not None and fairness and n == biggest:
                point, contended = fairness_probe(
                    stack, a, small, subset, n, small_skus, fairness["reps"], 3600, finish_big
                )
                out["fairness_contended"] = contended
                log(f"  pool {workers}: {len(small_skus)}-SKU run beside {n:,}: {[round(x, 1) for x in contended]} s")
                if point is None:
                    continue
            else:  # profiled: the largest run that is not the fairness probe's
                profiled = n == max(x for x in sizes if not (fairness and x == biggest))
                point = timed_run(a, subset, n, 3600, tmp / f"profile-{workers}" if profiled else None)
            out["points"].append(point)
            log(
                f"  pool {workers}: {n:,} SKUs in {point['seconds']} s "
                f"({point['skus_per_second']} SKU/s, {point['status']})"
            )
    return out


def fit(points: list[dict[str, Any]]) -> dict[str, float] | None:
    """seconds = fixed + per_sku x SKUs, least squares over the points."""
    if len(points) < 2:
        return None
    x = np.array([p["skus"] for p in points], dtype=float)
    y = np.array([p["seconds"] for p in points], dtype=float)
    slope, intercept = np.polyfit(x, y, 1)
    return {"fixed_seconds": round(float(intercept), 2), "ms_per_sku": round(float(slope) * 1000, 3)}


def run(mode: str, log: Any = print) -> dict[str, Any]:
    import tempfile

    plans = {
        "quick": {1: [200, 600], 2: [200, 600]},
        "default": {1: [1000, 5000], 2: [1000, 5000, 20000]},
        "full": {1: [1000, 5000, 20000], 2: [1000, 5000, 20000]},
        "fairness": {2: [20000]},  # the fairness probe alone; the big run is cancelled after it
    }[mode]
    fairness = {"small_skus": 50, "reps": 3 if mode != "quick" else 2}
    result: dict[str, Any] = {"mode": mode, "pools": {}, "history_days": HISTORY_DAYS, "horizon": HORIZON}
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="skucast-bench-") as tmp:
        for workers, sizes in plans.items():
            try:
                pool = run_pool(
                    workers, sizes, fairness if workers == max(plans) else None, Path(tmp), log, mode != "fairness"
                )
            except Exception as exc:  # keep the other pool's figures; say what broke
                log(f"  pool {workers}: FAILED: {type(exc).__name__}: {exc}")
                pool = {"workers": workers, "points": [], "load_seconds": None, "error": f"{type(exc).__name__}: {exc}"}
            pool["fit"] = fit(pool["points"])
            result["pools"][str(workers)] = pool
    big = result["pools"][str(max(plans))]
    if big.get("error"):
        result["error"] = big["error"]
    alone, contended = big.get("fairness_alone") or [], big.get("fairness_contended") or []
    if alone and contended:
        ratio = statistics.median(contended) / statistics.median(alone)
        result["fairness"] = {
            "small_skus": fairness["small_skus"],
            "big_skus": max(plans[max(plans)]),
            "workers": max(plans),
            "alone_seconds": [round(v, 2) for v in alone],
            "contended_seconds": [round(v, 2) for v in contended],
            "alone_median": round(statistics.median(alone), 2),
            "contended_median": round(statistics.median(contended), 2),
            "ratio": round(ratio, 2),
            "target": 2.0,
            "met": ratio < 2.0,
        }
    result["seconds"] = round(time.perf_counter() - began, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true")
    mode.add_argument("--full", action="store_true")
    mode.add_argument("--fairness", action="store_true", help="only the two-tenant fairness probe")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    chosen = "quick" if args.quick else "full" if args.full else "fairness" if args.fairness else "default"
    result = run(chosen, log=lambda m: print(m, flush=True))
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
