"""The SKU catalog: every SKU of a tenant with its demand classification, in pages of many SKUs.

Layout (keys.py): items under CLIENT#<id>#SKUS / PAGE#<first sku> each hold the entries of a
contiguous range of SKUs, [first sku, `next`), sorted, as zlib-compressed JSON rows. The first
page's key is PAGE# (the empty SKU), so every SKU falls in exactly one page: the one with the
greatest key not above PAGE#<sku>. A page splits when it outgrows MAX_PAGE_ENTRIES or
MAX_PAGE_RAW_BYTES; pages never merge (SKUs are never removed).

Why pages and not an item per SKU: an ingest of 10,000 SKUs wrote 10,000 catalog items (each
twice in write units, in fenced transactions) into one partition, whose 1,000 WCU/s made it ~20 s
on DynamoDB, and half of the ingest's time on the emulator. In pages it writes about ten items.
The price: reading one SKU's entry reads its page (a few tens of KB), and a filtered listing reads
pages it does not return from (bounded per request, see page_entries).

Writes happen only under the tenant's merge lock (repositories/uploads.py) and carry its fence. A
page and the pages split from it are written in one transaction, so a reader never sees a SKU in
two pages or in none, and a crash leaves each page either as it was or as it became.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key
from boto3.dynamodb.types import Binary

from skucast.aws import table
from skucast.records import CatalogEntry
from skucast.repositories import demand as series_repo
from skucast.repositories.keys import (
    CATALOG_PAGE_PREFIX,
    CATALOG_PAGES_END,
    SKU_PREFIX,
    catalog_page_first_sku,
    catalog_page_sk,
    catalog_pk,
)

# Entry fields, in the order a page row holds them. Rows written before a field existed are
# shorter: the missing fields read as None (a missing granularity is "D", all there was then).
FIELDS = (
    "sku",
    "demand_class",
    "adi",
    "cv2",
    "n_periods",
    "first_date",
    "last_date",
    "total_quantity",
    "granularity",
)
FORMAT_VERSION = 1
MAX_PAGE_ENTRIES = 1000
MAX_PAGE_RAW_BYTES = 256 * 1024  # JSON before compression; a page item stays far under 400 KB
MAX_INFLATE_BYTES = 4 * MAX_PAGE_RAW_BYTES  # a forged or corrupt page cannot balloon on read
# Entries merged per call of merge_entries: a page and everything split from it must fit one
# transaction (99 puts and the fence, under 3.5 MB), so one call never adds more than this to a page.
MERGE_CHUNK_ENTRIES = 40_000
MERGE_CHUNK_RAW_BYTES = 3_000_000


@dataclass
class Page:
    first: str  # the smallest SKU this page may hold ("" for the first page)
    next: str | None  # the next page's first SKU; None for the last page
    entries: list[dict[str, Any]]  # sorted by sku, all in [first, next)
    blob: bytes  # the stored encoding (to skip writing a page that did not change)


def _row(entry: dict[str, Any]) -> str:
    return json.dumps([entry.get(f) for f in FIELDS], separators=(",", ":"), ensure_ascii=False)


def _encode(rows: Sequence[str]) -> bytes:
    """A page's rows (from _row) as one compressed JSON array."""
    return bytes([FORMAT_VERSION]) + zlib.compress(("[" + ",".join(rows) + "]").encode("utf-8"), 6)


def _decode(blob: bytes) -> list[dict[str, Any]]:
    if not blob or blob[0] != FORMAT_VERSION:
        raise ValueError("unknown catalog page format")
    inflater = zlib.decompressobj()
    data = inflater.decompress(blob[1:], MAX_INFLATE_BYTES + 1)
    if len(data) > MAX_INFLATE_BYTES or not inflater.eof:
        raise ValueError("catalog page is corrupt")
    rows = json.loads(data)
    if any(len(row) > len(FIELDS) for row in rows):
        raise ValueError("catalog page is corrupt")
    return [dict(zip(FIELDS, row + [None] * (len(FIELDS) - len(row)), strict=True)) for row in rows]


def _page(item: dict[str, Any]) -> Page:
    blob = series_repo.binary(item["entries"])
    return Page(catalog_page_first_sku(str(item["sk"])), item.get("next"), _decode(blob), blob)


def _item(client_id: str, page: Page) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": catalog_pk(client_id),
        "sk": catalog_page_sk(page.first),
        "schema_version": 1,
        "count": len(page.entries),
        "entries": Binary(page.blob),
    }
    if page.next is not None:
        item["next"] = page.next
    return item


# ---------------------------------------------------------------- reading
def covering_page(table_name: str, client_id: str, sku: str) -> Page | None:
    """The page whose range holds `sku` (strongly consistent); None when the tenant has no catalog."""
    answer = table(table_name).query(
        KeyConditionExpression=Key("pk").eq(catalog_pk(client_id))
        & Key("sk").between(CATALOG_PAGE_PREFIX, catalog_page_sk(sku)),
        ScanIndexForward=False,
        Limit=1,
        ConsistentRead=True,
    )
    items = answer.get("Items", [])
    return _page(items[0]) if items else None


def pages_from(table_name: str, client_id: str, sku: str = "") -> Iterator[Page]:
    """The page holding `sku`, then every page after it, in SKU order, each SKU once.

    Readers take no lock: a page read just before an ingest split it still holds the SKUs that
    moved to the pages read next. Entries at or below the last SKU already yielded are dropped, so
    the caller sees every SKU once, in order (a moved SKU as the first page had it)."""
    last: str | None = None
    for page in _pages_in_order(table_name, client_id, sku):
        if last is not None and page.entries and page.entries[0]["sku"] <= last:
            page = Page(page.first, page.next, [e for e in page.entries if e["sku"] > last], page.blob)
        if page.entries:
            last = page.entries[-1]["sku"]
        yield page


def _pages_in_order(table_name: str, client_id: str, sku: str) -> Iterator[Page]:
    first = covering_page(table_name, client_id, sku)
    if first is None:
        return
    yield first
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(catalog_pk(client_id))
        & Key("sk").between(catalog_page_sk(first.first), CATALOG_PAGES_END),
        "ExclusiveStartKey": {"pk": catalog_pk(client_id), "sk": catalog_page_sk(first.first)},
        "ConsistentRead": True,
    }
    while True:
        answer = table(table_name).query(**kwargs)
        for item in answer.get("Items", []):
            yield _page(item)
        if "LastEvaluatedKey" not in answer:
            return
        kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def entry_record(entry: dict[str, Any]) -> CatalogEntry:
    """A page row's entry as a CatalogEntry: statistics as float, the period count as int, a
    missing grain as "D" (rows written before grains were kept)."""

    def num(field: str) -> float | None:
        value = entry.get(field)
        return float(value) if value is not None else None

    n_periods = entry.get("n_periods")
    return CatalogEntry.model_construct(  # the fields are converted here: no validation per entry
        sku=str(entry["sku"]),
        demand_class=entry.get("demand_class"),
        adi=num("adi"),
        cv2=num("cv2"),
        n_periods=int(n_periods) if n_periods is not None else None,
        first_date=entry.get("first_date"),
        last_date=entry.get("last_date"),
        total_quantity=num("total_quantity"),
        granularity=str(entry.get("granularity") or "D"),
    )


def get_entry(table_name: str, client_id: str, sku: str) -> CatalogEntry | None:
    page = covering_page(table_name, client_id, sku)
    found = next((e for e in page.entries if e["sku"] == sku), None) if page else None
    return entry_record(found) if found else None


def iter_entries(table_name: str, client_id: str) -> Iterator[CatalogEntry]:
    """Every catalog entry of the tenant, in SKU order (planning a run of all SKUs)."""
    for page in pages_from(table_name, client_id):
        yield from (entry_record(e) for e in page.entries)


def page_entries(
    table_name: str,
    client_id: str,
    limit: int,
    after_sku: str | None,
    demand_class: str | None,
    max_pages: int,
    keep: Callable[[list[str]], set[str]] | None = None,
    prefix: str = "",
) -> tuple[list[CatalogEntry], str | None]:
    """Up to `limit` entries after `after_sku` in SKU order, of one class if given, and the SKU to
    continue after (None at the end). Reads at most `max_pages` pages: a rare class in a big
    catalog returns a short (even empty) page with a cursor rather than reading every page.
    `max_pages` is at least 2: the page holding `after_sku` may have nothing after it.
    `keep`, if given, is asked once per page which of its candidate SKUs (in order) pass a further
    filter (the attribute filters of GET /skus: one read per page). `prefix`: only SKUs starting
    with it - a range of the catalog's order, so reading starts there and ends after it."""
    if max_pages < 2:
        raise ValueError("max_pages must be at least 2")
    found: list[CatalogEntry] = []
    read = 0
    for page in pages_from(table_name, client_id, max(after_sku or "", prefix)):
        read += 1
        candidates = [
            e["sku"]
            for e in page.entries
            if (after_sku is None or e["sku"] > after_sku)
            and e["sku"].startswith(prefix)
            and (demand_class is None or e["demand_class"] == demand_class)
        ]
        kept = set(candidates) if keep is None or not candidates else keep(candidates)
        for entry in page.entries:
            if after_sku is not None and entry["sku"] <= after_sku:
                continue
            if entry["sku"] in kept:
                found.append(entry_record(entry))
                if len(found) == limit:
                    more = entry is not page.entries[-1] or page.next is not None
                    return found, (entry["sku"] if more else None)
        if prefix and page.entries and _past(page.entries[-1]["sku"], prefix):
            return found, None  # the prefix's range ends in this page
        if read >= max_pages and page.next is not None:
            # Everything up to this page's last SKU is seen; a cursor never goes backwards.
            seen = page.entries[-1]["sku"] if page.entries else ""
            return found, max(seen, after_sku or "")
    return found, None


def _past(sku: str, prefix: str) -> bool:
    """Whether `sku` sorts after every name that starts with `prefix`."""
    return sku > prefix and not sku.startswith(prefix)


# ---------------------------------------------------------------- writing (under the merge lock)
def merge_entries(
    table_name: str, client_id: str, entries: Iterable[dict[str, Any]], fence: dict[str, Any] | None
) -> int:
    """Add or replace these entries; returns how many pages were written (unchanged pages are not).

    Each write is a fenced transaction (series_repo.Fenced when the lock has passed on): a page
    together with the pages it split into, several such groups to a transaction when they fit."""
    pending = sorted(entries, key=lambda e: e["sku"])
    written = 0
    for chunk in _chunks(pending):
        groups = _merged_groups(table_name, client_id, chunk)
        written += sum(len(g) for g in groups)
        series_repo.write_groups(table_name, [[_item(client_id, p) for p in g] for g in groups], fence)
    return written


def delete_legacy_items(table_name: str, client_id: str) -> int:
    """Delete the catalog's items of one SKU each (sk SKU#...), the layout before pages; returns
    how many. Nothing reads them any more; rebuilding the catalog replaces them with pages."""
    pk = catalog_pk(client_id)
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(pk) & Key("sk").begins_with(SKU_PREFIX),
        "ProjectionExpression": "pk, sk",
    }
    deleted = 0
    with table(table_name).batch_writer() as batch:
        while True:
            answer = table(table_name).query(**kwargs)
            for item in answer.get("Items", []):
                batch.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
                deleted += 1
            if "LastEvaluatedKey" not in answer:
                return deleted
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def _chunks(entries: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    start, size = 0, 0
    for i, entry in enumerate(entries):
        size += len(entry["sku"]) + 120
        if i - start == MERGE_CHUNK_ENTRIES or size > MERGE_CHUNK_RAW_BYTES:
            yield entries[start:i]
            start, size = i, len(entry["sku"]) + 120
    if start < len(entries):
        yield entries[start:]


def _merged_groups(table_name: str, client_id: str, chunk: list[dict[str, Any]]) -> list[list[Page]]:
    """For each page the chunk touches: that page as it becomes, followed by any split from it."""
    groups: list[list[Page]] = []
    i = 0
    while i < len(chunk):
        page = covering_page(table_name, client_id, chunk[i]["sku"]) or Page("", None, [], b"")
        j = i
        while j < len(chunk) and (page.next is None or chunk[j]["sku"] < page.next):
            j += 1
        merged = {e["sku"]: e for e in page.entries}
        merged.update((e["sku"], _plain(e)) for e in chunk[i:j])
        group = _split(page, [merged[s] for s in sorted(merged)])
        if group:
            groups.append(group)
        i = j
    return groups


def _split(page: Page, entries: list[dict[str, Any]]) -> list[Page]:
    """`page` holding `entries`, split into pages within the limits; [] when nothing changed."""
    rows = [_row(e) for e in entries]  # each entry serialised once: sized here, encoded below
    cuts = [0]
    size = 0
    for n, row in enumerate(rows):
        row_bytes = len(row.encode("utf-8")) + 1
        if n - cuts[-1] == MAX_PAGE_ENTRIES or (size + row_bytes > MAX_PAGE_RAW_BYTES and n > cuts[-1]):
            cuts.append(n)
            size = 0
        size += row_bytes
    bounds = [*cuts, len(entries)]
    pages = []
    for k in range(len(cuts)):
        part = entries[bounds[k] : bounds[k + 1]]
        first = page.first if k == 0 else part[0]["sku"]
        after = page.next if k == len(cuts) - 1 else entries[bounds[k + 1]]["sku"]
        pages.append(Page(first, after, part, _encode(rows[bounds[k] : bounds[k + 1]])))
    if len(pages) == 1 and pages[0].blob == page.blob:
        return []
    return pages


def _plain(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as a page row holds it: every field, None where the caller gave none."""
    return {field: entry.get(field) for field in FIELDS}
