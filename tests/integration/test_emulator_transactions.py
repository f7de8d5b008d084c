"""The emulator's TransactWriteItems (local/skucast_local/moto_fast.py): all or nothing, as DynamoDB."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from skucast_local.emulator import Provisioned


@pytest.fixture
def ddb(provisioned: Provisioned) -> tuple[Any, str]:
    return boto3.client("dynamodb", region_name="us-east-1"), provisioned.resources["Table"].ref


def _get(ddb: Any, table: str, sk: str) -> dict[str, Any] | None:
    return ddb.get_item(TableName=table, Key={"pk": {"S": "T"}, "sk": {"S": sk}}).get("Item")


def test_given_a_failing_condition_then_no_action_of_the_transaction_is_applied(ddb: tuple[Any, str]) -> None:
    client, table = ddb
    client.put_item(TableName=table, Item={"pk": {"S": "T"}, "sk": {"S": "a"}, "n": {"N": "1"}})
    client.put_item(TableName=table, Item={"pk": {"S": "T"}, "sk": {"S": "b"}, "n": {"N": "1"}})
    with pytest.raises(ClientError) as exc:
        client.transact_write_items(
            TransactItems=[
                {"Update": {"TableName": table, "Key": {"pk": {"S": "T"}, "sk": {"S": "a"}},
                            "UpdateExpression": "SET n = :two", "ExpressionAttributeValues": {":two": {"N": "2"}}}},
                {"Put": {"TableName": table, "Item": {"pk": {"S": "T"}, "sk": {"S": "new"}}}},
                {"Delete": {"TableName": table, "Key": {"pk": {"S": "T"}, "sk": {"S": "b"}},
                            "ConditionExpression": "n = :ten", "ExpressionAttributeValues": {":ten": {"N": "10"}}}},
            ]
        )  # fmt: skip
    assert exc.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in exc.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "ConditionalCheckFailed"]
    assert _get(client, table, "a") == {"pk": {"S": "T"}, "sk": {"S": "a"}, "n": {"N": "1"}}
    assert _get(client, table, "new") is None
    assert _get(client, table, "b") is not None


def test_given_holding_conditions_then_every_action_applies(ddb: tuple[Any, str]) -> None:
    client, table = ddb
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "T"}, "sk": {"S": "x"}},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Update": {"TableName": table, "Key": {"pk": {"S": "T"}, "sk": {"S": "c"}},
                        "UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        ]
    )  # fmt: skip
    assert _get(client, table, "x") is not None
    assert _get(client, table, "c") == {"pk": {"S": "T"}, "sk": {"S": "c"}, "n": {"N": "1"}}


def test_given_concurrent_conditional_increments_then_exactly_the_allowed_number_win(ddb: tuple[Any, str]) -> None:
    client, table = ddb
    wins: list[int] = []

    def claim() -> None:
        try:
            client.transact_write_items(
                TransactItems=[
                    {"Update": {"TableName": table, "Key": {"pk": {"S": "T"}, "sk": {"S": "slots"}},
                                "UpdateExpression": "ADD n :one",
                                "ConditionExpression": "attribute_not_exists(n) OR n < :max",
                                "ExpressionAttributeValues": {":one": {"N": "1"}, ":max": {"N": "5"}}}},
                ]
            )  # fmt: skip
            wins.append(1)
        except ClientError:
            pass

    threads = [threading.Thread(target=claim) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 5
    assert _get(client, table, "slots") == {"pk": {"S": "T"}, "sk": {"S": "slots"}, "n": {"N": "5"}}


def test_given_other_partitions_then_a_query_pages_through_its_own_partition_in_key_order(
    ddb: tuple[Any, str],
) -> None:
    """The emulator's Query reads only the queried partition (moto walks the whole table)."""
    client, table = ddb
    for pk in ("A", "T", "Z"):
        for i in range(7):
            client.put_item(TableName=table, Item={"pk": {"S": pk}, "sk": {"S": f"RUN#{i}"}, "n": {"N": str(i)}})
    client.put_item(TableName=table, Item={"pk": {"S": "T"}, "sk": {"S": "OTHER"}})
    seen: list[str] = []
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :run)",
        "FilterExpression": "n <> :three",
        "ExpressionAttributeValues": {":pk": {"S": "T"}, ":run": {"S": "RUN#"}, ":three": {"N": "3"}},
        "ScanIndexForward": False,
        "Limit": 2,
    }
    while True:
        page = client.query(**kwargs)
        seen += [f"{i['pk']['S']}/{i['sk']['S']}" for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert seen == [f"T/RUN#{i}" for i in (6, 5, 4, 2, 1, 0)]
    everything = client.scan(TableName=table)["Items"]
    assert len(everything) == 22  # the query left the table as it was
    empty = client.query(
        TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "nobody"}}
    )
    assert empty["Items"] == []
