"""Password hashing: Argon2id, parameters from settings, rehash when they change.

Passwords are hashed whole (no truncation; the schemas cap the length), after NFKC normalisation
(NIST SP 800-63B) so the same password typed on different keyboards verifies.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

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

    def hash(self, password: str) -> str:
        return self._hasher.hash(_normalize(password))

    def verify(self, stored_hash: str, password: str) -> tuple[bool, bool]:
        """(matches, needs_rehash)."""
        try:
            self._hasher.verify(stored_hash, _normalize(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, False
        return True, self._hasher.check_needs_rehash(stored_hash)

    def verify_dummy(self, password: str) -> None:
        """Spend the time a real verification costs (unknown e-mail: same answer, similar timing)."""
        if self._dummy is None:
            self._dummy = self.hash("not-a-real-password-but-costs-the-same")
        self.verify(self._dummy, password)


@lru_cache(maxsize=4)
def passwords(params: PasswordParams) -> Passwords:
    return Passwords(params)


def _normalize(password: str) -> str:
    return unicodedata.normalize("NFKC", password)
