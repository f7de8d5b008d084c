"""Secrets Manager reads, cached per warm container (the values are platform-wide, not per tenant)."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters

from skucast.settings import Settings


def secret_string(secret_id: str, max_age: int) -> str:
    value = parameters.get_secret(secret_id, max_age=max_age)
    return value if isinstance(value, str) else value.decode()


def service_key(settings: Settings) -> str:
    """The platform operator's X-Service-Key."""
    return secret_string(settings.service_key_secret_id, settings.secret_cache_seconds)
