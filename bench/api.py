"""API latency: `uv run python -m bench.api [--quick]`.

1. Handler only, in-process against moto: the ForecastApiFunction handler on API Gateway proxy
   events (the authorizer's context filled in, as the gateway passes it) for GET /runs/{id},
   GET /runs/{id}/results (100 items of a finished run) and POST /runs (each created run is
   cancelled, untimed, so the tier's active-run limit never answers). p50/p99 over many calls.
2. The local gateway over loopback: a local stack (subprocess), one enterprise tenant, 50
   concurrent clients (threads, one keep-alive HTTP client each) alternating GET /runs/{id} and
   GET /runs/{id}/results?limit=100 for 30 s with a bearer token (the authorizer runs on every
   request). Throughput, p50/p99 and every non-2xx answer or transport error (none allowed).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench._common import ROOT, emit
from bench.scaling import HORIZON, RUN_BODY, Stack, Tenant, demand_mix

BASE = "/api/v1/forecast"


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]

    return {
        "n": len(ordered),
        "p50_ms": round(q(0.50) * 1000, 2),
        "p99_ms": round(q(0.99) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


# ---------------------------------------------------------------- handler only
def _event(
    template: dict[str, Any],
    method: str,
    path: str,
    client_id: str,
    body: Any = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    event = copy.deepcopy(template)
    params: dict[str, str] = {}
    parts = path.split("/")
    if len(parts) > 5 and parts[4] == "runs":
        params["run_id"], parts[5] = parts[5], "{run_id}"
    headers = {"Content-Type": "application/json", "Host": "127.0.0.1"}
    event.update(
        httpMethod=method,
        path=path,
        resource="/".join(parts),
        pathParameters=params or None,
        body=json.dumps(body) if body is not None else None,
        headers=headers,
        multiValueHeaders={k: [v] for k, v in headers.items()},
        queryStringParameters=query,
        multiValueQueryStringParameters={k: [v] for k, v in (query or {}).items()} or None,
    )
    event["requestContext"].update(httpMethod=method, resourcePath=event["resource"], path=f"/prod{path}")
    event["requestContext"]["authorizer"] = {
        "principalId": "usr_bench",
        "client_id": client_id,
        "role": "admin",
        "subject": "usr_bench",
        "kind": "user",
    }
    return event


def handler_latency(quick: bool, log: Any) -> dict[str, Any]:
    from bench.worker import (
        Context,
        add_tenant,
        drain,
        emulated_service_time,
        moto_aws,
        moto_transactions,
        plan,
        sqs_event,
        store,
    )

    n = 60 if quick else 300
    template = json.loads((ROOT / "events" / "api_health.json").read_text())
    ctx = Context()
    out: dict[str, Any] = {}
    with moto_aws() as provisioned, moto_transactions(patched=True):
        # imported once the function's environment is set, as Lambda's init does (Powertools reads
        # its metrics namespace at import; without it the 100th metric's auto-flush raises)
        from forecast_api.app import handler

        table = provisioned.resources["Table"].ref
        client = add_tenant(table, "cli_api", tier="enterprise")
        series = demand_mix(100, seed=21)
        store(table, client, series)
        run_id = plan(client, list(series))  # 3 batches of 40: one SQS event of 3 records
        event, _ = sqs_event(provisioned, "ForecastQueue", 10)
        from forecast_worker.app import handler as worker_handler

        worker_handler(event, ctx)
        drain(provisioned, "ForecastQueue")

        outside: dict[str, list[float]] = {}

        def call(ev: dict[str, Any], expect: int) -> float:
            with emulated_service_time() as inside:
                t0 = time.perf_counter()
                response = handler(ev, ctx)
                elapsed = time.perf_counter() - t0
            outside.setdefault(ev["resource"], []).append(max(0.0, elapsed - inside()))
            if response["statusCode"] != expect:
                raise RuntimeError(
                    f"{ev['httpMethod']} {ev['path']} -> {response['statusCode']} {response['body'][:300]}"
                )
            return elapsed

        get_run = _event(template, "GET", f"{BASE}/runs/{run_id}", client)
        results = _event(template, "GET", f"{BASE}/runs/{run_id}/results", client, query={"limit": "100"})
        answer = json.loads(handler(results, ctx)["body"])
        out["results_items"] = len(answer["items"])
        for _ in range(5):  # warm
            call(get_run, 200)
            call(results, 200)
        outside.clear()
        out["GET /runs/{id}"] = percentiles([call(get_run, 200) for _ in range(n)])
        # moto serialises a 100-item Query answer in seconds (its JSONSerializer): fewer calls here
        out["GET /runs/{id}/results (100 items)"] = percentiles([call(results, 200) for _ in range(max(10, n // 10))])
        out["without_emulator"] = {f"GET {k}": percentiles(v) for k, v in outside.items()}
        skus = list(series)[:10]
        posts = []
        for _ in range(max(20, n // 2)):
            ev = _event(template, "POST", f"{BASE}/runs", client, body={**RUN_BODY, "skus": skus})
            t0 = time.perf_counter()
            response = handler(ev, ctx)
            posts.append(time.perf_counter() - t0)  # (includes moto's S3 put and SQS send)
            if response["statusCode"] != 202:
                raise RuntimeError(f"POST /runs -> {response['statusCode']} {response['body'][:300]}")
            new_id = json.loads(response["body"])["run_id"]
            handler(_event(template, "POST", f"{BASE}/runs/{new_id}/cancel", client), ctx)
        out["POST /runs"] = percentiles(posts)
        drain(provisioned, "PlanQueue")
    log(f"  api handler-only: {json.dumps({k: v for k, v in out.items() if isinstance(v, dict)})}")
    return out


# ---------------------------------------------------------------- the gateway under load
def gateway_load(clients: int, seconds: float, tmp: Path, log: Any) -> dict[str, Any]:
    import httpx

    with Stack(workers=1, state=tmp / "api") as stack:
        tenant = Tenant.sign_up(stack, tier="enterprise")
        series = demand_mix(100, seed=21)
        tenant.store(series)
        with httpx.Client(base_url=stack.api, timeout=120) as http:
            run_id = tenant.start_run(http, list(series))
            run = tenant.wait(http, run_id, 900)
            if run["status"] not in ("SUCCEEDED", "PARTIAL"):  # results exist either way
                raise RuntimeError(f"the seed run ended {run['status']}")
        paths = [f"{BASE}/runs/{run_id}", f"{BASE}/runs/{run_id}/results?limit=100"]
        # warm every API container (cold starts are bench.coldstart's subject, not this one's)
        with httpx.Client(base_url=stack.api, timeout=120) as http:
            warm = [
                threading.Thread(target=lambda: [http.get(p, headers=tenant.headers) for p in paths * 3])
                for _ in range(8)
            ]
            for t in warm:
                t.start()
            for t in warm:
                t.join()
        tenant.login()  # a fresh 15-minute token for the load
        latencies: list[list[float]] = [[] for _ in range(clients)]
        errors: list[str] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + seconds
        began = time.perf_counter()

        def client_loop(i: int) -> None:
            with httpx.Client(base_url=stack.api, timeout=60) as http:
                k = i
                while time.monotonic() < stop_at:  # bounded: ends at the deadline
                    path = paths[k % 2]
                    k += 1
                    t0 = time.perf_counter()
                    try:
                        r = http.get(path, headers=tenant.headers)
                        status = r.status_code
                    except httpx.HTTPError as exc:
                        status = type(exc).__name__  # type: ignore[assignment]
                    latencies[i].append(time.perf_counter() - t0)
                    if status != 200:
                        with lock:
                            errors.append(f"{path.split('?')[0].rsplit('/', 1)[-1]}: {status}")

        threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=seconds + 180)
        elapsed = time.perf_counter() - began
    flat = [x for per in latencies for x in per]
    result = {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": len(flat),
        "throughput_rps": round(len(flat) / elapsed, 1),
        **percentiles(flat),
        "errors": len(errors),
        "error_kinds": dict(sorted(_count(errors).items())),
        "met": not errors,
    }
    log(f"  api gateway: {result}")
    return result


def _count(values: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def run(quick: bool = False, log: Any = print) -> dict[str, Any]:
    import tempfile

    result: dict[str, Any] = {"handler": handler_latency(quick, log)}
    with tempfile.TemporaryDirectory(prefix="skucast-bench-api-") as tmp:
        result["gateway"] = gateway_load(50 if not quick else 10, 30 if not quick else 8, Path(tmp), log)
    result["horizon"] = HORIZON
    return result


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
