"""A scripted fake of the skucast API for client unit tests (an httpx.MockTransport handler)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from skucast_client import Client, cli

Handler = Callable[[httpx.Request], httpx.Response]


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> httpx.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "request_id": "req-1"}
    headers = {k.replace("_", "-"): str(v) for k, v in extra.pop("headers", {}).items()}
    return httpx.Response(
        status,
        content=json.dumps({**body, **extra}).encode(),
        headers={"Content-Type": "application/problem+json", **headers},
    )


@dataclass
class Recorder:
    """Routes requests to per-(method, path) queues of answers; records every request."""

    routes: dict[tuple[str, str], list[httpx.Response | Handler]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    def add(self, method: str, path: str, *answers: httpx.Response | Handler) -> None:
        self.routes.setdefault((method, path), []).extend(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = (request.method, request.url.path if request.url.host == "api.test" else str(request.url))
        queue = self.routes.get(key)
        if not queue:
            raise AssertionError(f"unexpected request {key}")
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        return answer(request) if callable(answer) else answer

    def client(self, **kwargs: Any) -> Client:
        kwargs.setdefault("api_key", "key-1")
        return Client("http://api.test", transport=httpx.MockTransport(self), sleep=self.sleeps.append, **kwargs)

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]


def result(sku: str, dates: list[str], method: str = "ets_level", demand_class: str = "smooth") -> dict[str, Any]:
    return {
        "sku": sku,
        "demand_class": demand_class,
        "method": method,
        "forecast": [
            {
                "date": d,
                "mean": 10.0 + i,
                "lo_80": 8.0 + i,
                "hi_80": 12.0 + i,
                "lo_95": 6.0 + i,
                "hi_95": 14.0 + i,
            }
            for i, d in enumerate(dates)
        ],
        "metrics": {
            "mase": 0.8,
            "wape": 0.2,
            "mae": 2.0,
            "n_points": 7,
            "coverage_80": 0.8,
            "coverage_95": 1.0,
        },
        "error": None,
    }


def cli_against(recorder: Recorder, monkeypatch: pytest.MonkeyPatch, config: Path) -> Recorder:
    """The CLI's clients sent to `recorder`, with its config file at `config` and no credentials
    from the environment."""
    monkeypatch.setenv("SKUCAST_CONFIG", str(config))
    for var in ("SKUCAST_API_URL", "SKUCAST_API_KEY", "SKUCAST_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    transport = httpx.MockTransport(recorder)
    monkeypatch.setattr(cli, "Client", functools.partial(Client, transport=transport, sleep=recorder.sleeps.append))
    return recorder
