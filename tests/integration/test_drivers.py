"""Drivers and the calendar in-process (real handlers, moto): declarations, files through the
ingest handler, the JSON door, idempotent and order-independent merges, deletion with its values,
isolation, and the calendar's 422s."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import boto3
import numpy as np
import pytest
from boto3.dynamodb.conditions import Key

from skucast.repositories.keys import SERIES_SHARDS, driver_values_pk, drivers_pk
from skucast_local.emulator import REGION, Provisioned
from tests.integration.pipeline import Pipeline

F = "/api/v1/forecast"
SKU = 'Crème "brûlée", 500 g'
TODAY = dt.date.today()
D1, D2, D3 = ((TODAY + dt.timedelta(days=i)).isoformat() for i in (-1, 0, 30))


@pytest.fixture
def pipe(provisioned: Provisioned, lambda_context: Any) -> Pipeline:
    return Pipeline(provisioned, lambda_context)


def _declare(pipe: Pipeline, client: str, name: str, **body: Any) -> tuple[int, Any]:
    status, driver, _ = pipe.api("PUT", f"{F}/drivers/{name}", client, body={"kind": "numeric", **body})
    return status, driver


def _tenant(pipe: Pipeline, name: str) -> str:
    client = pipe.tenant(name)
    assert _declare(pipe, client, "price")[0] == 201
    assert _declare(pipe, client, "promo", kind="flag", aggregate="max")[0] == 201
    return client


def _upload(pipe: Pipeline, client: str, content: bytes) -> dict[str, Any]:
    return pipe.upload_file(client, content, filename="drivers.csv", kind="drivers")


def _values(pipe: Pipeline, client: str, sku: str) -> tuple[int, Any]:
    status, body, _ = pipe.api("GET", f"{F}/skus/{quote(sku, safe='')}/drivers", client, role="viewer")
    return status, body


def _items(pipe: Pipeline, client: str, name: str, generation: str) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb", region_name=REGION).Table(pipe.table)
    found: list[dict[str, Any]] = []
    for shard in range(SERIES_SHARDS):
        pk = driver_values_pk(client, name, generation, shard)
        found += table.query(KeyConditionExpression=Key("pk").eq(pk))["Items"]
    return found


def _generation(pipe: Pipeline, client: str, name: str) -> str:
    table = boto3.resource("dynamodb", region_name=REGION).Table(pipe.table)
    items = table.query(KeyConditionExpression=Key("pk").eq(drivers_pk(client)))["Items"]
    return str(next(i["generation"] for i in items if i.get("name") == name))


QUOTED = '"' + SKU.replace('"', '""') + '"'  # as a CSV export writes it
FILE = f"sku,date,price,promo\n{QUOTED},{D1},9.5,1\n{QUOTED},{D3},8,\nNEW-1,{D2},,0\n".encode()


def test_given_declared_drivers_when_a_file_is_uploaded_then_values_read_back_exactly(pipe: Pipeline) -> None:
    client = _tenant(pipe, "acme")
    upload = _upload(pipe, client, FILE)
    assert (upload["kind"], upload["status"], upload["rows_accepted"], upload["skus_touched"]) == (
        "drivers",
        "SUCCEEDED",
        3,
        2,
    )
    status, body = _values(pipe, client, SKU)
    assert status == 200
    assert body == {
        "sku": SKU,
        "drivers": {
            "price": [{"date": D1, "value": 9.5}, {"date": D3, "value": 8.0}],
            "promo": [{"date": D1, "value": 1.0}],
        },
    }
    # A SKU with no demand yet keeps its values (a launch promotion arrives first).
    assert _values(pipe, client, "NEW-1")[1]["drivers"] == {"promo": [{"date": D2, "value": 0.0}]}
    status, listed, _ = pipe.api("GET", f"{F}/drivers", client, role="viewer")
    by_name = {d["name"]: d for d in listed["items"]}
    assert (by_name["price"]["skus_with_values"], by_name["price"]["first_date"], by_name["price"]["last_date"]) == (
        1,
        D1,
        D3,
    )
    assert by_name["promo"]["skus_with_values"] == 2 and by_name["promo"]["aggregate"] == "max"
    # Re-sending the same file changes no value and no count (only which upload wrote each date).
    assert _upload(pipe, client, FILE)["status"] == "SUCCEEDED"
    assert _values(pipe, client, SKU) == (200, body)
    assert pipe.api("GET", f"{F}/drivers", client, role="viewer")[1] == listed
    # Windows of dates.
    status, body, _ = pipe.api(
        "GET", f"{F}/skus/{quote(SKU, safe='')}/drivers", client, role="viewer", query={"start": D2}
    )
    assert body["drivers"]["price"] == [{"date": D3, "value": 8.0}]


def test_given_an_undeclared_column_then_the_file_is_rejected_naming_it_and_nothing_is_stored(pipe: Pipeline) -> None:
    client = _tenant(pipe, "acme")
    upload = _upload(pipe, client, f"sku,date,price,discount\nA,{D1},1,2\n".encode())
    assert upload["status"] == "REJECTED"
    assert [(e["column"], e["code"]) for e in upload["errors"]] == [("discount", "undeclared_driver")]
    assert _values(pipe, client, "A")[0] == 404
    assert _items(pipe, client, "price", _generation(pipe, client, "price")) == []


def test_given_bad_cells_then_each_row_error_names_the_problem(pipe: Pipeline) -> None:
    client = _tenant(pipe, "acme")
    good = "".join(f"S{i},{D1},1,0\n" for i in range(40))
    upload = _upload(
        pipe,
        client,
        f"sku,date,price,promo\nA,{D1},NaN,\nB,{D1},Infinity,\nC,{D1},,2\nD,2026-02-30,1,\n{good}".encode(),
    )
    assert upload["status"] == "PARTIAL"
    assert [(e["row"], e["column"], e["code"]) for e in upload["errors"]] == [
        (2, "price", "value_not_finite"),
        (3, "price", "value_not_finite"),
        (4, "promo", "flag_not_binary"),
        (5, "date", "date_invalid"),
    ]
    assert upload["rows_accepted"] == 40


def test_given_two_uploads_in_either_order_then_the_later_created_wins(pipe: Pipeline) -> None:
    from skucast.drivers import DriverIngestResult
    from skucast.ingestion import IngestStatus
    from skucast.services import drivers as service
    from skucast.settings import get_settings

    client = _tenant(pipe, "acme")
    declared = service.declared(get_settings(), client)
    older = DriverIngestResult(IngestStatus.SUCCEEDED, values={"price": {"A": {D1: 1.0, D2: 1.0}}})
    newer = DriverIngestResult(IngestStatus.SUCCEEDED, values={"price": {"A": {D2: 2.0}}})
    service.apply_values(get_settings(), client, "upl_000000000002aaaaaaaa", newer, declared)
    service.apply_values(get_settings(), client, "upl_000000000001aaaaaaaa", older, declared)
    assert _values(pipe, client, "A")[1]["drivers"]["price"] == [{"date": D1, "value": 1.0}, {"date": D2, "value": 2.0}]
    # The same upload applied again (a retried ingest) leaves every item byte for byte as it was.
    before = _items(pipe, client, "price", _generation(pipe, client, "price"))
    service.apply_values(get_settings(), client, "upl_000000000001aaaaaaaa", older, declared)
    assert _items(pipe, client, "price", _generation(pipe, client, "price")) == before


def test_the_json_door_reports_synchronously_and_refuses_undeclared_drivers(pipe: Pipeline) -> None:
    client = _tenant(pipe, "acme")
    records = [{"sku": SKU, "date": D2, "values": {"price": 3.25, "promo": None}}]
    status, upload, _ = pipe.api("POST", f"{F}/drivers/values", client, role="analyst", body={"records": records})
    assert status == 200 and upload["status"] == "SUCCEEDED" and upload["kind"] == "drivers"
    assert _values(pipe, client, SKU)[1]["drivers"] == {"price": [{"date": D2, "value": 3.25}]}
    bad = [{"sku": "A", "date": D2, "values": {"colour": 1}}]
    status, upload, _ = pipe.api("POST", f"{F}/drivers/values", client, role="analyst", body={"records": bad})
    assert status == 200 and upload["status"] == "REJECTED" and upload["errors"][0]["column"] == "colour"
    status, _, _ = pipe.api("POST", f"{F}/drivers/values", client, role="viewer", body={"records": records})
    assert status == 403
    status, _, _ = pipe.api("POST", f"{F}/drivers/values", client, role="analyst", body={"records": records * 10_001})
    assert status == 413


def test_declarations_names_roles_and_replacement(pipe: Pipeline) -> None:
    client = _tenant(pipe, "acme")
    status, problem = _declare(pipe, client, "Bad-Name")
    assert status == 422 and "Bad-Name" in problem["detail"]
    status, _, _ = pipe.api("PUT", f"{F}/drivers/x", client, role="analyst", body={"kind": "flag"})
    assert status == 403
    status, driver = _declare(pipe, client, "price", aggregate="last", description="shelf price")
    assert status == 200 and driver["aggregate"] == "last" and driver["known_in_advance"] is True
    status, _, _ = pipe.api("PUT", f"{F}/drivers/price", client, body={"kind": "numeric", "aggregate": "median"})
    assert status == 422
    status, problem, _ = pipe.api(
        "POST",
        f"{F}/uploads",
        client,
        role="analyst",
        body={"filename": "a.csv", "kind": "attributes", "aggregate": "sum"},
    )
    assert status == 422 and "attributes upload takes neither" in problem["detail"]


def test_given_values_then_a_drivers_kind_cannot_change_under_them(pipe: Pipeline) -> None:
    client = _tenant(pipe, "acme")
    assert _declare(pipe, client, "price", kind="flag")[0] == 200  # no values yet: allowed
    assert _declare(pipe, client, "price")[0] == 200
    _upload(pipe, client, FILE)
    status, problem = _declare(pipe, client, "price", kind="flag")
    assert status == 409 and "delete it" in problem["detail"]


def test_given_a_deleted_driver_then_its_values_go_and_a_new_declaration_starts_empty(pipe: Pipeline) -> None:
    client = _tenant(pipe, "acme")
    _upload(pipe, client, FILE)
    gen = _generation(pipe, client, "price")
    assert _items(pipe, client, "price", gen)
    status, _, _ = pipe.api("DELETE", f"{F}/drivers/price", client, role="analyst")
    assert status == 403
    status, _, _ = pipe.api("DELETE", f"{F}/drivers/price", client)
    assert status == 204
    assert _items(pipe, client, "price", gen) == []
    assert "price" not in _values(pipe, client, SKU)[1]["drivers"]
    assert pipe.api("DELETE", f"{F}/drivers/price", client)[0] == 404
    assert _declare(pipe, client, "price")[0] == 201
    status, listed, _ = pipe.api("GET", f"{F}/drivers", client, role="viewer")
    assert {d["name"]: d["skus_with_values"] for d in listed["items"]} == {"price": 0, "promo": 2}
    # A file naming the deleted-then-undeclared driver is now refused.
    assert pipe.api("DELETE", f"{F}/drivers/promo", client)[0] == 204
    assert _upload(pipe, client, FILE)["errors"][0]["code"] == "undeclared_driver"


def test_another_tenant_sees_nothing(pipe: Pipeline) -> None:
    client = _tenant(pipe, "acme")
    _upload(pipe, client, FILE)
    other = pipe.tenant("other")
    assert _values(pipe, other, SKU)[0] == 404
    assert pipe.api("GET", f"{F}/drivers", other, role="viewer")[1] == {"items": []}
    assert pipe.api("DELETE", f"{F}/drivers/price", other)[0] == 404
    # A SKU with demand but no driver values: an empty map, not 404.
    pipe.store(other, {SKU: np.ones(10)})
    assert _values(pipe, other, SKU) == (200, {"sku": SKU, "drivers": {}})


def test_calendar_put_get_and_problems(pipe: Pipeline) -> None:
    client = pipe.tenant("acme")
    assert pipe.api("GET", f"{F}/calendar", client, role="viewer")[1]["holidays"] == []
    body = {"holidays": ["US", "de-by"], "events": [{"name": "launch", "dates": [D2, D3], "skus": [SKU]}]}
    status, stored, _ = pipe.api("PUT", f"{F}/calendar", client, body=body)
    assert status == 200 and stored["holidays"] == ["US", "DE-BY"]
    status, read, _ = pipe.api("GET", f"{F}/calendar", client, role="viewer")
    assert read["events"] == [{"name": "launch", "dates": sorted([D2, D3]), "skus": [SKU]}]
    status, problem, _ = pipe.api("PUT", f"{F}/calendar", client, body={"holidays": ["XX-YY"], "events": []})
    assert status == 422 and "XX-YY" in problem["detail"] and problem["errors"][0]["field"] == "holidays[0]"
    bad = {"holidays": [], "events": [{"name": "sale", "dates": ["2026-13-01"]}]}
    status, problem, _ = pipe.api("PUT", f"{F}/calendar", client, body=bad)
    assert status == 422 and "2026-13-01" in problem["detail"]
    assert pipe.api("PUT", f"{F}/calendar", client, role="analyst", body=body)[0] == 403
    assert pipe.api("GET", f"{F}/calendar", pipe.tenant("other"), role="viewer")[1]["events"] == []
    # The refused calendars changed nothing.
    assert pipe.api("GET", f"{F}/calendar", client, role="viewer")[1]["holidays"] == ["US", "DE-BY"]


def test_given_a_concurrent_writer_between_read_and_write_then_the_round_rereads_and_nothing_is_lost(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skucast.drivers import DriverIngestResult
    from skucast.ingestion import IngestStatus
    from skucast.repositories import drivers as repo
    from skucast.services import drivers as service
    from skucast.settings import get_settings

    client = _tenant(pipe, "acme")
    settings, declared = get_settings(), service.declared(get_settings(), client)
    first = DriverIngestResult(IngestStatus.SUCCEEDED, values={"price": {"A": {D1: 1.0}}})
    second = DriverIngestResult(IngestStatus.SUCCEEDED, values={"price": {"A": {D2: 2.0}}})
    real, reads = repo.get_values, []

    def stale_read(*args: Any) -> Any:
        found = real(*args)
        reads.append(1)
        if len(reads) == 1:  # another upload writes the same item after this read
            monkeypatch.setattr(repo, "get_values", real)
            service.apply_values(settings, client, "upl_000000000009aaaaaaaa", second, declared)
            monkeypatch.setattr(repo, "get_values", stale_read)
        return found

    monkeypatch.setattr(repo, "get_values", stale_read)
    service.apply_values(settings, client, "upl_000000000001aaaaaaaa", first, declared)
    assert len(reads) == 2  # the first round's write was refused, and read again
    assert _values(pipe, client, "A")[1]["drivers"]["price"] == [{"date": D1, "value": 1.0}, {"date": D2, "value": 2.0}]
    listed = pipe.api("GET", f"{F}/drivers", client, role="viewer")[1]["items"]
    assert {d["name"]: d["skus_with_values"] for d in listed}["price"] == 1  # counted once
