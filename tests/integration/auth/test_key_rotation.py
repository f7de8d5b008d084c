"""The signing keyring kept fresh by the scheduler: a first key after deployment, a new one when
the signer is old, never two successors of one keyring."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from skucast.auth.keyring import Keyring
from skucast.auth.settings import AuthSettings
from skucast.repositories import signing_keys
from skucast.services import key_rotation
from skucast_local.emulator import REGION, Provisioned
from tests.conftest import load_event

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def _secret(provisioned: Provisioned) -> str:
    return provisioned.resources["SigningKeysSecret"].ref


def _ring(secret: str) -> Keyring:
    return Keyring.parse(signing_keys.read_keyring_uncached(secret))


def test_given_a_fresh_deployment_when_the_schedule_fires_then_the_keyring_gets_a_signing_key(
    provisioned: Provisioned, lambda_context: Any
) -> None:
    from scheduler.app import handler

    secret = _secret(provisioned)
    assert _ring(secret).signing_key(datetime.now(UTC)) is None  # the template's empty keyring
    assert handler(load_event("schedule_signing_key.json"), lambda_context) == {
        "task": "signing-key",
        "rotated": True,
    }
    assert _ring(secret).signing_key(datetime.now(UTC)) is not None
    # fired again: the key is fresh, nothing changes
    assert handler(load_event("schedule_signing_key.json"), lambda_context)["rotated"] is False
    assert len(_ring(secret).keys) == 1


def test_given_an_old_signer_then_a_new_one_signs_and_the_old_one_verifies_for_the_overlap(
    provisioned: Provisioned,
) -> None:
    secret, auth = _secret(provisioned), AuthSettings()
    first = key_rotation.rotate_if_due(secret, auth, NOW).keyring.signing_key(NOW)
    assert first is not None
    almost = NOW + timedelta(days=auth.signing_key_max_age_days) - timedelta(minutes=1)
    assert key_rotation.rotate_if_due(secret, auth, almost).rotated is False
    later = NOW + timedelta(days=auth.signing_key_max_age_days)
    ring = key_rotation.rotate_if_due(secret, auth, later).keyring
    signer = ring.signing_key(later)
    assert signer is not None and signer.kid != first.kid
    assert ring.verification_key(first.kid, later) is not None  # tokens it signed still verify
    gone = later + timedelta(seconds=auth.signing_key_overlap_seconds)
    assert ring.verification_key(first.kid, gone) is None


def test_given_two_rotations_of_the_same_keyring_then_only_the_first_lands(
    provisioned: Provisioned, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = _secret(provisioned)
    key_rotation.rotate(secret, 3600, NOW)
    before = signing_keys.read_keyring_uncached(secret)
    sm = boto3.client("secretsmanager", region_name=REGION)
    versions = len(sm.list_secret_version_ids(SecretId=secret)["Versions"])

    winner = key_rotation.rotate(secret, 3600, NOW + timedelta(days=40))
    # a second rotation that read the same keyring (the read is replayed: it raced the first)
    monkeypatch.setattr(signing_keys, "read_keyring_uncached", lambda _secret_id: before)
    loser = key_rotation.rotate(secret, 3600, NOW + timedelta(days=40))
    monkeypatch.undo()

    assert winner.rotated and not loser.rotated
    assert len(sm.list_secret_version_ids(SecretId=secret)["Versions"]) == versions + 1
    assert _ring(secret).dumps() == winner.keyring.dumps()  # the winner's signer was not dropped
