"""Per-client rate limits: the authorizer's usageIdentifierKey puts each client in its tier's plan."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.e2e.conftest import RunningStack
from tests.e2e.routes import Tenant


def test_given_a_free_client_beyond_its_burst_then_429_while_another_client_still_passes(
    stack: RunningStack,
) -> None:
    with stack.http() as http:
        free = Tenant.sign_up(stack, tier="free", http=http)  # rate 5/s, burst 10
        other = Tenant.sign_up(stack, tier="standard", http=http)

    def me(headers: dict[str, str]) -> httpx.Response:
        with stack.http() as client:
            return client.get("/api/auth/me", headers=headers)

    # Warm every authorizer and handler container first (cold starts on a busy 2-core machine
    # can outlast the authorizer's 10 s timeout), with the client whose plan allows it.
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(3):
            if all(r.status_code == 200 for r in pool.map(me, [other.headers] * 8)):
                break
        time.sleep(1)

    # 30 requests of the free client with 5 of another client interleaved, all within a second or so.
    mixed = [free.headers] * 15 + [other.headers] * 5 + [free.headers] * 15
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(me, mixed))
    burst = replies[:15] + replies[20:]
    others = replies[15:20]

    throttled = [r for r in burst if r.status_code == 429]
    assert throttled, [r.status_code for r in burst]
    assert {r.status_code for r in burst} <= {200, 429}
    assert sum(r.status_code == 200 for r in burst) <= 10 + 5 * 3  # burst + a few seconds of refill at most
    for r in throttled:
        assert int(r.headers["retry-after"]) >= 1
        assert r.headers["content-type"] == "application/problem+json"
    assert [r.status_code for r in others] == [200] * 5
