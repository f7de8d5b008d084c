"""A method a real route does not define, over real HTTP: 405 with `Allow` and a problem document
(RFC 9110, RFC 9457), not the gateway's "no such route"; OPTIONS is 204 with `Allow`; a path the
template does not serve is still 404. Every path of the template, with every method it lacks."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import RunningStack
from tests.e2e.routes import routes

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")


def _methods_by_path() -> dict[str, set[str]]:
    table: dict[str, set[str]] = {}
    for route in routes():
        table.setdefault(route.path, set()).add(route.method)
    return table


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x-1", path)


def _allow(header: str | None) -> set[str]:
    return {m.strip() for m in (header or "").split(",") if m.strip()}


def test_given_every_path_when_called_with_each_method_it_lacks_then_405_with_its_methods(
    stack: RunningStack,
) -> None:
    table = _methods_by_path()
    assert len(table) > 20
    checked = 0
    with stack.http() as http:
        for path, methods in sorted(table.items()):
            for method in METHODS:
                if method in methods:
                    continue
                r = http.request(method, _concrete(path))
                where = f"{method} {path}"
                assert r.status_code == 405, (where, r.status_code, r.text[:300])
                assert _allow(r.headers.get("allow")) == methods | {"OPTIONS"}, (where, r.headers.get("allow"))
                assert r.headers["content-type"] == "application/problem+json", where
                if method == "HEAD":
                    assert r.content == b"", where  # HEAD: the headers of the answer, no body
                    continue
                problem = r.json()
                assert problem["type"] == "https://skucast.dev/problems/method-not-allowed", where
                assert (problem["status"], problem["title"]) == (405, "Method Not Allowed"), where
                assert problem["detail"].startswith(f"{method} is not a method of {path}"), problem
                assert all(m in problem["detail"] for m in methods), problem
                assert problem["request_id"] == r.headers["x-amzn-RequestId"], where
                checked += 1
    assert checked > 100


def test_given_every_path_when_asked_options_then_204_with_its_methods_without_credentials(
    stack: RunningStack,
) -> None:
    with stack.http() as http:
        for path, methods in sorted(_methods_by_path().items()):
            r = http.options(_concrete(path), headers={"Origin": "https://console.example"})
            assert r.status_code == 204, (path, r.status_code, r.text[:300])
            assert _allow(r.headers.get("allow")) == methods | {"OPTIONS"}, path
            assert r.content == b""


def test_given_a_wrong_method_without_credentials_on_a_tenant_route_then_405_reveals_only_the_methods(
    stack: RunningStack,
) -> None:
    """The 405 needs no credential: it tells only what GET /api/openapi.json publishes."""
    with stack.http() as http:
        r = http.delete("/api/v1/forecast/runs")
        document = http.get("/api/openapi.json").json()
    assert r.status_code == 405
    assert _allow(r.headers["allow"]) == {m.upper() for m in document["paths"]["/api/v1/forecast/runs"]} | {"OPTIONS"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/"),  # GET / is the console (tests/unit/local/test_console_files.py)
        ("DELETE", "/api"),
        ("GET", "/api"),
        ("GET", "/api/v2/anything"),
        ("POST", "/api/monitoring/health/extra"),
        ("DELETE", "/api/v1/forecast/runs/r1/nothing"),
        ("OPTIONS", "/api/v1/forecast/nowhere"),
        ("GET", "/api/v1/forecast/runs/"),
    ],
)
def test_given_a_path_the_template_does_not_serve_then_still_404_whatever_the_method(
    stack: RunningStack, method: str, path: str
) -> None:
    with stack.http() as http:
        r = http.request(method, path)
    assert r.status_code == 404, (method, path, r.text[:300])
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers.get("x-amzn-ErrorType") == "MISSING_AUTHENTICATION_TOKEN"
    assert "allow" not in r.headers
