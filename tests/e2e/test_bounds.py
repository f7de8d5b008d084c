"""One tenant's cost and load are bounded, over the local stack's real HTTP: oversize bodies
(413 at the gateway), oversize record batches, oversize uploads (the POST policy, and the
ingester after decompression), page sizes, horizons over the tier's limit, concurrent runs per
tier. (Request rates per tier: test_auth_throttling.py.)"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import io
import json
import time
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from skucast import tiers
from tests.conftest import ROOT
from tests.e2e.conftest import RunningStack
from tests.e2e.routes import REQUIRED_QUERIES, Tenant, finish, start_run, store_sku

F = "/api/v1/forecast"
OPENAPI = ROOT / "functions" / "forecast_api" / "forecast_api" / "openapi.json"
GATEWAY_MAX_BODY = 10 * 1024 * 1024


def _problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"] == "application/problem+json"
    return dict(r.json())


def test_given_a_body_over_10_mib_on_any_body_route_then_413_before_any_function(stack: RunningStack) -> None:
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, http=http)
        huge = b'{"records": [' + b" " * GATEWAY_MAX_BODY + b"]}"
        before = stack.stats()
        for method, path in (
            ("POST", f"{F}/demand"),
            ("POST", f"{F}/runs"),
            ("PUT", f"{F}/schedule"),
            ("POST", f"{F}/uploads"),
            ("POST", "/api/auth/users"),
        ):
            r = http.request(method, path, content=huge, headers={**tenant.headers, "Content-Type": "application/json"})
            _problem(r, 413)
        after = stack.stats()
        invoked = {k for k in after if k.startswith("invoke.") and after[k] != before.get(k, 0)}
        assert not {k for k in invoked if "ForecastApi" in k or "AuthApi" in k}, invoked  # the gateway answered


def test_given_more_than_10000_records_then_413_and_nothing_stored(stack: RunningStack) -> None:
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, http=http)
        records = [{"sku": f"B-{i % 100}", "date": "2024-01-01", "quantity": 1} for i in range(10_001)]
        _problem(http.post(f"{F}/demand", json={"records": records}, headers=tenant.headers), 413)
        assert http.get(f"{F}/skus", headers=tenant.headers).json()["items"] == []
        assert http.get(f"{F}/uploads", headers=tenant.headers).json()["items"] == []


def test_given_an_upload_ticket_then_its_policy_pins_the_key_and_caps_the_size(stack: RunningStack) -> None:
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, http=http)
        r = http.post(f"{F}/uploads", json={"filename": "d.csv"}, headers=tenant.headers)
        assert r.status_code == 201, r.text
        ticket = r.json()
        policy = json.loads(base64.b64decode(ticket["fields"]["policy"]))
        conditions = policy["conditions"]
        assert ["content-length-range", 1, ticket["max_bytes"]] in conditions, conditions
        assert {"key": ticket["fields"]["key"]} in conditions, conditions
        assert ticket["fields"]["key"] == f"uploads/{tenant.client_id}/{ticket['upload_id']}"
        expires = dt.datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
        assert expires - dt.datetime.now(dt.UTC) <= dt.timedelta(seconds=ticket["expires_in"] + 5)


def _gzip_bomb(inflated: int) -> bytes:
    """Well-formed rows (under the row limit: long SKUs) that inflate past `inflated` bytes.
    (A bomb of NULs or blank lines trips other limits or costs minutes of parsing first.)"""
    line = b"S" * 100 + b",2024-01-01,1\n"
    block = line * (1024 * 1024 // len(line))
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(b"sku,date,quantity\n")
        for _ in range(inflated // len(block) + 1):
            gz.write(block)
    return buf.getvalue()


@pytest.mark.slow
def test_given_a_small_file_that_inflates_past_the_limit_then_the_ingester_rejects_it(stack: RunningStack) -> None:
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, http=http)
        sku = store_sku(tenant, "SKU-BOMB")
        before = http.get(f"{F}/skus/{sku}/demand", headers=tenant.headers).json()
        r = http.post(f"{F}/uploads", json={"filename": "bomb.csv.gz"}, headers=tenant.headers)
        ticket = r.json()
        bomb = _gzip_bomb(513 * 1024 * 1024)  # past the 512 MiB limit, in under 2 MB
        assert len(bomb) < ticket["max_bytes"]  # so the POST policy lets it through
        sent = httpx.post(ticket["url"], data=ticket["fields"], files={"file": ("bomb.csv.gz", bomb)}, timeout=120)
        assert sent.status_code in (200, 201, 204), sent.text
        deadline = time.monotonic() + 180
        while (report := http.get(f"{F}/uploads/{ticket['upload_id']}", headers=tenant.headers).json())["status"] in (
            "AWAITING_FILE",
            "PROCESSING",
        ):
            assert time.monotonic() < deadline, report
            time.sleep(0.5)
        assert report["status"] == "REJECTED", report
        assert [e["code"] for e in report["errors"]] == ["decompressed_too_large"], report
        assert http.get(f"{F}/skus/{sku}/demand", headers=tenant.headers).json() == before


def _list_operations() -> list[str]:
    """Every documented GET that pages (`?limit=`): new lists are covered automatically."""
    paths = json.loads(OPENAPI.read_text())["paths"]
    return sorted(
        path
        for path, ops in paths.items()
        if any(p["name"] == "limit" and p["in"] == "query" for p in ops.get("get", {}).get("parameters", []))
    )


def test_given_page_sizes_outside_1_to_1000_on_every_list_then_422(stack: RunningStack) -> None:
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, http=http)
        sku = store_sku(tenant)
        run_id = start_run(tenant, [sku])
        finish(tenant, run_id, timeout=180)  # a result's lists (its adjustments) need the result
        values = {"run_id": run_id, "sku": quote(sku, safe="")}  # the SKU holds '/' and '#'
        lists = _list_operations()
        assert {f"{F}/runs", f"{F}/skus", f"{F}/uploads", "/api/auth/users"} <= set(lists), lists
        for path in lists:
            concrete = path.format(**values)
            # What the route requires besides (compare's `to`: here the run itself).
            required = {k: v.format(**values) for k, v in REQUIRED_QUERIES.get(("GET", path), {}).items()}
            for limit in ("0", "1001", "-1", "99999999999999999999", "ten", "1.5"):
                r = http.get(concrete, params={"limit": limit, **required}, headers=tenant.headers)
                problem = _problem(r, 422)
                assert any(e["field"] == "limit" for e in problem.get("errors", [])), (path, limit, problem)
            for limit in ("1", "1000"):
                r = http.get(concrete, params={"limit": limit, **required}, headers=tenant.headers)
                assert r.status_code == 200, (path, limit, r.text)
                assert len(r.json()["items"]) <= int(limit)


def test_given_a_tiers_longest_horizon_in_each_frequency_then_the_run_and_schedule_are_accepted(
    stack: RunningStack,
) -> None:
    """A month is a month, not 31 days: 3 months on free, 12 months and 52 weeks on standard."""
    with stack.http() as http:
        cases = (("free", "M", 3), ("free", "W", 13), ("standard", "M", 12), ("standard", "W", 52))
        for tier, frequency, horizon in cases:
            tenant = Tenant.sign_up(stack, tier=tier, http=http)
            body = {"horizon": horizon, "frequency": frequency, "skus": ["X"], "backtest_windows": 0}
            r = http.post(f"{F}/runs", json=body, headers=tenant.headers)
            assert r.status_code == 202, (tier, frequency, r.text)
            schedule = {"cron": "0 3 * * *", "horizon": horizon, "frequency": frequency}
            r = http.put(f"{F}/schedule", json=schedule, headers=tenant.headers)
            assert r.status_code == 200, (tier, frequency, r.text)


@pytest.mark.parametrize("tier", ["free", "standard", "enterprise"])
def test_given_horizons_past_the_tier_limit_then_422_naming_horizon(stack: RunningStack, tier: str) -> None:
    horizons = tiers.TIERS[tier].max_horizon
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, tier=tier, http=http)
        for frequency, unit in (("D", "days"), ("W", "weeks"), ("M", "months")):
            horizon = horizons.limit(frequency) + 1
            if horizon > 366:  # the contract's own bound answers first
                continue
            body = {"horizon": horizon, "frequency": frequency, "skus": ["X"]}
            problem = _problem(http.post(f"{F}/runs", json=body, headers=tenant.headers), 422)
            assert [(e["field"], e["code"]) for e in problem["errors"]] == [("horizon", "over_tier_limit")], problem
            # The limit is quoted in the run's own frequency.
            assert f"up to {horizon - 1} {unit}" in problem["errors"][0]["message"], problem
            schedule = {"cron": "0 3 * * *", "horizon": horizon, "frequency": frequency}
            problem = _problem(http.put(f"{F}/schedule", json=schedule, headers=tenant.headers), 422)
            assert f"up to {horizon - 1} {unit}" in json.dumps(problem), problem
        _problem(http.post(f"{F}/runs", json={"horizon": 367, "skus": ["X"]}, headers=tenant.headers), 422)
        assert http.get(f"{F}/runs", headers=tenant.headers).json()["items"] == []


@pytest.mark.parametrize("tier", ["free", "standard"])
def test_given_the_tiers_concurrent_runs_then_one_more_is_409_until_one_finishes(
    stack: RunningStack, tier: str
) -> None:
    limit = tiers.TIERS[tier].max_active_runs
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, tier=tier, http=http)
        # Enough work that the runs are still active while we ask for one more: 150 SKUs with
        # the default method, and the tier's cap on batches in flight.
        days = [(dt.date(2024, 1, 1) + dt.timedelta(days=d)).isoformat() for d in range(60)]
        records = [
            {"sku": f"L-{s:03d}", "date": d, "quantity": (s + i) % 7} for s in range(150) for i, d in enumerate(days)
        ]
        assert http.post(f"{F}/demand", json={"records": records}, headers=tenant.headers).status_code == 200
        body = {"horizon": 14, "backtest_windows": 2}
        started = []
        for _ in range(limit):
            r = http.post(f"{F}/runs", json=body, headers=tenant.headers)
            assert r.status_code == 202, r.text
            started.append(r.json()["run_id"])
        problem = _problem(http.post(f"{F}/runs", json=body, headers=tenant.headers), 409)
        assert str(limit) in problem["detail"]
        statuses = {r["status"] for r in http.get(f"{F}/runs", headers=tenant.headers).json()["items"]}
        assert statuses <= {"QUEUED", "RUNNING"}, "the 409 was for runs still active"
        for run_id in started:  # cancelling frees the slots at once
            assert http.post(f"{F}/runs/{run_id}/cancel", headers=tenant.headers).status_code == 202
        r = http.post(f"{F}/runs", json={**body, "skus": ["L-000"]}, headers=tenant.headers)
        assert r.status_code == 202, r.text


def test_given_json_nested_past_the_bound_on_any_json_route_then_400_problem_not_500(stack: RunningStack) -> None:
    deep = "[" * 990 + "]" * 990
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, http=http)
        for method, path, headers in (
            ("POST", "/api/auth/login", {}),  # unauthenticated
            ("POST", "/api/auth/refresh", {}),
            ("POST", "/api/auth/users", tenant.headers),
            ("POST", f"{F}/runs", tenant.headers),
            ("PUT", f"{F}/schedule", tenant.headers),
            ("POST", f"{F}/demand", tenant.headers),
        ):
            for body in (deep, '{"email": ' + deep + "}"):
                r = http.request(method, path, content=body, headers={**headers, "Content-Type": "application/json"})
                problem = _problem(r, 400)
                assert "deeper than" in problem["detail"], (path, problem)
        # Nesting within the bound is parsed as before: here a body that is merely invalid.
        shallow = "[" * 20 + "]" * 20
        r = http.post("/api/auth/login", content=shallow, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, r.text


def test_given_quantities_beyond_what_the_store_and_models_hold_then_each_row_is_refused(
    stack: RunningStack,
) -> None:
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, http=http)
        day = dt.date(2024, 1, 1)
        records = [
            {"sku": f"Q-{i % 10}", "date": (day + dt.timedelta(days=i // 10)).isoformat(), "quantity": i % 7}
            for i in range(100)
        ]
        records += [
            {"sku": "HUGE", "date": "2024-01-01", "quantity": 1e307},
            {"sku": "TINY", "date": "2024-01-01", "quantity": 1e-200},
        ]
        r = http.post(f"{F}/demand", json={"records": records}, headers=tenant.headers)
        assert r.status_code == 200, r.text
        report = r.json()
        assert report["status"] == "PARTIAL" and report["rows_rejected"] == 2, report
        assert [(e["row"], e["code"]) for e in report["errors"]] == [
            (101, "quantity_out_of_range"),
            (102, "quantity_out_of_range"),
        ]
        for sku in ("HUGE", "TINY"):
            assert http.get(f"{F}/skus/{sku}", headers=tenant.headers).status_code == 404


def test_given_forged_upload_forms_then_the_local_s3_refuses_them_as_s3_does(stack: RunningStack) -> None:
    csv_body = b"sku,date,quantity\nFORGED,2024-01-01,5\n"
    with stack.http() as http:
        victim, attacker = Tenant.sign_up(stack, http=http), Tenant.sign_up(stack, http=http)
        pending = http.post(f"{F}/uploads", json={"filename": "v.csv"}, headers=victim.headers).json()
        ticket = http.post(f"{F}/uploads", json={"filename": "a.csv"}, headers=attacker.headers).json()

        def post(fields: dict[str, str], content: bytes = csv_body) -> httpx.Response:
            return httpx.post(ticket["url"], data=fields, files={"file": ("a.csv", content)}, timeout=60)

        def refused(r: httpx.Response, status: int, code: str) -> None:
            assert r.status_code == status and f"<Code>{code}</Code>" in r.text, (r.status_code, r.text)

        # The attacker's own signed form, aimed at the victim's pending upload.
        refused(post({**ticket["fields"], "key": pending["fields"]["key"]}), 403, "AccessDenied")
        # A policy rewritten to allow any key under uploads/: the signature no longer matches it.
        policy = json.loads(base64.b64decode(ticket["fields"]["policy"]))
        policy["conditions"] = [
            ["starts-with", "$key", "uploads/"] if isinstance(c, dict) and "key" in c else c
            for c in policy["conditions"]
        ]
        forged = base64.b64encode(json.dumps(policy).encode()).decode()
        aimed = {**ticket["fields"], "key": pending["fields"]["key"], "policy": forged}
        refused(post(aimed), 403, "SignatureDoesNotMatch")
        # A field the policy does not name, and an empty file under the 1-byte minimum.
        refused(post({**ticket["fields"], "acl": "public-read"}), 403, "AccessDenied")
        refused(post(ticket["fields"], b""), 400, "EntityTooSmall")
        s3: Any = stack.aws_client("s3")
        bucket = stack.describe()["resources"]["DataBucket"]
        for key in (pending["fields"]["key"], ticket["fields"]["key"]):
            assert s3.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount", 0) == 0, key
        victim_upload = http.get(f"{F}/uploads/{pending['upload_id']}", headers=victim.headers).json()
        assert victim_upload["status"] == "AWAITING_FILE"
        # The form as issued still works.
        assert post(ticket["fields"]).status_code == 204


def test_given_schedules_in_aws_and_classic_cron_then_accepted_up_to_each_tiers_frequency(stack: RunningStack) -> None:
    with stack.http() as http:
        tenants = {tier: Tenant.sign_up(stack, tier=tier, http=http) for tier in ("free", "standard", "enterprise")}

        def put(tier: str, cron: str) -> httpx.Response:
            body = {"cron": cron, "horizon": 7}
            return http.put(f"{F}/schedule", json=body, headers=tenants[tier].headers)

        for cron in ("cron(0 6 ? * MON *)", "0 6 ? * MON *", "0 6 * * 1", "cron(0 6 L * ? *)"):
            r = put("free", cron)
            assert r.status_code == 200 and r.json()["cron"] == cron, r.text
            assert dt.datetime.fromisoformat(r.json()["next_run_at"]).hour == 6
        assert put("standard", "0 * * * *").status_code == 200
        assert put("enterprise", "*/15 * * * *").status_code == 200
        for tier, cron, code, words in (
            ("free", "* * * * *", "too_frequent", "every 1 day; this schedule fires every 1 minute"),
            ("free", "0 0,12 * * *", "too_frequent", "every 12 hours"),
            ("standard", "*/30 * * * *", "too_frequent", "every 1 hour"),
            ("enterprise", "*/5 * * * *", "too_frequent", "every 15 minutes"),
            ("free", "cron(0 6 * * MON *)", "invalid_cron", "? in exactly one"),
            ("free", "0 6 ? * MON 2030", "invalid_cron", "year"),
            ("free", "0 6 * * * * *", "invalid_cron", "5 fields"),
        ):
            problem = _problem(put(tier, cron), 422)
            assert [(e["field"], e["code"]) for e in problem["errors"]] == [("cron", code)], problem
            assert words in problem["errors"][0]["message"], problem
