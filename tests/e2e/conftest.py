"""The local stack as a user runs it (`python -m skucast_local`), in a subprocess on free ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICE_KEY = "e2e-service-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningStack:
    api: str
    aws: str
    control: str
    service_key: str
    process: subprocess.Popen[str]
    output: list[str]

    def http(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.api, timeout=60, **kwargs)  # type: ignore[arg-type]

    def aws_client(self, service: str) -> object:
        return boto3.client(
            service,
            endpoint_url=self.aws,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def describe(self) -> dict:
        return httpx.get(f"{self.control}/describe", timeout=10).json()

    def stats(self) -> dict[str, int]:
        return httpx.get(f"{self.control}/stats", timeout=10).json()


def stack_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SKUCAST_"))}
    env.update(
        PYTHONPATH=f"{ROOT / 'local'}{os.pathsep}{ROOT / 'layers' / 'shared'}",
        SKUCAST_API_PORT=str(free_port()),
        SKUCAST_AWS_PORT=str(free_port()),
        SKUCAST_CONTROL_PORT=str(free_port()),
        SKUCAST_SERVICE_KEY=SERVICE_KEY,
        SKUCAST_LOCAL_STATE=str(tmp),
    )
    env.update(extra)
    return env


def start_stack(tmp: Path, timeout: float = 90, **extra: str) -> RunningStack:
    env = stack_env(tmp, **extra)
    process = subprocess.Popen(
        [sys.executable, "-m", "skucast_local"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if line.startswith("ready"):
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.2):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("local stack did not start:\n" + "".join(output))
    host = "http://127.0.0.1"
    return RunningStack(
        api=f"{host}:{env['SKUCAST_API_PORT']}",
        aws=f"{host}:{env['SKUCAST_AWS_PORT']}",
        control=f"{host}:{env['SKUCAST_CONTROL_PORT']}",
        service_key=SERVICE_KEY,
        process=process,
        output=output,
    )


def stop_stack(stack: RunningStack) -> None:
    stack.process.send_signal(signal.SIGTERM)
    try:
        stack.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        stack.process.kill()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    stop_stack(running)
