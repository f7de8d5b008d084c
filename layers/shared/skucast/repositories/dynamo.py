"""DynamoDB helpers for the auth repositories: transactions with domain errors, one-partition pages."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from skucast.aws import table


class ConditionFailed(Exception):
    """A conditional write (or one item of a transaction) found the item in another state."""

    def __init__(self, failed: list[int]) -> None:
        super().__init__(f"condition failed on item(s) {failed}")
        self.failed = failed


def transact(table_name: str, actions: list[dict[str, Any]]) -> None:
    """TransactWriteItems of actions like {"Put": {...}} (TableName filled in). All or nothing."""
    items = [{kind: {"TableName": table_name, **body} for kind, body in a.items()} for a in actions]
    try:
        table(table_name).meta.client.transact_write_items(TransactItems=items)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
            raise
        reasons = exc.response.get("CancellationReasons") or []
        failed = [i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"]
        if not failed:
            raise  # a conflicting transaction or throttling: not a state the caller can act on
        raise ConditionFailed(failed) from None


def get(table_name: str, pk: str, sk: str) -> dict[str, Any] | None:
    """Strongly consistent: credentials revoked a moment ago must read as revoked."""
    item = table(table_name).get_item(Key={"pk": pk, "sk": sk}, ConsistentRead=True).get("Item")
    return dict(item) if item else None


def page(
    table_name: str, pk: str, prefix: str, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Items of one partition whose sk starts with `prefix`, in sk order, after sk `after`.

    Returns the items and the sk to continue after (None on the last page). The cursor the
    caller hands out carries only that sk; the partition always comes from the caller's tenant.
    """
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(pk) & Key("sk").begins_with(prefix),
        "Limit": limit,
    }
    if after is not None:
        kwargs["ExclusiveStartKey"] = {"pk": pk, "sk": after}
    result = table(table_name).query(**kwargs)
    items = [dict(i) for i in result.get("Items", [])]
    last = result.get("LastEvaluatedKey")
    return items, (str(last["sk"]) if last else None)


def plain(value: Any) -> Any:
    """An item as the API speaks it: DynamoDB numbers come back as Decimal."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def storable(value: Any) -> Any:
    """A value DynamoDB accepts: floats become Decimal; NaN and infinities (no JSON form) become null."""
    text = json.dumps(value, allow_nan=True).replace("NaN", "null").replace("Infinity", "null")
    return json.loads(text, parse_float=Decimal)


def conditional(call: Any, **kwargs: Any) -> bool:
    """Run a conditional write (e.g. `table.update_item`); False when its condition did not hold."""
    try:
        call(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True
