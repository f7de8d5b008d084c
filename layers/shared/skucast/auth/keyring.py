"""The access-token signing keyring (Ed25519), kept as JSON in a secret.

Shape: {"keys": [{"kid", "alg": "EdDSA", "private_key": PEM, "created_at": ISO, "retire_at": ISO|null}]}.
The newest active key signs; every active key verifies. Rotation adds a key and gives the keys it
supersedes a `retire_at` one overlap away, so tokens they signed keep verifying until they expire;
keys past `retire_at` are dropped.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from skucast import clock

ALGORITHM = "EdDSA"


class KeyringError(ValueError):
    """The keyring secret is not a usable keyring."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey
    created_at: datetime
    retire_at: datetime | None = None

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def active(self, now: datetime) -> bool:
        return self.retire_at is None or now < self.retire_at

    def jwk(self) -> dict[str, str]:
        raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _b64url(raw),
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
        }

    def to_json(self) -> dict[str, Any]:
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")
        return {
            "kid": self.kid,
            "alg": ALGORITHM,
            "private_key": pem,
            "created_at": clock.iso(self.created_at),
            "retire_at": clock.iso(self.retire_at) if self.retire_at else None,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> SigningKey:
        if raw.get("alg") != ALGORITHM:
            raise KeyringError(f"key {raw.get('kid')!r}: only {ALGORITHM} keys are supported")
        key = serialization.load_pem_private_key(str(raw["private_key"]).encode("ascii"), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyringError(f"key {raw.get('kid')!r} is not an Ed25519 key")
        retire = raw.get("retire_at")
        return cls(
            kid=str(raw["kid"]),
            private_key=key,
            created_at=clock.parse_iso(str(raw["created_at"])),
            retire_at=clock.parse_iso(str(retire)) if retire else None,
        )


def new_key(now: datetime) -> SigningKey:
    return SigningKey(
        kid=f"{now.astimezone(UTC):%Y%m%d}-{secrets.token_hex(4)}",
        private_key=Ed25519PrivateKey.generate(),
        created_at=now.replace(microsecond=0),
    )


@dataclass(frozen=True)
class Keyring:
    keys: tuple[SigningKey, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Keyring:
        try:
            raw = json.loads(text)
            keys = tuple(SigningKey.from_json(k) for k in raw["keys"])
        except KeyringError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyringError(f"malformed keyring: {type(exc).__name__}") from None
        if len({k.kid for k in keys}) != len(keys):
            raise KeyringError("duplicate kid in keyring")
        return cls(keys)

    def dumps(self) -> str:
        return json.dumps({"keys": [k.to_json() for k in self.keys]}, indent=1)

    def active(self, now: datetime) -> list[SigningKey]:
        """Oldest first; the sort is stable, so keys of the same second keep their ring order."""
        return sorted((k for k in self.keys if k.active(now)), key=lambda k: k.created_at)

    def signing_key(self, now: datetime) -> SigningKey | None:
        """The newest key not yet superseded (None: the keyring was never provisioned)."""
        active = self.active(now)
        current = [k for k in active if k.retire_at is None] or active
        return current[-1] if current else None

    def verification_key(self, kid: str, now: datetime) -> Ed25519PublicKey | None:
        for key in self.keys:
            if key.kid == kid and key.active(now):
                return key.public_key
        return None

    def jwks(self, now: datetime) -> dict[str, list[dict[str, str]]]:
        return {"keys": [k.jwk() for k in self.active(now)]}

    def rotate(self, now: datetime, overlap_seconds: int) -> Keyring:
        """Add a new signing key; superseded keys verify for `overlap_seconds` more, then go."""
        retire = now.replace(microsecond=0) + timedelta(seconds=overlap_seconds)
        kept = [k if k.retire_at else replace(k, retire_at=retire) for k in self.keys if k.active(now)]
        return Keyring((*kept, new_key(now)))
