"""MethodNotAllowedFunction: 405 with Allow and a problem document; OPTIONS 204 with Allow."""

from __future__ import annotations

import json
from typing import Any

import pytest

from method_not_allowed import app
from tests.conftest import FakeContext, response_header


def _event(method: str, resource: str) -> dict[str, Any]:
    return {"httpMethod": method, "resource": resource, "requestContext": {"requestId": "req-1"}}


@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH", "HEAD", "TRACE", "FOO"])
def test_given_a_method_the_path_does_not_define_then_405_with_allow_and_a_problem(method: str) -> None:
    response = app.handler(_event(method, "/api/v1/forecast/runs"), FakeContext())
    assert response["statusCode"] == 405
    assert response_header(response, "Allow") == "GET, POST, OPTIONS"
    assert response_header(response, "Content-Type") == "application/problem+json"
    problem = json.loads(response["body"])
    assert problem == {
        "type": "https://skucast.dev/problems/method-not-allowed",
        "title": "Method Not Allowed",
        "status": 405,
        "detail": f"{method} is not a method of /api/v1/forecast/runs; its methods are GET, POST, OPTIONS.",
        "request_id": "req-1",
    }


def test_given_options_then_204_with_allow_and_no_body() -> None:
    response = app.handler(_event("OPTIONS", "/api/auth/api-keys/{key_id}"), FakeContext())
    assert (response["statusCode"], response["body"]) == (204, "")
    assert response_header(response, "Allow") == "DELETE, OPTIONS"


def test_given_a_path_without_methods_then_404_as_the_gateway_answers() -> None:
    response = app.handler(_event("GET", "/api/nowhere"), FakeContext())
    assert response["statusCode"] == 404
    assert json.loads(response["body"])["detail"] == "No such route."


def test_given_a_defined_method_routed_here_then_a_logged_500_not_a_wrong_405() -> None:
    response = app.handler(_event("GET", "/api/v1/forecast/runs"), FakeContext())
    assert response["statusCode"] == 500


def test_every_path_lists_its_methods_and_options_once() -> None:
    assert app.ALLOWED
    for methods in app.ALLOWED.values():
        allowed = app.allow(methods)
        assert allowed.count("OPTIONS") == 1 and set(methods) <= set(allowed)
