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

    # Waves of the free client's requests (16 at once, 5 of another client among them) until the
    # free client is throttled. Bounded: on a machine too loaded to send 5 requests a second the
    # plan never needs to refuse, and the test fails instead of looping.
    free_replies: list[httpx.Response] = []
    others: list[httpx.Response] = []
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        for _ in range(8):
            wave = list(pool.map(me, [free.headers] * 8 + [other.headers] * 5 + [free.headers] * 8))
            free_replies += wave[:8] + wave[13:]
            others += wave[8:13]
            if any(r.status_code == 429 for r in free_replies):
                break
    elapsed = time.monotonic() - started

    throttled = [r for r in free_replies if r.status_code == 429]
    assert throttled, [r.status_code for r in free_replies]
    assert {r.status_code for r in free_replies} <= {200, 429}
    # Never more than the burst plus what the rate refilled while the test ran.
    assert sum(r.status_code == 200 for r in free_replies) <= 10 + 5 * elapsed + 1
    for r in throttled:
        assert int(r.headers["retry-after"]) >= 1
        assert r.headers["content-type"] == "application/problem+json"
    assert [r.status_code for r in others] == [200] * len(others)  # the other client is never held back
