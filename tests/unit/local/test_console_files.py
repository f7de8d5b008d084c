"""The local gateway serves the console's build at `/`: files with their types and caching, the
SPA fallback for deep links, no way out of dist, a 503 page without a build, and `/api` untouched."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from skucast_local.console import ConsoleFiles, is_console_path
from skucast_local.gateway import Gateway
from skucast_local.template import load

INDEX = b"<!doctype html><div id=app></div><script type=module src=/assets/index-abc123.js></script>"


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    root = tmp_path / "console" / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_bytes(INDEX)
    (root / "assets" / "index-abc123.js").write_bytes(b"console.log(1)")
    (root / "assets" / "index-abc123.css").write_bytes(b"body{}")
    (root / "favicon.svg").write_bytes(b"<svg/>")
    (tmp_path / "secret.txt").write_bytes(b"outside dist")
    return root


def _header(reply: Any, name: str) -> str:
    return next(v for k, v in reply.headers if k.lower() == name.lower())


def test_given_a_built_console_when_its_files_are_asked_then_each_has_its_type_and_caching(dist: Path) -> None:
    files = ConsoleFiles(dist)
    js = files.reply("/assets/index-abc123.js")
    assert (js.status, js.body) == (200, b"console.log(1)")
    assert _header(js, "Content-Type") == "text/javascript; charset=utf-8"
    assert "immutable" in _header(js, "Cache-Control")  # content-hashed names
    assert _header(files.reply("/assets/index-abc123.css"), "Content-Type").startswith("text/css")
    svg = files.reply("/favicon.svg")
    assert _header(svg, "Content-Type") == "image/svg+xml" and _header(svg, "Cache-Control") == "no-cache"
    index = files.reply("/")
    assert (index.status, index.body) == (200, INDEX)
    assert _header(index, "Content-Type") == "text/html; charset=utf-8"
    assert _header(index, "Cache-Control") == "no-cache"  # a new build is picked up on reload
    assert _header(index, "X-Content-Type-Options") == "nosniff"


@pytest.mark.parametrize(
    "path",
    ["/skus", "/skus/A%20B%20%C3%BC", "/skus/A.B%2Fc/adjust", "/runs/run_1?tab=results", "/signin", "/nope/x.y"],
)
def test_given_a_deep_link_then_index_html_answers_so_the_app_routes_it(dist: Path, path: str) -> None:
    reply = ConsoleFiles(dist).reply(path)
    assert (reply.status, reply.body) == (200, INDEX)
    assert _header(reply, "Content-Type") == "text/html; charset=utf-8"


def test_given_a_missing_asset_then_404_not_the_page_as_a_script(dist: Path) -> None:
    reply = ConsoleFiles(dist).reply("/assets/index-gone.js")
    assert reply.status == 404 and reply.body != INDEX


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/assets/%2E%2E/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e%5csecret.txt",
        "/index.html%00.js",
        "/" + "../" * 12 + "etc/passwd",
    ],
)
def test_given_a_traversal_then_nothing_outside_dist_is_served(dist: Path, path: str) -> None:
    reply = ConsoleFiles(dist).reply(path)
    assert reply.status == 404, path
    assert b"outside dist" not in reply.body and b"root:" not in reply.body


def test_given_a_symlink_out_of_dist_then_it_is_not_followed(dist: Path) -> None:
    (dist / "leak.txt").symlink_to(dist.parent.parent / "secret.txt")
    assert ConsoleFiles(dist).reply("/leak.txt").status == 404


def test_given_no_build_then_a_503_page_says_to_run_make_console(tmp_path: Path) -> None:
    reply = ConsoleFiles(tmp_path / "console" / "dist").reply("/skus")
    assert reply.status == 503
    assert b"make console" in reply.body
    assert _header(reply, "Content-Type") == "text/html; charset=utf-8"
    assert _header(reply, "Cache-Control") == "no-store"


@pytest.mark.parametrize(
    ("path", "console"),
    [("/", True), ("/skus", True), ("/apidocs", True), ("/api", False), ("/api/", False), ("/api/v1/x", False)],
)
def test_given_a_path_then_only_what_is_outside_api_is_the_consoles(path: str, console: bool) -> None:
    assert is_console_path(path) is console


def test_given_the_gateway_with_a_console_then_api_paths_still_reach_the_routes(tmp_path: Path, dist: Path) -> None:
    (tmp_path / "template.yaml").write_text(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: f/\n"
        "      Handler: m.h\n      Events:\n        E: {Type: Api, Properties: {Path: /api/x, Method: GET, "
        "Auth: {Authorizer: NONE}}}\n"
    )
    invoked: list[str] = []

    def invoke(fn: str, event: dict[str, Any]) -> Any:
        invoked.append(event["path"])
        return SimpleNamespace(ok=True, result={"statusCode": 200, "body": "api"})

    resolver: Any = SimpleNamespace(params={})
    gw = Gateway(load(tmp_path / "template.yaml"), resolver, invoke, None, ConsoleFiles(dist))  # type: ignore[arg-type]
    assert gw.handle("GET", "/api/x", [], b"", "127.0.0.1").body == b"api"
    assert gw.handle("GET", "/api/nowhere", [], b"", "127.0.0.1").status == 403  # API Gateway's own answer
    assert gw.handle("GET", "/skus/a", [], b"", "127.0.0.1").body == INDEX
    assert gw.handle("HEAD", "/", [], b"", "127.0.0.1").status == 200
    assert gw.handle("POST", "/skus/a", [], b"", "127.0.0.1").status == 403  # only GET/HEAD are the console's
    assert invoked == ["/api/x"]
