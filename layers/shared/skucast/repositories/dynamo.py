"""DynamoDB helpers: transactions with domain errors, one-partition pages, and the exact boundary
between Python values and DynamoDB's types.

The boundary (`storable` going in, `plain` coming out) walks the value: dicts (string keys),
lists and tuples (stored as lists), str, bool, None, int and float. Strings, keys and lists are
never changed; nothing is done at the level of text. Numbers:
- a float becomes `Decimal(repr(x))`, the shortest text that reads back as the same float, so
  `float(plain(storable(x))) == x` exactly; an int stays exact;
- DynamoDB's Number holds 38 significant digits between 1E-130 and 9.99...E+125 in magnitude
  (and 0). A number outside that (1e300, 5e-324, an int of 39 significant digits) cannot be stored
  exactly: it is refused with `NotStorable`, before any request is sent;
- non-finite floats (NaN, +-inf) have no Number form. They are refused with `NotStorable` too,
  unless the caller stores computed values that may be undefined (metrics: a MASE over a constant
  history, a sum that overflowed) and passes `undefined_as_null=True`: then NaN, the infinities
  and numbers outside DynamoDB's range are stored as null, which reads back as None
  ("undefined"). Run parameters, names and SKUs are never stored that way.
Coming out, `plain` turns DynamoDB's Decimals into int (integral values) or float, as before.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from collections.abc import Iterator
from decimal import Context, Decimal
from typing import Any

from boto3.dynamodb.conditions import Key
from boto3.dynamodb.types import Binary
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


def is_conflict(exc: ClientError) -> bool:
    """A transaction cancelled because another one held one of its items at that instant."""
    reasons = exc.response.get("CancellationReasons") or []
    return any(r.get("Code") == "TransactionConflict" for r in reasons)


def transact_retrying(table_name: str, actions: list[dict[str, Any]], attempts: int = 5) -> None:
    """`transact`, tried again (after 50, 100, 200... ms) while it is only cancelled by a conflict
    with another transaction on one of its items - which is brief. Conditions that fail raise
    ConditionFailed at once, as with `transact`."""
    for attempt in range(attempts):
        try:
            transact(table_name, actions)
            return
        except ClientError as exc:
            if attempt + 1 == attempts or not is_conflict(exc):
                raise
            time.sleep(0.05 * 2**attempt)


def pack_json(value: Any) -> Binary:
    """A JSON document as one compressed binary attribute (undefined numbers stored as null)."""
    body = json.dumps(defined(value), separators=(",", ":"), allow_nan=False)
    return Binary(zlib.compress(body.encode("utf-8")))


def unpack_json(raw: Any) -> Any:
    return json.loads(zlib.decompress(raw.value if isinstance(raw, Binary) else bytes(raw)))


def get(table_name: str, pk: str, sk: str) -> dict[str, Any] | None:
    """Strongly consistent: credentials revoked a moment ago must read as revoked."""
    item = table(table_name).get_item(Key={"pk": pk, "sk": sk}, ConsistentRead=True).get("Item")
    return dict(item) if item else None


def query_prefix(table_name: str, pk: str, sk_prefix: str) -> Iterator[dict[str, Any]]:
    """Every item of partition `pk` whose sort key starts with `sk_prefix`, page after page,
    strongly consistent (what a run's own bookkeeping reads back)."""
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(pk) & Key("sk").begins_with(sk_prefix),
        "ConsistentRead": True,
    }
    while True:
        answer = table(table_name).query(**kwargs)
        yield from (dict(i) for i in answer.get("Items", []))
        if "LastEvaluatedKey" not in answer:
            return
        kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


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


class NotStorable(ValueError):
    """A value DynamoDB cannot hold exactly (a non-finite float, a number out of range, a type
    with no DynamoDB form); the message names where in the value it is."""


# DynamoDB's Number: 38 significant digits, magnitudes from 1E-130 to 9.99...E+125.
NUMBER_DIGITS = 38
NUMBER_MIN_EXPONENT = -130
NUMBER_MAX_EXPONENT = 125


def plain(value: Any) -> Any:
    """An item as the API speaks it: DynamoDB numbers come back as Decimal."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def count(item: dict[str, Any], name: str) -> int:
    """A counter of a plain item: 0 when the item predates it (or has not counted yet)."""
    return int(item.get(name) or 0)


def storable(value: Any, *, undefined_as_null: bool = False) -> Any:
    """`value` in DynamoDB's types, exactly (see the module docstring); NotStorable if it cannot be.

    `undefined_as_null`: for computed metrics only, a non-finite float or a number out of
    DynamoDB's range is stored as null (None) instead of refused."""

    def leaf(x: int | float, where: str) -> Decimal | None:
        try:
            return number(x)
        except NotStorable as exc:
            if undefined_as_null:
                return None
            raise NotStorable(f"{where}: {exc}") from None

    return _walk(value, leaf, "$")


def defined(value: Any) -> Any:
    """`value` for a JSON document (results): the same walk, numbers kept as they are (JSON holds
    any finite float exactly), and NaN and the infinities - undefined metrics or forecast points -
    as None, JSON's null. Nothing else changes."""

    def leaf(x: int | float, where: str) -> int | float | None:
        return None if isinstance(x, float) and not math.isfinite(x) else x

    return _walk(value, leaf, "$")


def _walk(value: Any, leaf: Any, where: str) -> Any:
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int | float):
        return leaf(value, where)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotStorable(f"{where}: the key {key!r} is not a string")
            out[key] = _walk(item, leaf, f"{where}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [_walk(item, leaf, f"{where}[{i}]") for i, item in enumerate(value)]
    raise NotStorable(f"{where}: a {type(value).__name__} has no DynamoDB form here")


def number(value: int | float) -> Decimal:
    """The Decimal DynamoDB stores for `value`, exactly; NotStorable when its Number cannot hold it."""
    if isinstance(value, float) and not math.isfinite(value):
        raise NotStorable(f"{value!r} is not a finite number")
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if exact.is_zero():
        return Decimal(0)
    if len(exact.as_tuple().digits) > NUMBER_DIGITS:
        # 10**40 and 1E+40 are the same Number: only significant digits count, so drop trailing zeros.
        exact = exact.normalize(Context(prec=len(exact.as_tuple().digits)))
        if len(exact.as_tuple().digits) > NUMBER_DIGITS:
            raise NotStorable(f"{value!r} has more than {NUMBER_DIGITS} significant digits")
    if not NUMBER_MIN_EXPONENT <= exact.adjusted() <= NUMBER_MAX_EXPONENT:
        raise NotStorable(f"{value!r} is outside DynamoDB's range (1E-130 to 9.99E+125 in magnitude)")
    return exact


def conditional(call: Any, **kwargs: Any) -> bool:
    """Run a conditional write (e.g. `table.update_item`); False when its condition did not hold."""
    try:
        call(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True
