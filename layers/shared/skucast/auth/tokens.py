"""Access tokens (JWT, EdDSA, short-lived) and opaque secrets (refresh tokens, API keys).

Verification pins the algorithm, requires every registered claim we rely on and refuses a `kid`
the keyring does not hold; the caller decides whether an unknown kid is worth re-reading the keyring.
Opaque secrets are stored only as SHA-256 digests: they are random, so a slow hash buys nothing.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from skucast.auth.keyring import ALGORITHM, SigningKey

ROLES = ("viewer", "analyst", "admin")
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]
LEEWAY_SECONDS = 5  # clock skew between the signer and the authorizer
MAX_TOKEN_CHARS = 4096
REFRESH_PREFIX = "rt_"
API_KEY_PREFIX = "sk_"


class InvalidToken(Exception):
    """The token is not acceptable (the reason is for logs, never for the caller)."""


class UnknownKey(InvalidToken):
    """The token names a signing key the keyring does not hold (maybe a newer rotation)."""


@dataclass(frozen=True)
class AccessClaims:
    subject: str
    client_id: str
    role: str
    session_id: str
    token_id: str


def issue_access_token(
    key: SigningKey,
    *,
    issuer: str,
    audience: str,
    subject: str,
    client_id: str,
    role: str,
    session_id: str,
    ttl_seconds: int,
    now: datetime,
) -> str:
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "client_id": client_id,
        "role": role,
        "sid": session_id,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl_seconds)).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": "JWT"})


def verify_access_token(
    token: str,
    key_for: Callable[[str], Ed25519PublicKey | None],
    *,
    issuer: str,
    audience: str,
) -> AccessClaims:
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise InvalidToken("empty or oversized token")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"unreadable header: {exc}") from None
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"algorithm {header.get('alg')!r} is not accepted")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("no kid")
    public_key = key_for(kid)
    if public_key is None:
        raise UnknownKey(f"unknown kid {kid!r}")
    try:
        claims = jwt.decode(
            token,
            public_key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": REQUIRED_CLAIMS, "verify_signature": True},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from None
    return _claims(claims)


def _claims(claims: dict[str, object]) -> AccessClaims:
    values = {name: claims.get(name) for name in ("sub", "client_id", "role", "sid", "jti")}
    if not all(isinstance(v, str) and v for v in values.values()):
        raise InvalidToken("a required claim is missing or not a string")
    if values["role"] not in ROLES:
        raise InvalidToken("unknown role")
    return AccessClaims(
        subject=str(values["sub"]),
        client_id=str(values["client_id"]),
        role=str(values["role"]),
        session_id=str(values["sid"]),
        token_id=str(values["jti"]),
    )


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """SHA-256 hex of an opaque secret: what the table stores and looks up."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def new_id(prefix: str) -> str:
    """Opaque ids: prefix + 20 hex chars (no separator the key formats use)."""
    return f"{prefix}_{secrets.token_hex(10)}"
