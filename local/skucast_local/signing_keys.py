"""The local stack's access-token signing keyring: generated once into the state folder.

On AWS the keyring secret starts empty and SchedulerFunction fills it (skucast.services.key_rotation);
locally the stack does that at provisioning, from `<state_dir>/signing-keys.json` (git-ignored),
so tokens stay valid across restarts that keep the state folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from skucast import clock

FILE_NAME = "signing-keys.json"
LOGICAL_ID = "SigningKeysSecret"  # the template's keyring secret


def keyring_json(state_dir: Path) -> str:
    """The keyring in `state_dir`, created with one fresh key when absent or unusable."""
    from skucast.auth.keyring import Keyring, KeyringError  # the shared layer (on PYTHONPATH)

    path = state_dir / FILE_NAME
    if path.exists():
        text = path.read_text(encoding="utf-8")
        try:
            if Keyring.parse(text).signing_key(clock.now()) is not None:
                return text
        except KeyringError:
            pass  # regenerate below: a local keyring holds nothing worth keeping
    text = Keyring().rotate(clock.now(), overlap_seconds=0).dumps()
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # private keys: owner only
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return text
