"""Password hashing: Argon2id, parameters from settings, rehash when they change.

Passwords are hashed whole (no truncation; the schemas cap the length), after NFKC normalisation
(NIST SP 800-63B) so the same password typed on different keyboards verifies.

The identities of one e-mail (one per tenant) share one salt, so `verify_all` checks a password
against all of them with one Argon2 computation: how long a login takes does not tell how many
tenants an e-mail is in.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import unicodedata
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from functools import lru_cache

from argon2 import Parameters, PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import hash_secret_raw

# OWASP Password Storage Cheat Sheet, Argon2id option 2 (the deployed minimum).
DEPLOYED_MIN_MEMORY_KIB = 19 * 1024
DEPLOYED_MIN_ITERATIONS = 2
MAX_PASSWORD_CHARS = 1024
MIN_PASSWORD_CHARS = 8


@dataclass(frozen=True)
class PasswordParams:
    memory_kib: int = DEPLOYED_MIN_MEMORY_KIB
    iterations: int = DEPLOYED_MIN_ITERATIONS
    parallelism: int = 1


class Passwords:
    """Hash and verify with one parameter set; `verify` also says whether to rehash."""

    def __init__(self, params: PasswordParams) -> None:
        self.params = params
        self._hasher = PasswordHasher(
            time_cost=params.iterations,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            type=Type.ID,
        )
        self._dummy: str | None = None

    def hash(self, password: str, salt: bytes | None = None) -> str:
        """An encoded Argon2id hash; with `salt`, that salt (an e-mail's shared one), else a new one."""
        return self._hasher.hash(_normalize(password), salt=salt)

    def verify(self, stored_hash: str, password: str) -> tuple[bool, bool]:
        """(matches, needs_rehash)."""
        try:
            self._hasher.verify(stored_hash, _normalize(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, False
        return True, self._hasher.check_needs_rehash(stored_hash)

    def verify_all(self, stored_hashes: Sequence[str], password: str) -> list[tuple[bool, bool]]:
        """(matches, needs_rehash) for each hash, computing Argon2 once per distinct parameters and
        salt among them (once for one e-mail's identities), and once even when there are none."""
        secret = _normalize(password).encode("utf-8")
        computed: dict[tuple[tuple[object, ...], bytes], bytes] = {}
        answers = []
        for stored in stored_hashes:
            parsed = _parse(stored)
            if parsed is None:
                answers.append((False, False))
                continue
            params, salt, expected = parsed
            group = (astuple(params), salt)
            if group not in computed:
                computed[group] = hash_secret_raw(
                    secret, salt, params.time_cost, params.memory_cost, params.parallelism,
                    params.hash_len, params.type, params.version,
                )  # fmt: skip
            matches = hmac.compare_digest(computed[group], expected)
            answers.append((matches, matches and self._hasher.check_needs_rehash(stored)))
        if not computed:
            self.verify_dummy(password)  # no identity: the same work, the same answer
        return answers

    def verify_dummy(self, password: str) -> None:
        """Spend the time a real verification costs (unknown e-mail: same answer, similar timing)."""
        if self._dummy is None:
            self._dummy = self.hash("not-a-real-password-but-costs-the-same")
        self.verify(self._dummy, password)


@lru_cache(maxsize=4)
def passwords(params: PasswordParams) -> Passwords:
    return Passwords(params)


def new_salt() -> bytes:
    return os.urandom(16)


def salt_of(stored_hash: str) -> bytes | None:
    """The salt inside an encoded Argon2 hash (None when it is not one)."""
    parsed = _parse(stored_hash)
    return parsed[1] if parsed else None


def _parse(stored_hash: str) -> tuple[Parameters, bytes, bytes] | None:
    """(parameters, salt, hash) of `$argon2id$v=19$m=..,t=..,p=..$<salt>$<hash>`."""
    try:
        params = extract_parameters(stored_hash)
        salt, digest = (_b64(part) for part in stored_hash.split("$")[4:6])
    except (InvalidHashError, ValueError, binascii.Error):
        return None
    return params, salt, digest


def _b64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _normalize(password: str) -> str:
    return unicodedata.normalize("NFKC", password)
