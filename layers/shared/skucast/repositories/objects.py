"""The data bucket: uploads, run inputs, exports. Object keys (keys.py) begin with the area and tenant."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from skucast.aws import client


def put_json(bucket: str, key: str, value: Any) -> None:
    client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(value).encode(), ContentType="application/json")


def get_json(bucket: str, key: str) -> Any | None:
    try:
        body = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    return json.loads(body)


def put_bytes(bucket: str, key: str, body: bytes) -> None:
    client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/octet-stream")


def get_bytes(bucket: str, key: str) -> bytes | None:
    try:
        return bytes(client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise


def exists(bucket: str, key: str) -> bool:
    try:
        client("s3").head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return False
        raise
    return True


def put_file(bucket: str, key: str, path: str, content_type: str) -> None:
    client("s3").upload_file(path, bucket, key, ExtraArgs={"ContentType": content_type})


def presign_get(bucket: str, key: str, expires_in: int, filename: str) -> str:
    return str(
        client("s3").generate_presigned_url(
            "get_object",
            Params={
                "Bucket": bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=expires_in,
        )
    )
