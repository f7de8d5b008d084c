"""Request validation: e-mail normalisation and Unicode edge cases, password limits."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from skucast.schemas.auth import CreateApiKeyRequest, CreateClientRequest, CreateUserRequest, LoginRequest


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("  Admin@Example.COM ", "admin@example.com"),
        ("jos\u0065\u0301@example.com", "jos\u00e9@example.com"),  # NFD -> NFC: one identity
        ("ünï@bücher.example", "ünï@bücher.example"),
        ("a+tag@sub.example.org", "a+tag@sub.example.org"),
        ("\uff41\uff44@\uff58.\uff43\uff4f\uff4d", "ad@x.com"),  # full-width look-alike folds
    ],
)
def test_given_a_valid_email_when_parsed_then_it_is_normalised(raw: str, normalised: str) -> None:
    assert LoginRequest(email=raw, password="x").email == normalised


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "no-at-sign",
        "@example.com",
        "a@",
        "a@localhost",
        "a@@example.com",
        "a b@example.com",
        "a@exa mple.com",
        "zero\u200bwidth@example.com",
        "rtl\u202e@example.com",
        "nul\x00@example.com",
        "lone\ud800@example.com",
        "a@-bad-.example",
        "a@example..com",
        "x" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
        '"quoted"@example.com',
    ],
)
def test_given_an_invalid_email_when_parsed_then_validation_fails(raw: str) -> None:
    with pytest.raises(ValidationError):
        LoginRequest(email=raw, password="x")


def test_given_password_lengths_when_creating_a_user_then_8_to_1024_characters_pass() -> None:
    CreateUserRequest(email="a@example.com", password="p" * 1024, role="viewer")
    for bad in ("short", "p" * 1025, "ok-length\ud800"):
        with pytest.raises(ValidationError):
            CreateUserRequest(email="a@example.com", password=bad, role="viewer")


def test_given_extra_fields_when_parsing_then_refused_so_no_tenant_can_come_from_a_body() -> None:
    with pytest.raises(ValidationError):
        CreateApiKeyRequest.model_validate({"name": "ci", "role": "viewer", "client_id": "cli_other"})
    with pytest.raises(ValidationError):
        CreateApiKeyRequest(name="ci", role="admin")  # type: ignore[arg-type]


def test_given_a_client_request_without_tier_then_free_and_names_must_be_clean_text() -> None:
    req = CreateClientRequest(name="Acme", admin_email="a@acme.example", admin_password="long enough")
    assert req.tier == "free"
    with pytest.raises(ValidationError):
        CreateClientRequest(name="bad\x07name", admin_email="a@acme.example", admin_password="long enough")
