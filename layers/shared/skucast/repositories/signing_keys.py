"""The signing keyring secret: cached reads (forced after a rotation is suspected) and writes."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters

from skucast.aws import client


def keyring_text(secret_id: str, max_age: int, force: bool = False) -> str:
    value = parameters.get_secret(secret_id, max_age=max_age, force_fetch=force)
    return value if isinstance(value, str) else value.decode()


def read_keyring_uncached(secret_id: str) -> str:
    return str(client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])


def write_keyring(secret_id: str, text: str, request_token: str) -> None:
    """A new version; Secrets Manager refuses a second, different one with the same token."""
    client("secretsmanager").put_secret_value(SecretId=secret_id, SecretString=text, ClientRequestToken=request_token)
