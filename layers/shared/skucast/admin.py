"""Operator commands. `python -m skucast.admin rotate-signing-key --secret-id <id>`;
`python -m skucast.admin rebuild-catalog --table <table> --client-id <id>` (services/catalog_rebuild.py).

Rotation adds a new Ed25519 signing key (the newest signs) and gives the keys it supersedes one
overlap more to verify the tokens they signed; keys whose overlap has passed are dropped.
SchedulerFunction does this by itself (the first key minutes after deployment, then monthly:
skucast.services.key_rotation); this command rotates now, e.g. after a suspected leak. It prints
key ids only, never key material.
"""

from __future__ import annotations

import argparse
import os
import sys

from skucast import clock
from skucast.auth.keyring import KeyringError
from skucast.auth.settings import AuthSettings
from skucast.services import key_rotation


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skucast.admin", description="skucast operator commands")
    commands = parser.add_subparsers(dest="command", required=True)
    rotate = commands.add_parser("rotate-signing-key", help="add a signing key, retire superseded ones")
    rotate.add_argument("--secret-id", required=True, help="the SigningKeysSecret ARN or name")
    rotate.add_argument(
        "--overlap-seconds",
        type=int,
        default=AuthSettings.model_fields["signing_key_overlap_seconds"].default,
        help="how long superseded keys keep verifying (at least the access-token lifetime)",
    )
    rebuild = commands.add_parser(
        "rebuild-catalog", help="classify a tenant's stored series again into its SKU catalog"
    )
    rebuild.add_argument("--table", required=True, help="the stack's DynamoDB table")
    rebuild.add_argument("--client-id", required=True, help="the tenant")
    rebuild.add_argument(
        "--thresholds",
        default=os.environ.get("SKUCAST_CLASSIFICATION_THRESHOLDS", "{}"),
        help="the deployment's ClassificationThresholds JSON (default: $SKUCAST_CLASSIFICATION_THRESHOLDS or {})",
    )
    args = parser.parse_args(argv)
    if args.command == "rebuild-catalog":
        return _rebuild_catalog(parser, args)
    if args.overlap_seconds < 900:
        parser.error("--overlap-seconds must be at least 900 (the access-token lifetime)")
    try:
        ring = key_rotation.rotate(args.secret_id, args.overlap_seconds).keyring
    except KeyringError as exc:
        print(f"skucast.admin: the secret is not a keyring: {exc}", file=sys.stderr)
        return 2
    now = clock.now()
    signer = ring.signing_key(now)
    for key in ring.keys:
        state = "signs" if key is signer else f"verifies until {clock.iso(key.retire_at) if key.retire_at else '-'}"
        print(f"{key.kid}  {state}")
    return 0


def _rebuild_catalog(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from skucast.errors import Conflict
    from skucast.services.catalog_rebuild import rebuild_catalog
    from skucast.settings import classification_thresholds

    try:
        config = classification_thresholds(args.thresholds)
    except ValueError as exc:
        parser.error(f"--thresholds: {exc}")
    try:
        done = rebuild_catalog(args.table, args.client_id, config)
    except Conflict as exc:
        print(f"skucast.admin: {exc.detail}", file=sys.stderr)
        return 2
    print(f"{done.skus} SKUs classified, {done.pages_written} catalog pages written, "
          f"{done.legacy_items_deleted} one-SKU catalog items deleted")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
