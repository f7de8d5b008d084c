"""API Gateway usage plans: each client's usage-plan key sits in its tier's plan."""

from __future__ import annotations

from skucast.aws import client

_plan_ids: dict[str, str] = {}  # plan name -> id (platform-wide, never per tenant)


def plan_id(name: str) -> str | None:
    if name in _plan_ids:
        return _plan_ids[name]
    apigw = client("apigateway")
    kwargs: dict[str, str | int] = {"limit": 500}
    while True:
        page = apigw.get_usage_plans(**kwargs)
        for plan in page.get("items", []):
            if plan.get("name") == name:
                _plan_ids[name] = str(plan["id"])
                return _plan_ids[name]
        if not page.get("position"):
            return None
        kwargs["position"] = page["position"]


def add_key(plan: str, name: str, value: str) -> str:
    """Create an enabled API key with this value and put it in the plan; returns the key's id."""
    apigw = client("apigateway")
    key_id = str(apigw.create_api_key(name=name, enabled=True, value=value)["id"])
    try:
        apigw.create_usage_plan_key(usagePlanId=plan, keyId=key_id, keyType="API_KEY")
    except Exception:
        apigw.delete_api_key(apiKey=key_id)
        raise
    return key_id


def delete_key(key_id: str) -> None:
    client("apigateway").delete_api_key(apiKey=key_id)
