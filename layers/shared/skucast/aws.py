"""Cached AWS clients, created on first use (never at import time).

Nothing above the repositories calls these. Locally, AWS_ENDPOINT_URL (set by the local stack)
points every client at the emulator; on AWS it is unset.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 4},
    s3={"addressing_style": "path"},
    connect_timeout=5,
    read_timeout=30,
)


# Presigned S3 forms and links are signed with SigV4: botocore still signs a presigned POST with
# SigV2 by default, which S3 refuses on buckets created since June 2020 (the stack's DataBucket).
_S3_CONFIG = _CONFIG.merge(Config(signature_version="s3v4"))


@cache
def client(service: str) -> Any:
    return boto3.session.Session().client(service, config=_S3_CONFIG if service == "s3" else _CONFIG)


@cache
def table(name: str) -> Any:
    return boto3.session.Session().resource("dynamodb", config=_CONFIG).Table(name)


def reset_clients() -> None:
    """Forget cached clients (tests that switch endpoints between cases)."""
    client.cache_clear()
    table.cache_clear()
