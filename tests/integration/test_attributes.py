"""Item attributes and hierarchy declarations in-process (real handlers, moto): a file through the
ingest handler, the JSON door, versions read back, GET /skus filters and paging, the hierarchy
routes' 422s, and isolation."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import numpy as np
import pytest

from skucast.services import attributes as service
from skucast.settings import get_settings
from skucast_local.emulator import Provisioned
from tests.integration.pipeline import Pipeline

F = "/api/v1/forecast"
SKU = 'Crème "brûlée", 500 g'
QUOTED = '"' + SKU.replace('"', '""') + '"'  # as a CSV export writes it


@pytest.fixture
def pipe(provisioned: Provisioned, lambda_context: Any) -> Pipeline:
    return Pipeline(provisioned, lambda_context)


def _upload(pipe: Pipeline, client: str, content: bytes) -> dict[str, Any]:
    return pipe.upload_file(client, content, filename="attrs.csv", kind="attributes")


def _attrs(pipe: Pipeline, client: str, sku: str, **query: str) -> tuple[int, Any]:
    status, body, _ = pipe.api(
        "GET", f"{F}/skus/{quote(sku, safe='')}/attributes", client, role="viewer", query=query or None
    )
    return status, body


FILE = (f'sku,category,brand\n{QUOTED}, Desserts ,"Maison ""A"", Paris"\nNEW-1,Desserts,\nB-2,Drinks,Fizz\n').encode()


def test_given_a_file_when_uploaded_then_values_read_back_exactly_and_empty_cells_set_nothing(pipe: Pipeline) -> None:
    client = pipe.tenant("acme")
    upload = _upload(pipe, client, FILE)
    assert (upload["kind"], upload["status"], upload["rows_accepted"], upload["skus_touched"]) == (
        "attributes",
        "SUCCEEDED",
        3,
        3,
    )
    status, body = _attrs(pipe, client, SKU)
    assert status == 200
    assert body["attributes"] == {"category": " Desserts ", "brand": 'Maison "A", Paris'}
    # NEW-1 has no demand yet: its attributes are kept, and it has no brand (empty cell).
    assert _attrs(pipe, client, "NEW-1")[1]["attributes"] == {"category": "Desserts"}
    status, names, _ = pipe.api("GET", f"{F}/attributes", client, role="viewer")
    assert names["items"] == [{"name": "brand", "skus": 2}, {"name": "category", "skus": 3}]
    assert names["version"] >= 1


def test_given_a_later_change_then_the_earlier_version_is_still_readable(pipe: Pipeline) -> None:
    client = pipe.tenant("acme")
    _upload(pipe, client, FILE)
    before = _attrs(pipe, client, "B-2")[1]["version"]
    status, report, _ = pipe.api(
        "POST",
        f"{F}/attributes",
        client,
        role="analyst",
        body={"records": [{"sku": "B-2", "attributes": {"category": "Soft drinks", "brand": None}}]},
    )
    assert status == 200 and report["status"] == "SUCCEEDED", report
    now = _attrs(pipe, client, "B-2")[1]
    assert now["attributes"] == {"category": "Soft drinks"}
    assert now["version"] > before
    assert _attrs(pipe, client, "B-2", version=str(before))[1]["attributes"] == {"category": "Drinks", "brand": "Fizz"}
    assert [c["changes"] for c in now["history"]][-1] == {"brand": None, "category": "Soft drinks"}
    # The run code's read API: as of the earlier version, whatever changed since.
    settings = get_settings()
    assert service.attributes_as_of(settings, client, before)["B-2"] == {"brand": "Fizz", "category": "Drinks"}
    assert service.current_version(settings, client) == now["version"]
    # A version not reached yet is refused.
    assert _attrs(pipe, client, "B-2", version=str(now["version"] + 5))[0] == 422


def test_given_the_same_file_twice_then_no_value_and_no_version_changes(pipe: Pipeline) -> None:
    client = pipe.tenant("acme")
    _upload(pipe, client, FILE)
    version = service.current_version(get_settings(), client)
    again = _upload(pipe, client, FILE)
    assert again["status"] == "SUCCEEDED"
    assert service.current_version(get_settings(), client) == version  # no change, no new version


def test_given_bad_files_then_each_is_refused_naming_the_problem_and_nothing_is_stored(pipe: Pipeline) -> None:
    client = pipe.tenant("acme")
    bad_name = _upload(pipe, client, b"sku,Category\nA,x\n")
    assert bad_name["status"] == "REJECTED"
    assert bad_name["errors"][0]["code"] == "invalid_attribute_name" and bad_name["errors"][0]["column"] == "Category"
    dup = _upload(pipe, client, b"sku,category\n" + b"".join(f"S{i},c\n".encode() for i in range(20)) + b"S1,d\n")
    assert dup["status"] == "PARTIAL"
    assert {e["code"] for e in dup["errors"]} == {"duplicate_sku"} and dup["rows_rejected"] == 2
    assert _attrs(pipe, client, "S1")[0] == 404  # both rows of S1 rejected: nothing stored for it
    too_long = _upload(pipe, client, b"sku,category\nA," + b"x" * 201 + b"\n")
    assert too_long["status"] == "REJECTED" and too_long["errors"][1]["code"] == "value_too_long"
    assert _attrs(pipe, client, "A")[0] == 404


def test_given_attributes_then_skus_filter_by_them_and_page_correctly(pipe: Pipeline) -> None:
    client = pipe.tenant("acme")
    skus = [f"S{i:04d}" for i in range(30)]
    pipe.store(client, {s: np.ones(10) for s in skus})
    records = [
        {"sku": s, "attributes": {"category": "even" if i % 2 == 0 else "odd", "store": "s1"}}
        for i, s in enumerate(skus)
    ]
    assert pipe.api("POST", f"{F}/attributes", client, role="analyst", body={"records": records})[0] == 200
    seen: list[str] = []
    cursor: str | None = None
    while True:
        query = {"attr.category": "odd", "attr.store": "s1", "limit": "4", **({"cursor": cursor} if cursor else {})}
        status, page, _ = pipe.api("GET", f"{F}/skus", client, role="viewer", query=query)
        assert status == 200, page
        seen += [i["sku"] for i in page["items"]]
        assert all(i["attributes"] == {"category": "odd", "store": "s1"} for i in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == skus[1::2]
    status, page, _ = pipe.api("GET", f"{F}/skus", client, role="viewer", query={"attr.colour": "red"})
    assert (status, page["items"], page["next_cursor"]) == (200, [], None)
    assert pipe.api("GET", f"{F}/skus", client, role="viewer", query={"attr.Bad-Name": "x"})[0] == 422
    status, one, _ = pipe.api("GET", f"{F}/skus/S0003", client, role="viewer")
    assert one["attributes"] == {"category": "odd", "store": "s1"}


def test_hierarchies_declare_list_delete_and_bad_input_named(pipe: Pipeline) -> None:
    client = pipe.tenant("acme")
    _upload(pipe, client, FILE)
    put = lambda name, levels: pipe.api("PUT", f"{F}/hierarchies/{name}", client, body={"levels": levels})  # noqa: E731
    status, made, _ = put("product", ["category", "brand"])
    assert status == 201 and made["levels"] == ["category", "brand"]
    assert put("product", ["category"])[0] == 200  # replaced; one level is allowed
    for name, levels, code, field in (
        ("p2", ["category", "colour"], "unknown_attribute", "levels[1]"),
        ("p2", ["category", "category"], "duplicate_level", "levels[1]"),
        ("p2", [], "empty_levels", "levels"),
        ("p2", ["sku"], "invalid_level", "levels[0]"),
        ("Bad-Name", ["category"], "invalid_hierarchy_name", "name"),
    ):
        status, problem, _ = put(name, levels)
        assert status == 422, (name, levels, problem)
        assert {"field": field, "code": code} == {k: problem["errors"][0][k] for k in ("field", "code")}
    assert pipe.api("PUT", f"{F}/hierarchies/x", client, role="analyst", body={"levels": ["category"]})[0] == 403
    status, listed, _ = pipe.api("GET", f"{F}/hierarchies", client, role="viewer")
    assert [h["name"] for h in listed["items"]] == ["product"]
    other = pipe.tenant("other")
    assert pipe.api("GET", f"{F}/hierarchies", other, role="viewer")[1]["items"] == []
    assert pipe.api("DELETE", f"{F}/hierarchies/product", other)[0] == 404
    assert _attrs(pipe, other, "B-2")[0] == 404
    assert pipe.api("DELETE", f"{F}/hierarchies/product", client)[0] == 204
    assert pipe.api("DELETE", f"{F}/hierarchies/product", client)[0] == 404


def _ticket(pipe: Pipeline, client: str, content: bytes) -> str:
    return str(pipe.put_file(client, content, filename="attrs.csv", kind="attributes")["fields"]["key"])


def _ingest(pipe: Pipeline, key: str) -> None:
    assert pipe.ingest(key) == 1


def test_given_uploads_landing_out_of_order_then_the_store_is_as_if_in_creation_order(pipe: Pipeline) -> None:
    client = pipe.tenant("acme")
    first = _ticket(pipe, client, b"sku,category,brand\nA,old,x\nB,keep,y\n")
    second = _ticket(pipe, client, b"sku,category\nA,new\n")
    _ingest(pipe, second)
    _ingest(pipe, first)  # created first, lands last: it does not undo the later category
    assert _attrs(pipe, client, "A")[1]["attributes"] == {"brand": "x", "category": "new"}
    assert _attrs(pipe, client, "B")[1]["attributes"] == {"brand": "y", "category": "keep"}


def test_given_another_round_commits_between_read_and_write_then_the_round_retries_and_loses_nothing(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skucast.repositories import attributes as repo

    client = pipe.tenant("acme")
    real = repo.write_round
    calls = {"n": 0}

    def interleaved(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:  # another writer's round lands first, from its own upload
            monkeypatch.setattr(repo, "write_round", real)
            body = {"records": [{"sku": "A", "attributes": {"store": "s9"}}]}
            assert pipe.api("POST", f"{F}/attributes", client, role="analyst", body=body)[0] == 200
            monkeypatch.setattr(repo, "write_round", interleaved)
        real(*args, **kwargs)

    monkeypatch.setattr(repo, "write_round", interleaved)
    body = {"records": [{"sku": "A", "attributes": {"category": "c1"}}]}
    status, report, _ = pipe.api("POST", f"{F}/attributes", client, role="analyst", body=body)
    assert status == 200 and report["status"] == "SUCCEEDED", report
    assert calls["n"] == 2  # the stale round was refused and redone from a fresh read
    assert _attrs(pipe, client, "A")[1]["attributes"] == {"category": "c1", "store": "s9"}
    status, names, _ = pipe.api("GET", f"{F}/attributes", client, role="viewer")
    assert names["items"] == [{"name": "category", "skus": 1}, {"name": "store", "skus": 1}]


def test_given_many_small_catalog_pages_then_a_rare_filter_pages_in_short_pages_without_skipping_or_repeating(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skucast.repositories import catalog
    from skucast.services import demand

    monkeypatch.setattr(catalog, "MAX_PAGE_ENTRIES", 4)  # 40 SKUs: 10 catalog pages
    monkeypatch.setattr(demand, "LIST_MAX_PAGES", 2)  # a request reads at most 2 of them
    client = pipe.tenant("acme")
    skus = [f"P{i:03d}" for i in range(40)]
    pipe.store(client, {s: np.ones(5) for s in skus})
    rare = {"P007", "P021", "P022", "P039"}
    records = [{"sku": s, "attributes": {"tier": "gold" if s in rare else "basic"}} for s in skus]
    assert pipe.api("POST", f"{F}/attributes", client, role="analyst", body={"records": records})[0] == 200
    seen: list[str] = []
    cursor: str | None = None
    requests = 0
    while True:
        requests += 1
        query = {"attr.tier": "gold", "limit": "100", **({"cursor": cursor} if cursor else {})}
        status, page, _ = pipe.api("GET", f"{F}/skus", client, role="viewer", query=query)
        assert status == 200, page
        seen += [i["sku"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(rare)
    assert requests >= 5  # bounded work per request: short pages with a cursor, not one long read
