from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from skucast_local.gateway import TokenBucket, match_route, policy_allows
from skucast_local.pumps import rate_seconds
from skucast_local.template import TemplateError, load
from tests.conftest import ROOT


def test_given_the_repo_template_when_loaded_then_routes_and_subscriptions_are_read() -> None:
    t = load(ROOT / "template.yaml")
    health = next(r for r in t.routes if r.path == "/api/monitoring/health")
    assert health.method == "GET" and health.authorizer is None and not health.api_key_required
    assert {s.queue for s in t.sqs} >= {"ForecastQueue"}
    assert all(s.report_batch_item_failures for s in t.sqs)
    assert [n.prefix for n in t.s3] == ["uploads/"]


def test_given_the_repo_template_when_loaded_then_image_functions_run_their_function_dirs_code() -> None:
    t = load(ROOT / "template.yaml")
    worker, planner = t.functions["ForecastWorkerFunction"], t.functions["PlannerFunction"]
    assert (worker.package_type, worker.code_uri, worker.handler) == (
        "Image",
        "functions/forecast_worker",
        "forecast_worker.app.handler",
    )
    assert (planner.code_uri, planner.handler) == ("functions/forecast_worker", "forecast_worker.planner.handler")
    ingest = t.functions["IngestFunction"]
    assert (ingest.code_uri, ingest.dockerfile, ingest.build_args) == (
        "functions/ingest",
        "functions/Dockerfile",
        {"FUNCTION_DIR": "functions/ingest", "FUNCTION_PACKAGE": "ingest"},
    )
    assert {fn.dockerfile for fn in t.functions.values() if fn.package_type == "Image"} == {"functions/Dockerfile"}
    auth = t.functions["AuthApiFunction"]
    assert (auth.package_type, auth.code_uri, auth.handler) == ("Zip", "functions/auth/", "auth_api.app.handler")
    assert (auth.dockerfile, auth.build_args) == (None, {})


# One Dockerfile for every image function (as the repository has it), away from the code it copies.
_IMAGE_FUNCTION = """\
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Metadata:
      Dockerfile: images/Dockerfile
      DockerContext: .
      DockerBuildArgs: {FUNCTION_DIR: code, FUNCTION_PACKAGE: pkg}
    Properties:
      PackageType: Image
      ImageConfig: {Command: [pkg.app.handler]}
"""


def _image_template(tmp_path: Path, text: str) -> Path:
    (tmp_path / "code" / "pkg").mkdir(parents=True)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "Dockerfile").write_text("FROM scratch\n")
    path = tmp_path / "template.yaml"
    path.write_text(text)
    return path


def test_given_an_image_function_when_loaded_then_its_code_is_its_function_dir_build_arg(tmp_path: Path) -> None:
    fn = load(_image_template(tmp_path, _IMAGE_FUNCTION)).functions["Fn"]
    assert (fn.package_type, fn.code_uri, fn.handler) == ("Image", "code", "pkg.app.handler")
    assert (fn.dockerfile, fn.build_args) == ("images/Dockerfile", {"FUNCTION_DIR": "code", "FUNCTION_PACKAGE": "pkg"})


def test_given_a_docker_context_when_loaded_then_the_function_dir_is_relative_to_it(tmp_path: Path) -> None:
    (tmp_path / "ctx").mkdir()
    text = _IMAGE_FUNCTION.replace("DockerContext: .", "DockerContext: ctx").replace(
        "Dockerfile: images/Dockerfile", "Dockerfile: ../images/Dockerfile"
    )
    (tmp_path / "ctx" / "code").mkdir()
    fn = load(_image_template(tmp_path, text)).functions["Fn"]
    assert (fn.code_uri, fn.dockerfile) == ("ctx/code", "ctx/../images/Dockerfile")


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("{Command: [pkg.app.handler]}", "{EntryPoint: [python]}", "no ImageConfig.Command"),
        ("      Dockerfile: images/Dockerfile\n", "", "no Metadata.Dockerfile"),
        (
            _IMAGE_FUNCTION[_IMAGE_FUNCTION.index("    Metadata:") : _IMAGE_FUNCTION.index("    Properties:")],
            "",
            "no Metadata.Dockerfile",
        ),
        ("images/Dockerfile", "elsewhere/Dockerfile", "Dockerfile elsewhere/Dockerfile not found"),
        (
            "      DockerBuildArgs: {FUNCTION_DIR: code, FUNCTION_PACKAGE: pkg}\n",
            "",
            "Metadata.DockerBuildArgs.FUNCTION_DIR",
        ),
        ("FUNCTION_DIR: code, ", "", "no Metadata.DockerBuildArgs.FUNCTION_DIR"),
        (", FUNCTION_PACKAGE: pkg", "", "no Metadata.DockerBuildArgs.FUNCTION_PACKAGE"),
        ("FUNCTION_DIR: code", "FUNCTION_DIR: nowhere", "FUNCTION_DIR nowhere is not a directory"),
        ("[pkg.app.handler]", "[other.app.handler]", "handler other.app.handler is not in FUNCTION_PACKAGE pkg"),
    ],
)
def test_given_a_malformed_image_function_when_loaded_then_one_line_names_it(
    tmp_path: Path, old: str, new: str, problem: str
) -> None:
    assert old in _IMAGE_FUNCTION
    with pytest.raises(TemplateError) as exc:
        load(_image_template(tmp_path, _IMAGE_FUNCTION.replace(old, new)))
    assert "image function Fn" in str(exc.value) and problem in str(exc.value)
    assert "\n" not in str(exc.value)


def test_given_async_failure_targets_when_loaded_then_a_destination_gets_records_and_a_dlq_the_event(
    tmp_path: Path,
) -> None:
    ingest = load(ROOT / "template.yaml").functions["IngestFunction"]
    assert (ingest.dead_letter_queue, ingest.failure_record, ingest.retries) == ("IngestDLQ", True, 2)
    template = tmp_path / "template.yaml"
    fn = "    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: f/\n      Handler: m.h\n"
    template.write_text(
        "Resources:\n  Old:\n" + fn + "      DeadLetterQueue: {Type: SQS, TargetArn: !GetAtt Q.Arn}\n"
        "  Odd:\n" + fn + "      EventInvokeConfig:\n        DestinationConfig:\n"
        "          OnFailure: {Type: Lambda, Destination: !GetAtt Old.Arn}\n"
    )
    with pytest.raises(TemplateError, match="function Odd: the local stack sends on-failure records to SQS only"):
        load(template)
    template.write_text("Resources:\n  Old:\n" + fn + "      DeadLetterQueue: {Type: SQS, TargetArn: !GetAtt Q.Arn}\n")
    old = load(template).functions["Old"]
    assert (old.dead_letter_queue, old.failure_record) == ("Q", False)


def test_given_broken_yaml_when_loaded_then_one_line_error_with_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "template.yaml"
    bad.write_text("Resources:\n  A: [unclosed\n")
    with pytest.raises(TemplateError) as exc:
        load(bad)
    assert "invalid YAML at line" in str(exc.value) and "\n" not in str(exc.value)


def test_given_a_template_without_resources_when_loaded_then_error(tmp_path: Path) -> None:
    empty = tmp_path / "template.yaml"
    empty.write_text("AWSTemplateFormatVersion: '2010-09-09'\n")
    with pytest.raises(TemplateError, match="no Resources"):
        load(empty)


def test_given_path_parameters_when_matching_then_values_are_extracted() -> None:
    from skucast_local.template import Route

    route = Route("GET", "/api/v1/forecast/runs/{run_id}/results/{sku}", "F", None, False)
    m = route.pattern.match("/api/v1/forecast/runs/r1/results/SKU-9")
    assert m and m.groupdict() == {"run_id": "r1", "sku": "SKU-9"}
    assert route.pattern.match("/api/v1/forecast/runs/r1/results") is None


def test_given_names_that_need_encoding_when_routed_then_path_parameters_are_decoded_once() -> None:
    # As API Gateway REST builds the proxy event: the variable is matched on the encoded path (so
    # %2F stays inside its segment), then URL-decoded once into pathParameters; `+` is not a space.
    routes = list(load(ROOT / "template.yaml").routes)
    for sku in ("Infinity Scarf", "日本茶-500g", "a/b", "100%", "50%25", "#1", 'a,"b"', "a+b", "NaN"):
        found = match_route(routes, "GET", f"/api/v1/forecast/runs/r%201/results/{quote(sku, safe='')}")
        assert found is not None, sku
        route, params = found
        assert route.path == "/api/v1/forecast/runs/{run_id}/results/{sku}"
        assert params == {"run_id": "r 1", "sku": sku}
    with pytest.raises(UnicodeDecodeError):
        match_route(routes, "GET", "/api/v1/forecast/skus/%FF")


def test_given_a_burst_when_taking_then_the_bucket_refuses_after_burst() -> None:
    bucket = TokenBucket(rate=1, burst=3)
    assert [bucket.take() for _ in range(3)] == [0, 0, 0]
    assert bucket.take() >= 1


def test_given_policies_when_checked_then_deny_wins_and_wildcards_match() -> None:
    arn = "arn:aws:execute-api:us-east-1:123:local/prod/GET/api/auth/me"
    allow = {
        "Effect": "Allow",
        "Action": "execute-api:Invoke",
        "Resource": "arn:aws:execute-api:us-east-1:123:local/prod/*",
    }
    deny = {**allow, "Effect": "Deny", "Resource": arn}
    assert policy_allows({"Statement": [allow]}, arn)
    assert not policy_allows({"Statement": [allow, deny]}, arn)
    assert not policy_allows({"Statement": []}, arn)


def test_rate_expressions() -> None:
    assert rate_seconds("rate(5 minutes)") == 300
    assert rate_seconds("rate(1 hour)") == 3600
    assert rate_seconds("cron(0 3 * * ? *)") is None
