"""Shared test helpers. Unit tests never touch the network (see tests/unit/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def response_header(response: dict[str, Any], name: str) -> str | None:
    """A header of a Lambda proxy response, whether set single- or multi-valued."""
    for key, value in (response.get("headers") or {}).items():
        if key.lower() == name.lower():
            return str(value)
    for key, values in (response.get("multiValueHeaders") or {}).items():
        if key.lower() == name.lower() and values:
            return str(values[-1])
    return None


class FakeContext:
    """The LambdaContext fields handlers and Powertools read, with a fixed time budget."""

    function_version = "$LATEST"
    aws_request_id = "00000000-0000-4000-8000-000000000000"

    def __init__(self, name: str = "test", memory: int = 512, remaining_ms: int = 30_000) -> None:
        self.function_name = name
        self.memory_limit_in_mb = memory
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self._remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining_ms
