"""The shared resolver turns every error into an RFC 9457 problem document."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, unquote

from pydantic import BaseModel, Field

from skucast.api import create_app, requires
from skucast.errors import NotFound, Throttled
from tests.conftest import load_event, response_header

app = create_app()


class Thing(BaseModel):
    name: str = Field(min_length=1)
    count: int = Field(ge=0)


@app.post("/things")
def create_thing(thing: Thing) -> dict[str, Any]:
    return {"name": thing.name}


@app.get("/things/<thing_id>")
def get_thing(thing_id: str) -> dict[str, Any]:
    raise NotFound(f"No thing {thing_id}.")


@app.get("/slow")
def slow() -> dict[str, Any]:
    raise Throttled("Too fast.", retry_after=7)


@app.get("/boom")
def boom() -> dict[str, Any]:
    raise RuntimeError("table skucast-prod-Table at s3://secret/path exploded")


@app.get("/admin-only", middlewares=[requires("admin")])
def admin_only() -> dict[str, Any]:
    return {"ok": True}


def call(method: str, path: str, body: str | None = None, authorizer: dict[str, Any] | None = None) -> dict[str, Any]:
    event = load_event("api_health.json")
    event.update(httpMethod=method, path=path, resource=path, body=body)
    if path.startswith("/things/"):  # as API Gateway carries it: path encoded, the parameter decoded
        event.update(resource="/things/{thing_id}", pathParameters={"thing_id": unquote(path.split("/")[2])})
    event["requestContext"]["authorizer"] = authorizer
    return app.resolve(event, None)  # type: ignore[arg-type]


def problem(response: dict[str, Any]) -> dict[str, Any]:
    assert response_header(response, "Content-Type") == "application/problem+json"
    body = json.loads(response["body"])
    assert body["status"] == response["statusCode"]
    assert body["request_id"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    return body


def test_given_a_domain_error_when_raised_then_its_status_and_detail_are_the_problem() -> None:
    response = call("GET", "/things/abc")
    assert response["statusCode"] == 404
    assert problem(response)["detail"] == "No thing abc."


def test_given_a_path_parameter_that_needs_encoding_then_the_route_gets_it_decoded_once() -> None:
    # API Gateway REST: `path` stays percent-encoded, pathParameters are URL-decoded. The route
    # gets the decoded value: not the encoded text it matched in `path`, and not decoded twice.
    for name in ("Infinity Scarf", "日本茶-500g", "a/b", "100%", "50%25", "#1", 'a,"b"', "a+b"):
        response = call("GET", "/things/" + quote(name, safe=""))
        assert problem(response)["detail"] == f"No thing {name}.", name


def test_given_non_json_body_when_posting_then_400() -> None:
    response = call("POST", "/things", body="{not json")
    assert response["statusCode"] == 400
    assert problem(response)["title"] == "Bad Request"


def test_given_invalid_fields_when_posting_then_422_names_each_field() -> None:
    response = call("POST", "/things", body=json.dumps({"name": "", "count": -1}))
    assert response["statusCode"] == 422
    fields = {e["field"] for e in problem(response)["errors"]}
    assert fields == {"name", "count"}


def test_given_an_unknown_route_when_called_then_404_problem() -> None:
    response = call("GET", "/nowhere")
    assert response["statusCode"] == 404
    problem(response)


def test_given_throttling_when_raised_then_retry_after_header() -> None:
    response = call("GET", "/slow")
    assert response["statusCode"] == 429
    assert response_header(response, "Retry-After") == "7"


def test_given_an_unexpected_error_when_raised_then_500_reveals_nothing_internal() -> None:
    response = call("GET", "/boom")
    assert response["statusCode"] == 500
    text = response["body"]
    assert "skucast-prod-Table" not in text and "s3://" not in text and "Traceback" not in text


def test_given_no_authorizer_context_when_a_role_is_required_then_401() -> None:
    assert call("GET", "/admin-only")["statusCode"] == 401


def test_given_a_lower_role_when_a_role_is_required_then_403() -> None:
    ctx = {"client_id": "c1", "role": "analyst", "subject": "u1", "kind": "user"}
    assert call("GET", "/admin-only", authorizer=ctx)["statusCode"] == 403


def test_given_the_role_when_required_then_the_route_runs() -> None:
    ctx = {"client_id": "c1", "role": "admin", "subject": "u1", "kind": "user"}
    assert call("GET", "/admin-only", authorizer=ctx)["statusCode"] == 200
