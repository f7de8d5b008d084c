"""Request and response models of /api/auth (see the contract's Auth table).

Every inbound string is checked to be clean Unicode (no lone surrogates, control or invisible
format characters) so that nothing downstream (hashing, DynamoDB, JSON) can fail on it: bad text
is a 422, never a 500.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from skucast.auth.passwords import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS
from skucast.records import ApiKeyRole, Role

Tier = Literal["free", "standard", "enterprise"]

_BAD_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
MAX_EMAIL_CHARS = 254


def _clean_text(value: str) -> str:
    if any(unicodedata.category(ch) in _BAD_CATEGORIES for ch in value):
        raise ValueError("contains control, invisible or unpaired surrogate characters")
    return unicodedata.normalize("NFC", value)


def _password(value: str) -> str:
    # Spaces and any printable character are allowed; only unencodable text is refused.
    if any(unicodedata.category(ch) == "Cs" for ch in value):
        raise ValueError("contains unpaired surrogate characters")
    return value


def _email(value: str) -> str:
    """Normalised address (NFKC: full-width look-alikes fold to one identity; trimmed; lower case)."""
    value = unicodedata.normalize("NFKC", _clean_text(value.strip())).lower()
    local, sep, domain = value.rpartition("@")
    if not sep or not local or not domain or len(local) > 64 or "@" in local:
        raise ValueError("is not an e-mail address")
    if any(ch.isspace() for ch in value) or '"' in value:
        raise ValueError("is not an e-mail address")
    labels = domain.split(".")
    if len(labels) < 2 or any(not label or len(label) > 63 or label[0] == "-" or label[-1] == "-" for label in labels):
        raise ValueError("has no valid domain")
    try:
        domain.encode("idna")
    except UnicodeError:
        raise ValueError("has no valid domain") from None
    return value


Text = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_clean_text)]
Email = Annotated[str, StringConstraints(min_length=3, max_length=MAX_EMAIL_CHARS), AfterValidator(_email)]
NewPassword = Annotated[
    str,
    StringConstraints(min_length=MIN_PASSWORD_CHARS, max_length=MAX_PASSWORD_CHARS),
    AfterValidator(_password),
]
Password = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_CHARS), AfterValidator(_password)]
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_clean_text)]
OpaqueToken = Annotated[str, StringConstraints(min_length=1, max_length=512), AfterValidator(_password)]


class _Request(BaseModel):
    # Unknown fields are refused: in particular a tenant id can never come from a body.
    model_config = ConfigDict(extra="forbid", frozen=True)


class CreateClientRequest(_Request):
    name: Text
    tier: Tier = "free"
    admin_email: Email
    admin_password: NewPassword


class CreatedClient(BaseModel):
    client_id: str
    name: str
    tier: Tier
    admin_user_id: str


class LoginRequest(_Request):
    email: Email
    password: Password
    client_id: ClientId | None = Field(
        None,
        description="The client to sign in to. Needed only when this e-mail signs in to several "
        "clients with the same password; otherwise the client is the one whose password matches.",
    )


class RefreshRequest(_Request):
    refresh_token: OpaqueToken


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_in: int


class Me(BaseModel):
    user_id: str | None = Field(description="null when the caller is an API key")
    email: str | None
    client_id: str
    role: Role
    kind: Literal["user", "api_key"]
    key_id: str | None = None


class CreateUserRequest(_Request):
    email: Email
    password: NewPassword
    role: Role


class User(BaseModel):
    user_id: str
    email: str
    role: Role
    created_at: str


class UserList(BaseModel):
    items: list[User]
    next_cursor: str | None


class CreateApiKeyRequest(_Request):
    name: Text
    role: ApiKeyRole


class ApiKey(BaseModel):
    key_id: str
    name: str
    role: ApiKeyRole
    created_at: str


class CreatedApiKey(ApiKey):
    api_key: str = Field(description="shown only in this answer")


class ApiKeyList(BaseModel):
    items: list[ApiKey]
    next_cursor: str | None


class Jwk(BaseModel):
    kty: str
    crv: str
    x: str
    kid: str
    alg: str
    use: str


class Jwks(BaseModel):
    keys: list[Jwk]
