"""The local S3's check of a browser-form POST, against forms boto3 signs (no network)."""

from __future__ import annotations

import base64
import datetime as dt
import json

import boto3
from botocore.config import Config

from skucast_local.s3_post_policy import check_form

SECRETS = {"local": "local"}


def _expiration(form: dict[str, str]) -> dt.datetime:
    return dt.datetime.fromisoformat(json.loads(base64.b64decode(form["policy"]))["expiration"].replace("Z", "+00:00"))


def _form(**conditions: object) -> dict[str, str]:
    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        endpoint_url="http://127.0.0.1:9",
        config=Config(signature_version="s3v4"),
    )
    post = s3.generate_presigned_post(
        Bucket="bucket",
        Key="uploads/c1/u1",
        Conditions=[["content-length-range", 1, 100], *conditions.get("extra", [])],  # type: ignore[list-item]
        Fields=conditions.get("fields"),  # type: ignore[arg-type]
        ExpiresIn=900,
    )
    return {k.lower(): v for k, v in post["fields"].items()}


def _code(refusal: object) -> str | None:
    return None if refusal is None else refusal[2].split("<Code>")[1].split("</Code>")[0]  # type: ignore[index]


def test_given_the_form_as_signed_then_accepted_and_each_forgery_refused() -> None:
    form = _form()
    NOW = _expiration(form) - dt.timedelta(seconds=5)
    assert check_form(form, "bucket", 10, SECRETS, NOW) is None
    assert _code(check_form({**form, "key": "uploads/c2/u9"}, "bucket", 10, SECRETS, NOW)) == "AccessDenied"
    assert _code(check_form(form, "other-bucket", 10, SECRETS, NOW)) == "AccessDenied"
    assert _code(check_form(form, "bucket", 0, SECRETS, NOW)) == "EntityTooSmall"
    assert _code(check_form(form, "bucket", 101, SECRETS, NOW)) == "EntityTooLarge"
    assert _code(check_form({**form, "x-amz-meta-a": "1"}, "bucket", 10, SECRETS, NOW)) == "AccessDenied"
    assert check_form({**form, "x-ignore-anything": "1"}, "bucket", 10, SECRETS, NOW) is None
    assert _code(check_form(form, "bucket", 10, {"local": "other"}, NOW)) == "SignatureDoesNotMatch"
    assert _code(check_form(form, "bucket", 10, {"someone": "local"}, NOW)) == "InvalidAccessKeyId"
    later = _expiration(form) + dt.timedelta(seconds=1)
    assert _code(check_form(form, "bucket", 10, SECRETS, later)) == "AccessDenied"
    unsigned = {k: v for k, v in form.items() if k != "x-amz-signature"}
    assert _code(check_form(unsigned, "bucket", 10, SECRETS, NOW)) == "AccessDenied"


def test_given_a_starts_with_condition_then_keys_under_the_prefix_pass_and_others_fail() -> None:
    form = _form(extra=[["starts-with", "$Content-Type", "text/"]], fields={"Content-Type": "text/csv"})
    NOW = _expiration(form) - dt.timedelta(seconds=5)
    assert check_form(form, "bucket", 10, SECRETS, NOW) is None
    assert _code(check_form({**form, "content-type": "image/png"}, "bucket", 10, SECRETS, NOW)) == "AccessDenied"
