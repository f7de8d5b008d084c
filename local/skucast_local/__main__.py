"""`python -m skucast_local` (what `make up` runs): serve the stack until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from skucast_local.stack import LocalStack, StackConfig, StackError

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="skucast-local", description="Run skucast locally.")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository (where template.yaml is)")
    args = parser.parse_args(argv)
    stack: LocalStack | None = None
    try:
        stack = LocalStack(StackConfig.from_env(args.root.resolve()))
        stack.start()
    except StackError as exc:
        print(f"skucast-local: {exc}", file=sys.stderr)
        if stack:
            stack.stop()
        return 2
    info = stack.describe()
    print(f"skucast local stack: API {info['api']}  AWS emulator {info['aws']}  controls {info['control']}")
    if not stack.config.service_key:
        print(f"operator service key (X-Service-Key): {stack.provisioned.service_key}")
    print(
        f"{len(info['routes'])} routes, {len(info['sqs'])} queue subscriptions, {len(info['s3'])} S3 "
        f"notifications, {len(info['schedules'])} schedules; function logs in {stack.config.state_dir}/logs"
    )
    built = "" if info["console_built"] else "  (not built yet: run `make console`)"
    print(f"console: open {info['console']} in a browser{built}")
    print("ready (Ctrl-C to stop)", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    print("stopping", flush=True)
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
