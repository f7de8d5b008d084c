"""Contract fuzzing: schemathesis generates requests from the committed OpenAPI document and sends
them over the local stack's real HTTP (gateway, authorizer, usage plans, functions), signed in as
a tenant admin. Every answer must be documented (status, content type, schema); no operation may
answer 5xx; input the document calls invalid must be refused with a 4xx.

Bounded for CI: the fuzzing phase only, a fixed seed, MAX_EXAMPLES per operation and mode.
Positive cases of id-bearing routes use the tenant's real ids half of the time, so the fuzzer
reaches the handlers behind the 404 as well as the 404 itself.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig

from tests.conftest import ROOT
from tests.e2e.conftest import RunningStack
from tests.e2e.routes import Tenant, start_run, store_sku

OPENAPI = ROOT / "functions" / "forecast_api" / "forecast_api" / "openapi.json"
# CI bound. A deeper hunt: SKUCAST_FUZZ_EXAMPLES=200 SKUCAST_FUZZ_SEED=7 pytest tests/e2e/test_contract_fuzz.py
MAX_EXAMPLES = int(os.environ.get("SKUCAST_FUZZ_EXAMPLES", "12"))
BASE: dict[str, Any] = {
    "seed": int(os.environ.get("SKUCAST_FUZZ_SEED", "90210")),
    "generation": {
        "mode": "all",
        "max-examples": MAX_EXAMPLES,
        "deterministic": True,
        "database": "none",
        "no-shrink": True,
        "with-security-parameters": False,
    },
    # The document states types and bounds, not every rule a handler checks (a cursor must be
    # one the server issued, an e-mail deliverable, a cron expression valid, a level 50..99,
    # an id one of the tenant's): schema-valid input may still be refused with 400/404/409/422,
    # but never 401/403 (the caller is an admin), 413, 429 or 5xx.
    "checks": {
        "positive_data_acceptance": {"expected-statuses": ["2XX", "400", "404", "409", "422"]},
        # An undeclared method on a declared path is 405 with Allow (MethodNotAllowedFunction,
        # through the path's ANY method; every path and method: test_method_not_allowed.py).
        "unsupported_method": {"enabled": True},
    },
    "phases": {
        "examples": {"enabled": False},
        "coverage": {"enabled": True},  # boundary values, wrong types, missing parts: deterministic
        "stateful": {"enabled": False},
    },
}
# A made-up refresh token or operator key is refused: 401 is the right answer there.
CREDENTIAL_ROUTES = {
    "include-path-regex": "^/api/(auth/refresh|monitoring/ready)$",
    "checks": {"positive_data_acceptance": {"expected-statuses": ["2XX", "400", "401", "422"]}},
}
# An adjustment must name the version it changes: a made-up If-Match is 412 and none is 428.
ADJUSTMENT_ROUTES = {
    "include-path-regex": "/adjustments$",
    "checks": {"positive_data_acceptance": {"expected-statuses": ["2XX", "400", "404", "409", "412", "422", "428"]}},
}
# The operator's route creates tenants; it is fuzzed below with the service key instead.
schema = schemathesis.openapi.from_path(
    OPENAPI, config=SchemathesisConfig.from_dict({**BASE, "operations": [CREDENTIAL_ROUTES, ADJUSTMENT_ROUTES]})
).exclude(path="/api/auth/clients")
operator_schema = schemathesis.openapi.from_path(OPENAPI, config=SchemathesisConfig.from_dict(BASE)).include(
    path="/api/auth/clients"
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzz_tenant(stack: RunningStack) -> Iterator[tuple[Tenant, dict[str, str]]]:
    """An enterprise tenant (roomy rate and run limits) with one finished run, a SKU, an upload,
    a declared driver and a hierarchy of the same name."""
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, tier="enterprise", http=http)
        sku = store_sku(tenant, 'SKU FUZZ/1 日本茶,"%#')
        run_id = start_run(tenant, [sku])
        r = http.post("/api/v1/forecast/uploads", json={"filename": "fuzz.csv"}, headers=tenant.headers)
        assert r.status_code == 201, r.text
        driver = http.put("/api/v1/forecast/drivers/fuzz_price", json={"kind": "numeric"}, headers=tenant.headers)
        assert driver.status_code == 201, driver.text
        records = [{"sku": sku, "attributes": {"fuzz_level": "x"}}]
        assert http.post("/api/v1/forecast/attributes", json={"records": records}, headers=tenant.headers).is_success
        hierarchy = {"levels": ["fuzz_level"]}
        r2 = http.put("/api/v1/forecast/hierarchies/fuzz_price", json=hierarchy, headers=tenant.headers)
        assert r2.status_code == 201, r2.text
        ids = {"run_id": run_id, "sku": sku, "upload_id": r.json()["upload_id"], "name": "fuzz_price"}
        yield tenant, ids


def _use_real_ids(case: Any, tenant: Tenant, ids: dict[str, str]) -> None:
    """Positive cases of id routes: half of them (by a hash of the case, so deterministic) get
    the tenant's real ids. A key_id gets a fresh throwaway key (DELETE consumes it)."""
    params = case.path_parameters or {}
    if not params or case.meta is None or case.meta.generation.mode.is_negative:
        return
    if hashlib.sha256(repr(sorted(params.items())).encode()).digest()[0] % 2:
        return
    for name in params:
        if name == "key_id":
            params[name] = tenant.create_api_key("viewer")["key_id"]
        elif name in ids:
            params[name] = ids[name]


def _check_problem(response: Any) -> None:
    status = response.status_code
    assert status < 500, f"{status}: {response.text[:500]}"
    if status >= 400:
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type.startswith("application/problem+json"), (status, response.headers)
        body = response.json()
        assert body["status"] == status and body["title"] and body["type"], body
        for leak in ("Traceback", "arn:aws", "CLIENT#", "uploads/cli_", "skucast-local"):
            assert leak not in response.text, (leak, response.text[:500])


@schema.parametrize()
def test_every_operation_answers_as_documented_and_never_5xx(
    case: Any, stack: RunningStack, fuzz_tenant: tuple[Tenant, dict[str, str]]
) -> None:
    tenant, ids = fuzz_tenant
    _use_real_ids(case, tenant, ids)
    response = case.call(base_url=stack.api, headers=dict(tenant.headers), timeout=60)
    _check_problem(response)
    case.validate_response(response, headers=dict(tenant.headers))


@operator_schema.parametrize()
def test_the_operator_route_answers_as_documented_and_never_5xx(case: Any, stack: RunningStack) -> None:
    headers = {"X-Service-Key": stack.service_key}
    response = case.call(base_url=stack.api, headers=headers, timeout=60)
    _check_problem(response)
    case.validate_response(response, headers=headers)


def test_given_a_body_that_is_not_declared_json_on_every_body_route_then_400_not_500(
    stack: RunningStack, fuzz_tenant: tuple[Tenant, dict[str, str]]
) -> None:
    """Found by the fuzzer: a body sent as text/plain, or as multipart without a boundary, was a 500."""
    tenant, ids = fuzz_tenant
    paths = schema.raw_schema["paths"]
    body_routes = [(m, p) for p, ops in paths.items() for m, op in ops.items() if "requestBody" in op]
    assert ("post", "/api/v1/forecast/runs") in body_routes
    headers = {**tenant.headers, "X-Service-Key": stack.service_key}
    with stack.http() as http:
        for method, path in body_routes:
            url = path.format(**{k: quote(v, safe="") for k, v in ids.items()}, key_id="key_" + "0" * 20)
            for content_type, status in (
                ("text/plain", 400),
                ("application/xml", 400),
                ("multipart/form-data", 400),  # no boundary
                ("application/x-www-form-urlencoded", None),  # parsed as a form: 400 or 422
            ):
                r = http.request(method, url, content=b"{}", headers={**headers, "Content-Type": content_type})
                assert r.status_code == status or (status is None and r.status_code in (400, 422)), (
                    method, path, content_type, r.status_code, r.text[:200],
                )  # fmt: skip
                assert r.headers["content-type"] == "application/problem+json"


def test_the_served_document_is_the_committed_one(stack: RunningStack) -> None:
    served = httpx.get(f"{stack.api}/api/openapi.json", timeout=30)
    assert served.status_code == 200
    assert served.json() == schema.raw_schema
