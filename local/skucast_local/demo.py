"""`make demo`: start the local stack, exercise it end to end over HTTP, stop it.

Grows with the product: today it proves the stack serves the contract's monitoring routes and
that the emulated AWS it reports ready is the one template.yaml describes.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

from skucast_local.stack import LocalStack, StackConfig, StackError

ROOT = Path(__file__).resolve().parents[2]


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (loopback URL we built)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def run(stack: LocalStack) -> int:
    api = stack.describe()["api"]
    status, health = _get(f"{api}/api/monitoring/health")
    print(f"GET /api/monitoring/health -> {status} {health}")
    status_ready, ready = _get(f"{api}/api/monitoring/ready", {"X-Service-Key": stack.provisioned.service_key})
    print(f"GET /api/monitoring/ready  -> {status_ready} {ready}")
    ok = status == 200 and status_ready == 200
    print("demo: OK" if ok else "demo: FAILED")
    return 0 if ok else 1


def main() -> int:
    try:
        stack = LocalStack(StackConfig.from_env(ROOT))
        stack.start()
    except StackError as exc:
        print(f"skucast-demo: {exc}", file=sys.stderr)
        return 2
    try:
        info = stack.describe()
        print(f"local stack up: API {info['api']}, AWS emulator {info['aws']}")
        return run(stack)
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
