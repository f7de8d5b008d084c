"""A faster, thread-safe DynamoDB for the emulator.

moto backs up a transaction by deep-copying every table it touches (once per action), so each
transaction costs time proportional to the whole table: seconds once a tenant has a few thousand
series and results, which made local runs crawl while DynamoDB itself answers in milliseconds.
This version backs up only the items the transaction touches and restores exactly those on
rollback - the same all-or-nothing outcome. The logic otherwise follows moto's (pinned in uv.lock).

moto's server answers requests on many threads and its DynamoDB backend takes no lock, so a
transaction could interleave with another request (seen: "dictionary changed size during
iteration"). DynamoDB serialises writes to an item and makes a transaction atomic; here every
backend operation holds one lock, which gives the same guarantees at the emulator's scale.

moto also answers a Query on the table by walking every item of the table to find the partition's,
so each query cost time proportional to the whole table (a bench's 20,000 stored series made the
per-batch run queries the emulator's biggest cost); DynamoDB reads only the partition. Here a
table Query sees only its partition; index queries are moto's.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

_installed = False


def _key_of(backend: DynamoDBBackend, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return dict(op["Key"])
    table = backend.get_table(op["TableName"])
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _condition_holds(op: dict[str, Any], current: Any) -> bool:
    from moto.dynamodb.models import get_filter_expression

    condition = op.get("ConditionExpression")
    if condition is None:
        return True
    expression = get_filter_expression(
        condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
    )
    return bool(expression.expr(current))


def _apply(backend: DynamoDBBackend, op_type: str, op: dict[str, Any], key: dict[str, Any]) -> None:
    table_name = op["TableName"]
    current = backend.get_item(table_name, key)
    if not _condition_holds(op, current):
        wants_old = op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
        raise ConditionalCheckFailed(item=current.to_json()["Attributes"] if wants_old and current else None)
    if op_type == "ConditionCheck":
        return
    common: dict[str, Any] = {
        "condition_expression": op.get("ConditionExpression"),
        "expression_attribute_names": op.get("ExpressionAttributeNames"),
        "expression_attribute_values": op.get("ExpressionAttributeValues"),
    }
    if op_type == "Put":
        backend.put_item(table_name, op["Item"], **common)
    elif op_type == "Delete":
        backend.delete_item(table_name, key, **common)
    elif op_type == "Update":
        backend.update_item(table_name, key, update_expression=op["UpdateExpression"], **common)
    else:
        raise ValueError("Unsupported transaction operation")


def _restore(backend: DynamoDBBackend, backups: list[tuple[str, dict[str, Any], Any]]) -> None:
    """Put every touched item back as it was before the transaction."""
    for table_name, key, before in reversed(backups):
        if before is not None:
            backend.put_item(table_name, before.to_json()["Attributes"])
        elif backend.get_item(table_name, key) is not None:
            backend.delete_item(table_name, key)


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    backups: list[tuple[str, dict[str, Any], Any]] = []  # (table, key, the item before, or None)
    seen: set[tuple[str, str]] = set()
    errors: list[tuple[str | None, str | None, Any]] = []
    for item in transact_items:
        if len(item) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(item.items()))
        try:
            key = _key_of(self, op_type, op)
            marker = (str(op["TableName"]), str(dict(sorted(key.items()))))
            if marker in seen:
                raise MultipleTransactionsException()
            seen.add(marker)
            backups.append((op["TableName"], key, copy.deepcopy(self.get_item(op["TableName"], key))))
            _apply(self, op_type, op, key)
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            _restore(self, backups)
            raise
        except ConditionalCheckFailed as exc:
            errors.append(("ConditionalCheckFailed", str(exc.message), None))
        except Exception as exc:  # moto records other failures per action, then cancels
            errors.append((type(exc).__name__, str(exc), None))
    if any(code is not None for code, _, _ in errors):
        _restore(self, backups)
        raise TransactionCanceledException(errors)


_table_query = Table.query


def _partition_query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    """moto's Table.query, shown only the queried partition (backend calls hold _LOCK)."""
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    if index_name is not None or hash_key is None:
        return _table_query(self, hash_key, *args, **kwargs)
    everything = self.items
    self.items = defaultdict(dict, {hash_key: everything[hash_key]} if hash_key in everything else {})
    try:
        return _table_query(self, hash_key, *args, **kwargs)
    finally:
        self.items = everything


_LOCK = threading.RLock()
_SERIALISED = (
    "get_item",
    "put_item",
    "update_item",
    "delete_item",
    "query",
    "scan",
    "batch_get_item",
    "batch_write_item",
    "transact_get_items",
    "transact_write_items",
)


def _serialised(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    return locked


def install() -> None:
    """Patch moto's backend class (in-process: the emulator thread, or mock_aws in tests)."""
    global _installed
    if _installed:
        return
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    Table.query = _partition_query  # type: ignore[method-assign]
    for name in _SERIALISED:
        if hasattr(DynamoDBBackend, name):
            setattr(DynamoDBBackend, name, _serialised(getattr(DynamoDBBackend, name)))
    _installed = True
