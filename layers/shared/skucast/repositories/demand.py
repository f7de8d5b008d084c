"""The canonical demand store: one compressed daily series per (tenant, SKU), and the SKU catalog.

Layout (keys.py): series items under CLIENT#<id>#SERIES#<shard> / SKU#<sku> hold the encoded
DemandSeries (skucast.ingestion.series: a few KB for years of daily data, far below DynamoDB's
400 KB item limit); catalog items under CLIENT#<id>#SKUS / SKU#<sku> hold the classification the
API lists, without the series, so listing SKUs never reads the series.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from boto3.dynamodb.conditions import Key
from boto3.dynamodb.types import Binary

from skucast.aws import table
from skucast.ingestion.series import DemandSeries, decode, encode
from skucast.repositories import dynamo
from skucast.repositories.keys import SKU_PREFIX, catalog_pk, series_pk, sku_sk

BATCH_GET_LIMIT = 100  # DynamoDB BatchGetItem


def get_series(table_name: str, client_id: str, skus: Iterable[str]) -> dict[str, DemandSeries]:
    """The stored series of these SKUs (absent SKUs are absent from the answer)."""
    wanted = list(dict.fromkeys(skus))
    found: dict[str, DemandSeries] = {}
    client = table(table_name).meta.client
    for start in range(0, len(wanted), BATCH_GET_LIMIT):
        keys = [
            {"pk": series_pk(client_id, s), "sk": sku_sk(s)} for s in wanted[start : start + BATCH_GET_LIMIT]
        ]
        request: dict[str, Any] = {table_name: {"Keys": keys, "ConsistentRead": True}}
        while request:
            answer = client.batch_get_item(RequestItems=request)
            for item in answer["Responses"].get(table_name, []):
                found[str(item["sk"])[len(SKU_PREFIX) :]] = decode(bytes(_binary(item["series"])))
            request = answer.get("UnprocessedKeys") or {}
    return found


def put_series(table_name: str, client_id: str, series: dict[str, DemandSeries], upload_id: str) -> None:
    with table(table_name).batch_writer() as batch:
        for sku, s in series.items():
            batch.put_item(
                Item={
                    "pk": series_pk(client_id, sku),
                    "sk": sku_sk(sku),
                    "schema_version": 1,
                    "series": Binary(encode(s)),
                    "last_upload_id": upload_id,
                }
            )


def put_catalog(table_name: str, client_id: str, entries: Iterable[dict[str, Any]]) -> None:
    """Catalog entries: {sku, demand_class, adi, cv2, n_periods, first_date, last_date, total_quantity}."""
    with table(table_name).batch_writer() as batch:
        for entry in entries:
            batch.put_item(
                Item={"pk": catalog_pk(client_id), "sk": sku_sk(entry["sku"]), "schema_version": 1, **entry}
            )


def get_catalog_entry(table_name: str, client_id: str, sku: str) -> dict[str, Any] | None:
    return dynamo.get(table_name, catalog_pk(client_id), sku_sk(sku))


def page_catalog(
    table_name: str, client_id: str, limit: int, after_sku: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    after = sku_sk(after_sku) if after_sku is not None else None
    items, last = dynamo.page(table_name, catalog_pk(client_id), SKU_PREFIX, limit, after)
    return items, (last[len(SKU_PREFIX) :] if last else None)


def iter_catalog(
    table_name: str, client_id: str, attributes: str = "sk, demand_class"
) -> Iterator[dict[str, Any]]:
    """Every catalog entry of the tenant, in SKU order (planning a run of all SKUs)."""
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(catalog_pk(client_id)) & Key("sk").begins_with(SKU_PREFIX),
        "ProjectionExpression": attributes,
    }
    while True:
        page = table(table_name).query(**kwargs)
        for item in page.get("Items", []):
            yield {**item, "sku": str(item["sk"])[len(SKU_PREFIX) :]}
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _binary(value: Any) -> bytes:
    return value.value if isinstance(value, Binary) else bytes(value)
