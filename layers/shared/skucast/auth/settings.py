"""Authentication settings: password cost, login throttling, key rotation (read once from SKUCAST_*).

Kept apart from skucast.settings so the cost knobs can be lowered in tests without touching the
deployment contract there; the defaults are the deployed values.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from skucast.auth.passwords import PasswordParams


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SKUCAST_", extra="ignore", frozen=True)

    # Argon2id cost (OWASP minimum: 19 MiB, 2 passes, 1 lane). Tests lower it; deployments must not.
    password_memory_kib: int = Field(default=19 * 1024, ge=8)
    password_iterations: int = Field(default=2, ge=1)
    password_parallelism: int = Field(default=1, ge=1)

    # Failed logins per e-mail and per source IP within one window before answering 429.
    login_window_seconds: int = Field(default=900, ge=1)
    login_max_failures_per_email: int = Field(default=5, ge=1)
    login_max_failures_per_ip: int = Field(default=100, ge=1)

    # How long a superseded signing key keeps verifying (must outlive the access-token lifetime).
    signing_key_overlap_seconds: int = Field(default=24 * 3600, ge=900)
    # The scheduler replaces the signing key once it is this old (and creates the first one).
    signing_key_max_age_days: int = Field(default=30, ge=1)
    # An unknown `kid` re-reads the keyring (a rotation may be newer than the cache) at most this often.
    keyring_refetch_seconds: int = Field(default=10, ge=0)

    @property
    def password_params(self) -> PasswordParams:
        return PasswordParams(
            memory_kib=self.password_memory_kib,
            iterations=self.password_iterations,
            parallelism=self.password_parallelism,
        )


@lru_cache(maxsize=1)
def get_auth_settings() -> AuthSettings:
    return AuthSettings()
