"""Passwords, the keyring and token primitives (no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import extract_parameters

from skucast.auth import passwords as passwords_module
from skucast.auth.keyring import Keyring, KeyringError
from skucast.auth.passwords import PasswordParams, Passwords, new_salt, salt_of
from skucast.auth.settings import AuthSettings
from skucast.auth.tokens import InvalidToken, digest, issue_access_token, verify_access_token

CHEAP = PasswordParams(memory_kib=8, iterations=1, parallelism=1)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_given_the_deployed_defaults_when_hashing_then_argon2id_at_least_19_mib_2_passes_1_lane() -> None:
    params = AuthSettings().password_params  # what a deployment without overrides uses
    assert params.memory_kib >= 19 * 1024 and params.iterations >= 2 and params.parallelism == 1
    stored = Passwords(params).hash("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    found = extract_parameters(stored)
    assert (found.memory_cost, found.time_cost, found.parallelism) == (19 * 1024, 2, 1)
    assert Passwords(params).verify(stored, "correct horse battery staple") == (True, False)


def test_given_a_long_password_when_verifying_then_every_character_counts() -> None:
    passwords = Passwords(CHEAP)
    long = "p" * 1023 + "q"
    stored = passwords.hash(long)
    assert passwords.verify(stored, long)[0] is True
    assert passwords.verify(stored, "p" * 1023 + "r")[0] is False
    assert passwords.verify(stored, "p" * 1023)[0] is False


def test_given_changed_parameters_when_verifying_then_rehash_is_asked() -> None:
    old = Passwords(CHEAP).hash("s3cret-password")
    assert Passwords(PasswordParams(memory_kib=16, iterations=1)).verify(old, "s3cret-password") == (
        True,
        True,
    )


def test_given_a_wrong_or_garbage_hash_when_verifying_then_false_not_an_error() -> None:
    passwords = Passwords(CHEAP)
    assert passwords.verify(passwords.hash("a-password"), "b-password") == (False, False)
    assert passwords.verify("not-a-hash", "a-password") == (False, False)
    passwords.verify_dummy("anything")  # spends the time, raises nothing


def _counting_argon2(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count every Argon2 computation: verify_all's own and the hasher's (dummy, verify)."""
    calls: list[int] = []
    raw, core = passwords_module.hash_secret_raw, passwords_module.PasswordHasher.verify

    def counted_raw(*args: object, **kwargs: object) -> bytes:
        calls.append(1)
        return raw(*args, **kwargs)  # type: ignore[arg-type]

    def counted_verify(self: object, *args: object, **kwargs: object) -> bool:
        calls.append(1)
        return core(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(passwords_module, "hash_secret_raw", counted_raw)
    monkeypatch.setattr(passwords_module.PasswordHasher, "verify", counted_verify)
    return calls


@pytest.mark.parametrize("identities", [0, 1, 2, 5])
def test_given_an_emails_identities_sharing_a_salt_when_verifying_all_then_one_argon2_computation(
    monkeypatch: pytest.MonkeyPatch, identities: int
) -> None:
    passwords, salt = Passwords(CHEAP), new_salt()
    stored = [passwords.hash(f"password of tenant {n}", salt) for n in range(identities)]
    assert all(salt_of(h) == salt for h in stored)
    calls = _counting_argon2(monkeypatch)
    verdicts = passwords.verify_all(stored, "password of tenant 1")
    assert len(calls) == 1  # the same work for an e-mail in no tenant, one, or five
    assert verdicts == [(n == 1, False) for n in range(identities)]


def test_given_hashes_of_other_salts_or_parameters_when_verifying_all_then_each_is_checked_on_its_own() -> None:
    passwords = Passwords(CHEAP)
    own = passwords.hash("the password")  # a salt of its own (a schema-1 identity)
    older = Passwords(PasswordParams(memory_kib=16, iterations=1)).hash("the password", salt_of(own))
    assert passwords.verify_all([own, older, "not-a-hash", own], "the password") == [
        (True, False),
        (True, True),
        (False, False),
        (True, False),
    ]
    assert passwords.verify_all([own, older], "another password") == [(False, False), (False, False)]


def test_given_a_rotation_when_within_the_overlap_then_both_keys_verify_and_the_newest_signs() -> None:
    first = Keyring().rotate(NOW, overlap_seconds=3600)
    second = Keyring.parse(first.rotate(NOW + timedelta(days=30), overlap_seconds=3600).dumps())
    old, new = second.keys
    at = NOW + timedelta(days=30, minutes=10)
    assert second.signing_key(at) == new
    assert second.verification_key(old.kid, at) is not None
    assert {k["kid"] for k in second.jwks(at)["keys"]} == {old.kid, new.kid}
    later = NOW + timedelta(days=30, hours=2)
    assert second.verification_key(old.kid, later) is None
    third = second.rotate(later, overlap_seconds=3600)
    assert old.kid not in {k.kid for k in third.keys}  # retired keys are dropped
    assert len(third.keys) == 2


def test_given_an_empty_or_broken_keyring_when_parsing_then_no_signer_or_an_error() -> None:
    assert Keyring.parse('{"keys": []}').signing_key(NOW) is None
    for text in ("", "[]", '{"keys": [{"kid": "x"}]}', '{"keys": [{"kid": "x", "alg": "HS256"}]}'):
        with pytest.raises(KeyringError):
            Keyring.parse(text)


def test_given_a_jwk_when_published_then_it_carries_no_private_material() -> None:
    ring = Keyring().rotate(NOW, 3600)
    (jwk,) = ring.jwks(NOW)["keys"]
    assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and jwk["alg"] == "EdDSA"


def test_given_an_issued_token_when_verified_then_the_claims_round_trip() -> None:
    now = datetime.now(UTC)
    ring = Keyring().rotate(now, 3600)
    key = ring.signing_key(now)
    assert key is not None
    token = issue_access_token(
        key, issuer="i", audience="a", subject="usr_1", client_id="cli_1", role="viewer",
        session_id="ses_1", ttl_seconds=900, now=now,
    )  # fmt: skip
    claims = verify_access_token(token, lambda kid: ring.verification_key(kid, now), issuer="i", audience="a")
    assert (claims.subject, claims.client_id, claims.role, claims.session_id) == (
        "usr_1",
        "cli_1",
        "viewer",
        "ses_1",
    )
    with pytest.raises(InvalidToken):
        verify_access_token("x" * 5000, lambda kid: None, issuer="i", audience="a")


def test_given_a_secret_when_digested_then_sha256_hex_of_its_utf8() -> None:
    assert digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
