"""The console on AWS (template.yaml): a private bucket read only through CloudFront, the API at
/api/* on the same distribution with the caller's credentials and no caching, deep links rewritten
to index.html by a function on the console's behaviour only, and the URL as an output."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from skucast_local.template import Template, load
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def template() -> Template:
    return load(ROOT / "template.yaml")


def _props(t: Template, logical: str) -> dict[str, Any]:
    return t.raw["Resources"][logical]["Properties"]


def _distribution(t: Template) -> dict[str, Any]:
    (props,) = (r["Properties"]["DistributionConfig"] for r in t.resources("AWS::CloudFront::Distribution").values())
    return props


def test_the_console_bucket_is_private_and_read_only_by_the_distribution(template: Template) -> None:
    bucket = _props(template, "ConsoleBucket")
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    statements = _props(template, "ConsoleBucketPolicy")["PolicyDocument"]["Statement"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"} and allow["Action"] == "s3:GetObject"
    assert "ConsoleDistribution" in json.dumps(allow["Condition"])  # this distribution, not any
    (s3,) = [o for o in _distribution(template)["Origins"] if "S3OriginConfig" in o]
    assert s3["OriginAccessControlId"] == {"Fn::GetAtt": ["ConsoleOriginAccessControl", "Id"]}
    assert _props(template, "ConsoleOriginAccessControl")["OriginAccessControlConfig"]["SigningBehavior"] == "always"


def test_api_paths_go_to_the_api_stage_uncached_with_every_method_and_the_credentials(template: Template) -> None:
    config = _distribution(template)
    (api,) = [b for b in config["CacheBehaviors"] if b["PathPattern"] == "/api/*"]
    (origin,) = [o for o in config["Origins"] if o["Id"] == api["TargetOriginId"]]
    assert "execute-api" in json.dumps(origin["DomainName"]) and "Stage" in json.dumps(origin["OriginPath"])
    assert set(api["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
    cache = _props(template, api["CachePolicyId"]["Ref"])["CachePolicyConfig"]
    assert cache["DefaultTTL"] == 0 and cache["MaxTTL"] <= 1
    keyed = cache["ParametersInCacheKeyAndForwardedToOrigin"]
    assert {"Authorization", "X-Api-Key"} <= set(keyed["HeadersConfig"]["Headers"])
    assert keyed["QueryStringsConfig"]["QueryStringBehavior"] == "all"
    forwarded = _props(template, api["OriginRequestPolicyId"]["Ref"])["OriginRequestPolicyConfig"]
    assert {"Content-Type", "If-Match", "Idempotency-Key"} <= set(forwarded["HeadersConfig"]["Headers"])
    assert "Host" not in forwarded["HeadersConfig"]["Headers"]  # API Gateway answers only its own host


def test_no_distribution_wide_error_page_hides_the_apis_problem_documents(template: Template) -> None:
    config = _distribution(template)
    assert "CustomErrorResponses" not in config
    (rewrite,) = config["DefaultCacheBehavior"]["FunctionAssociations"]
    assert rewrite["EventType"] == "viewer-request"
    assert all("FunctionAssociations" not in b for b in config["CacheBehaviors"])


@pytest.mark.parametrize(
    ("uri", "served"),
    [
        ("/", "/index.html"),
        ("/skus", "/index.html"),
        ("/skus/A%20B%C3%BC.x", "/index.html"),
        ("/skus/A.svg/adjust", "/index.html"),
        ("/runs/run_1", "/index.html"),
        ("/assets/index-abc.js", "/assets/index-abc.js"),
        ("/favicon.svg", "/favicon.svg"),
        ("/index.html", "/index.html"),
    ],
)
def test_the_viewer_request_function_sends_deep_links_to_index_html(template: Template, uri: str, served: str) -> None:
    node = shutil.which("node")
    assert node, "node is required (the console's build needs it too)"
    code = _props(template, "ConsoleSpaRewrite")["FunctionCode"]
    script = code + f"\nprocess.stdout.write(handler({{request: {{uri: {json.dumps(uri)}}}}}).uri);"
    done = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == served


def test_the_console_url_is_an_output(template: Template) -> None:
    outputs = template.raw["Outputs"]
    assert "ConsoleDistribution.DomainName" in json.dumps(outputs["ConsoleUrl"]["Value"])
    assert {"ConsoleBucketName", "ConsoleDistributionId"} <= set(outputs)
    makefile = (ROOT / "Makefile").read_text()
    assert "deploy-console:" in makefile and "create-invalidation" in makefile


def test_the_upload_bucket_takes_the_consoles_presigned_posts_from_its_origin(template: Template) -> None:
    """The console posts files to the presigned POST with upload progress (a CORS preflight): the
    data bucket must answer POST from another origin, or uploads from the console fail on AWS."""
    (rule,) = _props(template, "DataBucket")["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedMethods"] == ["POST"] and rule["AllowedOrigins"] == ["*"] and rule["AllowedHeaders"] == ["*"]
