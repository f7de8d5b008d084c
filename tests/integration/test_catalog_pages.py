"""The SKU catalog in pages (repositories/catalog.py) against the emulated DynamoDB: every SKU in
exactly one page, splits within the limits, unchanged pages not rewritten, listings that page."""

from __future__ import annotations

import itertools
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skucast.repositories import catalog
from skucast.repositories import demand as demand_repo
from skucast.repositories import uploads as uploads_repo
from skucast.repositories.keys import catalog_pk
from skucast_local.emulator import Provisioned

_tenants = itertools.count()


@pytest.fixture
def table(provisioned: Provisioned) -> str:
    return str(provisioned.resources["Table"].ref)


def _entry(sku: str, demand_class: str = "smooth", n: int = 1) -> dict[str, Any]:
    return {"sku": sku, "demand_class": demand_class, "adi": 1.0, "cv2": 0.25, "n_periods": n,
            "first_date": "2024-01-01", "last_date": "2024-01-31", "total_quantity": 12.5,
            "granularity": "D"}  # fmt: skip


def _pages(table: str, client: str) -> list[catalog.Page]:
    return list(catalog.pages_from(table, client))


def _check_chain(table: str, client: str) -> None:
    """Pages tile the SKU space: the first starts at "", each `next` is the following page's first
    SKU, the last has none, and every entry lies in its page's range, sorted, within the limits."""
    pages = _pages(table, client)
    assert pages[0].first == ""
    for page, following in zip(pages, [*pages[1:], None], strict=True):
        assert page.next == (following.first if following else None)
        skus = [e["sku"] for e in page.entries]
        assert skus == sorted(skus) and len(set(skus)) == len(skus) and skus
        assert skus[0] >= page.first and (page.next is None or skus[-1] < page.next)
        assert len(skus) <= catalog.MAX_PAGE_ENTRIES


def test_given_many_skus_when_merged_then_pages_split_and_every_sku_is_found_once(table: str) -> None:
    skus = [f"SKU-{i:05d}" for i in range(2500)]
    written = catalog.merge_entries(table, "cli_pages", [_entry(s) for s in reversed(skus)], None)
    assert written == 3  # 1,000 a page
    _check_chain(table, "cli_pages")
    assert [e.sku for e in catalog.iter_entries(table, "cli_pages")] == skus
    for sku in ("SKU-00000", "SKU-00999", "SKU-01000", "SKU-02499"):
        assert catalog.get_entry(table, "cli_pages", sku) == catalog.entry_record(_entry(sku))
    assert catalog.get_entry(table, "cli_pages", "SKU-01000x") is None
    assert catalog.get_entry(table, "cli_pages", "") is None
    assert catalog.get_entry(table, "cli_other", "SKU-00001") is None  # another tenant: nothing

    # The same entries again: no page changes, nothing is written.
    assert catalog.merge_entries(table, "cli_pages", [_entry(s) for s in skus], None) == 0
    # One SKU changed: only its page is written.
    assert catalog.merge_entries(table, "cli_pages", [_entry("SKU-01500", "lumpy")], None) == 1
    assert getattr(catalog.get_entry(table, "cli_pages", "SKU-01500"), "demand_class", None) == "lumpy"


def test_given_a_page_held_by_a_fence_that_lapsed_then_nothing_is_written(table: str) -> None:
    catalog.merge_entries(table, "cli_fence", [_entry("A"), _entry("B")], None)
    before = _pages(table, "cli_fence")
    assert uploads_repo.acquire_lock(table, "cli_fence", "lck_new", "upl_new", 0, 2**40)
    with pytest.raises(demand_repo.Fenced):
        catalog.merge_entries(table, "cli_fence", [_entry("C")], uploads_repo.fence("cli_fence", "lck_old"))
    assert _pages(table, "cli_fence") == before
    catalog.merge_entries(table, "cli_fence", [_entry("C")], uploads_repo.fence("cli_fence", "lck_new"))
    assert [e.sku for e in catalog.iter_entries(table, "cli_fence")] == ["A", "B", "C"]


def test_given_a_rare_class_when_listed_then_short_pages_with_a_cursor_reach_every_match(
    table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalog, "MAX_PAGE_ENTRIES", 10)
    entries = [_entry(f"S{i:03d}", "lumpy" if i % 37 == 0 else "smooth") for i in range(200)]
    catalog.merge_entries(table, "cli_list", entries, None)
    assert len(_pages(table, "cli_list")) == 20
    found, cursor, calls = [], None, 0
    while True:
        items, cursor = catalog.page_entries(table, "cli_list", 2, cursor, "lumpy", max_pages=3)
        assert len(items) <= 2
        found += items
        calls += 1
        if cursor is None:
            break
    assert [e.sku for e in found] == [e["sku"] for e in entries if e["demand_class"] == "lumpy"]
    assert calls > 3  # bounded reads: some calls came back short
    everything, cursor = [], None
    while True:
        items, cursor = catalog.page_entries(table, "cli_list", 7, cursor, None, max_pages=3)
        everything += items
        if cursor is None:
            break
    assert [e.model_dump() for e in everything] == entries
    assert catalog.page_entries(table, "cli_list", 5, "S199", None, max_pages=3) == ([], None)
    assert catalog.page_entries(table, "cli_none", 5, None, None, max_pages=3) == ([], None)


def test_given_a_prefix_then_listing_reads_only_its_range_and_pages_through_every_match(
    table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalog, "MAX_PAGE_ENTRIES", 10)
    names = [f"{word} {i:02d}" for word in ("Blue", "Blue Mug", "Bluebell", "Green", "blue") for i in range(12)]
    catalog.merge_entries(table, "cli_prefix", [_entry(n) for n in names], None)
    read: list[str] = []
    walk = catalog.pages_from

    def counting(*args: Any) -> Any:
        for page in walk(*args):
            read.append(page.first)
            yield page

    monkeypatch.setattr(catalog, "pages_from", counting)
    found, cursor = [], None
    while True:
        items, cursor = catalog.page_entries(table, "cli_prefix", 5, cursor, None, max_pages=3, prefix="Blue M")
        found += [e.sku for e in items]
        if cursor is None:
            break
    assert found == [n for n in sorted(names) if n.startswith("Blue M")]  # case as stored: not "blue"
    # Its range, not the catalog: no page before the one holding "Blue M", none after its end.
    assert read and "" not in read and not any(first.startswith(("Bluebell", "Green", "blue")) for first in read)
    assert catalog.page_entries(table, "cli_prefix", 5, None, None, 3, prefix="Zz")[0] == []
    assert [e.sku for e in catalog.page_entries(table, "cli_prefix", 100, None, None, 9, prefix="")[0]] == sorted(names)


def test_given_a_page_item_when_stored_then_it_is_compact(table: str) -> None:
    catalog.merge_entries(table, "cli_size", [_entry(f"SKU-{i:05d}") for i in range(1000)], None)
    ddb = boto3.resource("dynamodb", region_name="us-east-1").Table(table)
    (item,) = ddb.query(KeyConditionExpression=Key("pk").eq(catalog_pk("cli_size")))["Items"]
    assert item["count"] == 1000 and len(item["entries"].value) < 20_000  # ~1,000 x 130 bytes as JSON


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    merges=st.lists(
        st.lists(
            st.tuples(st.text(alphabet="abcz0é/ ", min_size=1, max_size=4), st.sampled_from(["smooth", "new"])),
            max_size=25,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_given_any_sequence_of_merges_then_the_pages_hold_exactly_the_latest_entry_of_every_sku(
    table: str, monkeypatch: pytest.MonkeyPatch, merges: list[list[tuple[str, str]]]
) -> None:
    monkeypatch.setattr(catalog, "MAX_PAGE_ENTRIES", 3)
    client = f"cli_prop{next(_tenants)}"
    model: dict[str, dict[str, Any]] = {}
    for n, merge in enumerate(merges):
        batch = [_entry(sku, cls, n) for sku, cls in merge]
        catalog.merge_entries(table, client, batch, None)
        model.update((e["sku"], e) for e in batch)  # the last of a SKU in one merge wins, as in a dict
    if not model:
        assert _pages(table, client) == []
        return
    _check_chain(table, client)
    assert [e.model_dump() for e in catalog.iter_entries(table, client)] == [model[s] for s in sorted(model)]
    for sku, entry in model.items():
        assert catalog.get_entry(table, client, sku) == catalog.entry_record(entry)


def test_given_a_page_split_while_a_reader_walks_the_catalog_then_it_still_sees_every_sku_once(
    table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog.merge_entries(table, "cli_race", [_entry(f"S{i}") for i in range(8)], None)
    (before,) = _pages(table, "cli_race")
    monkeypatch.setattr(catalog, "MAX_PAGE_ENTRIES", 3)
    catalog.merge_entries(table, "cli_race", [_entry("S8", "lumpy")], None)  # splits the page in three
    assert len(_pages(table, "cli_race")) == 3
    # The reader got the first page as it was before the split, then the pages after it as they are now.
    real = catalog.covering_page
    monkeypatch.setattr(catalog, "covering_page", lambda *args: before if args[2] == "" else real(*args))
    assert [e.sku for e in catalog.iter_entries(table, "cli_race")] == [f"S{i}" for i in range(9)]
    items, cursor = catalog.page_entries(table, "cli_race", 100, None, None, max_pages=5)
    assert [e.sku for e in items] == [f"S{i}" for i in range(9)] and cursor is None
