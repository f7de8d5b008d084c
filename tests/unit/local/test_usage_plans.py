"""The local gateway's usage-plan lookup (skucast_local.gateway.UsagePlans), against a fake API Gateway."""

from __future__ import annotations

import time
from typing import Any

from skucast_local.gateway import REFRESH_SECONDS, UsagePlans


class FakeApiGateway:
    def __init__(self) -> None:
        self.keys: list[str] = []
        self.reads: list[float] = []  # when each refresh began reading

    def get_usage_plans(self) -> dict[str, Any]:
        self.reads.append(time.monotonic())
        return {"items": [{"id": "plan", "throttle": {"rateLimit": 10, "burstLimit": 20}}]}

    def get_usage_plan_keys(self, usagePlanId: str) -> dict[str, Any]:
        return {"items": [{"value": k} for k in self.keys]}


def test_given_a_key_created_right_after_a_lookup_then_its_first_request_finds_its_plan() -> None:
    apigw = FakeApiGateway()
    plans = UsagePlans(apigw)
    apigw.keys.append("first-tenant")
    assert plans.plan("first-tenant") is not None
    apigw.keys.append("second-tenant")  # signed up within the same refresh window
    plan = plans.plan("second-tenant")
    assert plan is not None and plan.rate == 10
    assert plans.plan("first-tenant") is plans.plan("second-tenant")  # known keys read nothing more
    assert len(apigw.reads) == 2


def test_given_made_up_keys_then_they_are_refused_and_the_emulator_is_read_at_most_once_per_window() -> None:
    apigw = FakeApiGateway()
    plans = UsagePlans(apigw)
    for attempt in range(4):
        assert plans.plan(f"made-up-{attempt}") is None
    gaps = [b - a for a, b in zip(apigw.reads, apigw.reads[1:], strict=False)]
    assert len(apigw.reads) == 4 and all(gap >= REFRESH_SECONDS for gap in gaps), gaps
