"""Item attributes and hierarchy declarations over the local stack's real HTTP: an attributes CSV
through the presigned POST with SKU names and values as exports write them (spaces, unicode,
quotes, commas in quoted fields), GET /skus filtered by attribute, a later change leaving the
earlier version readable, hierarchies declared, listed and deleted with each bad input named, and
another tenant seeing none of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.e2e.conftest import RunningStack
from tests.e2e.routes import Tenant, csv_cell, upload

pytestmark = pytest.mark.e2e
F = "/api/v1/forecast"
SKUS = ["Tee shirt 日本 M", 'Mug "Large", blue', "Ça coûte 1/2"]
NEW_ITEM = "Launch 2027 \u2013 ☕ kit"  # attributes before any sale (an en dash, as exports write it)


def _attributes_of(tenant: Tenant, sku: str, **params: Any) -> httpx.Response:
    return tenant.http.get(f"{F}/skus/{quote(sku, safe='')}/attributes", params=params, headers=tenant.headers)


def _skus(tenant: Tenant, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 1, **({"cursor": cursor} if cursor else {})}
        r = tenant.http.get(f"{F}/skus", params=query, headers=tenant.headers)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return items


ROWS = [
    (SKUS[0], "Apparel", "Nippon, Ltd.", " Store 1 "),
    (SKUS[1], "Kitchen", 'Acme "Pro"', "Store 1"),
    (SKUS[2], "Kitchen", "Ça & Co", ""),
    (NEW_ITEM, "Kitchen", "Café ☕", "Store 2"),
]
FILE = ("sku,category,brand,store\n" + "".join(",".join(map(csv_cell, row)) + "\n" for row in ROWS)).encode()


@pytest.fixture(scope="module")
def tenant(stack: RunningStack) -> Tenant:
    tenant = Tenant.sign_up(stack, http=stack.http())
    records = [
        {"sku": s, "date": f"2024-03-{d + 1:02d}", "quantity": 3 + i} for i, s in enumerate(SKUS) for d in range(20)
    ]
    r = tenant.http.post(f"{F}/demand", json={"records": records}, headers=tenant.headers)
    assert r.status_code == 200 and r.json()["status"] == "SUCCEEDED", r.text
    report = upload(tenant, FILE, "attributes")
    assert (report["kind"], report["status"], report["rows_accepted"], report["skus_touched"]) == (
        "attributes",
        "SUCCEEDED",
        4,
        4,
    ), report
    return tenant


def test_given_an_export_then_attributes_read_back_exactly_including_an_item_without_sales(tenant: Tenant) -> None:
    for sku, category, brand, store in ROWS:
        r = _attributes_of(tenant, sku)
        assert r.status_code == 200, r.text
        expected = {"category": category, "brand": brand, **({"store": store} if store else {})}
        assert r.json()["attributes"] == expected, sku
    one = tenant.http.get(f"{F}/skus/{quote(SKUS[1], safe='')}", headers=tenant.headers).json()
    assert one["attributes"] == {"brand": 'Acme "Pro"', "category": "Kitchen", "store": "Store 1"}
    names = tenant.http.get(f"{F}/attributes", headers=tenant.headers).json()
    assert {(a["name"], a["skus"]) for a in names["items"]} == {("brand", 4), ("category", 4), ("store", 3)}


def test_skus_filter_by_attributes_with_paging(tenant: Tenant) -> None:
    kitchen = _skus(tenant, **{"attr.category": "Kitchen"})
    # The catalog lists SKUs with demand: the new item has attributes only.
    assert [i["sku"] for i in kitchen] == sorted([SKUS[1], SKUS[2]])
    assert all(i["attributes"]["category"] == "Kitchen" for i in kitchen)
    both = _skus(tenant, **{"attr.category": "Kitchen", "attr.store": "Store 1"})
    assert [i["sku"] for i in both] == [SKUS[1]]
    assert [i["sku"] for i in _skus(tenant, **{"attr.store": " Store 1 "})] == [SKUS[0]]  # exact, spaces kept
    assert _skus(tenant, **{"attr.colour": "red"}) == []
    r = tenant.http.get(f"{F}/skus", params={"attr.Colour!": "red"}, headers=tenant.headers)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"


def test_given_a_later_upload_then_the_earlier_version_is_still_readable(tenant: Tenant) -> None:
    before = _attributes_of(tenant, SKUS[0]).json()
    report = upload(tenant, f"sku,category\n{csv_cell(SKUS[0])},Apparel & shoes\n".encode(), "attributes")
    assert report["status"] == "SUCCEEDED", report
    after = _attributes_of(tenant, SKUS[0]).json()
    assert after["attributes"]["category"] == "Apparel & shoes" and after["version"] > before["version"]
    assert after["attributes"]["brand"] == "Nippon, Ltd."  # the file named only category
    old = _attributes_of(tenant, SKUS[0], version=before["version"])
    assert old.status_code == 200 and old.json()["attributes"] == before["attributes"]
    assert after["history"][-1]["changes"] == {"category": "Apparel & shoes"}
    assert _attributes_of(tenant, SKUS[0], version=after["version"] + 100).status_code == 422


def test_a_rejected_file_changes_nothing(tenant: Tenant) -> None:
    before = tenant.http.get(f"{F}/attributes", headers=tenant.headers).json()
    report = upload(tenant, f"sku,Category\n{csv_cell(SKUS[1])},Garden\n".encode(), "attributes")
    assert report["status"] == "REJECTED"
    assert (report["errors"][0]["code"], report["errors"][0]["column"]) == ("invalid_attribute_name", "Category")
    assert tenant.http.get(f"{F}/attributes", headers=tenant.headers).json() == before


def test_hierarchies_declare_list_delete_and_bad_input_named(tenant: Tenant) -> None:
    put = lambda name, levels: tenant.http.put(  # noqa: E731
        f"{F}/hierarchies/{name}", json={"levels": levels}, headers=tenant.headers
    )
    r = put("product", ["category", "brand"])
    assert r.status_code == 201 and r.json()["levels"] == ["category", "brand"], r.text
    assert put("by_store", ["store"]).status_code == 201  # one level: store, then the SKU
    for name, levels, field, code in (
        ("bad", ["category", "colour"], "levels[1]", "unknown_attribute"),
        ("bad", ["brand", "brand"], "levels[1]", "duplicate_level"),
        ("bad", [], "levels", "empty_levels"),
        ("Bad Name", ["category"], "name", "invalid_hierarchy_name"),
    ):
        r = put(name, levels)
        assert r.status_code == 422, (name, levels, r.text)
        problem = r.json()
        assert (problem["errors"][0]["field"], problem["errors"][0]["code"]) == (field, code), problem
        assert repr(levels[-1]) in problem["detail"] if code == "unknown_attribute" else True
    listed = tenant.http.get(f"{F}/hierarchies", headers=tenant.headers).json()["items"]
    assert [h["name"] for h in listed] == ["by_store", "product"]
    assert tenant.http.delete(f"{F}/hierarchies/by_store", headers=tenant.headers).status_code == 204
    assert tenant.http.delete(f"{F}/hierarchies/by_store", headers=tenant.headers).status_code == 404


def test_another_tenant_sees_none_of_it(stack: RunningStack, tenant: Tenant) -> None:
    other = Tenant.sign_up(stack, http=stack.http())
    assert other.http.get(f"{F}/attributes", headers=other.headers).json() == {"version": 0, "items": []}
    assert other.http.get(f"{F}/hierarchies", headers=other.headers).json() == {"items": []}
    for sku in (*SKUS, NEW_ITEM):
        assert _attributes_of(other, sku).status_code == 404
    assert other.http.delete(f"{F}/hierarchies/product", headers=other.headers).status_code == 404
    assert _skus(other, **{"attr.category": "Kitchen"}) == []
    r = other.http.put(f"{F}/hierarchies/product", json={"levels": ["category"]}, headers=other.headers)
    assert r.status_code == 422  # no SKU of theirs has a category: the other tenant's do not count
    assert tenant.http.get(f"{F}/hierarchies", headers=tenant.headers).json()["items"][0]["name"] == "product"


def test_the_client_uploads_a_frame_filters_skus_and_declares_hierarchies(
    stack: RunningStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pandas as pd
    from skucast_client import Client, UploadRejectedError, cli

    tenant = Tenant.sign_up(stack, http=stack.http())
    with Client(stack.api, email=tenant.email, password=tenant.password) as sc:
        sc.post_demand([{"sku": s, "date": "2024-03-01", "quantity": 1} for s in SKUS])
        frame = pd.DataFrame(
            {"unique_id": SKUS, "category": ["Apparel", "Kitchen", "Kitchen"], "brand": ['A "1", Inc', None, "Ç"]}
        )
        report = sc.upload_attributes(frame)
        assert (report["status"], report["rows_accepted"]) == ("SUCCEEDED", 3)
        listed = sc.skus_frame(attributes={"category": "Kitchen"})
        assert listed["sku"].tolist() == sorted(SKUS[1:]) and listed["category"].tolist() == ["Kitchen", "Kitchen"]
        assert sc.skus(attributes={"brand": 'A "1", Inc'})[0]["sku"] == SKUS[0]
        before = sc.sku_attributes(SKUS[2])
        assert sc.post_attributes([{"sku": SKUS[2], "attributes": {"brand": None}}])["status"] == "SUCCEEDED"
        assert sc.sku_attributes(SKUS[2])["attributes"] == {"category": "Kitchen"}
        assert sc.sku_attributes(SKUS[2], version=before["version"])["attributes"] == before["attributes"]
        assert {a["name"]: a["skus"] for a in sc.attributes()["items"]} == {"brand": 1, "category": 3}
        assert sc.declare_hierarchy("product", ["category", "brand"])["levels"] == ["category", "brand"]
        assert [h["name"] for h in sc.hierarchies()] == ["product"]
        with pytest.raises(UploadRejectedError) as refused:
            sc.upload_attributes(frame.rename(columns={"brand": "Brand"}))
        assert refused.value.report["errors"][0]["column"] == "Brand"
    # The CLI's verbs over the same client, signed in as the admin.
    monkeypatch.setenv("SKUCAST_CONFIG", str(tmp_path / "config.json"))
    monkeypatch.setenv("SKUCAST_PASSWORD", tenant.password)
    assert cli.main(["--api", stack.api, "login", "--email", tenant.email]) == 0
    items_file = tmp_path / "items.csv"
    items_file.write_text(f"sku,store\n{csv_cell(SKUS[1])},North\n", encoding="utf-8")
    assert cli.main(["upload-attributes", str(items_file)]) == 0
    capsys.readouterr()
    assert cli.main(["skus", "--attr", "store=North"]) == 0
    out = capsys.readouterr().out
    assert SKUS[1] in out and SKUS[2] not in out
    assert cli.main(["attributes"]) == 0
    assert cli.main(["declare-hierarchy", "by_store", "store"]) == 0
    assert cli.main(["declare-hierarchy", "bad", "colour"]) == 1  # 422: no SKU has a colour
    assert cli.main(["hierarchies"]) == 0
    assert "by_store" in capsys.readouterr().out
    assert cli.main(["delete-hierarchy", "by_store"]) == 0
    assert cli.main(["delete-hierarchy", "by_store"]) == 1  # 404: already gone
