"""The local gateway routes as API Gateway REST does: the resource the path names, then that
resource's own method, else its ANY method, else "no such route"."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from skucast_local.gateway import Gateway
from skucast_local.template import load
from tests.conftest import ROOT

_FUNCTION = """\
  {name}:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: f/
      Handler: m.h
      Events:
"""
_EVENT = "        E{i}: {{Type: Api, Properties: {{Path: '{path}', Method: {method}}}}}\n"


def _gateway(tmp_path: Path, routes: dict[str, list[tuple[str, str]]]) -> Gateway:
    text, i = "Resources:\n", 0
    for name, events in routes.items():
        text += _FUNCTION.format(name=name)
        for method, path in events:
            text += _EVENT.format(i=i, path=path, method=method)
            i += 1
    (tmp_path / "template.yaml").write_text(text)
    resolver: Any = SimpleNamespace(params={})
    return Gateway(load(tmp_path / "template.yaml"), resolver, lambda fn, event: None, None)  # type: ignore[arg-type, return-value]


def _routed(gateway: Gateway, method: str, path: str) -> tuple[str, str, dict[str, str]] | None:
    found = gateway.match(method, path)
    return (found[0].function, found[0].method, found[1]) if found else None


def test_given_a_resource_with_methods_and_any_then_its_own_methods_first_then_any(tmp_path: Path) -> None:
    gw = _gateway(
        tmp_path,
        {
            # ANY first in the template: the order of events does not matter.
            "Fallback": [("ANY", "/runs"), ("ANY", "/runs/{run_id}")],
            "Api": [("GET", "/runs"), ("POST", "/runs"), ("GET", "/runs/{run_id}")],
        },
    )
    assert _routed(gw, "GET", "/runs") == ("Api", "GET", {})
    assert _routed(gw, "POST", "/runs") == ("Api", "POST", {})
    assert _routed(gw, "DELETE", "/runs") == ("Fallback", "ANY", {})
    assert _routed(gw, "OPTIONS", "/runs") == ("Fallback", "ANY", {})
    assert _routed(gw, "GET", "/runs/r1") == ("Api", "GET", {"run_id": "r1"})
    assert _routed(gw, "PUT", "/runs/r1") == ("Fallback", "ANY", {"run_id": "r1"})
    assert _routed(gw, "GET", "/nowhere") is None
    assert _routed(gw, "GET", "/runs/r1/extra") is None


def test_given_a_resource_without_any_then_other_methods_find_no_route(tmp_path: Path) -> None:
    gw = _gateway(tmp_path, {"Api": [("GET", "/runs")]})
    assert _routed(gw, "GET", "/runs") == ("Api", "GET", {})
    assert _routed(gw, "DELETE", "/runs") is None


@pytest.mark.parametrize("order", [1, -1])
def test_given_a_literal_and_a_parameter_resource_then_the_literal_one_is_the_resource(
    tmp_path: Path, order: int
) -> None:
    # /runs/compare is its own resource: a GET there is its 405, not GET /runs/{run_id}.
    api = [("GET", "/runs/{run_id}"), ("POST", "/runs/compare")][::order]
    gw = _gateway(tmp_path, {"Api": api, "Fallback": [("ANY", "/runs/compare")]})
    assert _routed(gw, "POST", "/runs/compare") == ("Api", "POST", {})
    assert _routed(gw, "GET", "/runs/compare") == ("Fallback", "ANY", {})
    assert _routed(gw, "GET", "/runs/r1") == ("Api", "GET", {"run_id": "r1"})


def test_given_the_repo_template_then_every_path_falls_back_to_method_not_allowed(tmp_path: Path) -> None:
    t = load(ROOT / "template.yaml")
    assert t.any_routes and all(r.method == "ANY" for r in t.any_routes)
    assert all(r.method != "ANY" for r in t.routes)
    resolver: Any = SimpleNamespace(params={})
    gw = Gateway(t, resolver, lambda fn, event: None, None)  # type: ignore[arg-type, return-value]
    assert _routed(gw, "GET", "/api/v1/forecast/runs") == ("ForecastApiFunction", "GET", {})
    assert _routed(gw, "DELETE", "/api/v1/forecast/runs") == ("MethodNotAllowedFunction", "ANY", {})
    assert _routed(gw, "DELETE", "/api/v1/forecast/nothing") is None
