"""A hierarchy run's node results and its reconciliation mark (services/hierarchy.py).

Items (keys.py):
- node:   CLIENT#<c>#RUN#<r>#NODES / NODE#<depth>#<node_id>   the node's document (compressed
          JSON: key, level, skus, parent, children, forecast, base_forecast), as results are
- run:    CLIENT#<c> / RUN#<r>   `reconciliation` set once, while RUNNING ({method, nodes} or {error})

Every write here is idempotent: the reconciliation is computed from the base forecasts, which
it keeps (a SKU result's `base_forecast`), so a retried or duplicated reconciliation writes the
same values again; the run's mark is written once, on condition that it is absent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from boto3.dynamodb.conditions import Key

from skucast.aws import table
from skucast.records import RunStatus, StoredResult
from skucast.repositories import dynamo
from skucast.repositories import runs as runs_repo
from skucast.repositories.keys import node_depth_prefix, node_sk, nodes_pk, run_sk, tenant_pk
from skucast.repositories.runs import result_key


def put_nodes(table_name: str, client_id: str, run_id: str, nodes: Iterable[dict[str, Any]]) -> None:
    """Node documents (each with `depth` and `node_id`), overwritten as they are: idempotent."""
    with table(table_name).batch_writer(overwrite_by_pkeys=["pk", "sk"]) as writer:
        for node in nodes:
            writer.put_item(
                Item={
                    "pk": nodes_pk(client_id, run_id),
                    "sk": node_sk(int(node["depth"]), str(node["node_id"])),
                    "schema_version": 1,
                    "document": dynamo.pack_json(node),
                }
            )


def page_nodes(
    table_name: str, client_id: str, run_id: str, depth: int | None, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Nodes in key order (depth, then id), of one depth or all; `after` is the last sk seen."""
    prefix = node_depth_prefix(depth) if depth is not None else "NODE"
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(nodes_pk(client_id, run_id)) & Key("sk").begins_with(prefix),
        "Limit": limit,
    }
    if after:
        kwargs["ExclusiveStartKey"] = {"pk": nodes_pk(client_id, run_id), "sk": after}
    items: list[dict[str, Any]] = []
    last = None
    while len(items) < limit:
        page = table(table_name).query(**kwargs)
        items.extend(dynamo.unpack_json(i["document"]) for i in page.get("Items", []))
        last = page.get("LastEvaluatedKey")
        if not last:
            break
        kwargs["ExclusiveStartKey"] = last
        kwargs["Limit"] = limit - len(items)
    return items, (str(last["sk"]) if last else None)


def get_node(table_name: str, client_id: str, run_id: str, depths: int, node_id: str) -> dict[str, Any] | None:
    """One node by id: a hierarchy has at most `depths` depths (levels + total), one read each at most."""
    for depth in range(depths):
        item = dynamo.get(table_name, nodes_pk(client_id, run_id), node_sk(depth, node_id))
        if item:
            return dict(dynamo.unpack_json(item["document"]))
    return None


def put_result_document(table_name: str, client_id: str, run_id: str, shards: int, document: dict[str, Any]) -> None:
    """Replace a SKU result's document only: its adjustment attributes (version, final, carried)
    stay as they are."""
    table(table_name).update_item(
        Key=result_key(client_id, run_id, shards, str(document["sku"])),
        UpdateExpression="SET #d = :d",
        ExpressionAttributeNames={"#d": "document"},
        ExpressionAttributeValues={":d": dynamo.pack_json(document)},
    )


def put_result_documents(
    table_name: str, client_id: str, run_id: str, shards: int, rewritten: Iterable[tuple[StoredResult, dict[str, Any]]]
) -> None:
    """Rewrite SKU results' documents of a RUNNING run, 25 to a BatchWriteItem: each item is
    written whole again with its new document and the sticky adjustments it carried in (a running
    run has no adjustments of its own yet: those come after it finishes)."""
    with table(table_name).batch_writer(overwrite_by_pkeys=["pk", "sk"]) as writer:
        for stored, document in rewritten:
            overlay = (list(stored.final or ()), stored.carried) if stored.final is not None else None
            writer.put_item(Item=runs_repo.result_item(client_id, run_id, shards, document, overlay))


def mark_reconciled(table_name: str, client_id: str, run_id: str, outcome: dict[str, Any]) -> bool:
    """Record the run's reconciliation once, while it is RUNNING; False when it was recorded or
    the run stopped meanwhile."""
    return dynamo.conditional(
        table(table_name).update_item,
        Key={"pk": tenant_pk(client_id), "sk": run_sk(run_id)},
        UpdateExpression="SET reconciliation = :r",
        ConditionExpression="#s = :running AND attribute_not_exists(reconciliation)",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":r": dynamo.storable(outcome, undefined_as_null=True),
            ":running": RunStatus.RUNNING.value,
        },
    )
