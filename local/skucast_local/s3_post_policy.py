"""The local S3 enforces a browser-form POST's policy and signature, as S3 does.

moto stores whatever a form POST sends: a tenant that rewrote `key` to another tenant's pending
upload, or a 0-byte file under a 1-byte minimum, got 204. S3 checks, before it stores anything
(https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html and
sigv4-authentication-HTTPPOST.html):

- the form carries `policy`, `x-amz-algorithm` AWS4-HMAC-SHA256, `x-amz-credential`,
  `x-amz-date` and `x-amz-signature`, and the signature is the SigV4 HMAC of the policy's base64
  text under the signing key derived from the credential's secret (403 SignatureDoesNotMatch;
  an access key the emulator never issued: 403 InvalidAccessKeyId);
- the policy is base64 JSON with `expiration` and `conditions` (400 InvalidPolicyDocument);
  an expired policy is 403 AccessDenied;
- every condition holds: `{"field": value}` and `["eq", "$field", value]` exactly,
  `["starts-with", "$field", prefix]`, `bucket` against the bucket posted to,
  `["content-length-range", min, max]` on the file's size (400 EntityTooSmall / EntityTooLarge);
  any other failure is 403 AccessDenied "Invalid according to Policy: Policy Condition failed";
- every form field but `policy`, `x-amz-signature`, `file` and `x-ignore-*` is named by a
  condition (403 "Extra input fields").

Field names are compared case-insensitively, values exactly. The secrets are the credentials the
local stack gives its functions (the only signer of upload forms).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from typing import Any

from moto.s3.responses import S3Response

EXEMPT = {"policy", "x-amz-signature", "file"}
Refusal = tuple[int, dict[str, str], str]

_installed = False


def install(secrets: Mapping[str, str]) -> None:
    """Check every form POST to a bucket against its policy before moto stores it (once per process)."""
    global _installed
    if _installed:
        return
    original = S3Response._bucket_response_post

    def bucket_response_post(self: S3Response, request: Any, bucket_name: str) -> Any:
        form = getattr(self, "form_data", None) or {}
        if "key" in form:  # a browser-form upload (not a DeleteObjects or other bucket POST)
            fields = {str(k).lower(): str(v) for k, v in form.items() if str(k).lower() != "file"}
            size = len(self.raw_body or b"")
            refused = check_form(fields, bucket_name, size, secrets, dt.datetime.now(dt.UTC))
            if refused is not None:
                return refused
        return original(self, request, bucket_name)

    S3Response._bucket_response_post = bucket_response_post  # type: ignore[method-assign]
    _installed = True


def check_form(
    fields: Mapping[str, str], bucket: str, size: int, secrets: Mapping[str, str], now: dt.datetime
) -> Refusal | None:
    """None when S3 would accept this form (lower-cased field names, the file's size in bytes)."""
    policy_b64 = fields.get("policy")
    if not policy_b64:
        return _error(403, "AccessDenied", "Access Denied")
    refused = _check_signature(fields, policy_b64, secrets)
    if refused:
        return refused
    try:
        policy = json.loads(base64.b64decode(policy_b64, validate=True))
        expiration = dt.datetime.fromisoformat(str(policy["expiration"]).replace("Z", "+00:00"))
        conditions = list(policy["conditions"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        return _error(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.")
    if expiration.tzinfo is None or now >= expiration:
        return _error(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    named: set[str] = set()
    for condition in conditions:
        refused = _check_condition(condition, fields, bucket, size, named)
        if refused:
            return refused
    extra = sorted(f for f in fields if f not in EXEMPT and not f.startswith("x-ignore-") and f not in named)
    if extra:
        return _error(403, "AccessDenied", f"Invalid according to Policy: Extra input fields: {', '.join(extra)}")
    return None


def _check_signature(fields: Mapping[str, str], policy_b64: str, secrets: Mapping[str, str]) -> Refusal | None:
    if fields.get("x-amz-algorithm") != "AWS4-HMAC-SHA256" or not fields.get("x-amz-signature"):
        return _error(403, "AccessDenied", "Access Denied")
    parts = fields.get("x-amz-credential", "").split("/")
    if len(parts) != 5 or parts[3] != "s3" or parts[4] != "aws4_request" or not fields.get("x-amz-date"):
        return _error(400, "AuthorizationQueryParametersError", "The credential is malformed.")
    access_key, day, region = parts[0], parts[1], parts[2]
    secret = secrets.get(access_key)
    if secret is None:
        return _error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
    key = f"AWS4{secret}".encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, policy_b64.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields["x-amz-signature"].lower()):
        return _error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )
    return None


def _check_condition(
    condition: Any, fields: Mapping[str, str], bucket: str, size: int, named: set[str]
) -> Refusal | None:
    def value_of(name: str) -> str | None:
        return bucket if name == "bucket" else fields.get(name)

    failed = _error(
        403, "AccessDenied", f"Invalid according to Policy: Policy Condition failed: {json.dumps(condition)}"
    )
    if isinstance(condition, dict) and len(condition) == 1:
        name, wanted = next(iter(condition.items()))
        named.add(str(name).lower())
        return None if value_of(str(name).lower()) == str(wanted) else failed
    if not isinstance(condition, list) or len(condition) != 3:
        return _error(400, "InvalidPolicyDocument", f"Invalid Policy: Invalid condition {json.dumps(condition)}.")
    op = str(condition[0]).lower()
    if op == "content-length-range":
        low, high = int(condition[1]), int(condition[2])
        if size < low:
            return _error(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size")
        if size > high:
            return _error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
        return None
    name = str(condition[1]).lower().removeprefix("$")
    named.add(name)
    actual, wanted = value_of(name), str(condition[2])
    if op == "eq":
        return None if actual == wanted else failed
    if op == "starts-with":
        return None if actual is not None and actual.startswith(wanted) else failed
    return _error(400, "InvalidPolicyDocument", f"Invalid Policy: Invalid condition {json.dumps(condition)}.")


def _error(status: int, code: str, message: str) -> Refusal:
    request_id = uuid.uuid4().hex[:16].upper()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{_xml(message)}</Message>"
        f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
    )
    return status, {"Content-Type": "application/xml", "x-amz-request-id": request_id}, body


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
