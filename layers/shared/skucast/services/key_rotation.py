"""Signing-key upkeep: the keyring gets its first key after a deployment, and a new signing key
when the current one is older than `signing_key_max_age_days` (superseded keys keep verifying
for one overlap, then go). Run by SchedulerFunction every few minutes and by `skucast.admin`.

Two rotations from the same keyring (a schedule delivered twice, an operator at the same time)
must not both land: the second would drop the key the first just started signing with. Each
write names the keyring it replaces in its ClientRequestToken, so Secrets Manager refuses the
second version built on the same predecessor.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from botocore.exceptions import ClientError

from skucast import clock
from skucast.auth.keyring import Keyring
from skucast.auth.settings import AuthSettings
from skucast.repositories import signing_keys


@dataclass(frozen=True)
class Rotation:
    rotated: bool
    keyring: Keyring


def rotate(secret_id: str, overlap_seconds: int, now: datetime | None = None) -> Rotation:
    """Add a new signing key now (unless another rotation of the same keyring just won)."""
    text = signing_keys.read_keyring_uncached(secret_id)
    return _rotate(secret_id, text, overlap_seconds, now or clock.now())


def rotate_if_due(secret_id: str, auth: AuthSettings, now: datetime | None = None) -> Rotation:
    now = now or clock.now()
    text = signing_keys.read_keyring_uncached(secret_id)
    ring = Keyring.parse(text)
    signer = ring.signing_key(now)
    if signer is not None and now - signer.created_at < timedelta(days=auth.signing_key_max_age_days):
        return Rotation(False, ring)
    return _rotate(secret_id, text, auth.signing_key_overlap_seconds, now)


def _rotate(secret_id: str, text: str, overlap_seconds: int, now: datetime) -> Rotation:
    """Write the successor of the keyring `text` (as read); one successor per keyring."""
    rotated = Keyring.parse(text).rotate(now, overlap_seconds)
    token = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{secret_id}#{text}"))
    try:
        signing_keys.write_keyring(secret_id, rotated.dumps(), token)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceExistsException":
            raise
        return Rotation(False, Keyring.parse(signing_keys.read_keyring_uncached(secret_id)))
    return Rotation(True, rotated)
