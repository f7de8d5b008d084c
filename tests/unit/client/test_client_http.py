"""The client's HTTP behaviour: retries honour Retry-After, problem documents become exceptions,
user sessions refresh on 401."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest
from skucast_client import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    ServiceUnavailableError,
    SkucastError,
    TransportError,
    ValidationError,
    WaitTimeoutError,
    parse_retry_after,
)

from tests.unit.client.fake_api import Recorder, problem

METHODS = "/api/v1/forecast/methods"
OK = httpx.Response(200, json={"items": [{"name": "auto", "description": "", "demand_classes": []}]})


def test_given_429_with_retry_after_seconds_then_the_client_waits_exactly_that_and_retries() -> None:
    api = Recorder()
    api.add("GET", METHODS, problem(429, "Too Many Requests", headers={"Retry_After": "3"}))
    api.add("GET", METHODS, problem(429, "Too Many Requests", headers={"Retry_After": "1.5"}), OK)
    assert api.client().methods()[0]["name"] == "auto"
    assert api.sleeps == [3.0, 1.5]
    assert len(api.sent("GET", METHODS)) == 3


def test_given_503_without_retry_after_then_backoff_is_exponential_and_capped() -> None:
    api = Recorder()
    api.add("GET", METHODS, *[problem(503, "Service Unavailable")] * 5, OK)
    assert api.client(backoff=0.5, max_backoff=4.0).methods()
    assert api.sleeps == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_given_retry_after_as_an_http_date_then_the_wait_is_until_that_date() -> None:
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 7, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(7, abs=1)
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-4") == 0.0
    api = Recorder()
    later = email.utils.formatdate(time.time() + 60, usegmt=True)
    api.add("GET", METHODS, problem(429, "Too Many Requests", headers={"Retry_After": later}), OK)
    api.client().methods()
    assert 55 <= api.sleeps[0] <= 61


def test_given_throttling_outlasting_every_retry_then_rate_limited_error_carries_the_problem() -> None:
    api = Recorder()
    api.add("GET", METHODS, problem(429, "Too Many Requests", "slow down", headers={"Retry_After": "2"}))
    with pytest.raises(RateLimitedError) as caught:
        api.client(max_retries=3).methods()
    assert api.sleeps == [2.0, 2.0, 2.0]
    assert len(api.sent("GET", METHODS)) == 4
    error = caught.value
    assert error.status == 429 and error.retry_after == 2.0
    assert error.problem["title"] == "Too Many Requests" and error.detail == "slow down"
    assert error.request_id == "req-1"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, PayloadTooLargeError),
        (422, ValidationError),
        (500, ServerError),
        (502, ServerError),
        (418, APIError),
    ],
)
def test_given_a_problem_document_then_the_matching_exception_carries_it(status: int, cls: type) -> None:
    api = Recorder()
    errors = [{"field": "horizon", "code": "too_large", "message": "at most 366"}]
    api.add("GET", "/api/v1/forecast/runs/r1", problem(status, "Nope", "because", errors=errors))
    with pytest.raises(cls) as caught:
        api.client().run("r1")
    error = caught.value
    assert isinstance(error, SkucastError) and error.status == status
    assert error.problem == {
        "type": "about:blank",
        "title": "Nope",
        "status": status,
        "detail": "because",
        "request_id": "req-1",
        "errors": errors,
    }
    assert error.errors == errors
    assert str(error).startswith(f"{status} Nope: because") and "horizon: at most 366" in str(error)
    assert len(api.requests) == 1  # no retry for these


def test_given_503_outlasting_retries_then_service_unavailable() -> None:
    api = Recorder()
    api.add("GET", METHODS, problem(503, "Service Unavailable"))
    with pytest.raises(ServiceUnavailableError):
        api.client(max_retries=1).methods()


def test_given_an_error_without_a_problem_body_then_the_text_is_the_detail() -> None:
    api = Recorder()
    api.add("GET", METHODS, httpx.Response(502, text="<html>bad gateway</html>"))
    with pytest.raises(ServerError) as caught:
        api.client().methods()
    assert caught.value.problem["detail"] == "<html>bad gateway</html>"


def test_given_the_api_unreachable_then_transport_error_after_retries() -> None:
    api = Recorder()

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    api.add("GET", METHODS, refuse)
    with pytest.raises(TransportError):
        api.client(max_retries=2).methods()
    assert api.sleeps == [0.5, 1.0]


def test_given_an_expired_access_token_then_the_client_refreshes_once_and_stores_the_new_pair() -> None:
    api = Recorder()
    api.add("GET", METHODS, problem(401, "Unauthorized"), OK)
    api.add("POST", "/api/auth/refresh", httpx.Response(200, json={"access_token": "a2", "refresh_token": "r2"}))
    stored: list[dict] = []
    client = api.client(api_key=None, access_token="a1", refresh_token="r1", on_tokens=stored.append)
    assert client.methods()
    calls = api.sent("GET", METHODS)
    assert [c.headers["authorization"] for c in calls] == ["Bearer a1", "Bearer a2"]
    assert api.sent("POST", "/api/auth/refresh")[0].read() == b'{"refresh_token":"r1"}'
    assert stored == [{"access_token": "a2", "refresh_token": "r2"}]
    assert client.refresh_token == "r2"


def test_given_a_revoked_refresh_token_and_a_password_then_the_client_logs_in_again() -> None:
    api = Recorder()
    api.add(
        "POST",
        "/api/auth/login",
        httpx.Response(200, json={"access_token": "a1", "refresh_token": "r1"}),
        httpx.Response(200, json={"access_token": "a3", "refresh_token": "r3"}),
    )
    api.add("GET", METHODS, problem(401, "Unauthorized"), OK)
    api.add("POST", "/api/auth/refresh", problem(401, "Unauthorized"))
    client = api.client(api_key=None, email="a@b.example", password="pw")
    assert client.methods()
    assert [c.headers["authorization"] for c in api.sent("GET", METHODS)] == ["Bearer a1", "Bearer a3"]


def test_given_an_api_key_rejected_then_authentication_error_without_a_retry() -> None:
    api = Recorder()
    api.add("GET", METHODS, problem(401, "Unauthorized"))
    with pytest.raises(AuthenticationError):
        api.client(api_key="revoked").methods()
    assert len(api.requests) == 1
    assert api.requests[0].headers["x-api-key"] == "revoked"


def test_given_a_list_then_every_page_is_followed() -> None:
    api = Recorder()

    def page(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        assert request.url.params["limit"] == "1000"
        if cursor is None:
            return httpx.Response(200, json={"items": [{"sku": "A"}, {"sku": "B"}], "next_cursor": "c1"})
        return httpx.Response(200, json={"items": [{"sku": "C"}], "next_cursor": None})

    api.add("GET", "/api/v1/forecast/skus", page)
    assert [s["sku"] for s in api.client().skus()] == ["A", "B", "C"]


EXPORT = "/api/v1/forecast/runs/run_1/export"
PREPARING = {"type": "https://skucast.dev/problems/export-preparing"}


def test_given_an_export_being_prepared_then_the_client_waits_retry_after_and_returns_the_link() -> None:
    api = Recorder()
    api.add(
        "POST",
        EXPORT,
        problem(409, "Export Being Prepared", headers={"Retry_After": "4"}, **PREPARING),
        problem(409, "Export Being Prepared", headers={"Retry_After": "2"}, **PREPARING),
        httpx.Response(200, json={"url": "https://s3.test/x", "expires_in": 900}),
    )
    assert api.client().export_link("run_1", "parquet")["url"] == "https://s3.test/x"
    assert api.sleeps == [4.0, 2.0]
    assert {r.read() for r in api.sent("POST", EXPORT)} == {b'{"format":"parquet"}'}


def test_given_an_export_never_ready_then_wait_timeout_after_the_callers_timeout() -> None:
    api = Recorder()
    api.add("POST", EXPORT, problem(409, "Export Being Prepared", headers={"Retry_After": "30"}, **PREPARING))
    with pytest.raises(WaitTimeoutError):
        api.client().export_link("run_1", timeout=100)
    assert api.sleeps == [30.0, 30.0, 30.0]


def test_given_a_run_not_finished_then_export_raises_conflict_without_waiting() -> None:
    api = Recorder()
    api.add("POST", EXPORT, problem(409, "Conflict", "The run has not finished yet."))
    with pytest.raises(ConflictError):
        api.client().export_link("run_1")
    assert api.sleeps == []
